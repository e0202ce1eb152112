"""Where alerts go on AWS: one SNS topic per severity with the on-call addresses subscribed, and an IRSA
role that lets Alertmanager (and nothing else) publish to them. No webhook URL or SMTP password exists
that could leak."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pulumi

from llm_platform.aws import kinds
from llm_platform.aws.iam.documents import policy_json
from llm_platform.aws.irsa import IRSA_ANNOTATION, irsa_role
from llm_platform.contract import ALERTMANAGER_SERVICE_ACCOUNT, MONITORING_NAMESPACE
from llm_platform.platform.delivery import SEVERITIES, SUBJECT, AlertDelivery


@dataclass(frozen=True)
class AlertTopicsArgs:
    cluster_name: str
    region: str
    emails: list[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]


class AlertTopics(pulumi.ComponentResource):
    topic_arns: pulumi.Output[dict[str, str]]
    delivery: AlertDelivery

    def __init__(self, name: str, args: AlertTopicsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:alert_topics:AlertTopics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        topics = {}
        for severity in SEVERITIES:
            topic = kinds.SNS_TOPIC(
                f"{name}-{severity}",
                # SNS's AWS-managed key: encrypted at rest without a key policy to maintain.
                {"kmsMasterKeyId": "alias/aws/sns", "name": f"{args.cluster_name}-alerts-{severity}", "tags": args.tags},
                child,
            )
            for index, email in enumerate(args.emails):
                kinds.SNS_TOPIC_SUBSCRIPTION(f"{name}-{severity}-{index}", {"endpoint": email, "protocol": "email", "topic": topic.arn}, child)
            topics[severity] = topic.arn

        role = irsa_role(
            f"{name}-alertmanager",
            role_name=f"{args.cluster_name}-alertmanager",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=MONITORING_NAMESPACE,
            service_account=ALERTMANAGER_SERVICE_ACCOUNT,
            tags=args.tags,
            opts=child,
        )
        kinds.ROLE_POLICY(
            f"{name}-alertmanager-publish",
            {
                "policy": pulumi.Output.all(*topics.values()).apply(lambda arns: policy_json({"Effect": "Allow", "Action": "sns:Publish", "Resource": list(arns)})),
                "role": role.name,
            },
            child,
        )
        self.topic_arns = pulumi.Output.all(**topics)
        self.delivery = AlertDelivery(
            receivers=self.topic_arns.apply(lambda arns: sns_receivers(arns, args.region)),
            service_account_annotations=role.arn.apply(lambda arn: {IRSA_ANNOTATION: arn}),
        )
        self.register_outputs({"topic_arns": self.topic_arns})


def sns_receivers(topic_arns: Mapping[str, str], region: str) -> dict[str, dict]:
    """Each severity to its SNS topic, signed with Alertmanager's IRSA credentials."""
    return {
        severity: {"sns_configs": [{"topic_arn": topic_arns[severity], "sigv4": {"region": region}, "subject": SUBJECT, "send_resolved": True}]}
        for severity in SEVERITIES
    }

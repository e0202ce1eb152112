"""Karpenter's AWS side: the node role, the controller's IRSA role with the upstream policies, and the
interruption queue fed by EventBridge, so that spot interruptions drain nodes before AWS reclaims them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.eks_cluster import KARPENTER_NAMESPACE, irsa_trust_policy
from llm_platform.iam import karpenter as upstream
from llm_platform.iam.documents import policy_json

KARPENTER_SERVICE_ACCOUNT = "karpenter"
# Node role policies from Karpenter's getting-started template (KarpenterNodeRole).
NODE_ROLE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)


@dataclass(frozen=True)
class KarpenterInfraArgs:
    cluster_name: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]


class KarpenterInfra(pulumi.ComponentResource):
    node_role_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    controller_role_arn: pulumi.Output[str]
    interruption_queue_name: pulumi.Output[str]

    def __init__(self, name: str, args: KarpenterInfraArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:karpenter_infra:KarpenterInfra", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        tags = {**args.tags, "Name": name}
        identity = aws.get_caller_identity(opts=invoke)
        partition = aws.get_partition(opts=invoke).partition
        region = aws.get_region(opts=invoke).region

        node_role = aws.iam.Role(
            f"{name}-node",
            name=f"{args.cluster_name}-karpenter-node",
            assume_role_policy=policy_json({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
            tags=tags,
            opts=child,
        )
        for policy in NODE_ROLE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name, policy_arn=f"arn:{partition}:iam::aws:policy/{policy}", opts=child
            )
        # Nodes join through an access entry; the cluster runs in API authentication mode.
        aws.eks.AccessEntry(f"{name}-node", cluster_name=args.cluster_name, principal_arn=node_role.arn, type="EC2_LINUX", tags=tags, opts=child)

        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            name=upstream.interruption_queue_name(args.cluster_name),
            message_retention_seconds=upstream.MESSAGE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=upstream.SQS_MANAGED_SSE_ENABLED,
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions",
            queue_url=queue.url,
            policy=queue.arn.apply(lambda arn: json.dumps(upstream.interruption_queue_policy_document(queue_arn=arn))),
            opts=child,
        )
        for rule_name, pattern in upstream.interruption_event_patterns().items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                name=f"{args.cluster_name}-karpenter-{rule_name}",
                event_pattern=json.dumps(pattern),
                tags=tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{rule_name}", rule=rule.name, arn=queue.arn, target_id=upstream.EVENT_RULE_TARGET_ID, opts=child
            )

        controller_role = aws.iam.Role(
            f"{name}-controller",
            name=f"{args.cluster_name}-karpenter-controller",
            assume_role_policy=irsa_trust_policy(self, args.oidc_provider_arn, args.oidc_issuer, KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT),
            tags=tags,
            opts=child,
        )
        documents = pulumi.Output.all(queue.arn, node_role.arn).apply(
            lambda arns: upstream.controller_policy_documents(
                partition=partition,
                region=region,
                account_id=identity.account_id,
                cluster_name=args.cluster_name,
                interruption_queue_arn=arns[0],
                node_role_arn=arns[1],
            )
        )
        # One managed policy per upstream policy: merged they exceed IAM's 6,144-character limit.
        for logical_id in upstream.CONTROLLER_POLICY_NAME_PREFIXES:
            policy = aws.iam.Policy(
                f"{name}-{logical_id}",
                name=upstream.controller_policy_name(logical_id, args.cluster_name),
                policy=documents.apply(lambda docs, key=logical_id: json.dumps(docs[key])),
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(f"{name}-{logical_id}", role=controller_role.name, policy_arn=policy.arn, opts=child)

        self.node_role_name = node_role.name
        self.node_role_arn = node_role.arn
        self.controller_role_arn = controller_role.arn
        self.interruption_queue_name = queue.name
        self.register_outputs(
            {
                "node_role_name": self.node_role_name,
                "node_role_arn": self.node_role_arn,
                "controller_role_arn": self.controller_role_arn,
                "interruption_queue_name": self.interruption_queue_name,
            }
        )

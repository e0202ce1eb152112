"""Karpenter, which launches every EC2 node of the cluster: its AWS side (the node role, the controller's
IRSA role with the upstream policies, the interruption queue fed by EventBridge so that spot interruptions
drain nodes before AWS reclaims them), its CRDs and controller from the pinned upstream charts on Fargate,
and what the platform's monitoring should scrape and alert on for it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from llm_platform import pins
from llm_platform.aws import kinds
from llm_platform.aws.account import AwsAccount
from llm_platform.aws.iam import karpenter as upstream
from llm_platform.aws.iam.documents import policy_json
from llm_platform.aws.irsa import IRSA_ANNOTATION, irsa_role
from llm_platform.aws.kinds import EVENT_RULE_NAME_LIMIT
from llm_platform.config import AlertThresholds
from llm_platform.contract import MONITORING_NAMESPACE, bounded_name
from llm_platform.helm import pinned_release
from llm_platform.kubernetes import from_namespace, isolate_namespace, tcp
from llm_platform.platform.alerts import Alert

KARPENTER_NAMESPACE = "karpenter"
KARPENTER_SERVICE_ACCOUNT = "karpenter"
# The controller's metrics port (karpenter 1.14.1 chart values.yaml `controller.metrics.port`), the
# ServiceMonitor's `http-metrics`.
METRICS_PORT = 8080
# The tag by which Karpenter finds the subnets and security group of its nodes (EC2NodeClass selector terms).
DISCOVERY_TAG = "karpenter.sh/discovery"
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
    account: AwsAccount
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]


class KarpenterInfra(pulumi.ComponentResource):
    node_role_name: pulumi.Output[str]
    controller_role_arn: pulumi.Output[str]
    interruption_queue_name: pulumi.Output[str]

    def __init__(self, name: str, args: KarpenterInfraArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:karpenter_infra:KarpenterInfra", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "Name": name}
        partition = args.account.partition

        node_role = kinds.ROLE(
            f"{name}-node",
            {
                "assumeRolePolicy": policy_json({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
                "name": f"{args.cluster_name}-karpenter-node",
                "tags": tags,
            },
            child,
        )
        for policy in NODE_ROLE_POLICIES:
            kinds.ROLE_POLICY_ATTACHMENT(f"{name}-node-{policy}", {"policyArn": f"arn:{partition}:iam::aws:policy/{policy}", "role": node_role.name}, child)
        # Nodes join through an access entry; the cluster runs in API authentication mode.
        kinds.EKS_ACCESS_ENTRY(
            f"{name}-node", {"clusterName": args.cluster_name, "principalArn": node_role.arn, "tags": tags, "type": "EC2_LINUX"}, child
        )

        queue = kinds.SQS_QUEUE(
            f"{name}-interruptions",
            {
                "messageRetentionSeconds": upstream.MESSAGE_RETENTION_SECONDS,
                "name": upstream.interruption_queue_name(args.cluster_name),
                "sqsManagedSseEnabled": upstream.SQS_MANAGED_SSE_ENABLED,
                "tags": tags,
            },
            child,
        )
        kinds.SQS_QUEUE_POLICY(
            f"{name}-interruptions",
            {"policy": queue.arn.apply(lambda arn: json.dumps(upstream.interruption_queue_policy_document(queue_arn=arn))), "queueUrl": queue.url},
            child,
        )
        for rule_name, pattern in upstream.interruption_event_patterns().items():
            rule = kinds.EVENT_RULE(
                f"{name}-{rule_name}", {"eventPattern": json.dumps(pattern), "name": bounded_name(f"{args.cluster_name}-karpenter-{rule_name}", EVENT_RULE_NAME_LIMIT), "tags": tags}, child
            )
            kinds.EVENT_TARGET(f"{name}-{rule_name}", {"arn": queue.arn, "rule": rule.name, "targetId": upstream.EVENT_RULE_TARGET_ID}, child)

        controller_role = irsa_role(
            f"{name}-controller",
            role_name=f"{args.cluster_name}-karpenter-controller",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=KARPENTER_NAMESPACE,
            service_account=KARPENTER_SERVICE_ACCOUNT,
            tags=tags,
            opts=child,
        )
        documents = pulumi.Output.all(queue.arn, node_role.arn).apply(
            lambda arns: upstream.controller_policy_documents(
                partition=partition,
                region=args.account.region,
                account_id=args.account.account_id,
                cluster_name=args.cluster_name,
                interruption_queue_arn=arns[0],
                node_role_arn=arns[1],
            )
        )
        # One managed policy per upstream policy: merged they exceed IAM's 6,144-character limit.
        for logical_id in upstream.CONTROLLER_POLICY_NAME_PREFIXES:
            policy = kinds.POLICY(
                f"{name}-{logical_id}",
                {
                    "name": upstream.controller_policy_name(logical_id, args.cluster_name),
                    "policy": documents.apply(lambda docs, key=logical_id: json.dumps(docs[key])),
                    "tags": tags,
                },
                child,
            )
            kinds.ROLE_POLICY_ATTACHMENT(f"{name}-{logical_id}", {"policyArn": policy.arn, "role": controller_role.name}, child)

        self.node_role_name = node_role.name
        self.controller_role_arn = controller_role.arn
        self.interruption_queue_name = queue.name
        self.register_outputs(
            {
                "node_role_name": self.node_role_name,
                "controller_role_arn": self.controller_role_arn,
                "interruption_queue_name": self.interruption_queue_name,
            }
        )


@dataclass(frozen=True)
class KarpenterArgs:
    cluster_name: str
    controller_role_arn: pulumi.Input[str]
    interruption_queue_name: pulumi.Input[str]
    replicas: int


def controller_values(args: KarpenterArgs) -> dict:
    return {
        "settings": {"clusterName": args.cluster_name, "interruptionQueue": args.interruption_queue_name},
        # A Fargate pod cannot use EKS Pod Identity (its node agent is a DaemonSet), hence IRSA.
        "serviceAccount": {"name": KARPENTER_SERVICE_ACCOUNT, "annotations": {IRSA_ANNOTATION: args.controller_role_arn}},
        "replicas": args.replicas,
        # Resolve through the VPC resolver, so that the controller does not depend on CoreDNS, which in
        # turn may be waiting for capacity.
        "dnsPolicy": "Default",
        # Fargate sizes the pod from its requests; equal limits keep it in one Fargate size.
        "controller": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    }


class Karpenter(pulumi.ComponentResource):

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:karpenter:Karpenter", name, None, opts)
        # The CRD chart upgrades CRDs on every release; Helm never upgrades a chart's crds/ directory.
        crds = pinned_release(
            f"{name}-crd", "karpenter-crd", pins.KARPENTER_CRD_CHART, namespace=KARPENTER_NAMESPACE, create_namespace=True, opts=pulumi.ResourceOptions(parent=self)
        )
        pinned_release(
            name,
            "karpenter",
            pins.KARPENTER_CHART,
            namespace=KARPENTER_NAMESPACE,
            create_namespace=True,
            skip_crds=True,
            values=controller_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[crds]),
        )
        # The controller runs as UID 65532 without capabilities, read-only, under RuntimeDefault seccomp
        # (karpenter 1.14.1 chart values.yaml `podSecurityContext`, templates/deployment.yaml): `restricted`.
        # It serves no webhook; Prometheus scrapes its metrics. (It runs on Fargate, which does not
        # enforce NetworkPolicy; the policies hold should it ever move to nodes.)
        isolate_namespace(
            name,
            KARPENTER_NAMESPACE,
            pod_security="restricted",
            allow=[{"from": [from_namespace(MONITORING_NAMESPACE)], "ports": tcp(METRICS_PORT)}],
            created_by=crds,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


def service_monitor() -> dict:
    """What the platform's Prometheus scrapes of Karpenter. The Karpenter chart renders its own
    ServiceMonitor only if the CRD existed when it was installed, which it does not: Karpenter is
    installed before any node, let alone Prometheus."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "karpenter", "namespace": MONITORING_NAMESPACE},
        "spec": {
            "namespaceSelector": {"matchNames": [KARPENTER_NAMESPACE]},
            "selector": {"matchLabels": {"app.kubernetes.io/name": "karpenter"}},
            "endpoints": [{"port": "http-metrics", "interval": "30s"}],
        },
    }


def capacity_alerts(t: AlertThresholds) -> list[Alert]:
    """Karpenter's own signals of GPU capacity trouble, beside the platform's pending-GPU-pod alert."""
    return [
        Alert(
            "GpuNodePoolAtLimit",
            'karpenter_nodepools_usage{resource_type="nvidia.com/gpu"} >= karpenter_nodepools_limit{resource_type="nvidia.com/gpu"}',
            "15m",
            "warning",
            "NodePool {{ $labels.nodepool }} uses all of its GPUs",
            "The pool cannot grow: more replicas will stay pending until the pool's maxGpus (and the budget) is raised.",
        ),
        Alert(
            "GpuCapacityUnavailable",
            'sum(increase(karpenter_cloudprovider_errors_total{error="InsufficientCapacityError"}[15m])) > 0',
            "0m",
            "warning",
            "EC2 has no capacity for the instance types Karpenter asked for",
            "Karpenter's launches failed with insufficient capacity in the last 15 minutes.",
        ),
        Alert(
            "SpotInterruptions",
            'sum(increase(karpenter_interruption_received_messages_total{message_type="spot_interrupted"}[1h])) > '
            f"{t.spot_interruptions_per_hour}",
            "0m",
            "warning",
            "{{ $value | humanize }} spot interruptions in the last hour",
            f"More than {t.spot_interruptions_per_hour} spot instances were reclaimed within an hour; replicas keep moving.",
        ),
    ]

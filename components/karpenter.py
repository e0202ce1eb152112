"""Karpenter in the cluster: its CRDs and controller from the pinned upstream charts, on Fargate."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.eks_cluster import IRSA_ANNOTATION, KARPENTER_NAMESPACE
from components.helm import pinned_release
from components.karpenter_infra import KARPENTER_SERVICE_ACCOUNT
from llm_platform import pins


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
    release_name: pulumi.Output[str]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:karpenter:Karpenter", name, None, opts)
        # The CRD chart upgrades CRDs on every release; Helm never upgrades a chart's crds/ directory.
        crds = pinned_release(
            f"{name}-crd", "karpenter-crd", pins.KARPENTER_CRD_CHART, namespace=KARPENTER_NAMESPACE, create_namespace=True, opts=pulumi.ResourceOptions(parent=self)
        )
        controller = pinned_release(
            name,
            "karpenter",
            pins.KARPENTER_CHART,
            namespace=KARPENTER_NAMESPACE,
            create_namespace=True,
            skip_crds=True,
            values=controller_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[crds]),
        )
        self.release_name = controller.name
        self.register_outputs({"release_name": self.release_name})

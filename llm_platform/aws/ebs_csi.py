"""The EBS CSI driver as an EKS managed add-on with its own IRSA role, so that volumes (Prometheus,
Grafana) can be provisioned. Created after the node pools: the add-on only turns ACTIVE once its
controller pods are scheduled, and they run on system nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform import pins
from llm_platform.aws import kinds
from llm_platform.aws.account import AwsAccount
from llm_platform.aws.cluster import ADDON_CONFLICTS
from llm_platform.aws.irsa import irsa_role

SERVICE_ACCOUNT = "ebs-csi-controller-sa"


@dataclass(frozen=True)
class EbsCsiDriverArgs:
    cluster_name: str
    account: AwsAccount
    kubernetes_version: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]


class EbsCsiDriver(pulumi.ComponentResource):

    def __init__(self, name: str, args: EbsCsiDriverArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:ebs_csi:EbsCsiDriver", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = args.account.partition
        role = irsa_role(
            f"{name}-controller",
            role_name=f"{args.cluster_name}-ebs-csi",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace="kube-system",
            service_account=SERVICE_ACCOUNT,
            tags={**args.tags, "Name": f"{args.cluster_name}-ebs-csi"},
            opts=child,
        )
        kinds.ROLE_POLICY_ATTACHMENT(
            f"{name}-controller", {"policyArn": f"arn:{partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy", "role": role.name}, child
        )
        kinds.EKS_ADDON(
            name,
            {
                "addonName": "aws-ebs-csi-driver",
                "addonVersion": pins.EKS_ADDON_VERSIONS[args.kubernetes_version]["aws-ebs-csi-driver"],
                "clusterName": args.cluster_name,
                **ADDON_CONFLICTS,
                "serviceAccountRoleArn": role.arn,
                "tags": args.tags,
            },
            child,
        )
        self.register_outputs({})

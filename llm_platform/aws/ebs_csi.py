"""The EBS CSI driver as an EKS managed add-on with its own IRSA role, so that volumes (Prometheus,
Grafana) can be provisioned. Created after the node pools: the add-on only turns ACTIVE once its
controller pods are scheduled, and they run on system nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from llm_platform import pins
from llm_platform.aws.irsa import irsa_trust_policy

SERVICE_ACCOUNT = "ebs-csi-controller-sa"


@dataclass(frozen=True)
class EbsCsiDriverArgs:
    cluster_name: str
    kubernetes_version: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]


class EbsCsiDriver(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EbsCsiDriverArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:ebs_csi:EbsCsiDriver", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=self)).partition
        role = aws.iam.Role(
            f"{name}-controller",
            name=f"{args.cluster_name}-ebs-csi",
            assume_role_policy=irsa_trust_policy(self, args.oidc_provider_arn, args.oidc_issuer, "kube-system", SERVICE_ACCOUNT),
            tags={**args.tags, "Name": f"{args.cluster_name}-ebs-csi"},
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-controller",
            role=role.name,
            policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
            opts=child,
        )
        aws.eks.Addon(
            name,
            cluster_name=args.cluster_name,
            addon_name="aws-ebs-csi-driver",
            addon_version=pins.EKS_ADDON_VERSIONS[args.kubernetes_version]["aws-ebs-csi-driver"],
            service_account_role_arn=role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=args.tags,
            opts=child,
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})

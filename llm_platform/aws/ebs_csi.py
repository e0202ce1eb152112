"""The EBS CSI driver as an EKS managed add-on with its own IRSA role, so that volumes (Prometheus,
Grafana) can be provisioned. Created after the node pools: the add-on only turns ACTIVE once its
controller pods are scheduled, and they run on system nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from llm_platform import pins
from llm_platform.aws import kinds
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
        role = kinds.ROLE(
            f"{name}-controller",
            {
                "assumeRolePolicy": irsa_trust_policy(args.oidc_provider_arn, args.oidc_issuer, "kube-system", SERVICE_ACCOUNT),
                "name": f"{args.cluster_name}-ebs-csi",
                "tags": {**args.tags, "Name": f"{args.cluster_name}-ebs-csi"},
            },
            child,
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
                "resolveConflictsOnCreate": "OVERWRITE",
                "resolveConflictsOnUpdate": "OVERWRITE",
                "serviceAccountRoleArn": role.arn,
                "tags": args.tags,
            },
            child,
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})

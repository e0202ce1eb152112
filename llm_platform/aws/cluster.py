"""The EKS control plane: encrypted, logged, reachable only as configured, with a Fargate profile so that
Karpenter and CoreDNS run before any node exists."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from llm_platform import pins
from llm_platform.aws import kinds
from llm_platform.aws.karpenter import DISCOVERY_TAG, KARPENTER_NAMESPACE
from llm_platform.config import ClusterConfig

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# The managed add-ons take over any self-managed copy's settings (pulumi-eks 4.4.0's default for each
# add-on's options, which its typed input classes add; stated because the cluster is declared from plain
# inputs, and existing stacks were created with them).
ADDON_CONFLICTS = {"resolveConflictsOnCreate": "OVERWRITE", "resolveConflictsOnUpdate": "OVERWRITE"}


@dataclass(frozen=True)
class EksClusterArgs:
    config: ClusterConfig
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[list[str]]
    public_subnet_ids: pulumi.Input[list[str]]
    tags: dict[str, str]


class EksCluster(pulumi.ComponentResource):
    cluster_name: str
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    secrets_key_arn: pulumi.Output[str]
    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:eks_cluster:EksCluster", name, None, opts)
        config = args.config
        addons = pins.EKS_ADDON_VERSIONS[config.kubernetes_version]
        child = pulumi.ResourceOptions(parent=self)

        secrets_key = kinds.KMS_KEY(
            f"{name}-secrets",
            {
                "deletionWindowInDays": 30,
                "description": f"Envelope encryption of Kubernetes secrets in EKS cluster {name}",
                "enableKeyRotation": True,
                "tags": {**args.tags, "Name": f"{name}-secrets"},
            },
            child,
        )
        kinds.KMS_ALIAS(f"{name}-secrets", {"name": f"alias/{name}-eks-secrets", "targetKeyId": secrets_key.key_id}, child)

        cluster = kinds.EKS_CLUSTER(
            name,
            {
                "accessEntries": {
                    f"admin-{index}": {"accessPolicies": {"cluster-admin": {"accessScope": {"type": "cluster"}, "policyArn": CLUSTER_ADMIN_POLICY}}, "principalArn": arn}
                    for index, arn in enumerate(config.admin_principal_arns)
                },
                # Access entries only: new clusters cannot later move from the aws-auth ConfigMap to API mode.
                "authenticationMode": "API",
                "corednsAddonOptions": {
                    # Schedules CoreDNS on Fargate so the add-on is not left DEGRADED on a cluster with no nodes.
                    "configurationValues": {"computeType": "Fargate"},
                    "enabled": True,
                    "version": addons["coredns"],
                    **ADDON_CONFLICTS,
                },
                "createOidcProvider": True,
                "deletionProtection": config.deletion_protection,
                "enabledClusterLogTypes": list(config.log_types),
                "encryptionConfigKeyArn": secrets_key.arn,
                "endpointPrivateAccess": True,
                "endpointPublicAccess": config.endpoint_public_access,
                "fargate": {
                    "selectors": [{"namespace": KARPENTER_NAMESPACE}, {"labels": {"k8s-app": "kube-dns"}, "namespace": "kube-system"}],
                    "subnetIds": args.private_subnet_ids,
                },
                "kubeProxyAddonOptions": {"version": addons["kube-proxy"], **ADDON_CONFLICTS},
                "name": name,
                "nodeAssociatePublicIpAddress": False,
                "privateSubnetIds": args.private_subnet_ids,
                "publicAccessCidrs": [str(c) for c in config.public_access_cidrs] or ["0.0.0.0/0"] if config.endpoint_public_access else None,
                # Public subnets are passed only so that internet-facing load balancers can be placed there;
                # nodes are launched by Karpenter into the subnets tagged for discovery, all private.
                "publicSubnetIds": args.public_subnet_ids,
                "skipDefaultNodeGroup": True,
                # Without pulumi-eks's own security groups, the cluster security group EKS creates is the
                # one nodes and Fargate pods share with the control plane; Karpenter discovers it by tag below.
                "skipDefaultSecurityGroups": True,
                "tags": args.tags,
                "version": config.kubernetes_version,
                "vpcCniOptions": {"addonVersion": addons["vpc-cni"], "enableNetworkPolicy": True, **ADDON_CONFLICTS},
                "vpcId": args.vpc_id,
            },
            child,
        )

        kinds.TAG(f"{name}-karpenter-discovery", {"key": DISCOVERY_TAG, "resourceId": cluster.cluster_security_group_id, "value": name}, child)

        self.cluster_name = name
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_issuer = cluster.oidc_issuer
        self.cluster_security_group_id = cluster.cluster_security_group_id
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.secrets_key_arn = secrets_key.arn
        self.k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child)
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer": self.oidc_issuer,
                "cluster_security_group_id": self.cluster_security_group_id,
                "kubeconfig": self.kubeconfig,
                "secrets_key_arn": self.secrets_key_arn,
                "k8s_provider": self.k8s_provider,
            }
        )

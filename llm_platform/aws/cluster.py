"""The EKS control plane: encrypted, logged, reachable only as configured, with a Fargate profile so that
Karpenter and CoreDNS run before any node exists."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from llm_platform import pins
from llm_platform.aws.karpenter import DISCOVERY_TAG, KARPENTER_NAMESPACE
from llm_platform.config import ClusterConfig

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


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

        secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in EKS cluster {name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags={**args.tags, "Name": f"{name}-secrets"},
            opts=child,
        )
        aws.kms.Alias(f"{name}-secrets", name=f"alias/{name}-eks-secrets", target_key_id=secrets_key.key_id, opts=child)

        cluster = eks.Cluster(
            name,
            name=name,
            version=config.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            # Public subnets are passed only so that internet-facing load balancers can be placed there;
            # nodes are launched by Karpenter into the subnets tagged for discovery, all private.
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=config.endpoint_public_access,
            public_access_cidrs=[str(c) for c in config.public_access_cidrs] or ["0.0.0.0/0"] if config.endpoint_public_access else None,
            encryption_config_key_arn=secrets_key.arn,
            enabled_cluster_log_types=list(config.log_types),
            # Access entries only: new clusters cannot later move from the aws-auth ConfigMap to API mode.
            authentication_mode=eks.AuthenticationMode.API,
            access_entries={
                f"admin-{index}": eks.AccessEntryArgs(
                    principal_arn=arn,
                    access_policies={
                        "cluster-admin": eks.AccessPolicyAssociationArgs(
                            policy_arn=CLUSTER_ADMIN_POLICY,
                            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                        )
                    },
                )
                for index, arn in enumerate(config.admin_principal_arns)
            },
            create_oidc_provider=True,
            skip_default_node_group=True,
            # Without pulumi-eks's own security groups, the cluster security group EKS creates is the one
            # nodes and Fargate pods share with the control plane; Karpenter discovers it by tag below.
            skip_default_security_groups=True,
            fargate=eks.FargateProfileArgs(
                subnet_ids=args.private_subnet_ids,
                selectors=[
                    aws.eks.FargateProfileSelectorArgs(namespace=KARPENTER_NAMESPACE),
                    aws.eks.FargateProfileSelectorArgs(namespace="kube-system", labels={"k8s-app": "kube-dns"}),
                ],
            ),
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(
                version=addons["coredns"],
                # Schedules CoreDNS on Fargate so the add-on is not left DEGRADED on a cluster with no nodes.
                configuration_values={"computeType": "Fargate"},
            ),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(version=addons["kube-proxy"]),
            vpc_cni_options=eks.VpcCniOptionsArgs(addon_version=addons["vpc-cni"], enable_network_policy=True),
            deletion_protection=config.deletion_protection,
            tags=args.tags,
            opts=child,
        )

        aws.ec2.Tag(
            f"{name}-karpenter-discovery",
            resource_id=cluster.cluster_security_group_id,
            key=DISCOVERY_TAG,
            value=name,
            opts=child,
        )

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

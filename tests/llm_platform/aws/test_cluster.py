"""EKS cluster: encrypted secrets, logs, endpoint access per environment, access entries, pinned add-ons,
Fargate for the first pods."""

from __future__ import annotations

import json

import pulumi
import pytest

from llm_platform import pins
from llm_platform.aws.cluster import EksCluster, EksClusterArgs
from llm_platform.aws.ebs_csi import EbsCsiDriver, EbsCsiDriverArgs
from llm_platform.config import ClusterConfig
from tests.llm_platform.aws.stack import CLUSTER, TAGS, account, declare_once, on_aws

CLUSTER_KIND = "eks:index:Cluster"
VPC = "vpc-0123456789abcdef0"
PRIVATE_SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2", "subnet-0aaaaaaaaaaaaaaa3"]
PUBLIC_SUBNETS = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0bbbbbbbbbbbbbbb3"]
# A staging-like cluster (public endpoint open to anyone, the required log types) and a production-like
# one (endpoint limited to its networks, deletion protection, every log type).
CONFIGS = {
    "staging": ClusterConfig(),
    "production": ClusterConfig(
        publicAccessCidrs=["203.0.113.0/24"],
        deletionProtection=True,
        karpenterReplicas=2,
        logTypes=["api", "audit", "authenticator", "controllerManager", "scheduler"],
    ),
}


def cluster_program(config: ClusterConfig):
    """The cluster with the EBS CSI add-on wired to it as the base wires them."""

    def program() -> None:
        opts = on_aws()
        cluster = EksCluster(
            CLUSTER,
            EksClusterArgs(config=config, vpc_id=VPC, private_subnet_ids=PRIVATE_SUBNETS, public_subnet_ids=PUBLIC_SUBNETS, tags=TAGS),
            opts=opts,
        )
        EbsCsiDriver(
            f"{CLUSTER}-ebs-csi",
            EbsCsiDriverArgs(
                cluster_name=CLUSTER,
                account=account(),
                kubernetes_version=config.kubernetes_version,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                tags=TAGS,
            ),
            opts=opts,
        )
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("kubeconfigRevealed", pulumi.Output.unsecret(cluster.kubeconfig))
        pulumi.export("clusterSecurityGroupId", cluster.cluster_security_group_id)
        pulumi.export("secretsKeyArn", cluster.secrets_key_arn)

    return program


@pytest.fixture(scope="module")
def plans():
    return {environment: declare_once(cluster_program(config)) for environment, config in CONFIGS.items()}


ENVIRONMENTS = pytest.mark.parametrize("environment", sorted(CONFIGS))


@ENVIRONMENTS
def test_secrets_are_envelope_encrypted_with_a_rotating_key(plans, environment):
    declared = plans[environment]
    key = declared.one("aws:kms/key:Key", f"{CLUSTER}-secrets")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["tags"] == {**TAGS, "Name": f"{CLUSTER}-secrets"}
    cluster = declared.one(CLUSTER_KIND).inputs
    assert cluster["encryptionConfigKeyArn"].startswith("arn:aws:kms:us-west-2:") and key.id in cluster["encryptionConfigKeyArn"]
    assert cluster["encryptionConfigKeyArn"] == declared.plan.outputs["secretsKeyArn"]
    alias = declared.one("aws:kms/alias:Alias").inputs
    assert alias == {"name": f"alias/{CLUSTER}-eks-secrets", "targetKeyId": key.id}


@ENVIRONMENTS
def test_control_plane_is_private_first_and_logged(plans, environment):
    cluster = plans[environment].one(CLUSTER_KIND).inputs
    assert cluster["name"] == CLUSTER
    assert cluster["endpointPrivateAccess"] is True
    assert {"api", "audit", "authenticator"} <= set(cluster["enabledClusterLogTypes"])
    assert cluster["enabledClusterLogTypes"] == list(CONFIGS[environment].log_types)
    assert cluster["authenticationMode"] == "API"
    assert cluster["createOidcProvider"] is True
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["nodeAssociatePublicIpAddress"] is False
    assert cluster["version"] == pins.KUBERNETES_VERSION
    assert (cluster["vpcId"], cluster["privateSubnetIds"], cluster["publicSubnetIds"]) == (VPC, PRIVATE_SUBNETS, PUBLIC_SUBNETS)
    assert cluster["tags"] == TAGS


def test_production_endpoint_is_limited_to_its_networks(plans):
    cluster = plans["production"].one(CLUSTER_KIND).inputs
    assert cluster["endpointPublicAccess"] is True
    assert cluster["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert cluster["deletionProtection"] is True
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def test_staging_endpoint_may_be_open(plans):
    cluster = plans["staging"].one(CLUSTER_KIND).inputs
    assert cluster["endpointPublicAccess"] is True
    assert cluster["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert cluster["deletionProtection"] is False


def test_private_only_endpoint_sends_no_public_cidrs(declare):
    declared = declare(cluster_program(ClusterConfig(endpointPublicAccess=False, publicAccessCidrs=["203.0.113.0/24"])))
    cluster = declared.one(CLUSTER_KIND).inputs
    assert cluster["endpointPublicAccess"] is False and cluster["endpointPrivateAccess"] is True
    assert "publicAccessCidrs" not in cluster


@ENVIRONMENTS
def test_addons_are_pinned_with_network_policy_on(plans, environment):
    cluster = plans[environment].one(CLUSTER_KIND).inputs
    addons = pins.EKS_ADDON_VERSIONS[pins.KUBERNETES_VERSION]
    assert cluster["vpcCniOptions"]["addonVersion"] == addons["vpc-cni"]
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
    assert cluster["corednsAddonOptions"]["version"] == addons["coredns"]
    assert cluster["kubeProxyAddonOptions"]["version"] == addons["kube-proxy"]
    ebs = plans[environment].one("aws:eks/addon:Addon").inputs
    assert ebs["addonName"] == "aws-ebs-csi-driver" and ebs["addonVersion"] == addons["aws-ebs-csi-driver"]
    assert ebs["clusterName"] == CLUSTER


@ENVIRONMENTS
def test_karpenter_and_coredns_run_on_fargate(plans, environment):
    cluster = plans[environment].one(CLUSTER_KIND).inputs
    selectors = cluster["fargate"]["selectors"]
    assert {"namespace": "karpenter"} in selectors
    assert {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}} in selectors
    # Without this CoreDNS waits for EC2 nodes that Karpenter (which needs DNS) has not launched: DEGRADED.
    assert cluster["corednsAddonOptions"]["configurationValues"] == {"computeType": "Fargate"}
    assert cluster["fargate"]["subnetIds"] == cluster["privateSubnetIds"] == PRIVATE_SUBNETS


def test_cluster_security_group_is_tagged_for_karpenter(plans):
    declared = plans["staging"]
    tag = declared.one("aws:ec2/tag:Tag").inputs
    assert tag["key"] == "karpenter.sh/discovery" and tag["value"] == CLUSTER
    assert tag["resourceId"].startswith("sg-")
    assert tag["resourceId"] == declared.plan.outputs["clusterSecurityGroupId"]


def test_admin_principals_get_cluster_admin_access_entries(declare):
    arn = "arn:aws:iam::123456789012:role/platform-admins"
    config = ClusterConfig(adminPrincipalArns=[arn], publicAccessCidrs=["198.51.100.0/24"])
    declared = declare(lambda: EksCluster("c", EksClusterArgs(config=config, vpc_id="vpc-1", private_subnet_ids=["s-1"], public_subnet_ids=["s-2"], tags={})))
    entries = declared.one(CLUSTER_KIND).inputs["accessEntries"]
    assert entries == {
        "admin-0": {
            "principalArn": arn,
            "accessPolicies": {
                "cluster-admin": {
                    "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                    "accessScope": {"type": "cluster"},
                }
            },
        }
    }


def test_kubeconfig_is_secret_and_uses_aws_cli(plans):
    declared = plans["staging"]
    assert declared.plan.outputs["kubeconfig"] == "[secret]"
    provider = declared.one("pulumi:providers:kubernetes", f"{CLUSTER}-k8s")
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert provider.parent == declared.one("llm-platform:eks_cluster:EksCluster", CLUSTER).urn
    # What pulumi-eks hands back as kubeconfigJson: a token from `aws eks get-token` for this cluster.
    (user,) = json.loads(declared.plan.outputs["kubeconfigRevealed"])["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == ["eks", "get-token", "--cluster-name", CLUSTER, "--region", "us-west-2"]

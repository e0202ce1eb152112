"""EKS cluster: encrypted secrets, logs, endpoint access per environment, access entries, pinned add-ons,
Fargate for the first pods."""

from __future__ import annotations

import pytest

from llm_platform import pins
from llm_platform.aws.cluster import EksCluster, EksClusterArgs
from llm_platform.config import ClusterConfig

CLUSTER = "eks:index:Cluster"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_secrets_are_envelope_encrypted_with_a_rotating_key(stack_plan, stack):
    declared = stack_plan(stack)
    key = declared.one("aws:kms/key:Key", f"{declared.plan.outputs['clusterName']}-secrets")
    assert key.inputs["enableKeyRotation"] is True
    cluster = declared.one(CLUSTER).inputs
    assert cluster["encryptionConfigKeyArn"].startswith("arn:aws:kms:us-west-2:") and key.id in cluster["encryptionConfigKeyArn"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_control_plane_is_private_first_and_logged(stack_plan, stack):
    cluster = stack_plan(stack).one(CLUSTER).inputs
    assert cluster["endpointPrivateAccess"] is True
    assert {"api", "audit", "authenticator"} <= set(cluster["enabledClusterLogTypes"])
    assert cluster["authenticationMode"] == "API"
    assert cluster["createOidcProvider"] is True
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["nodeAssociatePublicIpAddress"] is False
    assert cluster["version"] == pins.KUBERNETES_VERSION


def test_production_endpoint_is_limited_to_its_networks(stack_plan):
    assert stack_plan("production").one(CLUSTER).inputs["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert stack_plan("production").one(CLUSTER).inputs["deletionProtection"] is True


def test_staging_endpoint_may_be_open(stack_plan):
    assert stack_plan("staging").one(CLUSTER).inputs["publicAccessCidrs"] == ["0.0.0.0/0"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_addons_are_pinned_with_network_policy_on(stack_plan, stack):
    cluster = stack_plan(stack).one(CLUSTER).inputs
    addons = pins.EKS_ADDON_VERSIONS[pins.KUBERNETES_VERSION]
    assert cluster["vpcCniOptions"]["addonVersion"] == addons["vpc-cni"]
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
    assert cluster["corednsAddonOptions"]["version"] == addons["coredns"]
    assert cluster["kubeProxyAddonOptions"]["version"] == addons["kube-proxy"]
    ebs = stack_plan(stack).one("aws:eks/addon:Addon").inputs
    assert ebs["addonName"] == "aws-ebs-csi-driver" and ebs["addonVersion"] == addons["aws-ebs-csi-driver"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_karpenter_and_coredns_run_on_fargate(stack_plan, stack):
    cluster = stack_plan(stack).one(CLUSTER).inputs
    selectors = cluster["fargate"]["selectors"]
    assert {"namespace": "karpenter"} in selectors
    assert {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}} in selectors
    # Without this CoreDNS waits for EC2 nodes that Karpenter (which needs DNS) has not launched: DEGRADED.
    assert cluster["corednsAddonOptions"]["configurationValues"] == {"computeType": "Fargate"}
    assert cluster["fargate"]["subnetIds"] == cluster["privateSubnetIds"]


def test_cluster_security_group_is_tagged_for_karpenter(stack_plan):
    tag = stack_plan("staging").one("aws:ec2/tag:Tag").inputs
    assert tag["key"] == "karpenter.sh/discovery" and tag["value"] == "llm-staging"
    assert tag["resourceId"].startswith("sg-")


def test_admin_principals_get_cluster_admin_access_entries(declare):
    arn = "arn:aws:iam::123456789012:role/platform-admins"
    config = ClusterConfig(adminPrincipalArns=[arn], publicAccessCidrs=["198.51.100.0/24"])
    declared = declare(lambda: EksCluster("c", EksClusterArgs(config=config, vpc_id="vpc-1", private_subnet_ids=["s-1"], public_subnet_ids=["s-2"], tags={})))
    entries = declared.one(CLUSTER).inputs["accessEntries"]
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


def test_kubeconfig_is_secret_and_uses_aws_cli(stack_plan):
    declared = stack_plan("staging")
    assert declared.plan.outputs["kubeconfig"] == "[secret]"
    provider = declared.one("pulumi:providers:kubernetes").inputs
    assert provider["kubeconfig"] == "[secret]"

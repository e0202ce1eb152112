"""The EBS CSI add-on: its own IRSA role, created only after the node pools its controller runs on."""

from __future__ import annotations

import json

import pytest

from llm_platform import pins
from llm_platform.aws.ebs_csi import EbsCsiDriver, EbsCsiDriverArgs
from tests.llm_platform.aws.stack import ACCOUNT, CLUSTER, ISSUER, OIDC_PROVIDER_ARN, TAGS, account, base_plan, on_aws

ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


def test_irsa_role(declare):
    args = EbsCsiDriverArgs(cluster_name=CLUSTER, account=account(), kubernetes_version=pins.KUBERNETES_VERSION, oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=ISSUER, tags=TAGS)
    declared = declare(lambda: EbsCsiDriver(f"{CLUSTER}-ebs-csi", args, opts=on_aws()))
    role = declared.one("aws:iam/role:Role", f"{CLUSTER}-ebs-csi-controller")
    assert role.inputs["name"] == f"{CLUSTER}-ebs-csi"
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in statement["Condition"]["StringEquals"].values()
    assert statement["Condition"]["StringEquals"] == {f"{ISSUER}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa", f"{ISSUER}:aud": "sts.amazonaws.com"}
    assert statement["Principal"] == {"Federated": OIDC_PROVIDER_ARN}
    (attachment,) = [a for a in declared.of_type(ATTACHMENT) if a.inputs["role"] == role.inputs["name"]]
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    addon = declared.one("aws:eks/addon:Addon")
    assert addon.inputs["serviceAccountRoleArn"].endswith(f":role/{CLUSTER}-ebs-csi")
    assert addon.inputs["serviceAccountRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{CLUSTER}-ebs-csi"
    assert addon.inputs["clusterName"] == CLUSTER
    assert addon.inputs["addonVersion"] == pins.EKS_ADDON_VERSIONS[pins.KUBERNETES_VERSION]["aws-ebs-csi-driver"]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_base_creates_it_after_the_node_pools(environment):
    declared = base_plan(environment)
    addon = declared.one("aws:eks/addon:Addon")
    assert addon.inputs["serviceAccountRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/base-{environment}-ebs-csi"
    component = declared.by_urn(addon.parent)
    assert component.type == "llm-platform:ebs_csi:EbsCsiDriver"
    node_pools = {r.urn for r in declared.of_type(NODE_POOL)}
    # The system pool and one per GPU pool of the stack.
    assert len(node_pools) == {"staging": 2, "production": 3}[environment]
    assert node_pools and node_pools <= set(component.depends_on)

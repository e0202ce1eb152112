"""The AWS Load Balancer Controller under mocks: the upstream IAM policy unchanged, IRSA trust for exactly
its service account, the pinned chart with values the chart defines, everything on the caller's providers."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from llm_platform import pins
from llm_platform.aws.iam import load_balancer_controller as upstream
from llm_platform.aws.ingress import LoadBalancerController, LoadBalancerControllerArgs, controller_values
from tests.k8s_schemas import validate_helm_values
from tests.llm_platform.aws.stack import ACCOUNT, CLUSTER, ISSUER, OIDC_PROVIDER_ARN, TAGS, account

POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
RELEASE = "kubernetes:helm.sh/v3:Release"
SYSTEM_NODES = {"llm-platform.io/node-role": "system"}
ARGS = LoadBalancerControllerArgs(
    cluster_name=CLUSTER,
    vpc_id="vpc-0123456789abcdef0",
    account=account(),
    oidc_provider_arn=OIDC_PROVIDER_ARN,
    oidc_issuer=ISSUER,
    replicas=2,
    system_node_selector=SYSTEM_NODES,
    tags=TAGS,
)


@pytest.fixture
def declared(declare):
    def program() -> None:
        providers = {"aws": aws.Provider("aws", region="us-west-2"), "kubernetes": k8s.Provider("k8s", kubeconfig="{}")}
        controller = LoadBalancerController("llm-test-lbc", ARGS, opts=pulumi.ResourceOptions(providers=providers))
        pulumi.export("role_arn", controller.role_arn)

    return declare(program)


def test_policy_is_the_upstream_document(declared):
    policy = declared.one(POLICY, "llm-test-lbc-controller").inputs
    document = json.loads(policy["policy"])
    assert document == json.loads(upstream.DATA_FILE.read_text())
    actions = set()
    for statement in document["Statement"]:
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    assert {"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup", "ec2:DescribeSubnets", "ec2:AuthorizeSecurityGroupIngress"} <= actions
    assert policy["name"] == "llm-test-aws-lb-controller"
    assert policy["tags"] == {**TAGS, "Name": "llm-test-aws-lb-controller"}


def test_role_trusts_only_the_controller_service_account(declared):
    role = declared.one(ROLE, "llm-test-lbc-controller").inputs
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": ARGS.oidc_provider_arn}
    assert statement["Condition"]["StringEquals"] == {
        f"{ISSUER}:sub": "system:serviceaccount:kube-system:aws-load-balancer-controller",
        f"{ISSUER}:aud": "sts.amazonaws.com",
    }
    (attachment,) = declared.of_type(ATTACHMENT)
    assert attachment.inputs["role"] == role["name"]
    assert attachment.inputs["policyArn"] == f"arn:aws:iam::{ACCOUNT}:policy/llm-test-aws-lb-controller"
    assert declared.plan.outputs["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/llm-test-aws-lb-controller"


def test_release_is_pinned_and_wired(declared):
    release = declared.one(RELEASE, "llm-test-lbc")
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
        "aws-load-balancer-controller",
        "3.5.0",
        "https://aws.github.io/eks-charts",
    )
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
        pins.AWS_LOAD_BALANCER_CONTROLLER_CHART.chart,
        pins.AWS_LOAD_BALANCER_CONTROLLER_CHART.version,
        pins.AWS_LOAD_BALANCER_CONTROLLER_CHART.repo,
    )
    assert inputs["name"] == "aws-load-balancer-controller" and inputs["namespace"] == "kube-system"
    values = inputs["values"]
    assert values == {
        "clusterName": "llm-test",
        "region": "us-west-2",
        "vpcId": "vpc-0123456789abcdef0",
        "replicaCount": 2,
        "serviceAccount": {
            "create": True,
            "name": "aws-load-balancer-controller",
            "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/llm-test-aws-lb-controller"},
        },
        "nodeSelector": SYSTEM_NODES,
    }
    assert validate_helm_values("aws-load-balancer-controller", values) == []
    # The controller starts only once its role carries the policy.
    assert declared.one(ATTACHMENT).urn in release.depends_on


def test_values_use_only_keys_the_chart_defines():
    values = controller_values(ARGS, "arn:aws:iam::1:role/r")
    assert validate_helm_values("aws-load-balancer-controller", values) == []
    assert validate_helm_values("aws-load-balancer-controller", {**values, "replicas": 2})  # a wrong key is caught


def test_children_use_the_callers_providers(declared):
    component = declared.one("llm-platform:load_balancer_controller:LoadBalancerController", "llm-test-lbc")
    aws_provider = declared.one("pulumi:providers:aws", "aws").urn
    k8s_provider = declared.one("pulumi:providers:kubernetes", "k8s").urn
    children = [r for r in declared.plan.resources if r.parent == component.urn]
    assert sorted(r.type for r in children) == sorted([POLICY, ROLE, ATTACHMENT, RELEASE])
    for child in children:
        expected = k8s_provider if child.type == RELEASE else aws_provider
        assert child.provider.startswith(f"{expected}::"), (child.type, child.provider)

"""Karpenter: its AWS side (controller policies exactly as upstream, IRSA trust for one service account,
the interruption queue and its EventBridge feeds, the node role) and its charts (pinned to the version
whose CRDs the tests validate against, values the chart defines, wired from the AWS side)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_platform import pins
from llm_platform.aws.karpenter import NODE_ROLE_POLICIES, Karpenter, KarpenterArgs, KarpenterInfra, KarpenterInfraArgs, controller_values
from tests.k8s_schemas import validate_helm_values
from tests.llm_platform.aws.stack import ACCOUNT, CLUSTER, ISSUER, OIDC_PROVIDER_ARN, TAGS, account, base_plan, declare_once, in_cluster, on_aws, stack_config

UPSTREAM = json.loads((Path(__file__).parent / "iam" / "karpenter_controller_policy_v1.14.1.json").read_text())
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
RELEASE = "kubernetes:helm.sh/v3:Release"


def karpenter_program(cluster_name: str, replicas: int, region: str = "us-west-2"):
    """Karpenter's AWS side and its charts, wired as the base wires them."""

    def program() -> None:
        infra = KarpenterInfra(
            f"{cluster_name}-karpenter",
            KarpenterInfraArgs(cluster_name=cluster_name, account=account(region), oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=ISSUER, tags=TAGS),
            opts=on_aws(region),
        )
        Karpenter(
            f"{cluster_name}-karpenter",
            KarpenterArgs(
                cluster_name=cluster_name,
                controller_role_arn=infra.controller_role_arn,
                interruption_queue_name=infra.interruption_queue_name,
                replicas=replicas,
            ),
            opts=in_cluster(),
        )

    return program


@pytest.fixture(scope="module")
def declared():
    return declare_once(karpenter_program(CLUSTER, replicas=2))


def test_controller_policies_grant_every_upstream_action_and_nothing_more(declared):
    actions = set()
    for policy in declared.of_type(POLICY):
        document = json.loads(policy.inputs["policy"])
        for statement in document["Statement"]:
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
        assert len(json.dumps(document, separators=(",", ":"))) < 6144, policy.name
    assert actions == set(UPSTREAM["actions"])


def test_controller_policies_are_scoped_to_this_cluster(declared):
    texts = [p.inputs["policy"] for p in declared.of_type(POLICY)]
    assert any(f"kubernetes.io/cluster/{CLUSTER}" in text for text in texts)
    assert all("${" not in text for text in texts), "unsubstituted CloudFormation variable"
    assert any(f"arn:aws:sqs:us-west-2:{ACCOUNT}:{CLUSTER}" in text for text in texts)
    assert any(f"arn:aws:iam::{ACCOUNT}:role/{CLUSTER}-karpenter-node" in text for text in texts), "PassRole names the node role"


def test_controller_policies_follow_the_region(declare):
    texts = [p.inputs["policy"] for p in declare(karpenter_program(CLUSTER, 1, "eu-west-1"), region="eu-west-1").of_type(POLICY)]
    assert any(f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{CLUSTER}" in text for text in texts)
    assert not any("us-west-2" in text for text in texts)


def test_controller_role_trusts_only_the_karpenter_service_account(declared):
    role = declared.one("aws:iam/role:Role", f"{CLUSTER}-karpenter-controller").inputs
    assert role["name"] == f"{CLUSTER}-karpenter-controller"
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].startswith(f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/")
    assert statement["Principal"] == {"Federated": OIDC_PROVIDER_ARN}
    conditions = statement["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == ["sts.amazonaws.com", "system:serviceaccount:karpenter:karpenter"]
    assert conditions == {f"{ISSUER}:sub": "system:serviceaccount:karpenter:karpenter", f"{ISSUER}:aud": "sts.amazonaws.com"}
    attached = [a for a in declared.of_type(ATTACHMENT) if a.inputs["role"] == role["name"]]
    assert len(attached) == len(declared.of_type(POLICY)) == 6


def test_interruption_queue_is_encrypted_with_short_retention(declared):
    queue = declared.one("aws:sqs/queue:Queue").inputs
    assert queue["name"] == CLUSTER
    assert queue["messageRetentionSeconds"] == 300
    assert queue["sqsManagedSseEnabled"] is True
    policy = json.loads(declared.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"])
    services = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            listed = statement["Principal"]["Service"]
            services |= {listed} if isinstance(listed, str) else set(listed)
    assert {"events.amazonaws.com", "sqs.amazonaws.com"} <= services


def test_every_interruption_event_reaches_the_queue(declared):
    rules = declared.of_type("aws:cloudwatch/eventRule:EventRule")
    patterns = {json.dumps(json.loads(r.inputs["eventPattern"]), sort_keys=True) for r in rules}
    assert patterns == {json.dumps(p, sort_keys=True) for p in UPSTREAM["eventPatterns"].values()}
    detail_types = {t for r in rules for t in json.loads(r.inputs["eventPattern"]).get("detail-type", [])}
    assert {"EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification"} <= detail_types
    queue_arn = f"arn:aws:sqs:us-west-2:{ACCOUNT}:{CLUSTER}"
    targets = declared.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(rules)
    assert {t.inputs["arn"] for t in targets} == {queue_arn}
    assert {t.inputs["rule"] for t in targets} == {r.inputs["name"] for r in rules}


def test_node_role_can_join_and_pull(declared):
    role = declared.one("aws:iam/role:Role", f"{CLUSTER}-karpenter-node").inputs
    assert role["name"] == f"{CLUSTER}-karpenter-node"
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {a.inputs["policyArn"].rsplit("/", 1)[1] for a in declared.of_type(ATTACHMENT) if a.inputs["role"] == role["name"]}
    assert attached == set(NODE_ROLE_POLICIES)
    entry = declared.one("aws:eks/accessEntry:AccessEntry").inputs
    assert entry["type"] == "EC2_LINUX" and entry["principalArn"].endswith(f":role/{CLUSTER}-karpenter-node")
    assert entry["clusterName"] == CLUSTER


def test_values_use_only_keys_the_chart_defines():
    values = controller_values(KarpenterArgs(cluster_name="c", controller_role_arn="arn:aws:iam::1:role/r", interruption_queue_name="c", replicas=2))
    assert validate_helm_values("karpenter", values) == []


@pytest.mark.parametrize("cluster_name,replicas", [("llm-stg", 1), ("llm-prd", 2)])
def test_releases_are_pinned_and_wired(declare, cluster_name, replicas):
    declared = declare(karpenter_program(cluster_name, replicas))
    releases = {r.inputs["name"]: r for r in declared.of_type(RELEASE)}
    assert sorted(releases) == ["karpenter", "karpenter-crd"]
    crd, controller = releases["karpenter-crd"], releases["karpenter"]
    assert crd.inputs["chart"] == pins.KARPENTER_CRD_CHART.chart and crd.inputs["version"] == pins.KARPENTER_VERSION
    assert controller.inputs["chart"] == pins.KARPENTER_CHART.chart and controller.inputs["version"] == pins.KARPENTER_VERSION
    assert controller.inputs["skipCrds"] is True and crd.urn in controller.depends_on
    values = controller.inputs["values"]
    assert validate_helm_values("karpenter", values) == []
    assert values["replicas"] == replicas
    assert values["settings"] == {"clusterName": cluster_name, "interruptionQueue": cluster_name}
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::{ACCOUNT}:role/{cluster_name}-karpenter-controller"
    assert values["controller"]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert controller.inputs["namespace"] == "karpenter"
    assert crd.inputs["namespace"] == "karpenter"
    k8s_provider = declared.one("pulumi:providers:kubernetes", "k8s").urn
    assert all(r.provider.startswith(f"{k8s_provider}::") for r in (crd, controller))


@pytest.mark.parametrize("environment,replicas", [("staging", 1), ("production", 2)])
def test_the_base_runs_the_configured_replicas_on_its_own_roles(environment, replicas):
    declared = base_plan(environment)
    assert stack_config(environment).aws.cluster.karpenter_replicas == replicas
    controller = declared.release("karpenter")
    cluster_name = f"base-{environment}"
    assert controller.inputs["values"]["replicas"] == replicas
    assert controller.inputs["values"]["settings"] == {"clusterName": cluster_name, "interruptionQueue": cluster_name}
    assert controller.inputs["values"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::{ACCOUNT}:role/{cluster_name}-karpenter-controller"
    # The controller role trusts the cluster's own OIDC provider, which pulumi-eks created.
    role = declared.one("aws:iam/role:Role", f"{cluster_name}-karpenter-controller").inputs
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Principal"]["Federated"].startswith(f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/")

"""Karpenter: its AWS side (controller policies exactly as upstream, IRSA trust for one service account,
the interruption queue and its EventBridge feeds, the node role) and its charts (pinned to the version
whose CRDs the tests validate against, values the chart defines, wired from the AWS side)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_platform import pins
from llm_platform.aws.karpenter import NODE_ROLE_POLICIES, KarpenterArgs, controller_values
from tests.k8s_schemas import validate_helm_values

UPSTREAM = json.loads((Path(__file__).parent / "iam" / "karpenter_controller_policy_v1.14.1.json").read_text())


@pytest.fixture
def declared(stack_plan):
    return stack_plan("production")


def test_controller_policies_grant_every_upstream_action_and_nothing_more(declared):
    actions = set()
    for policy in declared.of_type("aws:iam/policy:Policy"):
        document = json.loads(policy.inputs["policy"])
        for statement in document["Statement"]:
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
        assert len(json.dumps(document, separators=(",", ":"))) < 6144, policy.name
    assert actions == set(UPSTREAM["actions"])


def test_controller_policies_are_scoped_to_this_cluster(declared):
    texts = [p.inputs["policy"] for p in declared.of_type("aws:iam/policy:Policy")]
    assert any("kubernetes.io/cluster/llm-production" in text for text in texts)
    assert all("${" not in text for text in texts), "unsubstituted CloudFormation variable"
    assert any("arn:aws:sqs:us-west-2:123456789012:llm-production" in text for text in texts)


def test_controller_role_trusts_only_the_karpenter_service_account(declared):
    role = declared.one("aws:iam/role:Role", "llm-production-karpenter-controller").inputs
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/")
    conditions = statement["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == ["sts.amazonaws.com", "system:serviceaccount:karpenter:karpenter"]
    attached = [a for a in declared.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.inputs["role"] == role["name"]]
    assert len(attached) == len(declared.of_type("aws:iam/policy:Policy")) == 6


def test_interruption_queue_is_encrypted_with_short_retention(declared):
    queue = declared.one("aws:sqs/queue:Queue").inputs
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
    queue_arn = "arn:aws:sqs:us-west-2:123456789012:llm-production"
    targets = declared.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(rules)
    assert {t.inputs["arn"] for t in targets} == {queue_arn}


def test_node_role_can_join_and_pull(declared):
    role = declared.one("aws:iam/role:Role", "llm-production-karpenter-node").inputs
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {a.inputs["policyArn"].rsplit("/", 1)[1] for a in declared.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.inputs["role"] == role["name"]}
    assert attached == set(NODE_ROLE_POLICIES)
    entry = declared.one("aws:eks/accessEntry:AccessEntry").inputs
    assert entry["type"] == "EC2_LINUX" and entry["principalArn"].endswith(":role/llm-production-karpenter-node")


RELEASE = "kubernetes:helm.sh/v3:Release"


def test_values_use_only_keys_the_chart_defines():
    values = controller_values(KarpenterArgs(cluster_name="c", controller_role_arn="arn:aws:iam::1:role/r", interruption_queue_name="c", replicas=2))
    assert validate_helm_values("karpenter", values) == []


@pytest.mark.parametrize("stack,replicas", [("staging", 1), ("production", 2)])
def test_releases_are_pinned_and_wired(stack_plan, stack, replicas):
    releases = {r.inputs["name"]: r for r in stack_plan(stack).of_type(RELEASE)}
    crd, controller = releases["karpenter-crd"], releases["karpenter"]
    assert crd.inputs["chart"] == pins.KARPENTER_CRD_CHART.chart and crd.inputs["version"] == pins.KARPENTER_VERSION
    assert controller.inputs["chart"] == pins.KARPENTER_CHART.chart and controller.inputs["version"] == pins.KARPENTER_VERSION
    assert controller.inputs["skipCrds"] is True and crd.urn in controller.depends_on
    values = controller.inputs["values"]
    assert values["replicas"] == replicas
    assert values["settings"] == {"clusterName": f"llm-{stack}", "interruptionQueue": f"llm-{stack}"}
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::123456789012:role/llm-{stack}-karpenter-controller"
    assert values["controller"]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert controller.inputs["namespace"] == "karpenter"

"""Checks llm_platform.aws.iam.karpenter against data extracted from upstream Karpenter.

The JSON fixture was produced mechanically from the upstream CloudFormation
template, so agreement here means the hand-written module has not drifted from
what Karpenter v1.14.1 documents.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llm_platform.aws.iam.karpenter import (
    CONTROLLER_POLICY_NAME_PREFIXES,
    MANAGED_POLICY_MAX_CHARS,
    MESSAGE_RETENTION_SECONDS,
    SQS_MANAGED_SSE_ENABLED,
    UPSTREAM_COMMIT,
    UPSTREAM_PATH,
    UPSTREAM_REF,
    UPSTREAM_REPO,
    controller_policy_documents,
    interruption_event_patterns,
    interruption_queue_policy_document,
)

DATA_FILE = Path(__file__).resolve().parent / "karpenter_controller_policy_v1.14.1.json"

PARTITION = "aws"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
CLUSTER_NAME = "llm-platform"
QUEUE_ARN = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{CLUSTER_NAME}"
NODE_ROLE_ARN = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/KarpenterNodeRole-{CLUSTER_NAME}"

# Statements upstream leaves on Resource "*" (because the APIs have no
# resource-level permissions). Pinned so that any widening is a deliberate edit.
UNSCOPED_SIDS = {
    "AllowZonalShiftStatusReadOnly",
    "AllowRegionalReadActions",
    "AllowPricingReadActions",
    "AllowUnscopedInstanceProfileListAction",
}


def _docs(**overrides: str) -> dict[str, dict[str, Any]]:
    args = {
        "partition": PARTITION,
        "region": REGION,
        "account_id": ACCOUNT_ID,
        "cluster_name": CLUSTER_NAME,
        "interruption_queue_arn": QUEUE_ARN,
        "node_role_arn": NODE_ROLE_ARN,
    }
    args.update(overrides)
    return controller_policy_documents(**args)


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _statements(docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for doc in docs.values() for s in doc["Statement"]]


def _iam_size(doc: dict[str, Any]) -> int:
    # IAM counts policy size without whitespace.
    return len(re.sub(r"\s", "", json.dumps(doc)))


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text())


def test_module_and_fixture_name_the_same_upstream_source(data: dict[str, Any]) -> None:
    assert data["source"] == {
        "repo": UPSTREAM_REPO,
        "path": UPSTREAM_PATH,
        "ref": UPSTREAM_REF,
        "commit": UPSTREAM_COMMIT,
    }


def test_documents_are_keyed_by_upstream_policy_names() -> None:
    assert list(_docs()) == list(CONTROLLER_POLICY_NAME_PREFIXES)


# (a)
def test_grants_exactly_the_upstream_actions(data: dict[str, Any]) -> None:
    granted = {a for s in _statements(_docs()) for a in _as_list(s["Action"])}
    expected = set(data["actions"])
    assert granted - expected == set(), "actions not in upstream"
    assert expected - granted == set(), "upstream actions missing"


def test_fixture_actions_are_sorted_and_unique(data: dict[str, Any]) -> None:
    assert data["actions"] == sorted(set(data["actions"]))


# (b)
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        # Worst case: longest partition name and EKS's 100 character cluster name limit.
        {
            "partition": "aws-us-gov",
            "region": "us-gov-west-1",
            "cluster_name": "c" * 100,
            "interruption_queue_arn": "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:" + "c" * 80,
            "node_role_arn": "arn:aws-us-gov:iam::123456789012:role/KarpenterNodeRole-" + "c" * 46,
        },
    ],
    ids=["typical", "worst-case"],
)
def test_documents_are_valid_and_within_managed_policy_limit(overrides: dict[str, str]) -> None:
    for name, doc in _docs(**overrides).items():
        assert json.loads(json.dumps(doc)) == doc, name
        assert doc["Version"] == "2012-10-17"
        assert doc["Statement"], name
        for statement in doc["Statement"]:
            assert {"Effect", "Action", "Resource"} <= statement.keys(), statement.get("Sid")
            assert statement["Effect"] == "Allow"
        assert _iam_size(doc) < MANAGED_POLICY_MAX_CHARS, f"{name}: {_iam_size(doc)} chars"


def test_sids_are_unique_across_documents() -> None:
    sids = [s["Sid"] for s in _statements(_docs())]
    assert len(sids) == len(set(sids))


def test_no_cloudformation_placeholders_left() -> None:
    assert "${" not in json.dumps(_docs())


def test_only_known_statements_use_wildcard_resource() -> None:
    wildcard = {s["Sid"] for s in _statements(_docs()) if "*" in _as_list(s["Resource"])}
    assert wildcard == UNSCOPED_SIDS


# (c)
def test_mutating_statements_are_scoped_to_the_cluster() -> None:
    by_sid = {s["Sid"]: s for s in _statements(_docs())}
    resource_tag = f"aws:ResourceTag/kubernetes.io/cluster/{CLUSTER_NAME}"
    request_tag = f"aws:RequestTag/kubernetes.io/cluster/{CLUSTER_NAME}"

    for sid in (
        "AllowScopedEC2LaunchTemplateAccessActions",
        "AllowScopedResourceTagging",
        "AllowScopedDeletion",
        "AllowScopedInstanceProfileTagActions",
        "AllowScopedInstanceProfileActions",
    ):
        assert by_sid[sid]["Condition"]["StringEquals"][resource_tag] == "owned", sid

    for sid in (
        "AllowScopedEC2InstanceActionsWithTags",
        "AllowScopedResourceCreationTagging",
        "AllowScopedInstanceProfileCreationActions",
        "AllowScopedInstanceProfileTagActions",
    ):
        equals = by_sid[sid]["Condition"]["StringEquals"]
        assert equals[request_tag] == "owned", sid
        assert equals["aws:RequestTag/eks:eks-cluster-name"] == CLUSTER_NAME, sid

    cluster_arn = f"arn:{PARTITION}:eks:{REGION}:{ACCOUNT_ID}:cluster/{CLUSTER_NAME}"
    assert by_sid["AllowAPIServerEndpointDiscovery"]["Resource"] == cluster_arn
    zonal = by_sid["AllowZonalShiftStatusReadOnly"]["Condition"]["StringEquals"]
    assert zonal["arc-zonal-shift:ResourceIdentifier"] == cluster_arn
    assert by_sid["AllowRegionalReadActions"]["Condition"]["StringEquals"] == {"aws:RequestedRegion": REGION}
    assert by_sid["AllowPassingInstanceRole"]["Resource"] == NODE_ROLE_ARN
    assert by_sid["AllowInterruptionQueueActions"]["Resource"] == QUEUE_ARN


def test_cluster_name_is_not_hardcoded() -> None:
    assert CLUSTER_NAME not in json.dumps(_docs(cluster_name="other", node_role_arn="r", interruption_queue_arn="q"))


# (d)
def test_event_patterns_match_upstream(data: dict[str, Any]) -> None:
    assert interruption_event_patterns() == data["eventPatterns"]


def test_event_patterns_are_fresh_copies() -> None:
    interruption_event_patterns()["rebalance"]["source"].append("mutated")
    assert interruption_event_patterns()["rebalance"]["source"] == ["aws.ec2"]


def test_queue_policy_allows_eventbridge_and_denies_plain_http() -> None:
    doc = interruption_queue_policy_document(queue_arn=QUEUE_ARN)
    allow, deny = doc["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == QUEUE_ARN
    assert deny["Sid"] == "DenyHTTP"
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == "sqs:*"
    assert deny["Resource"] == QUEUE_ARN
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    assert json.loads(json.dumps(doc)) == doc


def test_queue_settings_match_upstream() -> None:
    assert MESSAGE_RETENTION_SECONDS == 300
    assert SQS_MANAGED_SSE_ENABLED is True

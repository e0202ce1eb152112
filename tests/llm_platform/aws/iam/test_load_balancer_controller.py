"""llm_platform.aws.iam.load_balancer_controller: the upstream policy file unchanged, loaded as upstream
wrote it, only its partition substituted."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from llm_platform.aws.iam import load_balancer_controller as lbc
from llm_platform.aws.iam.karpenter import MANAGED_POLICY_MAX_CHARS


def test_data_file_is_the_upstream_blob():
    # Git's blob id of the file: equal to the recorded one only if not a byte differs from upstream.
    content = lbc.DATA_FILE.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    assert blob == lbc.UPSTREAM_BLOB
    assert lbc.DATA_FILE.name == f"aws_load_balancer_controller_{lbc.UPSTREAM_REF}.json"
    assert (lbc.UPSTREAM_REPO, lbc.UPSTREAM_PATH) == ("kubernetes-sigs/aws-load-balancer-controller", "docs/install/iam_policy.json")
    assert re.fullmatch(r"[0-9a-f]{40}", lbc.UPSTREAM_COMMIT)


def test_commercial_partition_returns_the_upstream_document_verbatim():
    text = lbc.controller_policy()
    assert isinstance(text, str)
    assert text == lbc.upstream_policy_text().rstrip("\n")
    assert lbc.controller_policy("aws") == text


def test_policy_grants_what_the_controller_needs():
    document = lbc.controller_policy_document()
    assert document["Version"] == "2012-10-17"
    actions = set()
    for statement in document["Statement"]:
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    assert {
        "iam:CreateServiceLinkedRole",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:RegisterTargets",
    } <= actions
    assert not any(a.endswith(":*") or a == "*" for a in actions), "upstream grants no service-wide wildcard"


@pytest.mark.parametrize("partition", sorted(lbc.SUPPORTED_PARTITIONS - {"aws"}))
def test_partition_is_substituted_in_every_arn(partition):
    text = lbc.controller_policy(partition)
    upstream_arns = re.findall(r'"arn:aws:[^"]*"', lbc.upstream_policy_text())
    assert upstream_arns, "upstream has partition-specific ARNs"
    assert "arn:aws:" not in text
    assert len(re.findall(rf'"arn:{partition}:[^"]*"', text)) == len(upstream_arns)
    # Apart from the partition, nothing changes.
    assert json.loads(text.replace(f"arn:{partition}:", "arn:aws:")) == json.loads(lbc.upstream_policy_text())


def test_unsupported_partition_is_rejected():
    with pytest.raises(ValueError, match="aws-iso"):
        lbc.controller_policy("aws-iso")


def test_each_call_returns_a_fresh_document():
    first = lbc.controller_policy_document()
    first["Statement"].clear()
    assert lbc.controller_policy_document()["Statement"]


@pytest.mark.parametrize("partition", sorted(lbc.SUPPORTED_PARTITIONS))
def test_fits_in_one_managed_policy(partition):
    assert len(re.sub(r"\s", "", lbc.controller_policy(partition))) < MANAGED_POLICY_MAX_CHARS

"""The AWS base with the longest names the configuration allows: every name it gives AWS is one the API
accepts, and no two resources of a kind share one.

The limits are the APIs' own, read from botocore's service models (the definitions the AWS SDKs are
generated from), not restated here; SQS and SNS leave theirs out of the model, so those come from the
services' CreateQueue and CreateTopic reference pages."""

from __future__ import annotations

import copy
import re

import botocore.session
import pytest

from llm_platform import config
from llm_platform.contract import NAME_MAX_LENGTH, S3Location
from tests.llm_platform.aws.stack import MODEL, STACKS, declare_once

LONG = "a" * NAME_MAX_LENGTH


def longest(name: str) -> str:
    """`name` padded to the longest valid name, so that names differ only at their end."""
    return (LONG[: NAME_MAX_LENGTH - len(name) - 1] + "-" + name)[:NAME_MAX_LENGTH]


# Pulumi type -> (input holding the name, the API operation and member that receive it).
NAMED = {
    "aws:iam/role:Role": ("name", "iam", "CreateRole", "RoleName"),
    "aws:iam/policy:Policy": ("name", "iam", "CreatePolicy", "PolicyName"),
    "aws:cloudwatch/eventRule:EventRule": ("name", "events", "PutRule", "Name"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "logs", "CreateLogGroup", "logGroupName"),
    "aws:kms/alias:Alias": ("name", "kms", "CreateAlias", "AliasName"),
}
# CreateQueue: "up to 80 characters: alphanumeric characters, hyphens (-), and underscores (_)";
# CreateTopic: "up to 256 characters: uppercase and lowercase ASCII letters, numbers, underscores, and hyphens".
DOCUMENTED = {
    "aws:sqs/queue:Queue": ("name", re.compile(r"[A-Za-z0-9_-]{1,80}")),
    "aws:sns/topic:Topic": ("name", re.compile(r"[A-Za-z0-9_-]{1,256}")),
}


def api_limits(service: str, operation: str, member: str) -> dict:
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape.members[member]
    return shape.metadata


@pytest.fixture(scope="module")
def declared():
    raw = copy.deepcopy(STACKS["production"])
    raw["clusterName"] = longest("cluster")
    raw["gpuPools"][0]["name"] = longest("baseline")
    raw["gpuPools"][1]["name"] = longest("burst")
    # Two models whose names differ only in their last character: cut short alone, their roles collide.
    raw["models"] = [
        {**MODEL, "name": longest("model-v1"), "minReplicas": 2, "maxReplicas": 2},
        {**MODEL, "name": longest("model-v2"), "minReplicas": 2, "maxReplicas": 2},
    ]
    # A gateway brings the load balancer controller and its role.
    raw["gateway"] = {"hostname": "llm.example.com", "scheme": "internet-facing", "allowedSourceRanges": ["203.0.113.0/24"]}
    cfg = config.parse(raw)
    from llm_platform.aws.base import build

    return declare_once(lambda: build(cfg), region=cfg.region)


def named(declared, typ: str, key: str) -> list[str]:
    """The names the program gives resources of `typ`; one without a name is named by pulumi-aws, which
    keeps its generated names within the API's limits."""
    return [r.inputs[key] for r in declared.of_type(typ) if key in r.inputs]


def test_every_name_is_one_the_api_accepts(declared):
    checked = 0
    for typ, (key, service, operation, member) in NAMED.items():
        limits = api_limits(service, operation, member)
        for name in named(declared, typ, key):
            assert limits["min"] <= len(name) <= limits["max"], f"{typ} {name!r}: {len(name)} characters, {service} allows {limits['min']}-{limits['max']}"
            assert re.search(limits["pattern"], name), f"{typ} {name!r} does not match {limits['pattern']}"
            checked += 1
    for typ, (key, pattern) in DOCUMENTED.items():
        for name in named(declared, typ, key):
            assert pattern.fullmatch(name), f"{typ} {name!r}"
            checked += 1
    for bucket in declared.of_type("aws:s3/bucket:Bucket"):
        assert S3Location.bucket_problem(bucket.inputs["bucket"]) is None
        checked += 1
    # Roles for the nodes, Karpenter, EBS CSI, the load balancer controller, Alertmanager and each model.
    assert checked > 20


def test_no_two_resources_of_a_kind_share_a_name(declared):
    names = {typ: named(declared, typ, key) for typ, (key, *_) in {**NAMED, **DOCUMENTED}.items()}
    for typ, listed in names.items():
        assert len(set(listed)) == len(listed), f"{typ}: {sorted(listed)}"
    assert len(names["aws:iam/role:Role"]) >= 7

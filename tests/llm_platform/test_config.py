"""Stack configuration: both stack files load, and every kind of bad input is refused with a message
that names the key, the value and the rule."""

from __future__ import annotations

import copy
import json

import pytest

from llm_platform.config import ConfigError, StackConfig, parse_stack_config
from tools.preview import ROOT, load_stack_file


def raw_stack(stack: str) -> dict:
    flat, _ = load_stack_file(stack, ROOT)
    raw = {}
    for key, value in flat.items():
        if key.startswith("llm-platform:"):
            raw[key.removeprefix("llm-platform:")] = json.loads(value) if value[:1] in "[{" else value
    return raw


VALID = {
    "environment": "staging",
    "region": "us-west-2",
    "clusterName": "llm-test",
    "network": {"cidr": "10.0.0.0/16"},
}


def with_change(path: str, value) -> dict:
    raw = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(leaf)
    else:
        node[leaf] = value
    return raw


DELETE = object()


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_stack_files_load(stack):
    config = parse_stack_config(raw_stack(stack))
    assert config.environment == stack
    assert config.common_tags()["environment"] == stack
    assert config.common_tags()["managed-by"] == "pulumi"


def test_production_is_highly_available():
    config = parse_stack_config(raw_stack("production"))
    assert config.network.nat_gateways == "perAz"
    assert config.network.az_count >= 3
    assert config.network.flow_logs is not None


def test_defaults_are_safe():
    config = parse_stack_config(VALID)
    assert config.network.az_count == 3
    assert config.network.nat_gateways == "single"
    assert config.network.flow_logs is None


BAD_INPUTS = [
    ("clustrName", "llm-x", "llm-platform:clustrName: unknown key", "did you mean 'clusterName'"),
    ("network.azCuont", 3, "llm-platform:network.azCuont: unknown key", "did you mean 'azCount'"),
    ("network.cidr", "10.0.0.0/33", 'llm-platform:network.cidr: "10.0.0.0/33" is invalid', "not a valid IPv4 network"),
    ("network.cidr", "10.0.0.1/16", 'llm-platform:network.cidr: "10.0.0.1/16" is invalid', "has host bits set"),
    ("network.cidr", "8.8.0.0/16", 'llm-platform:network.cidr: "8.8.0.0/16" is invalid', "private (RFC 1918)"),
    ("network.cidr", "10.0.0.0/24", 'llm-platform:network.cidr: "10.0.0.0/24" is invalid', "between /16 and /20"),
    ("network.azCount", 1, "llm-platform:network.azCount: 1 is invalid", "greater than or equal to 2"),
    ("network.natGateways", "double", 'llm-platform:network.natGateways: "double" is invalid', "'single' or 'perAz'"),
    ("network.flowLogs", {"retentionDays": 10}, "llm-platform:network.flowLogs.retentionDays: 10 is invalid", "retention periods"),
    ("environment", "prod", 'llm-platform:environment: "prod" is invalid', "'dev', 'staging' or 'production'"),
    ("region", "mars-north-1", 'llm-platform:region: "mars-north-1" is invalid', "supported regions: us-west-2"),
    ("region", DELETE, "llm-platform:region: (not set) is invalid", "Field required"),
    ("clusterName", "LLM_Staging", 'llm-platform:clusterName: "LLM_Staging" is invalid', "DNS label"),
    ("tags", {"environment": "x"}, "llm-platform:tags:", "set by the platform"),
    ("tags", {"aws:owner": "x"}, "llm-platform:tags:", "reserved 'aws:' prefix"),
]


@pytest.mark.parametrize("path,value,where,rule", BAD_INPUTS, ids=[f"{p}={v!r}"[:40] for p, v, *_ in BAD_INPUTS])
def test_bad_input_is_refused_with_key_value_and_rule(path, value, where, rule):
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(with_change(path, value))
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    assert problem.startswith(where), problem
    assert rule in problem, problem


@pytest.mark.parametrize(
    "network,problem",
    [
        ({"natGateways": "single", "flowLogs": {}}, 'llm-platform:network.natGateways: "single" is invalid (rule: production must use \'perAz\''),
        ({"natGateways": "perAz"}, "llm-platform:network.flowLogs: null is invalid (rule: production must record VPC flow logs)"),
    ],
)
def test_production_cross_field_rules(network, problem):
    raw = {**VALID, "environment": "production", "network": {"cidr": "10.0.0.0/16", **network}}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem)


def test_every_problem_is_reported_at_once():
    raw = {**VALID, "clustrName": "x", "network": {"cidr": "10.0.0.0/33", "azCount": 9}}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    assert len(caught.value.problems) == 3


def test_every_field_is_documented():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no docstring"
            annotation = field.annotation
            for candidate in getattr(annotation, "__args__", (annotation,)):
                if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
                    walk(candidate)

    walk(StackConfig)

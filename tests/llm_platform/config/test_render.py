"""Turning what validation found into `Violation`s and violations into the lines a user reads:
`llm-platform:<key>: <value as JSON> is invalid (rule: <rule>)`, or `unknown key` with the allowed keys,
a 'did you mean' for a near miss and, for keys that moved into a cloud's section, where they went."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from llm_platform.config import AwsStackConfig, ConfigError, GcpStackConfig, Violation
from llm_platform.config.render import MOVED, RETIRED, allowed_keys, from_validation_error, key_path, render
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config.stacks import AWS, AWS_POOL_KEYS, AWS_STACK_KEYS, GCP, GCP_STACK_KEYS, GKE_POOL_KEYS, changed, only, refused

# -- render -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "violation, line",
    [
        (Violation("region", NOT_SET, "Field required"), "llm-platform:region: (not set) is invalid (rule: Field required)"),
        (Violation("aws.network.cidr", "10.0.0.0/24", "r"), 'llm-platform:aws.network.cidr: "10.0.0.0/24" is invalid (rule: r)'),
        (Violation("gpuPools[0].maxGpus", 0, "r"), "llm-platform:gpuPools[0].maxGpus: 0 is invalid (rule: r)"),
        (Violation("aws.network.flowLogs", None, "r"), "llm-platform:aws.network.flowLogs: null is invalid (rule: r)"),
        (Violation("gcp.systemPool.spot", True, "r"), "llm-platform:gcp.systemPool.spot: true is invalid (rule: r)"),
        (Violation("models[0].parametersBillion", 13.0, "r"), "llm-platform:models[0].parametersBillion: 13.0 is invalid (rule: r)"),
        (Violation("k", ["spot", "on-demand"], "r"), 'llm-platform:k: ["spot", "on-demand"] is invalid (rule: r)'),
        (Violation("k", {"cpu": 4.0, "memoryGib": 12}, "r"), 'llm-platform:k: {"cpu": 4.0, "memoryGib": 12} is invalid (rule: r)'),
        # Values JSON cannot encode are shown as their string.
        (Violation("k", ipaddress.IPv4Network("10.0.0.0/16"), "r"), 'llm-platform:k: "10.0.0.0/16" is invalid (rule: r)'),
        (Violation("clustrName", "x", "allowed keys are a, b", unknown_key=True), "llm-platform:clustrName: unknown key (rule: allowed keys are a, b)"),
    ],
)
def test_render(violation, line):
    assert render(violation) == line


def test_not_set_reads_as_not_set():
    assert repr(NOT_SET) == "(not set)"
    assert Violation("k", NOT_SET, "r").unknown_key is False


def test_config_error_holds_typed_violations_and_rendered_lines():
    violations = [Violation("region", NOT_SET, "Field required"), Violation("x", 1, "allowed keys are a", unknown_key=True)]
    error = ConfigError(iter(violations))
    assert error.violations == violations
    assert error.problems == ["llm-platform:region: (not set) is invalid (rule: Field required)", "llm-platform:x: unknown key (rule: allowed keys are a)"]
    assert str(error) == "\n".join(error.problems)


# -- key paths and allowed keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loc, path",
    [
        (("region",), "region"),
        (("aws", "network", "cidr"), "aws.network.cidr"),
        (("gpuPools", 0, "capacityTypes", 1), "gpuPools[0].capacityTypes[1]"),
        (("models", 2, "engine", "extraArgs"), "models[2].engine.extraArgs"),
        ((), ""),
    ],
)
def test_key_path(loc, path):
    assert key_path(loc) == path


@pytest.mark.parametrize(
    "model, loc, keys",
    [
        (AwsStackConfig, (), AWS_STACK_KEYS),
        (GcpStackConfig, (), GCP_STACK_KEYS),
        (AwsStackConfig, ("aws",), "network, cluster, systemPool, gpuQuietHours, dockerHubSecret"),
        (AwsStackConfig, ("aws", "network"), "cidr, azCount, natGateways, flowLogs"),
        (AwsStackConfig, ("aws", "network", "flowLogs"), "retentionDays, trafficType"),
        (AwsStackConfig, ("gpuPools", 0), AWS_POOL_KEYS),
        (GcpStackConfig, ("gpuPools", 3), GKE_POOL_KEYS),
        (GcpStackConfig, ("gcp", "smtp"), "smarthost, from, username, requireTls"),
        (AwsStackConfig, ("models", 0, "engine"), "maxModelLen, gpuMemoryUtilization, maxNumSeqs, prefixCaching, chunkedPrefill, maxNumBatchedTokens, trustRemoteCode, extraArgs"),
        (AwsStackConfig, ("budget",), "monthlyLimitUsd, alertEmails, forecastThresholdPercent, actualThresholdPercent"),
    ],
)
def test_allowed_keys(model, loc, keys):
    assert ", ".join(allowed_keys(model, loc)) == keys


@pytest.mark.parametrize("loc", [("tags",), ("region",), ("nonsense", "deeper")])
def test_no_allowed_keys_below_a_plain_value(loc):
    assert allowed_keys(AwsStackConfig, loc) == []


def test_from_validation_error_gives_one_violation_per_error():
    with pytest.raises(ValidationError) as caught:
        AwsStackConfig.model_validate(changed(AWS, {"region": "mars-north-1", "aws.network.azCount": 1, "clustrName": "x"}))
    violations = from_validation_error(caught.value, AwsStackConfig, "aws")
    by_key = {v.key: v for v in violations}
    assert set(by_key) == {"region", "aws.network.azCount", "clustrName"}
    assert by_key["aws.network.azCount"] == Violation("aws.network.azCount", 1, "Input should be greater than or equal to 2")
    assert by_key["region"].rule.startswith("no prices for this region")  # pydantic's "Value error, " prefix is dropped
    assert by_key["clustrName"].unknown_key is True


# -- unknown keys -----------------------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_near_miss():
    error = refused(changed(AWS, {"clustrName": "llm-x"}))
    violation = only(error)
    assert (violation.key, violation.value, violation.unknown_key) == ("clustrName", "llm-x", True)
    assert violation.rule == f"allowed keys are {AWS_STACK_KEYS}; did you mean 'clusterName'?"
    assert error.problems[0].startswith("llm-platform:clustrName: unknown key")
    assert "did you mean 'clusterName'" in error.problems[0]


def test_unknown_nested_key_suggests_the_near_miss():
    error = refused(changed(AWS, {"aws.network.azCuont": 3}))
    violation = only(error)
    assert (violation.key, violation.value, violation.unknown_key) == ("aws.network.azCuont", 3, True)
    assert violation.rule == "allowed keys are cidr, azCount, natGateways, flowLogs; did you mean 'azCount'?"
    assert error.problems[0].startswith("llm-platform:aws.network.azCuont: unknown key")
    assert "did you mean 'azCount'" in error.problems[0]


@pytest.mark.parametrize(
    "base, change, key, suggestion",
    [
        (AWS, {"gateway": {"hostname": "llm.example.com", "shceme": "internal"}}, "gateway.shceme", "scheme"),
        (GCP, {"gcp.smtp.requireTLS": False}, "gcp.smtp.requireTLS", "requireTls"),
        (GCP, {"gcp.billingAcount": "x"}, "gcp.billingAcount", "billingAccount"),
        (AWS, {"observability.thresholds": {"errorRate": 2}}, "observability.thresholds.errorRate", "errorRatePercent"),
    ],
)
def test_near_misses_in_every_section(base, change, key, suggestion):
    violation = only(refused(changed(base, change)))
    assert violation.key == key and violation.unknown_key
    assert violation.rule.endswith(f"; did you mean '{suggestion}'?"), violation.rule


def test_near_miss_in_a_list_item():
    raw = changed(AWS, {})
    raw["models"] = [{"name": "m", "source": "hf://o/m", "parametersBillion": 1, "poolGroup": "x", "engine": {"maxModelLn": 1}}]
    violation = only(refused(raw))
    assert violation.key == "models[0].engine.maxModelLn"
    assert violation.rule == "allowed keys are maxModelLen, gpuMemoryUtilization, maxNumSeqs, prefixCaching, chunkedPrefill, maxNumBatchedTokens, trustRemoteCode, extraArgs; did you mean 'maxModelLen'?"


def test_unknown_key_without_a_near_miss_lists_the_allowed_keys_only():
    violation = only(refused(changed(AWS, {"zzz": 1})))
    assert violation == Violation("zzz", 1, f"allowed keys are {AWS_STACK_KEYS}", unknown_key=True)
    assert render(violation) == f"llm-platform:zzz: unknown key (rule: allowed keys are {AWS_STACK_KEYS})"


# -- keys that moved into a cloud's section ---------------------------------------------------------------

MOVED_CASES = [
    (AWS, "network", {"cidr": "10.0.0.0/16"}, AWS_STACK_KEYS, "aws.network"),
    (AWS, "cluster", {"karpenterReplicas": 2}, AWS_STACK_KEYS, "aws.cluster"),
    (AWS, "systemPool", {"maxCpu": 16}, AWS_STACK_KEYS, "aws.systemPool"),
    (AWS, "gpuQuietHours", {"schedule": "weekdays", "duration": "9h"}, AWS_STACK_KEYS, "aws.gpuQuietHours"),
    # On a Google Cloud stack the same top-level keys point into its own section.
    (GCP, "network", {"nodesCidr": "10.40.0.0/20"}, GCP_STACK_KEYS, "gcp.network"),
    (GCP, "cluster", {"releaseChannel": "STABLE"}, GCP_STACK_KEYS, "gcp.cluster"),
    (GCP, "systemPool", {"maxNodes": 3}, GCP_STACK_KEYS, "gcp.systemPool"),
    (GCP, "budget.billingAccount", "012345-6789AB-CDEF01", "monthlyLimitUsd, alertEmails, forecastThresholdPercent, actualThresholdPercent", "gcp.billingAccount"),
    (GCP, "observability.smtp", {"smarthost": "smtp-relay.gmail.com:587", "from": "alerts@example.com"}, "retentionDays, prometheusStorageGib, prometheusReplicas, alertEmails, thresholds, runbookBaseUrl", "gcp.smtp"),
]


def test_every_moved_key_is_covered():
    for cloud, base in (("aws", AWS), ("gcp", GCP)):
        assert {key: target for stack, key, _, _, target in MOVED_CASES if stack is base} == MOVED[cloud]


@pytest.mark.parametrize("key, allowed", [("ingress", AWS_STACK_KEYS), ("aws.ingress", None)])
def test_the_retired_alb_ingress_points_at_the_gateway(key, allowed):
    violation = only(refused(changed(AWS, {key: {"host": "x.example.com", "certificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/" + "0" * 36}})))
    assert (violation.key, violation.unknown_key) == (key, True)
    assert violation.rule.endswith("; the models' ALB Ingress is retired; serve them through llm-platform:gateway (hostname, scheme, allowedSourceRanges, clients)")
    if allowed:
        assert violation.rule.startswith(f"allowed keys are {allowed};")
    assert RETIRED["aws"].keys() == {"ingress", "aws.ingress"} and RETIRED["gcp"] == {}


def test_a_key_of_the_other_cloud_gets_no_hint_to_move_there():
    # GKE has no ingress, and an AWS stack has no billing account: no hint points at a section the stack refuses.
    assert "moved" not in only(refused(changed(GCP, {"ingress": {"host": "x.example.com"}}))).rule
    assert "moved" not in only(refused(changed(AWS, {"budget.billingAccount": "012345-6789AB-CDEF01"}))).rule


def test_a_python_field_name_is_not_a_stack_file_key():
    violations = refused(changed(AWS, {"aws.system_pool": {"maxCpu": 16}})).violations
    assert [(v.key, v.unknown_key) for v in violations] == [("aws.system_pool", True)]
    assert violations[0].rule.endswith("did you mean 'systemPool'?")


@pytest.mark.parametrize("base, key, value, allowed, target", MOVED_CASES, ids=[key for _, key, *_ in MOVED_CASES])
def test_a_moved_key_says_where_it_went(base, key, value, allowed, target):
    error = refused(changed(base, {key: value}))
    violation = only(error)
    assert (violation.key, violation.value, violation.unknown_key) == (key, value, True)
    assert violation.rule == f"allowed keys are {allowed}; it moved to llm-platform:{target}"
    assert error.problems == [f"llm-platform:{key}: unknown key (rule: allowed keys are {allowed}; it moved to llm-platform:{target})"]


def test_a_moved_key_needs_no_near_miss():
    # `network` is close to no allowed key; the hint comes from MOVED, not from the spelling.
    violation = only(refused(changed(AWS, {"network": {}})))
    assert "did you mean" not in violation.rule and violation.rule.endswith("it moved to llm-platform:aws.network")


def test_every_rendered_problem_names_the_namespace():
    raw = changed(AWS, {"clustrName": "x", "network": {}, "aws.network.azCount": 1})
    error = refused(raw)
    assert len(error.problems) == 3
    assert all(line.startswith("llm-platform:") for line in error.problems)


@pytest.mark.parametrize(
    "base, key, value",
    [
        (AWS, "huggingFaceToken", ["hf_supersecret_token"]),
        (AWS, "huggingFaceToken", {"token": "hf_supersecret_token"}),
        (changed(GCP, {"gcp.smtp.username": "apikey"}), "alertSmtpPassword", 12345678),
    ],
)
def test_a_secret_of_the_wrong_type_is_never_shown(base, key, value):
    error = refused(changed(base, {key: value}))
    violation = only(error)
    assert (violation.key, violation.value) == (key, "[secret]")
    assert "supersecret" not in str(error) and "12345678" not in str(error)

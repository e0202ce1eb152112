"""What every configuration section shares (`base`): the model base (camelCase keys, unknown keys refused,
values immutable) and the value types more than one section uses: names, durations, networks, e-mail
addresses, catalog instance types, unique lists, and `plain` for messages."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import TypeAdapter, ValidationError

from llm_platform.config import BudgetConfig, FlowLogsConfig, NetworkConfig
from llm_platform.config.base import Duration, Email, Emails, Name, PrivateNetwork, StrictNetwork, catalog_types, plain, unique
from llm_platform_policy import catalog


def rule_of(adapter_type, value) -> str:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(adapter_type).validate_python(value)
    (error,) = caught.value.errors()
    return error["msg"].removeprefix("Value error, ")


# -- the model base ---------------------------------------------------------------------------------------


def test_sections_take_camel_case_keys():
    budget = BudgetConfig.model_validate({"monthlyLimitUsd": 10, "alertEmails": ["a@example.com"], "forecastThresholdPercent": 50})
    assert budget.forecast_threshold_percent == 50


def test_unknown_keys_are_refused():
    with pytest.raises(ValidationError) as caught:
        FlowLogsConfig.model_validate({"retentionDays": 7, "retention": 7})
    assert [e["type"] for e in caught.value.errors()] == ["extra_forbidden"]


def test_values_are_immutable():
    flow_logs = FlowLogsConfig()
    with pytest.raises(ValidationError):
        flow_logs.retention_days = 30


# -- value types ------------------------------------------------------------------------------------------


def test_unique():
    assert unique(["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="must not repeat an entry"):
        unique(["a", "a"])


@pytest.mark.parametrize("name", ["l4", "llm-staging", "a", "a" * 40, "pool-2"])
def test_good_names(name):
    assert TypeAdapter(Name).validate_python(name) == name


@pytest.mark.parametrize("name", ["L4", "llm_staging", "2pool", "-pool", "pool-", "a" * 41, ""])
def test_bad_names(name):
    assert rule_of(Name, name) == "must be a DNS label (lowercase letters, digits, '-'; starting with a letter) of at most 40 characters"


@pytest.mark.parametrize("duration", ["10m", "720h", "30s", "1h30m"])
def test_good_durations(duration):
    assert TypeAdapter(Duration).validate_python(duration) == duration


@pytest.mark.parametrize("duration", ["ten minutes", "1d", "10", "", "10 m", "-10m"])
def test_bad_durations(duration):
    assert rule_of(Duration, duration) == "must be a duration in hours, minutes or seconds, e.g. '10m' or '720h'"


def test_strict_network():
    assert TypeAdapter(StrictNetwork).validate_python("8.8.8.0/24") == ipaddress.IPv4Network("8.8.8.0/24")
    assert rule_of(StrictNetwork, "10.0.0.1/16") == "not a valid IPv4 network in CIDR notation (10.0.0.1/16 has host bits set)"
    assert rule_of(StrictNetwork, "10.0.0.0/33").startswith("not a valid IPv4 network in CIDR notation (")


def test_private_network():
    assert TypeAdapter(PrivateNetwork).validate_python("172.16.0.0/28") == ipaddress.IPv4Network("172.16.0.0/28")
    assert rule_of(PrivateNetwork, "8.8.8.0/24") == "must be a private (RFC 1918) range"
    assert "has host bits set" in rule_of(PrivateNetwork, "10.0.0.1/16")


@pytest.mark.parametrize("address", ["team@example.com", "first.last+tag@mail.example.co.uk", "UPPER@EXAMPLE.COM"])
def test_good_addresses(address):
    assert TypeAdapter(Email).validate_python(address) == address


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "a b@example.com", "@example.com", "a@@example.com", "a@example.c"])
def test_bad_addresses(address):
    assert rule_of(Email, address) == "must be an e-mail address"


def test_emails_are_checked_one_by_one_and_must_be_distinct():
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Emails).validate_python(["a@example.com", "bad"])
    (error,) = caught.value.errors()
    assert error["loc"] == (1,) and error["input"] == "bad"
    assert rule_of(Emails, ["a@example.com", "a@example.com"]) == "must not repeat an entry"


def test_catalog_types():
    families = catalog.aws_general_families()
    assert catalog_types(["m7i.large"], families, "general-purpose") == ["m7i.large"]
    with pytest.raises(ValueError, match=r"unknown general-purpose instance types \['x1.large'\]; the catalog knows families m6i, m7i"):
        catalog_types(["m7i.large", "x1.large"], families, "general-purpose")
    with pytest.raises(ValueError, match="must list at least one instance type"):
        catalog_types([], families, "general-purpose")
    with pytest.raises(ValueError, match="must not repeat an entry"):
        catalog_types(["m7i.large", "m7i.large"], families, "general-purpose")


# -- plain ------------------------------------------------------------------------------------------------


def test_plain_spells_values_as_the_stack_file_does():
    assert plain(ipaddress.IPv4Network("10.0.0.0/16")) == "10.0.0.0/16"
    assert plain([ipaddress.IPv4Network("0.0.0.0/0"), "x"]) == ["0.0.0.0/0", "x"]
    assert plain(3) == 3 and plain(None) is None
    # A section: camelCase keys, only what was set.
    assert plain(NetworkConfig.model_validate({"natGateways": "perAz"})) == {"natGateways": "perAz"}
    assert plain(FlowLogsConfig(retentionDays=30)) == {"retentionDays": 30}

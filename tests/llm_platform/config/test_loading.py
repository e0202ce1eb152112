"""Reading the stack configuration the way Pulumi hands it to a program: flat `llm-platform:<key>`
strings with structured values as JSON text; `load` exits with status 2 on any problem, before any
resource is declared."""

from __future__ import annotations

import json
from contextvars import ContextVar

import pytest
from pulumi.runtime import config as runtime_config

import llm_platform.config as config_package
from llm_platform.config import AwsStackConfig, decode_flat_config, load
from llm_platform.config.loading import decode, exit_on_problems, raw_config_from_pulumi
from tests.llm_platform.config.stacks import AWS, AWS_POOL, DELETE, changed

# The minimal AWS stack with one small pool (and no `aws` section) as Pulumi hands it to a program: a flat
# `llm-platform:<key>` string per key, structured values as JSON text, next to other namespaces' keys.
STACK = changed(AWS, {"aws": DELETE, "gpuPools": [{**AWS_POOL, "capacityTypes": ["spot"], "maxGpus": 1}]})
FLAT = {
    **{f"llm-platform:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in STACK.items()},
    "aws:region": "us-west-2",
    "kubernetes:context": "{not ours}",
}


# -- decode -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ('{"cidr": "10.0.0.0/16"}', {"cidr": "10.0.0.0/16"}),
        ('["a@example.com", "b@example.com"]', ["a@example.com", "b@example.com"]),
        ("[]", []),
        ("{}", {}),
    ],
)
def test_json_text_is_decoded(text, value):
    assert decode(text) == value


@pytest.mark.parametrize(
    "value",
    [
        "staging",
        "us-west-2",
        "3000",  # a number stays text; the model coerces it
        "true",
        "",
        "{not json",  # left as given: the model names the key and the value
        "[unclosed",
        ' {"leading": "space"}',
        3000,
        None,
        ["already", "decoded"],
        {"already": "decoded"},
    ],
)
def test_everything_else_is_left_as_given(value):
    assert decode(value) == value


# -- decode_flat_config -----------------------------------------------------------------------------------


def test_decode_flat_config_keeps_only_the_namespace():
    raw = decode_flat_config(FLAT)
    assert set(raw) == {"environment", "cloud", "region", "clusterName", "budget", "observability", "gpuPools"}
    assert raw["budget"] == {"monthlyLimitUsd": 1000, "alertEmails": ["team@example.com"]}
    assert raw["gpuPools"][0]["instanceTypes"] == ["g6.xlarge"]
    assert raw["region"] == "us-west-2"


def test_decode_flat_config_ignores_look_alike_namespaces():
    flat = {"llm-platform-extra:region": "x", "other:llm-platform:region": "y", "llm-platform:region": "us-west-2"}
    assert decode_flat_config(flat) == {"region": "us-west-2"}


def test_decode_flat_config_of_nothing():
    assert decode_flat_config({}) == {}


def test_decoded_flat_config_parses():
    config = config_package.parse(decode_flat_config(FLAT))
    assert isinstance(config, AwsStackConfig)
    assert config.budget.monthly_limit_usd == 1000 and config.gpu_pools[0].max_gpus == 1


def test_bad_json_text_is_refused_by_the_model_naming_key_and_value():
    raw = decode_flat_config({**FLAT, "llm-platform:budget": "{monthlyLimitUsd: 1000"})
    with pytest.raises(config_package.ConfigError) as caught:
        config_package.parse(raw)
    assert caught.value.problems == ['llm-platform:budget: "{monthlyLimitUsd: 1000" is invalid (rule: Input should be a valid dictionary or instance of BudgetConfig)']


# -- the running program's config -------------------------------------------------------------------------


@pytest.fixture
def program_config(monkeypatch):
    """Stand-ins for the config a Pulumi program is given: the engine's map and the PULUMI_CONFIG bag."""

    def given(config: dict[str, str], env: dict[str, str] | None = None) -> None:
        monkeypatch.setattr(runtime_config, "CONFIG", ContextVar("test_config", default=dict(config)))
        if env is None:
            monkeypatch.delenv("PULUMI_CONFIG", raising=False)
        else:
            monkeypatch.setenv("PULUMI_CONFIG", json.dumps(env))

    return given


def test_raw_config_from_pulumi_reads_and_decodes_the_namespace(program_config):
    program_config(FLAT)
    assert raw_config_from_pulumi() == decode_flat_config(FLAT)


def test_program_config_wins_over_the_environment(program_config):
    program_config({"llm-platform:region": "us-east-1"}, env={"llm-platform:region": "us-west-2", "llm-platform:clusterName": "from-env"})
    assert raw_config_from_pulumi() == {"region": "us-east-1", "clusterName": "from-env"}


def test_load_returns_the_stack(program_config):
    program_config(FLAT)
    config = load()
    assert isinstance(config, AwsStackConfig) and config.cluster_name == "llm-test"


def test_load_exits_with_status_2_naming_every_problem(program_config, capsys):
    program_config({**FLAT, "llm-platform:region": "mars-north-1", "llm-platform:clustrName": "x"})
    with pytest.raises(SystemExit) as exited:
        load()
    assert exited.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: invalid stack configuration:"
    assert len(err) == 3
    assert any(line.startswith('  - llm-platform:region: "mars-north-1" is invalid (rule: no prices for this region') for line in err)
    assert any(line.startswith("  - llm-platform:clustrName: unknown key (rule: allowed keys are") for line in err)


def test_load_without_a_cloud_exits(program_config, capsys):
    program_config({k: v for k, v in FLAT.items() if k != "llm-platform:cloud"})
    with pytest.raises(SystemExit) as exited:
        load()
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[1:] == ["  - llm-platform:cloud: (not set) is invalid (rule: every stack names its cloud: aws or gcp)"]


def test_exit_on_problems(capsys):
    with pytest.raises(SystemExit) as exited:
        exit_on_problems(["first", "second"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: invalid stack configuration:\n  - first\n  - second\n"

"""Reading the stack configuration the way Pulumi hands it to a program: flat `llm-platform:<key>`
strings with structured values as JSON text; `load` exits with status 2 on any problem, before any
resource is declared."""

from __future__ import annotations

import json
from contextvars import ContextVar

import pulumi
import pytest
from pulumi.runtime import config as runtime_config

import llm_platform.config as config_package
from llm_platform.config import AwsStackConfig, decode_flat_config, load
from llm_platform.config.loading import MAX_FILE_BYTES, MAX_VALUE_CHARS, decode, exit_on_problems, flat_config_from_pulumi, flat_config_violations
from llm_platform.config.render import render
from llm_platform.config.stack import stack_environment
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
    """Stand-ins for the config a Pulumi program is given: the engine's map and the PULUMI_CONFIG bag, the
    secret keys, and the name of the stack it runs in."""

    def given(config: dict[str, str], env: dict[str, str] | None = None, secret_keys: tuple[str, ...] = (), stack: str = "staging") -> None:
        monkeypatch.setattr(runtime_config, "CONFIG", ContextVar("test_config", default=dict(config)))
        monkeypatch.setattr(runtime_config, "_SECRET_KEYS", ContextVar("test_secret_keys", default=set(secret_keys)))
        monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS", raising=False)
        monkeypatch.setattr(pulumi, "get_stack", lambda: stack)
        if env is None:
            monkeypatch.delenv("PULUMI_CONFIG", raising=False)
        else:
            monkeypatch.setenv("PULUMI_CONFIG", json.dumps(env))

    return given


def test_flat_config_from_pulumi_reads_every_key_and_the_secret_ones(program_config):
    flat = {**FLAT, "llm-platform:huggingFaceToken": "hf_decrypted"}
    program_config(flat, secret_keys=("llm-platform:huggingFaceToken",))
    assert flat_config_from_pulumi() == (flat, {"llm-platform:huggingFaceToken"})


def test_program_config_wins_over_the_environment(program_config):
    program_config({"llm-platform:region": "us-east-1"}, env={"llm-platform:region": "us-west-2", "llm-platform:clusterName": "from-env"})
    assert decode_flat_config(flat_config_from_pulumi()[0]) == {"region": "us-east-1", "clusterName": "from-env"}


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


# -- the stack decides the environment --------------------------------------------------------------------


@pytest.mark.parametrize("stack, environment", [("staging", "staging"), ("staging-gcp", "staging"), ("production", "production"), ("production-eu", "production"), ("acme/llm-platform/production", "production"), ("dev-alice", "dev")])
def test_a_stack_is_of_the_environment_its_name_starts_with(stack, environment):
    assert stack_environment(stack) == environment


def test_a_stack_named_after_its_environment_loads(program_config):
    program_config(FLAT, stack="staging-gcp")
    assert load().environment == "staging"


@pytest.mark.parametrize(
    "stack, environment, rule",
    [
        ("production", "staging", "stack 'production' is a production stack by its name, so its environment is 'production'"),
        ("production-copy", "staging", "stack 'production-copy' is a production stack by its name"),
        ("staging", "production", "stack 'staging' is a staging stack by its name, so its environment is 'staging'"),
        ("prod", "staging", "stack 'prod' must be named after its environment"),
        ("test", "staging", "stack 'test' must be named after its environment"),
        ("Production", "production", "stack 'Production' must be named after its environment"),
        ("productionx", "production", "stack 'productionx' must be named after its environment"),
        # A later word naming another environment makes the name ambiguous, whichever it names.
        ("staging-production", "staging", "stack 'staging-production' must be named after its environment"),
        ("staging.prod", "staging", "stack 'staging.prod' must be named after its environment"),
        ("staging_live", "staging", "stack 'staging_live' must be named after its environment"),
        ("dev-Production", "dev", "stack 'dev-Production' must be named after its environment"),
        ("production-staging", "production", "stack 'production-staging' must be named after its environment"),
        ("acme/production/staging-prd", "staging", "stack 'acme/production/staging-prd' must be named after its environment"),
        ("prоduction", "production", "stack 'prоduction' must be named after its environment"),  # Cyrillic о
    ],
)
def test_a_stack_whose_environment_disagrees_with_its_name_is_refused_naming_both(program_config, capsys, stack, environment, rule):
    program_config({**FLAT, "llm-platform:environment": environment}, stack=stack)
    with pytest.raises(SystemExit) as exited:
        load()
    assert exited.value.code == 2
    problems = [line for line in capsys.readouterr().err.splitlines() if "llm-platform:environment" in line]
    assert len(problems) == 1 and problems[0].startswith(f'  - llm-platform:environment: "{environment}" is invalid (rule: {rule}')


# -- flat config checks -----------------------------------------------------------------------------------


def _problems(flat: dict, secret_keys=(), secret_paths=("huggingFaceToken", "alertSmtpPassword")) -> list[str]:
    return [render(v) for v in flat_config_violations(flat, secret_keys, secret_paths)]


def test_a_compliant_flat_config_has_no_problems():
    assert _problems({**FLAT, "llm-platform:huggingFaceToken": "hf_" + "a" * 34, "pulumi:tags": "{}", "gcp:project": "p"}, secret_keys=("llm-platform:huggingFaceToken",)) == []


@pytest.mark.parametrize(
    "key, rule",
    [
        ("llm-platfrom:models", "unknown namespace 'llm-platfrom': did you mean 'llm-platform:models'?"),
        ("llm_platform:models", "unknown namespace 'llm_platform': did you mean 'llm-platform:models'?"),
        ("LLM-platform:models", "unknown namespace 'LLM-platform': did you mean 'llm-platform:models'?"),
        ("llm-platfor:region", "unknown namespace 'llm-platfor': did you mean 'llm-platform:region'?"),
        ("llm:models", "unknown namespace 'llm': did you mean 'llm-platform:models'?"),
        ("models", "config keys are '<namespace>:<key>', and this stack's are 'llm-platform:<key>'; did you mean 'llm-platform:models'?"),
        ("clusterName", "did you mean 'llm-platform:clusterName'?"),
        ("llm-platform:config:models", "write it as 'llm-platform:models'"),
    ],
)
def test_keys_outside_our_namespace_that_look_like_ours_are_refused(key, rule):
    problems = _problems({**FLAT, key: "[]"})
    assert len(problems) == 1 and problems[0].startswith(f"{key}: unknown key (rule: ") and rule in problems[0]


@pytest.mark.parametrize("key", ["aws:region", "gcp:project", "kubernetes:context", "pulumi:disable-default-providers", "random:x", "acme:region", "acme:owner"])
def test_other_namespaces_stay_allowed(key):
    assert _problems({**FLAT, key: "x"}) == []


@pytest.mark.parametrize("key, value", [("llm-platform:huggingFaceToken", "hf_abcdefghijklmnopqrstuvwxyz01234567"), ("llm-platform:alertSmtpPassword", "hunter2")])
def test_a_secret_field_in_plaintext_is_refused_with_the_command_and_without_the_value(key, value):
    problems = _problems({**FLAT, key: value})
    assert problems == [f'{key}: "[secret]" is invalid (rule: is a secret but stored in plaintext: remove it, then `pulumi config set --secret {key} <value>` (for a nested key, `--path`))']
    assert _problems({**FLAT, key: value}, secret_keys=(key,)) == []


@pytest.mark.parametrize(
    "key, value, what",
    [
        ("llm-platform:tags", '{"owner": "hf_abcdefghijklmnopqrstuvwxyz0123"}', "a Hugging Face token"),
        ("llm-platform:models", json.dumps([{"engine": {"extraArgs": ["--hf-token", "hf_abcdefghijklmnopqrstuvwxyz0123"]}}]), "a Hugging Face token"),
        ("llm-platform:tags", '{"k": "AKIAABCDEFGHIJKLMNOP"}', "an AWS access key id"),
        ("llm-platform:clusterName", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "a GitHub token"),
        ("llm-platform:tags", json.dumps({"k": "-----BEGIN RSA PRIVATE KEY-----\nMII"}), "a private key"),
    ],
)
def test_a_credential_in_a_plaintext_value_is_refused_without_echoing_it(key, value, what):
    problems = _problems({**FLAT, key: value})
    assert len(problems) == 1 and f"holds {what} in plaintext" in problems[0] and "pulumi config set --secret" in problems[0]
    assert '"[secret]"' in problems[0] and "abcdefghij" not in problems[0] and "ABCDEFGHIJ" not in problems[0]


def test_values_past_the_size_limits_are_refused_before_decoding():
    assert _problems({**FLAT, "llm-platform:tags": json.dumps({"k": "v" * MAX_VALUE_CHARS})}) == []
    long_value = _problems({**FLAT, "llm-platform:tags": json.dumps({"k": "v" * (MAX_VALUE_CHARS + 1)})})
    assert long_value == [f'llm-platform:tags.k: "({MAX_VALUE_CHARS + 1} characters)" is invalid (rule: a value is at most {MAX_VALUE_CHARS} characters)']
    huge = _problems({**FLAT, "llm-platform:models": "[" + "1," * MAX_FILE_BYTES + "1]"})
    assert len(huge) == 1 and f"a config value is at most {MAX_FILE_BYTES} characters" in huge[0]


def test_load_refuses_flat_config_problems_with_status_2(program_config, capsys):
    program_config({**FLAT, "llm-platfrom:region": "x", "llm-platform:huggingFaceToken": "hf_abcdefghijklmnopqrstuvwxyz0123"})
    with pytest.raises(SystemExit) as exited:
        load()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "llm-platfrom:region: unknown key" in err and "pulumi config set --secret llm-platform:huggingFaceToken <value>" in err
    assert "abcdefghij" not in err

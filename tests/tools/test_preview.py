"""The offline preview tool (`python -m tools.preview`, what `make preview` runs): exit statuses, what it
writes and never writes (secrets), how it reads stack files. The committed stacks themselves are
tested in tests/test_main.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

from llm_platform.config.stack_file import SECRET_PLACEHOLDER
from tools.preview import ROOT, SECRET, load_stack_file, redact, run_under_mocks, write_outputs
from tools.preview import main as preview_main

STAGING_POLICIES = ROOT / "policies" / "config" / "staging.json"


def preview(stack: str, out: Path, root: Path = ROOT, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.preview", stack, "--out", str(out), "--root", str(root), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture
def project_with_stack(tmp_path):
    """A copy of the project (by symlink) where a test can drop its own stack file."""
    for entry in ("__main__.py", "llm_platform", "policies", "tools"):
        (tmp_path / entry).symlink_to(ROOT / entry)

    def write(stack: str, config: dict) -> Path:
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
        return tmp_path

    return write


def test_invalid_configuration_exits_2_naming_each_key(project_with_stack, tmp_path):
    root = project_with_stack(
        "broken",
        {
            "llm-platform:environment": "staging",
            "llm-platform:cloud": "aws",
            "llm-platform:region": "us-west-2",
            "llm-platform:clusterNmae": "llm-x",
            "llm-platform:aws": {"network": {"cidr": "10.0.0.0/33"}},
        },
    )
    result = preview("broken", tmp_path / "build", root, "--policy-config", str(STAGING_POLICIES))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "llm-platform:clusterNmae: unknown key" in result.stderr and "did you mean 'clusterName'" in result.stderr
    assert 'llm-platform:aws.network.cidr: "10.0.0.0/33" is invalid' in result.stderr
    assert "llm-platform:clusterName: (not set) is invalid" in result.stderr
    assert not (tmp_path / "build").exists(), "nothing may be written for an invalid stack"


def test_unknown_stack_is_refused(tmp_path):
    result = preview("nonexistent", tmp_path)
    assert result.returncode == 2
    assert "no stack file Pulumi.nonexistent.yaml" in result.stderr and "staging" in result.stderr


def test_secure_config_values_reach_the_program_as_secrets(project_with_stack):
    root = project_with_stack("s", {"llm-platform:token": {"secure": "v1:abc"}, "llm-platform:nested": {"a": {"secure": "v1:x"}}})
    config, secret_keys = load_stack_file("s", root)
    assert config["llm-platform:token"] == SECRET_PLACEHOLDER
    assert json.loads(config["llm-platform:nested"]) == {"a": SECRET_PLACEHOLDER}
    assert sorted(secret_keys) == ["llm-platform:nested", "llm-platform:token"]


def test_secrets_never_reach_build_in_plaintext(tmp_path):
    import pulumi_aws as aws

    plaintext = "hunter2-do-not-leak"

    def program():
        secret = pulumi.Output.secret(plaintext)
        aws.ssm.Parameter("p", type="SecureString", value=secret, tags={"k": "v"})
        pulumi.export("password", secret)
        pulumi.export("derived", secret.apply(lambda s: f"prefix-{s}"))

    plan = run_under_mocks(program, stack="secret-test", config={"llm-platform:region": "us-west-2"})
    write_outputs(plan, tmp_path)
    everything = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert plaintext not in everything
    parameter = next(r for r in plan.resources if r.type == "aws:ssm/parameter:Parameter")
    assert parameter.inputs["value"] == SECRET
    assert plan.outputs == {"password": SECRET, "derived": SECRET}


def test_redact_walks_nested_structures():
    marker = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "x"}
    assert redact({"a": [1, {"b": marker}], "c": marker}) == {"a": [1, {"b": SECRET}], "c": SECRET}
    shaped = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": {"user": "u", "keys": ["k1"]}}
    assert redact({"stringData": shaped}) == {"stringData": {"user": SECRET, "keys": [SECRET]}}


def _policy_config(tmp_path: Path, change) -> Path:
    config = json.loads(STAGING_POLICIES.read_text())
    change(config)
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(config))
    return path


def test_a_bad_policy_config_exits_2_before_the_program_runs(project_with_stack, tmp_path):
    # The stack file is broken too: that the program never ran shows in its problems never being reported.
    root = project_with_stack("broken", {"llm-platform:environment": "staging", "llm-platform:cloud": "aws", "llm-platform:clusterNmae": "x"})
    config = _policy_config(tmp_path, lambda c: c["gpu-quota"].update(maxGpus=-1, vcpuQuota=3))
    result = preview("broken", tmp_path / "build", root, "--policy-config", str(config))
    assert result.returncode == 2
    assert "gpu-quota.maxGpus: -1 is invalid (rule: -1 is less than the minimum of 0)" in result.stderr
    assert "'vcpuQuota' was unexpected" in result.stderr
    assert "clusterNmae" not in result.stderr and not (tmp_path / "build").exists()
    missing = preview("broken", tmp_path / "build", root, "--policy-config", str(tmp_path / "absent.json"))
    assert missing.returncode == 2 and "absent.json: missing (rule: every stack has a policy config" in missing.stderr


def test_a_mandatory_violation_exits_1_naming_the_policy_and_still_writes_the_plan(tmp_path):
    config = _policy_config(tmp_path, lambda c: c["gpu-quota"].update(maxGpus=1))
    result = preview("staging", tmp_path / "build", ROOT, "--policy-config", str(config))
    assert result.returncode == 1
    assert "mandatory policy violation(s): gpu-quota" in result.stderr
    violations = json.loads((tmp_path / "build" / "staging" / "plan.json").read_text())["policy"]["violations"]
    assert {v["policy"] for v in violations if v["enforcement"] == "mandatory"} == {"gpu-quota"}


def test_a_copy_of_production_that_declares_staging_is_held_to_production_rules(project_with_stack, tmp_path):
    # The case: production's stack file, saying `environment: staging` and dropping what only
    # production's configuration rules demanded, previewed with production's policy config.
    config = yaml.safe_load((ROOT / "Pulumi.production.yaml").read_text())["config"]
    aws = config["llm-platform:aws"]
    config |= {"llm-platform:environment": "staging"}
    aws["network"] = {**aws["network"], "natGateways": "single"}
    del aws["network"]["flowLogs"]
    aws["cluster"]["publicAccessCidrs"] = ["0.0.0.0/1", "128.0.0.0/1"]
    config["llm-platform:models"][0]["minReplicas"] = 1
    # Named after the environment it declares, so the configuration accepts it: only the policy config
    # it is previewed with knows it stands in for production.
    root = project_with_stack("staging-copy", config)
    result = preview("staging-copy", tmp_path / "build", root, "--policy-config", str(ROOT / "policies" / "config" / "production.json"))
    assert result.returncode == 1, result.stderr
    violations = json.loads((tmp_path / "build" / "staging-copy" / "plan.json").read_text())["policy"]["violations"]
    mandatory = {v["policy"] for v in violations if v["enforcement"] == "mandatory"}
    assert mandatory == {"stack-environment", "production-high-availability", "vpc-flow-logs", "buckets-protected", "eks-endpoint-restricted"}
    assert any("declares environment 'staging'" in v["message"] and "its environment is 'production'" in v["message"] for v in violations)


def test_policies_of_one_config_name_one_environment(tmp_path):
    from tools.policy_config import PolicyConfigError, validate_config

    config = json.loads(STAGING_POLICIES.read_text())
    config["vpc-flow-logs"]["environment"] = "production"
    with pytest.raises(PolicyConfigError, match=r"environment: .*\"vpc-flow-logs\": \"production\".* disagree \(rule: one stack has one environment\)"):
        validate_config(config, "staging.json")


# -- malformed stack files: exit 2, one line naming the file and the line, nothing written ---------------

HF_TOKEN = "hf_" + "Zq8" * 12
# A compliant stack file to mutate: the committed staging stack, as text.
STAGING_TEXT = (ROOT / "Pulumi.staging.yaml").read_text()
# The line of whatever is appended to it.
END_LINE = STAGING_TEXT.count("\n") + 1


def line_of(text: str) -> int:
    """The line of the staging stack file where `text` first stands."""
    return STAGING_TEXT[: STAGING_TEXT.index(text)].count("\n") + 1


def _bomb() -> str:
    lines = ["config:", "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    return "\n".join(lines) + "\n"


MALFORMED = {
    "empty": (b"", 1, "is empty, not a mapping with a 'config:' section"),
    "comments only": (b"# nothing here\n", 1, "is empty"),
    "a list": (b"- config\n- x\n", 1, "is a YAML list, not a mapping"),
    "a string": (b"config\n", 1, "is a YAML str, not a mapping"),
    "bad YAML": (b"config:\n  llm-platform:region: [us-west-2\n", 3, "invalid YAML"),
    "bad indentation": (b"config:\n  llm-platform:region: a\n    b: c\n", 3, "invalid YAML"),
    "invalid UTF-8": (b"config:\n  llm-platform:region: us-west-2\n  llm-platform:clusterName: \xff\xfe\n", 3, "byte 0xff is not UTF-8"),
    "binary": (bytes(range(256)) * 4, 2, "byte 0x80 is not UTF-8"),
    "a NUL character": (b"config:\n  llm-platform:region: us\x00west\n", 2, "invalid YAML"),
    "config not a mapping": (b"config:\n  - llm-platform:region\n", 1, "'config:' is a list (rule: 'config:' is a mapping"),
    "config a string": (b"config: llm-platform:region\n", 1, "'config:' is a str"),
    "duplicate top key": (STAGING_TEXT.replace("  llm-platform:clusterName: llm-staging\n", "  llm-platform:clusterName: llm-staging\n  llm-platform:region: us-east-1\n").encode(), 8, "duplicate key 'llm-platform:region' (first at line 6)"),
    "duplicate nested key": (STAGING_TEXT.replace("      azCount: 3\n", "      azCount: 3\n      azCount: 2\n").encode(), 22, "duplicate key 'azCount' (first at line 21)"),
    "duplicate key in a list item": (STAGING_TEXT.replace("      maxGpus: 2\n", "      maxGpus: 2\n      maxGpus: 4\n").encode(), 38, "duplicate key 'maxGpus' (first at line 37)"),
    "second document": (STAGING_TEXT.encode() + b"---\nconfig: {}\n", END_LINE, "holds a second YAML document"),
    "alias bomb": (_bomb().encode(), 2, "YAML anchor &a0 (rule: anchors and aliases are not supported"),
    "an alias": (b"config:\n  llm-platform:region: *r\n", 2, "YAML alias *r (rule: anchors and aliases are not supported"),
    "merge key": (b"config:\n  llm-platform:aws:\n    <<: {network: {}}\n", 3, "YAML merge key '<<'"),
    "binary tag": (b"config:\n  llm-platform:clusterName: !!binary aGk=\n", 2, "YAML tag tag:yaml.org,2002:binary"),
    "python tag": (b"config:\n  llm-platform:clusterName: !!python/object/apply:os.system [true]\n", 2, "YAML tag tag:yaml.org,2002:python/object/apply:os.system"),
    "custom tag": (b"config:\n  llm-platform:clusterName: !Ref x\n", 2, "YAML tag !Ref"),
    "a number key": (b"config:\n  1: x\n", 2, "the key 1 is not a string"),
    "a list key": (b"config:\n  ? [a, b]\n  : x\n", 2, 'the key ["a", "b"] is not a string'),
    "a null key": (b"config:\n  ~: x\n", 2, "the key null is not a string"),
    "too deep": (b"config:\n  llm-platform:tags: " + b"[" * 5000 + b"]" * 5000 + b"\n", 2, "nesting deeper than 32 levels"),
    "too large": (b"config:\n  llm-platform:region: us-west-2\n" + b"# padding\n" * 30_000, 1, "bytes (rule: a stack file is at most 262144 bytes)"),
    "a 10 MB value": (b"config:\n  llm-platform:clusterName: " + b"a" * 10_000_000 + b"\n", 1, "(rule: a stack file is at most 262144 bytes)"),
    "a long value": (b"config:\n  llm-platform:clusterName: " + b"a" * 5000 + b"\n", 2, "a value of 5000 characters (rule: values are at most 4096 characters)"),
    "misspelt namespace": (STAGING_TEXT.replace("llm-platform:region", "llm-platfrom:region").encode(), 6, "llm-platfrom:region: unknown key (rule: unknown namespace 'llm-platfrom': did you mean 'llm-platform:region'?)"),
    "underscore namespace": (STAGING_TEXT.replace("llm-platform:budget", "llm_platform:budget").encode(), 12, "unknown namespace 'llm_platform'"),
    "upper-case namespace": (STAGING_TEXT.replace("llm-platform:models", "LLM-platform:models").encode(), 41, "unknown namespace 'LLM-platform'"),
    "key without namespace": (STAGING_TEXT.replace("  llm-platform:models:", "  models:").encode(), 41, "models: unknown key (rule: config keys are '<namespace>:<key>'"),
    "our key at the top level": (STAGING_TEXT.encode() + b"models: []\n", END_LINE, "unknown top-level key 'models' (rule: a stack file holds config"),
    # Plain values YAML 1.1 (this reader) and YAML 1.2 (Pulumi) read differently.
    "a YAML 1.1 boolean": (STAGING_TEXT.replace("endpointPublicAccess: true", "endpointPublicAccess: on").encode(), 25, "'on' reads as true in YAML 1.1 but as \"on\" in YAML 1.2"),
    "a YAML 1.1 octal": (STAGING_TEXT.replace("azCount: 3", "azCount: 0777").encode(), 21, "'0777' reads as 511 in YAML 1.1 but as 777 in YAML 1.2"),
    "a sexagesimal": (STAGING_TEXT.replace("maxModelLen: 8192", "maxModelLen: 1:30").encode(), line_of("maxModelLen: 8192"), "'1:30' reads as 90 in YAML 1.1 but as \"1:30\" in YAML 1.2"),
    "an underscored number": (STAGING_TEXT.replace("maxGpus: 2", "maxGpus: 0_2").encode(), 37, "'0_2' reads as 2 in YAML 1.1 but as \"0_2\" in YAML 1.2"),
    "an exponent without a dot": (STAGING_TEXT.replace("monthlyLimitUsd: 3000", "monthlyLimitUsd: 3e3").encode(), 13, "'3e3' reads as \"3e3\" in YAML 1.1 but as 3000.0 in YAML 1.2"),
    "infinity": (STAGING_TEXT.replace("monthlyLimitUsd: 3000", "monthlyLimitUsd: .inf").encode(), 13, "'.inf' is not a finite number"),
    "not a number": (STAGING_TEXT.replace("cpu: 3", "cpu: .NaN").encode(), line_of("cpu: 3"), "'.NaN' is not a finite number"),
    "a non-text secure value": (STAGING_TEXT.replace("owner: ml-infra", "owner: {secure: 123}").encode(), 8, "llm-platform:tags: 'secure:' holds 123"),
    "a structured secretsprovider": (STAGING_TEXT.encode() + b"secretsprovider: {a: b}\n", END_LINE, "'secretsprovider:' is a dict"),
    "a BOM before a duplicate": (b"\xef\xbb\xbf" + STAGING_TEXT.replace("      azCount: 3\n", "      azCount: 3\n      azCount: 2\n").encode(), 22, "duplicate key 'azCount'"),
    "CRLF before a duplicate": (STAGING_TEXT.replace("      azCount: 3\n", "      azCount: 3\n      azCount: 2\n").replace("\n", "\r\n").encode(), 22, "duplicate key 'azCount'"),
    "a credential in a comment": (STAGING_TEXT.encode() + b"# " + HF_TOKEN.encode() + b"\n", END_LINE, "holds a Hugging Face token in plaintext outside any config value"),
    "a credential in a top-level field": (STAGING_TEXT.encode() + b"encryptionsalt: AKIAQ3EXAMPLE7ABCDEF\n", END_LINE, "holds an AWS access key id in plaintext outside any config value"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_stack_file_exits_2_with_one_line_naming_file_and_line(tmp_path, capsys, name):
    text, line, problem = MALFORMED[name]
    for entry in ("__main__.py", "llm_platform", "policies", "tools"):
        (tmp_path / entry).symlink_to(ROOT / entry)
    (tmp_path / "Pulumi.staging.yaml").write_bytes(text)
    status = preview_main(["staging", "--out", str(tmp_path / "build"), "--root", str(tmp_path), "--policy-config", str(STAGING_POLICIES)])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"error: Pulumi.staging.yaml:{line}: ") and problem in captured.err, captured.err
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("kind", ["a symbolic link", "a FIFO", "/dev/zero"])
def test_a_stack_file_that_is_not_a_regular_file_exits_2(tmp_path, capsys, kind):
    for entry in ("__main__.py", "llm_platform", "policies", "tools"):
        (tmp_path / entry).symlink_to(ROOT / entry)
    path = tmp_path / "Pulumi.staging.yaml"
    if kind == "a FIFO":
        os.mkfifo(path)
    else:
        path.symlink_to(ROOT / "Pulumi.staging.yaml" if kind == "a symbolic link" else "/dev/zero")
    status = preview_main(["staging", "--out", str(tmp_path / "build"), "--root", str(tmp_path), "--policy-config", str(STAGING_POLICIES)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: Pulumi.staging.yaml:1: is ") and "(rule: a stack file is a regular file" in err, err
    assert not (tmp_path / "build").exists()


def test_the_compliant_stack_file_reads_as_before(tmp_path):
    (tmp_path / "Pulumi.staging.yaml").write_text(STAGING_TEXT.replace("# Staging", "# Staging, with a date: 2024-01-01") + "  aws:region: us-west-2\n  kubernetes:context: ci\n")
    config, secret_keys = load_stack_file("staging", tmp_path)
    assert config == {**load_stack_file("staging")[0], "aws:region": "us-west-2", "kubernetes:context": "ci"} and secret_keys == []


def test_a_malformed_stack_file_ends_without_a_traceback_from_the_command_line(tmp_path):
    for entry in ("__main__.py", "llm_platform", "policies", "tools"):
        (tmp_path / entry).symlink_to(ROOT / entry)
    (tmp_path / "Pulumi.staging.yaml").write_bytes(_bomb().encode())
    result = preview("staging", tmp_path / "build", tmp_path, "--policy-config", str(STAGING_POLICIES))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == "error: Pulumi.staging.yaml:2: YAML anchor &a0 (rule: anchors and aliases are not supported; write each value out)\n"


# -- invalid configuration classes end to end: exit 2 naming key, value and rule, nothing written -------

PRODUCTION_TEXT = (ROOT / "Pulumi.production.yaml").read_text()

CONFIG_CASES = {
    "production declaring staging": ("production", PRODUCTION_TEXT.replace("environment: production", "environment: staging"), "production", "stack 'production' is a production stack by its name, so its environment is 'production'"),
    "a copy named production-copy": ("production-copy", PRODUCTION_TEXT.replace("environment: production", "environment: staging"), "production", "stack 'production-copy' is a production stack by its name"),
    "a copy named prod": ("prod", PRODUCTION_TEXT, "production", "stack 'prod' must be named after its environment"),
    "plaintext Hugging Face token": ("staging", STAGING_TEXT + f"  llm-platform:huggingFaceToken: {HF_TOKEN}\n", "staging", "`pulumi config set --secret llm-platform:huggingFaceToken <value>`"),
    "token in extra args": ("staging", STAGING_TEXT.replace("        maxNumSeqs: 64\n", f"        maxNumSeqs: 64\n        extraArgs: [--hf-token, {HF_TOKEN}]\n"), "staging", "holds a Hugging Face token in plaintext"),
    "-tp in extra args": ("staging", STAGING_TEXT.replace("        maxNumSeqs: 64\n", "        maxNumSeqs: 64\n        extraArgs: [-tp, '2']\n"), "staging", "'-tp' is -tp, short for --tensor-parallel-size"),
    "trust remote code without opt-in": ("staging", STAGING_TEXT.replace("        maxNumSeqs: 64\n", "        maxNumSeqs: 64\n        extraArgs: [--trust-remote-code]\n"), "staging", "engine.trustRemoteCode is true"),
    "spot-only production GPU pools": ("production", PRODUCTION_TEXT.replace("capacityTypes: [on-demand]\n      maxGpus: 2\n      weight: 100", "capacityTypes: [spot]\n      maxGpus: 2\n      weight: 100").replace("capacityTypes: [spot, on-demand]\n      maxGpus: 2\n      weight: 10", "capacityTypes: [spot]\n      maxGpus: 2\n      weight: 10"), "production", "production keeps an on-demand path for pool group a10g"),
    "a pool that can launch nothing": ("staging", STAGING_TEXT.replace("instanceTypes: [g6.xlarge, g6.2xlarge]", "instanceTypes: [g6.12xlarge]"), "staging", "no instance type of the pool fits"),
    "minimum replicas past the pool": ("staging", STAGING_TEXT.replace("      minReplicas: 0\n      maxReplicas: 2\n", "      minReplicas: 2\n      maxReplicas: 2\n      gpusPerReplica: 1\n").replace("maxGpus: 2", "maxGpus: 1"), "staging", "keep 2 GPUs busy at their minReplicas x gpusPerReplica, more than the 1 GPUs (maxGpus)"),
    "an AWS tag value AWS refuses": ("staging", STAGING_TEXT.replace("owner: ml-infra", "owner: 'ml;infra'"), "staging", "llm-platform:tags.owner"),
    "azCount past the region": ("staging", STAGING_TEXT.replace("azCount: 3", "azCount: 5"), "staging", "region us-west-2 has 4 availability zones"),
    "a stack name naming two environments": ("staging-production", STAGING_TEXT, "staging", "stack 'staging-production' must be named after its environment"),
    "a token as a tag key": ("staging", STAGING_TEXT.replace("owner: ml-infra", f"{HF_TOKEN}: x"), "staging", "llm-platform:tags.[key 1]: \"[secret]\" is invalid (rule: holds a Hugging Face token"),
    "a token split over two tags": ("staging", STAGING_TEXT.replace("owner: ml-infra", f"owner: {HF_TOKEN[:10]}\n    team: {HF_TOKEN[10:]}"), "staging", "holds a Hugging Face token in plaintext, split over tags.owner, tags.team"),
    "a password after a credential flag": ("staging", STAGING_TEXT.replace("        maxNumSeqs: 64\n", "        maxNumSeqs: 64\n        extraArgs: [--otlp-token, Zq8Zq8Zq8Zq8]\n"), "staging", "passes a credential on the command line (--otlp-token)"),
    "a URL with a password": ("staging", STAGING_TEXT.replace("source: hf://mistralai/Mistral-7B-Instruct-v0.3", f"source: https://user:{HF_TOKEN[3:]}@example.com/m"), "staging", "holds a URL with a password in plaintext"),
    "a provider credential in plaintext": ("staging", STAGING_TEXT + "  aws:secretKey: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "staging", "`pulumi config set --secret aws:secretKey <value>`"),
}


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_an_invalid_configuration_exits_2_and_writes_nothing(tmp_path, capsys, name):
    stack, text, policies, expected = CONFIG_CASES[name]
    for entry in ("__main__.py", "llm_platform", "policies", "tools"):
        (tmp_path / entry).symlink_to(ROOT / entry)
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(text)
    status = preview_main([stack, "--out", str(tmp_path / "build"), "--root", str(tmp_path), "--policy-config", str(ROOT / "policies" / "config" / f"{policies}.json")])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: invalid stack configuration:\n") and expected in err, err
    assert HF_TOKEN not in err and HF_TOKEN[3:] not in err and "Zq8Zq8Zq8Zq8" not in err and "EXAMPLEKEY" not in err and "Traceback" not in err
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize(
    "replace, expected",
    [
        (("clusterName: llm-staging", "clusterName: !!int abc"), "'abc' is not a valid int"),
        (("clusterName: llm-staging", "clusterName: !!bool maybe"), "'maybe' is not a valid bool"),
        (("clusterName: llm-staging", "clusterName: !!float x1"), "'x1' is not a valid float"),
        (("clusterName: llm-staging", 'clusterName: "llm-staging\\n"'), "holds a control character"),
        (("owner: ml-infra", 'owner: "ml\\tinfra"'), "holds a control character"),
    ],
    ids=["int tag", "bool tag", "float tag", "trailing newline", "tab"],
)
def test_a_value_its_tag_or_a_control_character_makes_unusable_exits_2(project_with_stack, tmp_path, replace, expected):
    root = project_with_stack("staging", {})
    (root / "Pulumi.staging.yaml").write_text(STAGING_TEXT.replace(*replace))
    result = preview("staging", tmp_path / "build", root)
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "build").exists()

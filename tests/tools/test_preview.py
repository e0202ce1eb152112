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

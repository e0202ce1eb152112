"""The real policy pack (`policies/__main__.py`), published alone and driven over gRPC the way the Pulumi
engine drives it, against what the real program declares. This is what `pulumi preview --policy-pack
policies` runs, and what `pulumi policy publish` would upload."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from llm_platform_policy.pack import POLICIES, policy_entry

ROOT = Path(__file__).resolve().parents[2]
LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY, "disabled": analyzer_pb2.DISABLED}


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory):
    """The pack as `pulumi policy publish` would upload it: `policies/` copied alone into an empty folder,
    its requirements installed into a virtualenv of its own (nothing of this project's), then started
    the way the Pulumi engine starts it, in its own directory."""
    pack = tmp_path_factory.mktemp("published") / "llm-platform-policy"
    shutil.copytree(ROOT / "policies", pack, ignore=shutil.ignore_patterns("venv", "__pycache__"))
    venv = pack / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The test environment's pip installs into the new virtualenv (pip --python), which saves bootstrapping
    # another pip there; what gets installed is the pack's requirements.txt and nothing else.
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--disable-pip-version-check", "--no-compile", "-r", "requirements.txt"],
        cwd=pack,
        check=True,
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    process = subprocess.Popen([str(venv / "bin" / "python"), "__main__.py"], cwd=pack, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline()
        assert line.strip().isdigit(), f"the pack did not start: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait()


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def configure(analyzer, pack_config: dict) -> None:
    policy_config = {}
    for policy in POLICIES:
        raw = policy_entry(pack_config.get(policy.name))
        level = raw.get("enforcementLevel", policy.enforcement)
        properties = {k: v for k, v in raw.items() if k != "enforcementLevel"}
        policy_config[policy.name] = analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level], properties=_struct(properties))
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policy_config))


def analyze(analyzer, plan) -> set[tuple[str, int, str]]:
    """Every diagnostic for the plan: resource policies per resource, stack policies once."""
    diagnostics = []
    resources = []
    for r in plan.resources:
        properties = _struct(r.inputs)
        # The engine sends each resource's options; rules read `protect` from them.
        options = analyzer_pb2.AnalyzerResourceOptions(protect=r.protect)
        diagnostics += analyzer.Analyze(analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, properties=properties, options=options)).diagnostics
        resources.append(analyzer_pb2.AnalyzerResource(type=r.type, urn=r.urn, name=r.name, properties=properties, dependencies=r.depends_on, options=options))
    diagnostics += analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources)).diagnostics
    # The SDK sends "<policy description>\n<message>"; the rule's own message is what both sides share.
    return {(d.policyName, d.enforcementLevel, d.message.split("\n", 1)[1]) for d in diagnostics}


def test_pack_declares_every_rule_with_its_level_and_schema(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "llm-platform"
    declared = {p.name: p for p in info.policies}
    assert list(declared) == [p.name for p in POLICIES]
    for policy in POLICIES:
        assert declared[policy.name].enforcementLevel == LEVELS[policy.enforcement]
        schema = json_format.MessageToDict(declared[policy.name].configSchema.properties)
        assert schema == policy.config_properties


@pytest.mark.parametrize("stack", ["staging", "production", "staging-gcp"])
def test_pack_and_offline_preview_agree(analyzer, stack_plan, stack):
    from tools.policy_config import load_config

    pack_config = load_config(ROOT / "policies" / "config" / f"{stack}.json")
    plan = stack_plan(stack).plan
    plan.check(pack_config)
    configure(analyzer, pack_config)
    offline = {(f.policy, LEVELS[f.enforcement], f.message) for f in plan.findings}
    assert analyze(analyzer, plan) == offline


def test_pack_enforces_a_lowered_budget(analyzer, stack_plan):
    from tools.policy_config import load_config

    # Staging's config (policies that key on the environment need it) with a lowered budget and GPU allowance.
    staging = load_config(ROOT / "policies" / "config" / "staging.json")
    configure(analyzer, staging | {"budget-ceiling": {"monthlyBudgetUsd": 1000}, "budget-warning": "disabled", "gpu-quota": {"maxGpus": 1}})
    found = analyze(analyzer, stack_plan("staging").plan)
    mandatory = {(name, message.split(";")[0]) for name, level, message in found if level == analyzer_pb2.MANDATORY}
    assert ("gpu-quota", "GPU node pools can reach 2 GPUs (gpu-l4=2), above the environment's maxGpus 1") in mandatory
    assert any(name == "budget-ceiling" and "exceeds the budget $1,000.00" in message for name, message in mandatory)


def test_pack_keys_production_rules_on_its_config_not_on_the_stack(analyzer, stack_plan):
    """The production plan under a production pack config passes; the same plan with its bucket
    unprotected, or a plan that declares staging, is refused by the published pack too."""
    import dataclasses

    from tools.policy_config import load_config

    pack_config = load_config(ROOT / "policies" / "config" / "production.json")
    configure(analyzer, pack_config)
    plan = stack_plan("production").plan
    unprotected = dataclasses.replace(plan, resources=[dataclasses.replace(r, protect=False) for r in plan.resources])
    found = {(name, level) for name, level, _ in analyze(analyzer, unprotected)}
    assert ("buckets-protected", analyzer_pb2.MANDATORY) in found
    staging = stack_plan("staging").plan
    found = {(name, level) for name, level, _ in analyze(analyzer, staging)}
    assert {("stack-environment", analyzer_pb2.MANDATORY), ("production-high-availability", analyzer_pb2.MANDATORY), ("vpc-flow-logs", analyzer_pb2.MANDATORY)} <= found

"""The offline preview end to end: the real __main__.py per stack, as `make preview` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

from tools.preview import ROOT, SECRET, SECRET_PLACEHOLDER, load_stack_file, redact, run_under_mocks, write_outputs

STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))
CLOUD = {stack: yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"].get("llm-platform:cloud", "aws") for stack in STACKS}
AWS_STACKS = [stack for stack in STACKS if CLOUD[stack] == "aws"]
GCP_STACKS = [stack for stack in STACKS if CLOUD[stack] == "gcp"]
# Helm releases every stack installs, and those only the stacks of one cloud do (GKE runs its own
# NVIDIA device plugin and has no Karpenter).
COMMON_RELEASES = {"kube-prometheus-stack", "prometheus-operator-crds", "dcgm-exporter", "keda"}
AWS_RELEASES = {"karpenter", "karpenter-crd", "nvidia-device-plugin"}


def preview(stack: str, out: Path, root: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.preview", stack, "--out", str(out), "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture(scope="module")
def previews(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    out = tmp_path_factory.mktemp("build")
    return {stack: (preview(stack, out), out / stack) for stack in STACKS}


def test_both_environments_and_clouds_have_a_stack():
    assert {"staging", "production"} <= set(AWS_STACKS)
    assert "staging-gcp" in GCP_STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_stack_previews_cleanly(previews, stack):
    result, out = previews[stack]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"Offline preview of llm-platform/{stack}" in result.stdout
    plan = json.loads((out / "plan.json").read_text())
    assert plan["project"] == "llm-platform" and plan["stack"] == stack
    assert set(plan) == {"project", "stack", "resources", "outputs", "policy", "cost"}
    for resource in plan["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "custom", "provider", "protect", "dependsOn", "inputs"}
    types = {r["type"] for r in plan["resources"]}
    if CLOUD[stack] == "aws":
        assert {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway"} <= types
        assert plan["outputs"]["vpcId"].startswith("vpc-")
        assert len(plan["outputs"]["privateSubnetIds"]) == 3
    else:
        assert {"gcp:compute/network:Network", "gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool", "gcp:compute/routerNat:RouterNat"} <= types
        assert not any(t.startswith("aws:") for t in types)
        assert plan["outputs"]["cloud"] == "gcp" and plan["outputs"]["natAddresses"]
    assert (out / "manifests").is_dir() and (out / "helm").is_dir()


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_every_gcp_resource_uses_the_explicit_provider(previews, stack):
    plan = json.loads((previews[stack][1] / "plan.json").read_text())
    for resource in plan["resources"]:
        if resource["type"].startswith("gcp:"):
            assert "pulumi:providers:gcp::gcp::" in resource["provider"], resource["urn"]
    (provider,) = [r for r in plan["resources"] if r["type"] == "pulumi:providers:gcp"]
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    project = config["llm-platform:gcp"]["project"]
    assert provider["inputs"]["project"] == provider["inputs"]["billingProject"] == project
    assert provider["inputs"]["region"] == config["llm-platform:region"] and provider["inputs"]["userProjectOverride"] == "true"


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_resource_uses_the_explicit_provider(previews, stack):
    plan = json.loads((previews[stack][1] / "plan.json").read_text())
    for resource in plan["resources"]:
        if resource["type"].startswith("aws:"):
            assert "pulumi:providers:aws::aws::" in resource["provider"], resource["urn"]


def test_production_nat_per_zone_and_flow_logs(previews):
    plan = json.loads((previews["production"][1] / "plan.json").read_text())
    types = [r["type"] for r in plan["resources"]]
    assert types.count("aws:ec2/natGateway:NatGateway") == 3
    assert types.count("aws:ec2/flowLog:FlowLog") == 1
    staging = json.loads((previews["staging"][1] / "plan.json").read_text())
    assert [r["type"] for r in staging["resources"]].count("aws:ec2/natGateway:NatGateway") == 1


def test_preview_is_deterministic(previews, tmp_path):
    again = preview("staging", tmp_path)
    assert again.returncode == 0
    assert (tmp_path / "staging" / "plan.json").read_text() == (previews["staging"][1] / "plan.json").read_text()


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
    result = preview("broken", tmp_path / "build", root)
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


# -- every object the stacks declare, against the real schemas -----------------------------------------

from llm_platform import pins  # noqa: E402
from tests.k8s_schemas import validate_any, validate_helm_values  # noqa: E402

# Release name -> (chart whose default values are the reference, key paths the reference cannot check).
# kube-prometheus-stack's defaults do not carry its subcharts' own keys (grafana, kube-state-metrics,
# prometheus-node-exporter charts), and alertmanager.config is Alertmanager's configuration file, checked
# in tests/llm_platform/platform/test_monitoring.py. The DCGM exporter's securityContext and extraVolumeMounts are a
# Kubernetes SecurityContext and VolumeMounts (its defaults show only some fields); GKE's are validated as
# such, in a container, there.
CHART_OF_RELEASE = {
    "karpenter": ("karpenter", ()),
    "nvidia-device-plugin": ("nvidia-device-plugin", ()),
    "dcgm-exporter": ("dcgm-exporter", ("securityContext", "extraVolumeMounts[]")),
    "keda": ("keda", ()),
    "prometheus-operator-crds": ("prometheus-operator-crds", ()),
    "kube-prometheus-stack": (
        "kube-prometheus-stack",
        ("alertmanager.config", "grafana.nodeSelector", "grafana.persistence", "kube-state-metrics.nodeSelector", "prometheus-node-exporter.tolerations"),
    ),
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_validates_against_its_schema(previews, stack):
    manifests = sorted((previews[stack][1] / "manifests").glob("*.yaml"))
    assert manifests
    for path in manifests:
        errors = validate_any(yaml.safe_load(path.read_text()), pins.KUBERNETES_VERSION)
        assert errors == [], f"{path.name}: {errors}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_helm_release_is_pinned_and_uses_chart_keys(previews, stack):
    releases = sorted((previews[stack][1] / "helm").glob("*.yaml"))
    names = {p.stem for p in releases}
    assert names >= COMMON_RELEASES
    assert (names >= AWS_RELEASES) if CLOUD[stack] == "aws" else not (names & AWS_RELEASES)
    for path in releases:
        release = yaml.safe_load(path.read_text())
        assert release["version"], f"{path.name} is not pinned"
        if release["name"] in CHART_OF_RELEASE:
            chart, free_form = CHART_OF_RELEASE[release["name"]]
            assert validate_helm_values(chart, release["values"], free_form) == [], path.name


# -- policies and the cost ceiling -----------------------------------------------------------------------


def _with_policy_config(tmp_path: Path, stack: str, change) -> Path:
    config = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())
    change(config)
    path = tmp_path / f"{stack}.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(
    "stack, change, policy, message",
    [
        ("staging", lambda c: c["budget-ceiling"].update(monthlyBudgetUsd=500), "budget-ceiling", "exceeds the budget $500.00"),
        ("staging", lambda c: c["gpu-quota"].update(maxGpus=1), "gpu-quota", "above the environment's maxGpus 1"),
        ("staging-gcp", lambda c: c["budget-ceiling"].update(monthlyBudgetUsd=1500), "budget-ceiling", "exceeds the budget $1,500.00"),
        ("staging-gcp", lambda c: c["gpu-quota"].update(maxGpus=1), "gpu-quota", "GPU node pools can reach 2 GPUs (gpu-l4=2)"),
        (
            "staging-gcp",
            lambda c: c["gpu-quota"]["gpuQuotas"].update(PREEMPTIBLE_NVIDIA_L4_GPUS=1),
            "gpu-quota",
            "2 GPUs under Compute Engine quota PREEMPTIBLE_NVIDIA_L4_GPUS, above the project's regional quota of 1",
        ),
    ],
)
def test_a_mandatory_violation_fails_the_preview(tmp_path, stack, change, policy, message):
    config = _with_policy_config(tmp_path, stack, change)
    result = subprocess.run(
        [sys.executable, "-m", "tools.preview", stack, "--out", str(tmp_path / "build"), "--policy-config", str(config)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert f"mandatory policy violation(s): {policy}" in result.stderr
    violations = json.loads((tmp_path / "build" / stack / "plan.json").read_text())["policy"]["violations"]
    assert {v["policy"] for v in violations if v["enforcement"] == "mandatory"} == {policy}
    assert any(message in v["message"] for v in violations), [v["message"] for v in violations]


def test_bad_policy_config_exits_2_naming_the_key(tmp_path):
    config = _with_policy_config(tmp_path, "staging", lambda c: c["gpu-quota"].update(maxGpus=-1, vcpuQuota=3))
    result = subprocess.run(
        [sys.executable, "-m", "tools.preview", "staging", "--out", str(tmp_path / "build"), "--policy-config", str(config)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "gpu-quota.maxGpus: -1 is invalid (rule: -1 is less than the minimum of 0)" in result.stderr
    assert "'vcpuQuota' was unexpected" in result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_its_own_mandatory_policies(previews, stack):
    result, out = previews[stack]
    assert result.returncode == 0, result.stderr
    plan = json.loads((out / "plan.json").read_text())
    assert [v for v in plan["policy"]["violations"] if v["enforcement"] == "mandatory"] == []
    assert plan["cost"]["monthlyCeilingUsd"] <= plan["cost"]["monthlyBudgetUsd"]
    assert "Monthly cost ceiling" in result.stdout and "budget" in result.stdout


def _hand_pool_cost(types: list[str], max_gpus: int) -> float:
    """A GPU pool at its limit: as many of the dearest allowed type as the GPU limit admits, on-demand."""
    from llm_platform_policy import catalog

    return max((max_gpus // catalog.aws_instance_type(t).gpus) * catalog.aws_instance_type(t).prices["us-west-2"] for t in types) * 730


@pytest.mark.parametrize(
    "stack, gpu_pools, system",
    [
        # Staging: l4 pool of g6.xlarge/g6.2xlarge, 2 GPUs; system pool 16 vCPU of m7i/m6i large/xlarge.
        ("staging", {"gpu-l4": (["g6.xlarge", "g6.2xlarge"], 2)}, 16 * 0.1008 / 2),
        # Production: two A10G pools of g5.2xlarge, 2 GPUs each; system pool 16 vCPU of m7i.
        ("production", {"gpu-a10g-baseline": (["g5.2xlarge"], 2), "gpu-a10g-burst": (["g5.2xlarge"], 2)}, 16 * 0.1008 / 2),
    ],
)
def test_cost_ceiling_matches_a_hand_computation(previews, stack, gpu_pools, system):
    items = {item["name"]: item for item in json.loads((previews[stack][1] / "plan.json").read_text())["cost"]["items"]}
    for pool, (types, gpus) in gpu_pools.items():
        assert items[f"GPU pool {pool}"]["monthlyUsd"] == round(_hand_pool_cost(types, gpus), 2)
    assert items["node pool system"]["monthlyUsd"] == round(system * 730, 2)
    assert items["EKS control plane"]["monthlyUsd"] == 73.0
    nat = 3 if stack == "production" else 1
    assert items["NAT gateways"]["monthlyUsd"] == round(nat * 0.045 * 730, 2)
    plan = json.loads((previews[stack][1] / "plan.json").read_text())
    assert plan["cost"]["monthlyCeilingUsd"] == round(sum(item["monthlyUsd"] for item in items.values()), 2)


def test_gcp_cost_ceiling_matches_a_hand_computation(previews):
    """staging-gcp: 2 x g2-standard-8 (L4) and at most 3 x e2-standard-4, us-central1 list prices, on-demand."""
    plan = json.loads((previews["staging-gcp"][1] / "plan.json").read_text())
    items = {item["name"]: item["monthlyUsd"] for item in plan["cost"]["items"]}
    assert items["GPU pool gpu-l4"] == round(2 * 0.853624 * 730, 2)
    assert items["node pool system"] == round(3 * 0.134023 * 730, 2)
    assert items["GKE cluster management"] == 73.0
    assert items["boot disks of pool gpu-l4"] == 2 * 200 * 0.10
    assert items["boot disks of pool system"] == 3 * 100 * 0.10
    # The NAT gateway charge is per VM using it (5 at most here), below the 32-VM cap.
    assert items["Cloud NAT gateways"] == round(5 * 0.0014 * 730, 2)
    assert items["NAT addresses"] == round(0.005 * 730, 2)
    # The weights the model's cache volume can hold, at most: 7.25e9 x 2 bytes = 13.5 GiB, x 1.25 rounded up plus 5.
    assert items["model weights in Cloud Storage"] == round(22 * 0.020, 2)
    assert plan["cost"]["monthlyCeilingUsd"] == round(sum(items.values()), 2)
    assert plan["cost"]["monthlyBudgetUsd"] == 3000

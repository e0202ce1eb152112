"""The stacks under examples/ previewed as a user would (`python -m tools.preview examples/<name>`): exit 0,
every manifest valid against the pinned schemas, the instance types, GPUs and tensor parallelism they
declare, and a cost ceiling within each example's own policy budget. Also a Seoul stack on each cloud:
the regions the catalog prices only partly still preview end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llm_platform import pins
from llm_platform_policy import catalog
from tests.k8s_schemas import validate_any
from tools.preview import ROOT

EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir())


def preview(target: Path, out: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    # Relative for the committed examples, as a user types it; absolute for a variant written under tmp.
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    command = [sys.executable, "-m", "tools.preview", str(shown), "--out", str(out), *extra]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    plan_file = out / target.name / "plan.json"
    return result, json.loads(plan_file.read_text()) if plan_file.exists() else {}


@pytest.fixture(scope="module")
def previews(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, dict, Path]]:
    out = tmp_path_factory.mktemp("examples")
    return {name: (*preview(ROOT / "examples" / name, out), out / name) for name in EXAMPLES}


def manifests(out: Path, kind: str) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((out / "manifests").glob(f"{kind}-*.yaml"))]


def test_the_examples_are_the_documented_ones():
    assert EXAMPLES == ["staging-llama-70b-aws", "staging-llama-70b-gcp", "staging-minimal-aws"]
    readme = (ROOT / "README.md").read_text()
    for name in EXAMPLES:
        assert f"examples/{name}" in readme


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_previews_within_its_budget(previews, name):
    result, plan, out = previews[name]
    assert result.returncode == 0, result.stderr
    assert [v for v in plan["policy"]["violations"] if v["enforcement"] == "mandatory"] == []
    assert plan["cost"]["monthlyCeilingUsd"] <= plan["cost"]["monthlyBudgetUsd"]
    for path in sorted((out / "manifests").glob("*.yaml")):
        assert validate_any(yaml.safe_load(path.read_text()), pins.KUBERNETES_VERSION) == [], path.name


def test_minimal_example_is_one_l4(previews):
    _, plan, out = previews["staging-minimal-aws"]
    (gpu_pool,) = [p for p in manifests(out, "NodePool") if p["metadata"]["name"] == "gpu-l4"]
    types = next(r for r in gpu_pool["spec"]["template"]["spec"]["requirements"] if r["key"] == "node.kubernetes.io/instance-type")
    assert types["values"] == ["g6.xlarge"]
    assert gpu_pool["spec"]["limits"]["nvidia.com/gpu"] == 1
    items = {item["name"]: item["monthlyUsd"] for item in plan["cost"]["items"]}
    assert items["GPU pool gpu-l4"] == round(catalog.aws_instance_type("g6.xlarge").prices["us-east-1"] * 730, 2)


def _vllm_args(out: Path) -> list[str]:
    (deployment,) = manifests(out, "Deployment")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"]
    return [str(a) for a in container.get("command", []) + container.get("args", [])], container


@pytest.mark.parametrize("name, accelerator", [("staging-llama-70b-aws", "p4d.24xlarge"), ("staging-llama-70b-gcp", "a2-highgpu-8g")])
def test_70b_example_runs_tensor_parallel_8_on_one_node(previews, name, accelerator):
    _, plan, out = previews[name]
    args, container = _vllm_args(out)
    assert args[args.index("--tensor-parallel-size") + 1] == "8"
    assert container["resources"]["limits"]["nvidia.com/gpu"] in (8, "8")
    region = yaml.safe_load((ROOT / "examples" / name / f"Pulumi.{name}.yaml").read_text())["config"]["llm-platform:region"]
    hourly = (catalog.find_aws_instance_type(accelerator) or catalog.gcp_machine_type(accelerator)).prices[region]
    items = {item["name"]: item["monthlyUsd"] for item in plan["cost"]["items"]}
    assert items["GPU pool gpu-a100"] == round(hourly * 730, 2)


def test_70b_aws_pool_is_one_on_demand_p4d(previews):
    _, _, out = previews["staging-llama-70b-aws"]
    (pool,) = [p for p in manifests(out, "NodePool") if p["metadata"]["name"] == "gpu-a100"]
    requirements = {r["key"]: r["values"] for r in pool["spec"]["template"]["spec"]["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["p4d.24xlarge"]
    assert requirements["karpenter.sh/capacity-type"] == ["on-demand"]
    assert pool["spec"]["limits"]["nvidia.com/gpu"] == 8


def test_70b_gcp_pool_is_one_on_demand_a2_highgpu_8g(previews):
    _, plan, _ = previews["staging-llama-70b-gcp"]
    (pool,) = [r for r in plan["resources"] if r["type"] == "gcp:container/nodePool:NodePool" and r["inputs"]["name"] == "gpu-a100"]
    node = pool["inputs"]["nodeConfig"]
    assert (node["machineType"], node["spot"], node["guestAccelerators"][0]["type"], node["guestAccelerators"][0]["count"]) == (
        "a2-highgpu-8g",
        False,
        "nvidia-tesla-a100",
        8,
    )
    assert pool["inputs"]["autoscaling"]["totalMaxNodeCount"] == 1


@pytest.mark.parametrize("name, quota", [("staging-llama-70b-aws", {"L-417A185B": 96}), ("staging-llama-70b-gcp", {"NVIDIA_A100_GPUS": 8})])
def test_70b_quota_ceiling_is_the_p_or_a100_quota(previews, name, quota):
    config = json.loads((ROOT / "examples" / name / "policy-config.json").read_text())["gpu-quota"]
    assert config.get("vcpuQuotas", config.get("gpuQuotas")) == quota
    # A quota one node short of the pool is a mandatory violation: the rule covers these families.
    tight = {**json.loads((ROOT / "examples" / name / "policy-config.json").read_text())}
    key = "vcpuQuotas" if "vcpuQuotas" in config else "gpuQuotas"
    tight["gpu-quota"] = {**config, key: {code: limit - 1 for code, limit in quota.items()}}
    out = previews[name][2].parent / f"{name}-tight"
    out.mkdir(exist_ok=True)
    policy = out / "policy-config.json"
    policy.write_text(json.dumps(tight))
    result, plan = preview(ROOT / "examples" / name, out, "--policy-config", str(policy))
    assert result.returncode == 1
    assert any(v["policy"] == "gpu-quota" and v["enforcement"] == "mandatory" for v in plan["policy"]["violations"])


def test_a_model_needing_more_than_one_node_is_refused(tmp_path):
    document = yaml.safe_load((ROOT / "examples" / "staging-llama-70b-aws" / "Pulumi.staging-llama-70b-aws.yaml").read_text())
    # On 4-GPU nodes (g5.12xlarge) a tensor-parallel-8 replica would span two nodes: refused, not served.
    document["config"]["llm-platform:gpuPools"][0].update(instanceTypes=["g5.12xlarge"], maxGpus=8)
    example = tmp_path / "too-big"
    example.mkdir()
    (example / "Pulumi.too-big.yaml").write_text(yaml.safe_dump(document))
    (example / "policy-config.json").write_text((ROOT / "examples" / "staging-llama-70b-aws" / "policy-config.json").read_text())
    result = subprocess.run([sys.executable, "-m", "tools.preview", str(example), "--out", str(tmp_path / "build")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "llm-platform:models[0].gpusPerReplica: 8 is invalid" in result.stderr
    assert "multi-node serving" in result.stderr and "has 4 GPU(s)" in result.stderr
    assert not (tmp_path / "build").exists()


def _seoul_variant(tmp_path: Path, example: str, changes: dict) -> Path:
    """`example` moved to Seoul: the stack file with `changes` applied to its config, and its policy config."""
    document = yaml.safe_load((ROOT / "examples" / example / f"Pulumi.{example}.yaml").read_text())
    for key, value in changes.items():
        document["config"][key] = value
    target = tmp_path / f"{example}-seoul"
    target.mkdir()
    (target / f"Pulumi.{target.name}.yaml").write_text(yaml.safe_dump(document))
    (target / "policy-config.json").write_text((ROOT / "examples" / example / "policy-config.json").read_text())
    return target


def test_a_seoul_stack_previews_on_aws(tmp_path):
    aws = yaml.safe_load((ROOT / "examples" / "staging-minimal-aws" / "Pulumi.staging-minimal-aws.yaml").read_text())["config"]["llm-platform:aws"]
    aws["systemPool"]["instanceTypes"] = ["m6i.xlarge"]
    pools = [{"name": "l4", "instanceTypes": ["g5.xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 1}]
    target = _seoul_variant(tmp_path, "staging-minimal-aws", {"llm-platform:region": "ap-northeast-2", "llm-platform:aws": aws, "llm-platform:gpuPools": pools})
    result, plan = preview(target, tmp_path / "build")
    assert result.returncode == 0, result.stderr
    assert plan["outputs"]["region"] == "ap-northeast-2"
    items = {item["name"]: item["monthlyUsd"] for item in plan["cost"]["items"]}
    assert items["GPU pool gpu-l4"] == round(catalog.aws_instance_type("g5.xlarge").prices["ap-northeast-2"] * 730, 2)


def test_a_seoul_stack_previews_on_gcp(tmp_path):
    source = yaml.safe_load((ROOT / "examples" / "staging-llama-70b-gcp" / "Pulumi.staging-llama-70b-gcp.yaml").read_text())["config"]
    gcp, pools = source["llm-platform:gcp"], source["llm-platform:gpuPools"]
    gcp["cluster"]["nodeZones"] = ["asia-northeast3-a", "asia-northeast3-b", "asia-northeast3-c"]
    # The catalog's zones for a2-highgpu in asia-northeast3.
    pools[0]["zones"] = ["asia-northeast3-a", "asia-northeast3-b"]
    target = _seoul_variant(tmp_path, "staging-llama-70b-gcp", {"llm-platform:region": "asia-northeast3", "llm-platform:gcp": gcp, "llm-platform:gpuPools": pools})
    result, plan = preview(target, tmp_path / "build")
    assert result.returncode == 0, result.stderr
    (pool,) = [r for r in plan["resources"] if r["type"] == "gcp:container/nodePool:NodePool" and r["inputs"]["name"] == "gpu-a100"]
    assert (pool["inputs"]["location"], pool["inputs"]["nodeLocations"]) == ("asia-northeast3", ["asia-northeast3-a", "asia-northeast3-b"])
    items = {item["name"]: item["monthlyUsd"] for item in plan["cost"]["items"]}
    assert items["GPU pool gpu-a100"] == round(catalog.gcp_machine_type("a2-highgpu-8g").prices["asia-northeast3"] * 730, 2)

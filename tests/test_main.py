"""The whole program (`__main__.py`) on every committed stack file: what `make preview` writes for each,
that every object validates against the pinned schemas, that the policies and the cost ceiling hold, and
that no resource of an existing stack changes its URN (a real `pulumi up` would replace it).

The preview runs once per stack as a command (module fixture `previews`) and once in-process (the
session fixture `stack_plan`); the tests reuse those two runs instead of previewing again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llm_platform import config as stack_config
from llm_platform import pins
from llm_platform_policy.pack import evaluate
from tests.conftest import STACKS
from tests.k8s_schemas import CHART_OF_RELEASE, validate_any, validate_helm_values
from tools.policy_config import load_config
from tools.preview import ROOT, load_stack_file, run_program

CLOUD = {stack: yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]["llm-platform:cloud"] for stack in STACKS}
AWS_STACKS = [stack for stack in STACKS if CLOUD[stack] == "aws"]
GCP_STACKS = [stack for stack in STACKS if CLOUD[stack] == "gcp"]
# Helm releases every stack installs, and those only the stacks of one cloud do (GKE runs its own
# NVIDIA device plugin and has no Karpenter).
COMMON_RELEASES = {"kube-prometheus-stack", "prometheus-operator-crds", "dcgm-exporter", "keda"}
AWS_RELEASES = {"karpenter", "karpenter-crd", "nvidia-device-plugin"}
URNS = Path(__file__).parent / "data" / "urns"
# Resources added on purpose since the URNs were recorded (type::last two parts of the name), and why.
# What changes added on purpose since the URNs were recorded: why, and in which stacks.
ADDED = {
    "kubernetes:helm.sh/v3:Release::monitoring-crds": ("the monitoring CRDs' own release, which upgrades them with the chart", STACKS),
    "kubernetes:apps/v1:Deployment::burst-deployment": ("the production model's business-hours burst on spot", ["production"]),
    "kubernetes:keda.sh/v1alpha1:ScaledObject::burst-scaler": ("its scaler, gated by the cron window", ["production"]),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::default-deny": ("every namespace the program creates refuses ingress by default", STACKS),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::allow-ingress": ("what a namespace admits beside its default deny", STACKS),
    "kubernetes:core/v1:NamespacePatch::namespace-labels": ("Pod Security labels on the namespaces Helm releases create", STACKS),
    "kubernetes:agentgateway.dev/v1alpha1:AgentgatewayPolicy::backend-key": ("the gateway sends each pool its model's own key in place of the client's", STACKS),
    # Issue 17: the vLLM image from the cloud's registry in the region.
    "llm-platform:image_cache:ImageCache::production-images": ("the ECR pull-through cache of Docker Hub", ["production"]),
    "llm-platform:image_cache:ImageCache::staging-images": ("the ECR pull-through cache of Docker Hub", ["staging"]),
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule::docker-hub": ("its rule, signing in with the Docker Hub secret", AWS_STACKS),
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate::docker-hub": ("the lifecycle of the repositories it creates", AWS_STACKS),
    "aws:iam/rolePolicy:RolePolicy::pull-through": ("the node role may fill the cache on a first pull", AWS_STACKS),
    "kubernetes:batch/v1:Job::images-warm": ("a pull by tag fills the cache before the pods pull by digest", AWS_STACKS),
    "llm-platform:remote_image_repository:RemoteImageRepository::staging-images": ("the Artifact Registry remote repository of Docker Hub", GCP_STACKS),
    "gcp:artifactregistry/repository:Repository::docker-hub": ("the repository itself", GCP_STACKS),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember::nodes-read": ("the nodes' service account pulls from it", GCP_STACKS),
    "gcp:projects/service:Service::staging-artifactregistry": ("the Artifact Registry API", GCP_STACKS),
    "gcp:projects/service:Service::staging-containerfilesystem": ("the Container File System API GKE image streaming needs", GCP_STACKS),
}


def pack_config(stack: str) -> dict:
    return load_config(ROOT / "policies" / "config" / f"{stack}.json")


@pytest.fixture(scope="module")
def previews(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """`python -m tools.preview <stack>` for every stack, as `make preview` runs it."""
    out = tmp_path_factory.mktemp("build")
    runs = {}
    for stack in STACKS:
        command = [sys.executable, "-m", "tools.preview", stack, "--out", str(out)]
        runs[stack] = (subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}), out / stack)
    return runs


# -- the stack files -------------------------------------------------------------------------------------


def test_both_environments_and_clouds_have_a_stack():
    assert {"staging", "production"} <= set(AWS_STACKS)
    assert "staging-gcp" in GCP_STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid_configuration(stack):
    config = stack_config.parse(stack_config.decode_flat_config(load_stack_file(stack)[0]))
    assert config.cloud == CLOUD[stack]
    assert config.environment == stack.split("-")[0]
    assert config.common_tags()["managed-by"] == "pulumi" and config.common_tags()["environment"] == config.environment


def test_production_is_highly_available():
    config = stack_config.parse(stack_config.decode_flat_config(load_stack_file("production")[0]))
    network = config.aws.network
    assert network.nat_gateways == "perAz" and network.az_count >= 3 and network.flow_logs is not None
    assert config.aws.cluster.karpenter_replicas >= 2 and config.observability.prometheus_replicas >= 2
    assert all(model.min_replicas >= 2 for model in config.models)


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


def test_preview_is_deterministic(previews, stack_plan):
    # Two runs, in two processes: the command's plan.json and the in-process plan, rendered alike.
    plan = stack_plan("staging").plan
    plan.check(pack_config("staging"))
    assert json.dumps(plan.to_json(), indent=2) + "\n" == (previews["staging"][1] / "plan.json").read_text()


# -- policies ----------------------------------------------------------------------------------------


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
def test_a_tighter_policy_config_is_a_mandatory_violation(stack_plan, stack, change, policy, message):
    # The same rules the command applies (tests/tools/test_preview.py checks its exit status 1), over
    # the stack's plan as it was declared once.
    config = pack_config(stack)
    change(config)
    findings = evaluate(stack_plan(stack).plan.policy_resources(), config)
    assert {f.policy for f in findings if f.enforcement == "mandatory"} == {policy}
    assert any(message in f.message for f in findings), [f.message for f in findings]


# -- every object the stacks declare, against the real schemas -----------------------------------------


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


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_its_own_mandatory_policies(previews, stack):
    result, out = previews[stack]
    assert result.returncode == 0, result.stderr
    plan = json.loads((out / "plan.json").read_text())
    assert [v for v in plan["policy"]["violations"] if v["enforcement"] == "mandatory"] == []
    assert plan["cost"]["monthlyCeilingUsd"] <= plan["cost"]["monthlyBudgetUsd"]
    assert "Monthly cost ceiling" in result.stdout and "budget" in result.stdout


def _hand_pool_cost(types: list[str], max_gpus: int, hours: float = 730) -> float:
    """A GPU pool at its limit: as many of the dearest allowed type as the GPU limit admits, on-demand,
    for `hours` a month."""
    from llm_platform_policy import catalog

    return max((max_gpus // catalog.aws_instance_type(t).gpus) * catalog.aws_instance_type(t).prices["us-west-2"] for t in types) * hours


@pytest.mark.parametrize(
    "stack, gpu_pools, system",
    [
        # Staging: l4 pool of g6.xlarge/g6.2xlarge, 2 GPUs; system pool 16 vCPU of m7i/m6i large/xlarge.
        ("staging", {"gpu-l4": (["g6.xlarge", "g6.2xlarge"], 2, 730)}, 16 * 0.1008 / 2),
        # Production: two A10G pools of g5.2xlarge, 2 GPUs each, the burst one only on weekdays 09:00-18:00
        # and 15 minutes to wind down (KEDA's 5-minute cooldown, then Karpenter's 10-minute consolidateAfter):
        # 9.25 h x 5 days x 365.25 / 7 / 12 weeks = 201.1 h a month; system pool 16 vCPU of m7i.
        ("production", {"gpu-a10g-baseline": (["g5.2xlarge"], 2, 730), "gpu-a10g-burst": (["g5.2xlarge"], 2, 201.1)}, 16 * 0.1008 / 2),
    ],
)
def test_cost_ceiling_matches_a_hand_computation(previews, stack, gpu_pools, system):
    items = {item["name"]: item for item in json.loads((previews[stack][1] / "plan.json").read_text())["cost"]["items"]}
    for pool, (types, gpus, hours) in gpu_pools.items():
        assert items[f"GPU pool {pool}"]["monthlyUsd"] == round(_hand_pool_cost(types, gpus, hours), 2)
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


# -- URNs --------------------------------------------------------------------------------------------


def urn_for(stack: str, parent_urn: str, typ: str, name: str) -> str:
    """A resource's URN as the engine forms it: its type qualified by its parent's, unless the parent is
    the stack itself."""
    parent_type = parent_urn.split("::")[2] if parent_urn else ""
    qualified = typ if parent_type in ("", "pulumi:pulumi:Stack") else f"{parent_type}${typ}"
    return f"urn:pulumi:{stack}::llm-platform::{qualified}::{name}"


def alias_urns(request, stack: str) -> set[str]:
    """The URNs a resource also answers to: one per alias it declares, given as a URN or as a spec that
    changes its name, type or parent."""
    urns = set()
    for alias in request.aliases:
        if alias.urn:
            urns.add(alias.urn)
        else:
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urns.add(urn_for(spec.stack or stack, parent, spec.type or request.type, spec.name or request.name))
    return urns


@pytest.mark.parametrize("stack", STACKS)
def test_no_existing_resource_changes_its_urn(stack):
    """Every URN recorded before the layout change (tests/data/urns/<stack>.txt) is still declared, or an
    alias of a declared resource covers it, so `pulumi up` on an existing stack replaces nothing; what is
    new is only what the change added on purpose."""
    aliases: set[str] = set()
    plan = run_program(stack, on_register=lambda request: aliases.update(alias_urns(request, stack)))
    current = {resource.urn for resource in plan.resources}
    recorded = set((URNS / f"{stack}.txt").read_text().split())
    assert recorded - (current | aliases) == set(), "a real pulumi up would replace these"
    added = {urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1] + "::" + urn.rsplit("-", 2)[-2] + "-" + urn.rsplit("-", 1)[-1] for urn in current - recorded}
    assert added == {key for key, (_, stacks) in ADDED.items() if stack in stacks}, sorted(current - recorded)


# -- a model release: a canary in production, a plain update in staging ---------------------------------

NEW_REVISION = "1" * 40


def _with_model_change(stack: str, tmp_path: Path, change: dict) -> tuple[subprocess.CompletedProcess, Path, list[str]]:
    """Preview a copy of `stack`'s file whose first model carries `change`, with the stack's own policy
    config; returns the run, its output folder and the URNs of the run without the change."""
    root = tmp_path / "project"
    root.mkdir()
    for entry in ("__main__.py", "llm_platform", "policies", "tools", "evals"):
        (root / entry).symlink_to(ROOT / entry)
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    config["config"]["llm-platform:models"][0].update(change)
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "build"
    command = [sys.executable, "-m", "tools.preview", stack, "--out", str(out), "--root", str(root), "--policy-config", str(ROOT / "policies" / "config" / f"{stack}.json")]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return run, out / stack, [r.urn for r in run_program(stack).resources]


def test_a_model_change_previews_as_a_canary_in_production(tmp_path):
    canary = {"revision": NEW_REVISION, "engine": {"maxModelLen": 8192, "maxNumSeqs": 96}, "poolGroup": "a10g-burst", "weight": 5}
    run, out, before = _with_model_change("production", tmp_path, {"canary": canary})
    assert run.returncode == 0, run.stdout + run.stderr
    plan = json.loads((out / "plan.json").read_text())
    assert [v for v in plan["policy"]["violations"] if v["enforcement"] == "mandatory"] == []
    for path in sorted((out / "manifests").glob("*.yaml")):
        assert validate_any(yaml.safe_load(path.read_text()), pins.KUBERNETES_VERSION) == [], path.name
    # Nothing the stack declared before changes its URN; what is new is the canary's own.
    urns = {r["urn"] for r in plan["resources"]}
    assert set(before) <= urns
    added = sorted(urn.rsplit("::", 1)[1] for urn in urns - set(before))
    assert added == sorted(
        [f"llm-production-serving-llama-3-1-8b-instruct-canary{suffix}" for suffix in ("", "-deployment", "-service", "-monitor", "-scaler", "-pdb", "-network-policy", "-sa", "-api-key")]
        + ["llm-production-gateway-llama-3-1-8b-instruct-canary-pool", "llm-production-models-llama-3-1-8b-instruct-canary", "llm-production-models-llama-3-1-8b-instruct-canary-read"]
        # The canary's Endpoint Picker: reached by the proxies, reaching the canary's pods.
        + ["llm-production-gateway-llama-3-1-8b-instruct-canary-epp-policy", "llm-production-gateway-llama-3-1-8b-instruct-canary-from-epp-policy"]
        + ["llm-production-gateway-llama-3-1-8b-instruct-canary-backend-key"]
    )
    deployments = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in plan["resources"] if r["type"] == "kubernetes:apps/v1:Deployment" and r["inputs"]["metadata"]["namespace"] == "serving"}
    assert set(deployments) == {"llama-3-1-8b-instruct", "llama-3-1-8b-instruct-burst", "llama-3-1-8b-instruct-canary"}
    (route,) = [r["inputs"] for r in plan["resources"] if r["type"].endswith("HTTPRoute") and r["inputs"]["metadata"]["name"] == "llama-3-1-8b-instruct"]
    assert [(ref["name"], ref["weight"]) for ref in route["spec"]["rules"][0]["backendRefs"]] == [("llama-3-1-8b-instruct", 95), ("llama-3-1-8b-instruct-canary", 5)]


def test_the_same_change_is_a_plain_update_in_staging(tmp_path):
    run, out, before = _with_model_change("staging", tmp_path, {"revision": NEW_REVISION, "engine": {"maxModelLen": 8192, "maxNumSeqs": 96}})
    assert run.returncode == 0, run.stdout + run.stderr
    plan = json.loads((out / "plan.json").read_text())
    assert {r["urn"] for r in plan["resources"]} == set(before)
    (deployment,) = [r["inputs"] for r in plan["resources"] if r["type"] == "kubernetes:apps/v1:Deployment" and r["inputs"]["metadata"]["namespace"] == "serving"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--max-num-seqs") + 1] == "96"


def test_a_canary_in_staging_is_refused_before_anything_is_written(tmp_path):
    run, out, _ = _with_model_change("staging", tmp_path, {"canary": {"revision": NEW_REVISION}})
    assert run.returncode == 2
    assert "llm-platform:models[0].canary" in run.stderr and "production's release path" in run.stderr
    assert not out.exists()

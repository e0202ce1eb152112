"""Offline preview: run the real `__main__.py` with a stack's config under Pulumi's mock engine.

    python -m tools.preview <stack> [--out build]

Writes `build/<stack>/plan.json`, one YAML file per Kubernetes object under `manifests/`, one file per
Helm release under `helm/`, and prints a summary. Exit status: 0 clean, 1 a mandatory policy is
violated, 2 the stack configuration is invalid. No cloud credentials and no Pulumi CLI are needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import runpy
import shutil
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from llm_platform.config.stack_file import StackFileError, read_stack_file
from llm_platform_policy.core import Finding, Resource
from llm_platform_policy.cost import CostReport, monthly_ceiling
from llm_platform_policy.kube import HELM_RELEASE
from llm_platform_policy.pack import BY_NAME, evaluate, settings
from tools.policy_config import PolicyConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
# libyaml's safe loader and dumper where PyYAML has them (its wheels do): several times faster.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PROJECT = "llm-platform"
SECRET = "[secret]"

_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def redact(value: Any) -> Any:
    """Replace every secret-marked value (as the engine sees it on the wire) with "[secret]". A secret
    object or list keeps its shape, so manifests still validate, but every value in it is masked."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG_KEY) == _SECRET_SIG:
            return _mask(value.get("value"))
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return SECRET


def load_stack_file(stack: str, root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """Read `Pulumi.<stack>.yaml` into the flat string config Pulumi hands a program, plus the secret keys.
    Raises `FileNotFoundError` for a stack without a file, `StackFileError` for a file that cannot be read."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack file {path.name}; stacks: {', '.join(known)}")
    return read_stack_file(path)


@dataclass
class Recorded:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    protect: bool
    depends_on: list[str]
    inputs: dict[str, Any]
    id: str = ""
    """The id the mock engine gave the resource (not part of plan.json: a real preview has none)."""


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[Recorded] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    cost: CostReport | None = None
    monthly_budget_usd: float | None = None

    def policy_resources(self) -> list[Resource]:
        # Registration order varies between runs; URN order keeps findings and cost items stable.
        return [Resource(r.type, r.urn, r.name, r.inputs, tuple(r.depends_on), r.protect) for r in sorted(self.resources, key=lambda r: r.urn)]

    def check(self, pack_config: dict[str, Any]) -> None:
        """Run the policy pack's rules over what the program declared, as `pulumi preview` would."""
        resources = self.policy_resources()
        self.findings = evaluate(resources, pack_config)
        self.cost = monthly_ceiling(resources)
        self.monthly_budget_usd = settings(BY_NAME["budget-ceiling"], pack_config)[1].get("monthlyBudgetUsd")

    @property
    def mandatory_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.enforcement == "mandatory"]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "custom": r.custom,
                    "provider": r.provider,
                    "protect": r.protect,
                    "dependsOn": r.depends_on,
                    "inputs": r.inputs,
                }
                # Registration runs concurrently; sorting makes plans comparable between runs and commits.
                for r in sorted(self.resources, key=lambda r: r.urn)
            ],
            "outputs": self.outputs,
            "policy": {
                "violations": [
                    {"policy": f.policy, "enforcement": f.enforcement, "urn": f.urn, "message": f.message} for f in self.findings
                ]
            },
            "cost": {**(self.cost.to_json() if self.cost else {}), "monthlyBudgetUsd": self.monthly_budget_usd},
        }


def run_program(
    stack: str,
    root: Path = ROOT,
    on_register: Callable[[Any], None] | None = None,
    stack_file: tuple[dict[str, str], list[str]] | None = None,
) -> Plan:
    """Run `__main__.py` for `stack` under the mock engine and record every resource it declares
    (`on_register`, when given, also sees each raw RegisterResource request). `stack_file` is what
    `load_stack_file` returned, when the caller has already read it.

    Raises SystemExit(2) when the program rejects its configuration."""
    config, secret_keys = stack_file or load_stack_file(stack, root)

    def program() -> None:
        sys.path.insert(0, str(root))
        try:
            runpy.run_path(str(root / "__main__.py"), run_name="__main__")
        finally:
            sys.path.remove(str(root))

    return run_under_mocks(program, stack=stack, config=config, secret_keys=secret_keys, on_register=on_register)


def run_under_mocks(
    program: Callable[[], None], *, stack: str, config: dict[str, str], secret_keys: list[str] = (), on_register: Callable[[Any], None] | None = None
) -> Plan:
    """Run `program` (which declares resources) under the mock engine with the given flat config."""
    import pulumi
    from pulumi.runtime import mocks, rpc, settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from tools.mock_cloud import CloudMocks

    plan = Plan(project=PROJECT, stack=stack)
    # Pulumi's synchronous helpers need a current event loop; an earlier asyncio.run() in the same
    # process (the load-test tool, for one) leaves none behind.
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())

    class RecordingMonitor(mocks.MockMonitor):
        def RegisterResource(self, request):
            if on_register is not None:
                on_register(request)
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                inputs = rpc.deserialize_properties(request.object, keep_internal=True)
                plan.resources.append(
                    Recorded(
                        urn=response.urn,
                        type=request.type,
                        name=request.name,
                        parent=request.parent,
                        custom=request.custom,
                        provider=request.provider,
                        protect=request.protect,
                        depends_on=sorted(set(request.dependencies)),
                        inputs=redact(_plain(inputs)),
                        id=response.id,
                    )
                )
            return response

    cloud = CloudMocks(config.get(f"{PROJECT}:region") or "us-west-2")
    # A fresh root stack per run, so that several runs in one process do not share outputs.
    settings.ROOT.set(None)
    mocks.set_mocks(cloud, project=PROJECT, stack=stack, preview=False, monitor=RecordingMonitor(cloud))
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))

    async def run() -> None:
        program()
        for key, value in settings.get_root_resource().outputs.items():
            output = pulumi.Output.from_input(value)
            resolved = await output.future()
            plan.outputs[key] = SECRET if await output.is_secret() else redact(_plain(resolved))

    _sync_await(run_pulumi_func(run))
    return plan


def _plain(value: Any) -> Any:
    """Turn values from the wire (resource references, unknowns) into JSON-friendly data."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    # The wire format carries every number as a double; the engine renders integral ones as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    urn = getattr(value, "urn", None)
    if urn is not None:
        return f"[resource {type(value).__name__}]"
    return str(value)


# -- rendering ---------------------------------------------------------------------------------------

MANIFEST_KEY_ORDER = ("apiVersion", "kind", "metadata")


def kubernetes_objects(plan: Plan) -> list[dict[str, Any]]:
    """Every Kubernetes object the program declares, as it would be applied (Helm releases excluded)."""
    objects = []
    for resource in plan.resources:
        if resource.type.startswith("kubernetes:") and resource.custom and resource.type != HELM_RELEASE:
            objects.append(resource.inputs)
    return objects


def helm_releases(plan: Plan) -> list[dict[str, Any]]:
    releases = []
    for resource in plan.resources:
        if resource.type == HELM_RELEASE:
            inputs = resource.inputs
            releases.append(
                {
                    "name": inputs.get("name", resource.name),
                    "chart": inputs.get("chart"),
                    "version": inputs.get("version"),
                    "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
                    "namespace": inputs.get("namespace"),
                    "values": inputs.get("values") or {},
                }
            )
    return releases


def summary(plan: Plan, elapsed: float) -> str:
    by_urn = {r.urn: r for r in plan.resources}
    grouped: dict[str, Counter] = defaultdict(Counter)
    for resource in plan.resources:
        # Our own components group the listing; everything else (custom or remote) is a resource.
        if not resource.type.startswith(f"{PROJECT}:"):
            top = resource
            while top.parent in by_urn:
                top = by_urn[top.parent]
            label = f"{top.type} {top.name}" if top is not resource else "(stack)"
            grouped[label][resource.type] += 1
    total = sum(sum(counts.values()) for counts in grouped.values())
    lines = [f"Offline preview of {plan.project}/{plan.stack}: {total} resources in {elapsed:.2f}s", ""]
    for label in sorted(grouped):
        counts = grouped[label]
        lines.append(f"  {label}  ({sum(counts.values())})")
        for typ, count in sorted(counts.items()):
            lines.append(f"      {count:3d}  {typ}")
    lines += ["", "Outputs:"]
    for key, value in sorted(plan.outputs.items()):
        lines.append(f"  {key}: {json.dumps(value)}")
    return "\n".join(lines + cost_lines(plan) + policy_lines(plan))


def cost_lines(plan: Plan) -> list[str]:
    if plan.cost is None:
        return []
    lines = ["", "Monthly cost ceiling (worst case: every pool at its limits, on-demand; a GPU pool only scheduled workloads use, for its window):"]
    for item in sorted(plan.cost.items, key=lambda item: item.monthly_usd, reverse=True):
        lines.append(f"  {item.monthly_usd:>10,.2f}  {item.name}: {item.detail}  ({item.quantity:g} {item.unit} x ${item.unit_usd:g})")
    lines.append(f"  {plan.cost.monthly_usd:>10,.2f}  total")
    if plan.monthly_budget_usd:
        lines.append(f"  {plan.monthly_budget_usd:>10,.2f}  budget ({plan.cost.monthly_usd / plan.monthly_budget_usd:.0%} used by the ceiling)")
    return lines


def policy_lines(plan: Plan) -> list[str]:
    if not plan.findings:
        return ["", "Policies: all passed."]
    lines = ["", f"Policies: {len(plan.mandatory_findings)} mandatory, {len(plan.findings) - len(plan.mandatory_findings)} advisory violation(s):"]
    for finding in sorted(plan.findings, key=lambda f: (f.enforcement != "mandatory", f.policy, f.urn)):
        where = f" [{finding.urn.rsplit('::', 1)[-1]}]" if finding.urn else ""
        lines.append(f"  {finding.enforcement:9s} {finding.policy}{where}: {finding.message}")
    return lines


def _object_file_name(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    parts = [obj.get("kind", "Object"), metadata.get("namespace") or "cluster", metadata.get("name", "unnamed")]
    return "-".join(str(p).replace("/", "_") for p in parts) + ".yaml"


def write_outputs(plan: Plan, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "manifests").mkdir(parents=True)
    (out_dir / "helm").mkdir()
    (out_dir / "plan.json").write_text(json.dumps(plan.to_json(), indent=2, sort_keys=False) + "\n")
    for obj in kubernetes_objects(plan):
        ordered = {key: obj[key] for key in MANIFEST_KEY_ORDER if key in obj} | obj
        (out_dir / "manifests" / _object_file_name(obj)).write_text(yaml.dump(ordered, Dumper=YAML_DUMPER, sort_keys=False))
    for release in helm_releases(plan):
        (out_dir / "helm" / f"{release['name']}.yaml").write_text(yaml.dump(release, Dumper=YAML_DUMPER, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="a stack name (Pulumi.<stack>.yaml), or an example folder such as examples/staging-minimal-aws")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--root", type=Path, default=ROOT, help="project directory holding __main__.py and the stack files")
    parser.add_argument("--policy-config", type=Path, help="policy pack config (default: <root>/policies/config/<stack>.json)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    root = args.root.resolve()
    stack, stack_dir, default_policy = args.stack, root, root / "policies" / "config" / f"{args.stack}.json"
    if (root / args.stack).is_dir():
        # An example folder holds its stack file and policy config; the program is the project's own.
        stack_dir = root / args.stack
        stack = stack_dir.name
        default_policy = stack_dir / "policy-config.json"
    policy_config = args.policy_config or default_policy
    try:
        # Both inputs are checked before the program runs: a missing stack or a bad policy file costs no preview.
        stack_file = load_stack_file(stack, stack_dir)
        pack_config = load_config(policy_config)
        plan = run_program(stack, root, stack_file=stack_file)
    except (FileNotFoundError, StackFileError, PolicyConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    plan.check(pack_config)
    write_outputs(plan, args.out / stack)
    print(summary(plan, time.perf_counter() - started))
    print(f"\nWrote {args.out / stack}/plan.json, manifests/ and helm/")
    if plan.mandatory_findings:
        print(f"\nerror: {len(plan.mandatory_findings)} mandatory policy violation(s): {', '.join(sorted({f.policy for f in plan.mandatory_findings}))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main()
    # Everything is written and flushed; tearing down the thousands of SDK modules and objects the run
    # loaded would take a tenth of a second more and change nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

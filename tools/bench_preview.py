"""How long the offline preview takes against the bare import of the SDKs it needs, as a ratio of medians.

    python -m tools.bench_preview [--runs 7] [--stacks staging production staging-gcp] [--scaling]

Each round runs the bare import and the preview of every stack once, one after the other, so that both
see the same machine load (paired runs); the ratio is median(preview) / median(bare import). A stack on
AWS is compared with `import pulumi, pulumi_aws, pulumi_eks, pulumi_kubernetes`, one on Google Cloud with
`import pulumi, pulumi_gcp, pulumi_kubernetes`. Wall time and peak memory (max RSS) are per process.

`--scaling` previews copies of the production stack with more GPU pools and models (each pool serving
one model) and fits seconds per declared resource, to show the cost stays linear in models and pools.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tools.preview import ROOT, YAML_LOADER

BARE = {
    "aws": "import pulumi, pulumi_aws, pulumi_eks, pulumi_kubernetes",
    "gcp": "import pulumi, pulumi_gcp, pulumi_kubernetes",
}


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak memory (MiB) of one run of `command`, which must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def preview_command(stack: str, out: Path, root: Path = ROOT) -> list[str]:
    return [sys.executable, "-m", "tools.preview", stack, "--out", str(out), "--root", str(root)]


def cloud_of(stack: str, root: Path = ROOT) -> str:
    return yaml.load((root / f"Pulumi.{stack}.yaml").read_text(), Loader=YAML_LOADER)["config"]["llm-platform:cloud"]


def ratios(stacks: list[str], runs: int) -> dict[str, dict[str, float]]:
    clouds = {stack: cloud_of(stack) for stack in stacks}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in [*{clouds[s] for s in stacks}, *stacks]}
    with tempfile.TemporaryDirectory() as out:
        for stack in stacks:  # one unmeasured run each: compiled bytecode in place for everyone
            timed(preview_command(stack, Path(out)), ROOT)
        for _ in range(runs):
            for cloud in {clouds[s] for s in stacks}:
                samples[cloud].append(timed([sys.executable, "-c", BARE[cloud]], ROOT))
            for stack in stacks:
                samples[stack].append(timed(preview_command(stack, Path(out)), ROOT))
    report = {}
    for stack in stacks:
        bare = statistics.median(seconds for seconds, _ in samples[clouds[stack]])
        preview = statistics.median(seconds for seconds, _ in samples[stack])
        report[stack] = {
            "bareImportSeconds": round(bare, 3),
            "previewSeconds": round(preview, 3),
            "ratio": round(preview / bare, 2),
            "bareImportMiB": round(statistics.median(mib for _, mib in samples[clouds[stack]]), 1),
            "previewMiB": round(statistics.median(mib for _, mib in samples[stack]), 1),
        }
    return report


def scaled_stack(root: Path, extra: int) -> str:
    """A copy of the production stack with `extra` more GPU pools, each serving one more model."""
    document = yaml.load((ROOT / "Pulumi.production.yaml").read_text(), Loader=YAML_LOADER)
    config = document["config"]
    model = config["llm-platform:models"][0]
    for index in range(extra):
        config["llm-platform:gpuPools"].append(
            {"name": f"extra-{index}", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["on-demand"], "maxGpus": model["maxReplicas"]}
        )
        # A deep copy: shared sub-mappings would be dumped as YAML aliases, which stack files may not hold.
        config["llm-platform:models"].append({**copy.deepcopy(model), "name": f"extra-model-{index}", "poolGroup": f"extra-{index}"})
    # Named after its environment, as the configuration requires of every stack.
    name = f"production-scaled-{extra}"
    (root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document))
    return name


def scaling(steps: tuple[int, ...], runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for entry in ("__main__.py", "llm_platform", "policies", "tools", "Pulumi.yaml"):
            (root / entry).symlink_to(ROOT / entry)
        points = []
        for extra in steps:
            stack = scaled_stack(root, extra)
            # The policies' budget would refuse the bigger stacks; the preview's time is what counts here.
            config = json.loads((ROOT / "policies" / "config" / "production.json").read_text())
            config["budget-ceiling"]["monthlyBudgetUsd"] = config["budget-warning"]["monthlyBudgetUsd"] = 10**9
            config["gpu-quota"] = {"maxGpus": 10**6}
            (root / "policies.json").write_text(json.dumps(config))
            command = preview_command(stack, root / "build", root) + ["--policy-config", str(root / "policies.json")]
            timed(command, root)
            seconds = statistics.median(timed(command, root)[0] for _ in range(runs))
            resources = len(json.loads((root / "build" / stack / "plan.json").read_text())["resources"])
            points.append((resources, seconds))
    slope, intercept = statistics.linear_regression([r for r, _ in points], [s for _, s in points])
    return {"points": [{"resources": r, "seconds": round(s, 3)} for r, s in points], "msPerResource": round(slope * 1000, 2), "interceptSeconds": round(intercept, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stacks", nargs="+", default=sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml")))
    parser.add_argument("--scaling", action="store_true", help="also fit seconds per resource over bigger copies of production")
    args = parser.parse_args(argv)
    report: dict[str, object] = {"runs": args.runs, "stacks": ratios(args.stacks, args.runs)}
    if args.scaling:
        report["scaling"] = scaling((0, 4, 8, 16), max(3, args.runs // 2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

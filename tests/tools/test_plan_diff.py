"""The plan diff behind the PR comment: what changed between two previews, and never an input value."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tools.plan_diff import (
    MARKER,
    MAX_LIST_LINES,
    PlanDiff,
    changed_paths,
    diff_plans,
    empty_plan,
    main,
    render_markdown,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "plan_diff"
NODEPOOL = (
    "urn:pulumi:staging::llm-platform::llm-platform:nodepools:NodePools$kubernetes:karpenter.sh/v1:NodePool::gpu-l4"
)


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def staging() -> PlanDiff:
    return diff_plans(load("staging-base.json"), load("staging-head.json"))


def names(resources) -> list[str]:
    return [r.name for r in resources]


def test_added_and_removed_resources(staging):
    assert names(staging.added) == ["llm-staging-interruptions"]
    assert names(staging.removed) == ["llm-staging-public-c"]
    assert not staging.base_missing and not staging.head_missing


def test_changed_resources_name_the_key_paths(staging):
    changes = {c.resource.name: c for c in staging.changed}
    # The VPC and the Kubernetes provider (whose only secret input is "[secret]" on both sides) are unchanged.
    assert set(changes) == {"gpu-l4", "llm-staging-secrets", "hf-token"}
    nodepool = changes["gpu-l4"]
    assert nodepool.resource.urn == NODEPOOL
    assert nodepool.input_paths == ("spec.disruption.budgets", "spec.limits.cpu", 'spec.limits["nvidia.com/gpu"]')
    assert nodepool.attributes == ()
    assert changes["llm-staging-secrets"].input_paths == ()
    assert changes["llm-staging-secrets"].attributes == ("protect",)


@pytest.mark.parametrize(
    ("base", "head", "paths"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, ["a"]),
        ({"a": 1}, {"b": 1}, ["a", "b"]),
        ({"spec": {"limits": {"cpu": "1"}}}, {"spec": {"limits": {"cpu": "1", "memory": "2Gi"}}},
         ["spec.limits.memory"]),
        # A mapping replaced by something else stops the descent where the types differ.
        ({"spec": {"limits": {"cpu": "1"}}}, {"spec": {"limits": "[secret]"}}, ["spec.limits"]),
        # Lists compare whole: an inserted item must not report every index after it.
        ({"subnets": ["a", "b"]}, {"subnets": ["z", "a", "b"]}, ["subnets"]),
        ({"labels": {"llm-platform.io/pool": "l4"}}, {"labels": {"llm-platform.io/pool": "l40s"}},
         ['labels["llm-platform.io/pool"]']),
    ],
)
def test_changed_paths(base, head, paths):
    assert changed_paths(base, head) == paths


def test_cost_up(staging):
    assert staging.ceiling_before == pytest.approx(1293.36)
    assert staging.ceiling_after == pytest.approx(2456.27)
    assert staging.ceiling_delta == pytest.approx(1162.91)
    assert staging.ceiling_delta_pct == pytest.approx(89.914, abs=1e-3)
    items = {c.name: c for c in staging.cost_items}
    # Unchanged items (NAT gateway, EKS control plane) are not listed; a new or gone item is.
    assert set(items) == {"GPU pool l4 (g6.xlarge on-demand)", "SQS interruption queue", "VPC flow logs"}
    assert items["GPU pool l4 (g6.xlarge on-demand)"].delta == pytest.approx(1175.01)
    assert (items["SQS interruption queue"].before, items["SQS interruption queue"].after) == (None, 0.40)
    assert items["VPC flow logs"].delta == pytest.approx(-12.50)
    row = render_markdown([staging]).splitlines()[5]
    assert row.startswith("| staging | 1 | 1 | 3 | 2,456.27 USD | +1,162.91 USD (+89.9%) | 2,000.00 USD |")


def test_cost_down():
    cheaper = diff_plans(load("staging-head.json"), load("staging-base.json"))
    assert cheaper.ceiling_delta == pytest.approx(-1162.91)
    assert cheaper.ceiling_delta_pct == pytest.approx(-47.345, abs=1e-3)
    assert "| -1,162.91 USD (-47.3%) |" in render_markdown([cheaper])


def test_violations_new_resolved_unchanged(staging):
    assert [(v.policy, v.enforcement, v.urn) for v in staging.new_violations] == [("budget-ceiling", "mandatory", "")]
    assert [(v.policy, v.urn) for v in staging.resolved_violations] == [("gpu-on-demand-fallback", NODEPOOL)]
    assert [v.policy for v in staging.unchanged_violations] == ["required-tags"]
    markdown = render_markdown([staging])
    assert "| ❌ 1 (1 new) | 1 |" in markdown
    assert "**Resolved policy violations (1)**" in markdown
    # The message's dollar signs cannot pair up into a math expression.
    assert "exceeds the budget <span>$</span>2,000.00" in markdown


def test_fail_on_mandatory_exits_1_and_still_writes_the_comment(tmp_path, capsys):
    base, head, out = FIXTURES / "staging-base.json", FIXTURES / "staging-head.json", tmp_path / "comment.md"
    assert main([str(base), str(head), "--out", str(out), "--fail-on-mandatory"]) == 1
    assert out.read_text().startswith(MARKER + "\n")
    assert "budget-ceiling" in capsys.readouterr().err
    # Without the flag a violation is reported, not fatal; a clean HEAD passes even with the flag.
    assert main([str(base), str(head), "--out", str(out)]) == 0
    assert main([str(head), str(base), "--out", str(out), "--fail-on-mandatory"]) == 0


def test_missing_base_means_everything_is_added(tmp_path, capsys):
    head = load("staging-head.json")
    diff = diff_plans(empty_plan("staging"), head, base_missing=True)
    assert names(diff.added) == [r["name"] for r in head["resources"]]
    assert not diff.removed and not diff.changed and not diff.resolved_violations
    assert diff.ceiling_before is None and diff.ceiling_delta is None
    # On the command line: a base that does not exist, or none at all.
    assert main([str(tmp_path / "nope.json"), str(FIXTURES / "staging-head.json")]) == 0
    from_missing = capsys.readouterr().out
    assert main([str(FIXTURES / "staging-head.json")]) == 0
    assert capsys.readouterr().out == from_missing
    assert "| staging (no base plan) | 6 | 0 | 0 | 2,456.27 USD | — |" in from_missing
    assert "Everything is added." in from_missing


def test_missing_or_broken_head_is_an_error(tmp_path):
    assert main([str(FIXTURES / "staging-base.json"), str(tmp_path / "nope.json")]) == 2
    broken = tmp_path / "plan.json"
    broken.write_text("{not json")
    assert main([str(FIXTURES / "staging-base.json"), str(broken)]) == 2


@pytest.fixture
def stack_dirs(tmp_path) -> tuple[Path, Path]:
    """base: staging and a stack HEAD retires; HEAD: staging and a new production stack."""
    base, head = tmp_path / "base-build", tmp_path / "head-build"
    for side, stack, fixture in [
        (base, "staging", "staging-base.json"),
        (base, "retired", "production-head.json"),
        (head, "staging", "staging-head.json"),
        (head, "production", "production-head.json"),
    ]:
        (side / stack).mkdir(parents=True)
        shutil.copy(FIXTURES / fixture, side / stack / "plan.json")
    (head / "not-a-stack").mkdir()  # a directory without a plan is not a stack
    return base, head


def test_stack_dir_mode_one_comment_for_all_stacks(stack_dirs, tmp_path):
    out = tmp_path / "plan-diff.md"
    # Run as the workflow does, as a module from the repository root.
    done = subprocess.run(
        [sys.executable, "-m", "tools.plan_diff", "--stack-dir", *map(str, stack_dirs), "--out", str(out),
         "--fail-on-mandatory"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert done.returncode == 1, done.stderr
    assert "mandatory policy violation in staging: budget-ceiling" in done.stderr
    markdown = out.read_text()
    lines = markdown.splitlines()
    assert lines[0] == MARKER
    assert markdown.count(MARKER) == 1
    table = lines[lines.index("|---|--:|--:|--:|--:|--:|--:|--:|--:|") + 1:]
    rows = table[: table.index("")]
    stacks = [row.split(" | ")[0] for row in rows]
    assert stacks == ["| production (no base plan)", "| retired (no HEAD plan)", "| staging"]
    assert rows[0].startswith("| production (no base plan) | 2 | 0 | 0 | 98.55 USD | — | 5,000.00 USD | 0 | 0 |")
    assert rows[1].startswith("| retired (no HEAD plan) | 0 | 2 | 0 | — | — | — | 0 | 0 |")
    assert markdown.count("<details>") == markdown.count("</details>") == 3


def test_stack_dir_mode_without_a_base_dir(stack_dirs, tmp_path, capsys):
    _, head = stack_dirs
    assert main(["--stack-dir", str(tmp_path / "no-base-checkout"), str(head)]) == 0
    markdown = capsys.readouterr().out
    assert "| production (no base plan) |" in markdown and "| staging (no base plan) |" in markdown


def test_long_lists_are_capped():
    resources = [
        {"urn": f"urn:pulumi:s::p::t::r{i:03}", "type": "t", "name": f"r{i:03}", "inputs": {}} for i in range(120)
    ]
    markdown = render_markdown([diff_plans(empty_plan("s"), {"stack": "s", "resources": resources})])
    listed = [line for line in markdown.splitlines() if line.startswith("- `t` ")]
    assert len(listed) == MAX_LIST_LINES - 1
    assert f"- ... and {120 - MAX_LIST_LINES + 1} more" in markdown


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_no_input_value_is_ever_printed(staging, stack_dirs, capsys):
    changes = {c.resource.name: c for c in staging.changed}
    # The token became plain text in HEAD: that shows as a changed key, and neither value is printed.
    assert changes["hf-token"].input_paths == ("secretString",)
    main(["--stack-dir", *map(str, stack_dirs)])
    markdown = render_markdown([staging]) + capsys.readouterr().out
    assert "[secret]" not in markdown
    assert "hf_PLAINTEXT_LEAK_123" not in markdown
    for fixture in ("staging-base.json", "staging-head.json", "production-head.json"):
        for resource in load(fixture)["resources"]:
            # A value that is part of the resource's URN (a Kubernetes apiVersion is in the type token) is
            # printed as the resource's identity, not as an input.
            for value in (v for v in _strings(resource["inputs"]) if v not in resource["urn"]):
                assert value not in markdown, f"input value {value!r} of {resource['name']} is printed"


def test_identical_plans_have_no_changes():
    same = diff_plans(load("staging-head.json"), load("staging-head.json"))
    assert not (same.added or same.removed or same.changed or same.cost_items or same.new_violations)
    assert same.ceiling_delta == 0
    assert "No changes." in render_markdown([same])

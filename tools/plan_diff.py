"""Compare two offline-preview plans of a stack and render the difference as one PR comment.

    python -m tools.plan_diff [BASE_PLAN] HEAD_PLAN [--out PR_COMMENT.md] [--fail-on-mandatory]
    python -m tools.plan_diff --stack-dir BASE_DIR HEAD_DIR [--out PR_COMMENT.md] [--fail-on-mandatory]

The plans are the `build/<stack>/plan.json` files `make preview` writes. A BASE that is left out or does
not exist counts as an empty plan: the first preview of a new stack, where everything is added. With
`--stack-dir`, every stack that has a `<DIR>/<stack>/plan.json` on either side gets a section, so one
comment covers all stacks.

Reported: resources added, removed and changed (by URN; a change names the input key paths that differ
and whichever of `protect`, `dependsOn`, `provider` differ), the cost ceiling before and after, the cost
items whose monthly cost moved, the budget, and policy violations new, resolved and unchanged.

Input values are never printed, only key paths: a plan holds whatever the program passes to the engine,
and a value the engine did not know to be secret must not end up in a PR comment. Values redacted to
"[secret]" compare as that string, so a change between two secret values is invisible here, while a value
that becomes (or stops being) secret shows up as a changed key.

Exit status: 0, or 1 with `--fail-on-mandatory` when a HEAD plan has a mandatory violation (the markdown
is written first either way), or 2 for bad arguments or an unreadable plan.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

# The first line of the comment: the CI workflow finds its own earlier comment by it and edits that one.
MARKER = "<!-- llm-platform-plan-diff -->"
# Longer lists (resources, violations) are cut, so a large change such as a new stack still fits GitHub's
# 65,536-character comment limit.
MAX_LIST_LINES = 50
# Differences below half a cent are float noise from summing prices, not a change.
NOISE_USD = 0.005
# Resource attributes besides `inputs` whose change matters for review.
COMPARED_ATTRIBUTES = ("protect", "dependsOn", "provider")
# A key that can be written after a dot without ambiguity; anything else (Kubernetes label keys such as
# `llm-platform.io/pool`, which contain dots) is written as ["key"].
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str


@dataclass(frozen=True)
class ResourceChange:
    resource: Resource
    input_paths: tuple[str, ...]
    """Dotted paths of the inputs that differ, each down to the first key whose values differ."""
    attributes: tuple[str, ...]
    """Which of COMPARED_ATTRIBUTES differ."""


@dataclass(frozen=True)
class CostItemChange:
    name: str
    before: float | None
    """Monthly USD in BASE; None when the item is new."""
    after: float | None
    """Monthly USD in HEAD; None when the item is gone."""

    @property
    def delta(self) -> float:
        return (self.after or 0.0) - (self.before or 0.0)


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    urn: str
    """The resource's URN, or "" for a stack-wide violation."""
    message: str

    @property
    def key(self) -> tuple[str, str, str]:
        # Enforcement is not part of the identity: a rule switched from advisory to mandatory is the
        # same finding, shown with its HEAD enforcement.
        return (self.policy, self.urn, self.message)

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"


@dataclass(frozen=True)
class PlanDiff:
    stack: str
    base_missing: bool
    head_missing: bool
    added: tuple[Resource, ...]
    removed: tuple[Resource, ...]
    changed: tuple[ResourceChange, ...]
    ceiling_before: float | None
    ceiling_after: float | None
    budget_before: float | None
    budget_after: float | None
    cost_items: tuple[CostItemChange, ...]
    new_violations: tuple[Violation, ...]
    resolved_violations: tuple[Violation, ...]
    unchanged_violations: tuple[Violation, ...]

    @property
    def head_violations(self) -> tuple[Violation, ...]:
        return self.new_violations + self.unchanged_violations

    @property
    def ceiling_delta(self) -> float | None:
        if self.ceiling_before is None or self.ceiling_after is None:
            return None
        return self.ceiling_after - self.ceiling_before

    @property
    def ceiling_delta_pct(self) -> float | None:
        delta = self.ceiling_delta
        if delta is None or not self.ceiling_before:
            return None
        return 100.0 * delta / self.ceiling_before


# --- diffing -------------------------------------------------------------------------------------------


def empty_plan(stack: str) -> dict[str, Any]:
    """The plan of a stack that does not exist (yet, or any more) on one side."""
    return {"stack": stack, "resources": [], "outputs": {}, "policy": {"violations": []}, "cost": {}}


def diff_plans(
    base: dict[str, Any], head: dict[str, Any], *, base_missing: bool = False, head_missing: bool = False
) -> PlanDiff:
    """Everything that differs between two plans of one stack."""
    base_resources = {r["urn"]: r for r in base.get("resources", [])}
    head_resources = {r["urn"]: r for r in head.get("resources", [])}
    added = sorted(head_resources.keys() - base_resources.keys())
    removed = sorted(base_resources.keys() - head_resources.keys())
    changed = []
    for urn in sorted(base_resources.keys() & head_resources.keys()):
        change = _resource_change(base_resources[urn], head_resources[urn])
        if change is not None:
            changed.append(change)

    base_violations = {v.key: v for v in _violations(base)}
    head_violations = {v.key: v for v in _violations(head)}
    base_cost, head_cost = base.get("cost") or {}, head.get("cost") or {}
    return PlanDiff(
        stack=head.get("stack") or base.get("stack") or "",
        base_missing=base_missing,
        head_missing=head_missing,
        added=tuple(_resource(head_resources[urn]) for urn in added),
        removed=tuple(_resource(base_resources[urn]) for urn in removed),
        changed=tuple(changed),
        ceiling_before=base_cost.get("monthlyCeilingUsd"),
        ceiling_after=head_cost.get("monthlyCeilingUsd"),
        budget_before=base_cost.get("monthlyBudgetUsd"),
        budget_after=head_cost.get("monthlyBudgetUsd"),
        cost_items=_cost_item_changes(base_cost.get("items", []), head_cost.get("items", [])),
        new_violations=tuple(v for k, v in head_violations.items() if k not in base_violations),
        resolved_violations=tuple(v for k, v in base_violations.items() if k not in head_violations),
        unchanged_violations=tuple(v for k, v in head_violations.items() if k in base_violations),
    )


def _resource(raw: dict[str, Any]) -> Resource:
    return Resource(urn=raw["urn"], type=raw.get("type", ""), name=raw.get("name", ""))


def _resource_change(base: dict[str, Any], head: dict[str, Any]) -> ResourceChange | None:
    input_paths = tuple(changed_paths(base.get("inputs", {}), head.get("inputs", {})))
    attributes = tuple(a for a in COMPARED_ATTRIBUTES if base.get(a) != head.get(a))
    if not input_paths and not attributes:
        return None
    return ResourceChange(_resource(head), input_paths, attributes)


def changed_paths(base: Any, head: Any, prefix: str = "") -> list[str]:
    """Paths of the keys whose values differ, descending through mappings present on both sides.

    Lists are compared whole: an item inserted at the front would otherwise report every index after it.
    """
    if not (isinstance(base, dict) and isinstance(head, dict)):
        return [] if base == head else [prefix]
    paths = []
    for key in sorted(base.keys() | head.keys()):
        path = _join(prefix, key)
        if key not in base or key not in head:
            paths.append(path)
        else:
            paths.extend(changed_paths(base[key], head[key], path))
    return paths


def _join(prefix: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{json.dumps(key)}]"


def _violations(plan: dict[str, Any]) -> list[Violation]:
    return [
        Violation(
            policy=v.get("policy", ""),
            enforcement=v.get("enforcement", ""),
            urn=v.get("urn", ""),
            message=v.get("message", ""),
        )
        for v in (plan.get("policy") or {}).get("violations", [])
    ]


def _cost_item_changes(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> tuple[CostItemChange, ...]:
    before = {item["name"]: float(item.get("monthlyUsd", 0.0)) for item in base}
    after = {item["name"]: float(item.get("monthlyUsd", 0.0)) for item in head}
    names = sorted(before.keys() | after.keys())
    changes = (CostItemChange(name, before.get(name), after.get(name)) for name in names)
    return tuple(c for c in changes if c.before is None or c.after is None or abs(c.delta) >= NOISE_USD)


# --- rendering -----------------------------------------------------------------------------------------


def render_markdown(diffs: Sequence[PlanDiff]) -> str:
    """One markdown document: the marker line, a summary table with a row per stack, then details."""
    lines = [MARKER, "## Plan diff (offline preview, base → head)", ""]
    if not diffs:
        lines.append("No plans were found on either side.")
        return "\n".join(lines) + "\n"
    lines += [
        "| stack | +added | -removed | ~changed | ceiling | Δ ceiling | budget | mandatory violations | advisory |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    lines += [_summary_row(d) for d in diffs]
    for diff in diffs:
        lines += ["", *_details(diff)]
    return "\n".join(lines) + "\n"


def _summary_row(d: PlanDiff) -> str:
    mandatory = [v for v in d.head_violations if v.mandatory]
    advisory = [v for v in d.head_violations if not v.mandatory]
    cells = [
        _text(d.stack) + (" (no HEAD plan)" if d.head_missing else " (no base plan)" if d.base_missing else ""),
        str(len(d.added)),
        str(len(d.removed)),
        str(len(d.changed)),
        _usd(d.ceiling_after),
        _ceiling_delta(d),
        _budget(d),
        _violation_count(mandatory, d.new_violations, warn=True),
        _violation_count(advisory, d.new_violations, warn=False),
    ]
    return "| " + " | ".join(cells) + " |"


def _ceiling_delta(d: PlanDiff) -> str:
    delta = d.ceiling_delta
    if delta is None:
        return "—"
    if abs(delta) < NOISE_USD:
        return "±0.00 USD"
    pct = d.ceiling_delta_pct
    return _signed_usd(delta) + (f" ({pct:+.1f}%)" if pct is not None else "")


def _budget(d: PlanDiff) -> str:
    before, after = d.budget_before, d.budget_after
    if before is not None and after is not None and abs(after - before) >= NOISE_USD:
        return f"{_usd(after)} (was {_usd(before)})"
    return _usd(after)


def _violation_count(violations: list[Violation], new: tuple[Violation, ...], *, warn: bool) -> str:
    fresh = sum(1 for v in violations if v in new)
    text = f"{'❌ ' if warn and violations else ''}{len(violations)}"
    return text + (f" ({fresh} new)" if fresh else "")


def _details(d: PlanDiff) -> list[str]:
    summary = f"<b>{_html(d.stack)}</b>: +{len(d.added)} -{len(d.removed)} ~{len(d.changed)}"
    lines = ["<details>", f"<summary>{summary}</summary>", ""]
    if d.base_missing:
        lines += ["No base plan: a new stack, or the base commit could not be previewed. Everything is added.", ""]
    if d.head_missing:
        lines += ["No HEAD plan: the stack was removed, or its preview failed before writing one.", ""]
    if not (d.added or d.removed or d.changed or d.cost_items or d.new_violations or d.resolved_violations):
        lines += ["No changes.", ""]
    lines += _section("Added", [_resource_line(r) for r in d.added])
    lines += _section("Removed", [_resource_line(r) for r in d.removed])
    lines += _section("Changed", [_change_line(c) for c in d.changed])
    lines += _cost_section(d)
    lines += _section("New policy violations", [_violation_line(v) for v in d.new_violations])
    lines += _section("Resolved policy violations", [_violation_line(v) for v in d.resolved_violations])
    lines += _section("Unchanged policy violations", [_violation_line(v) for v in d.unchanged_violations])
    return lines + ["</details>"]


def _section(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"**{title} ({len(items)})**", "", *_capped(items), ""]


def _capped(lines: list[str], limit: int = MAX_LIST_LINES) -> list[str]:
    """At most `limit` lines; the last says how many were left out."""
    if len(lines) <= limit:
        return lines
    return lines[: limit - 1] + [f"- ... and {len(lines) - limit + 1} more"]


def _resource_line(r: Resource) -> str:
    return f"- {_code(r.type)} {_code(r.name)}"


def _change_line(c: ResourceChange) -> str:
    what = [_code(p) for p in c.input_paths] + [f"*{a}*" for a in c.attributes]
    return f"{_resource_line(c.resource)}: {', '.join(what)}"


def _cost_section(d: PlanDiff) -> list[str]:
    if d.ceiling_before is None and d.ceiling_after is None and not d.cost_items:
        return []
    lines = [
        f"**Monthly cost ceiling**: {_usd(d.ceiling_before)} → {_usd(d.ceiling_after)}, Δ {_ceiling_delta(d)};"
        f" budget {_budget(d)}",
        "",
    ]
    if d.cost_items:
        rows = [
            f"| {_text(c.name)} | {_usd(c.before)} | {_usd(c.after)} | {_signed_usd(c.delta)} |" for c in d.cost_items
        ]
        # Not capped: the preview prices a handful of items per stack, never hundreds.
        lines += ["| cost item | before | after | Δ |", "|---|--:|--:|--:|", *rows, ""]
    return lines


def _violation_line(v: Violation) -> str:
    target = f"on {_code(v.urn.rsplit('::', 1)[-1])}" if v.urn else "(stack-wide)"
    return f"- **{_text(v.enforcement)}** {_code(v.policy)} {target}: {_text(v.message)}"


# Amounts are written "1,234.56 USD", not "$1,234.56": GitHub renders the text between two dollar signs
# on one line (a table row, say) as a math expression.
def _usd(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f} USD"


def _signed_usd(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}{abs(value):,.2f} USD"


def _code(value: str) -> str:
    # A backtick inside would end a single-backtick span early; a double-backtick span holds it.
    return f"`` {value} ``" if "`" in value else f"`{value}`"


def _text(value: str) -> str:
    """Free text (policy messages, cost item names) as literal markdown: no markup, no HTML, one line."""
    escaped = re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", value)
    # A dollar sign wrapped in a span cannot open or close a math expression.
    return " ".join(escaped.split()).replace("$", "<span>$</span>")


def _html(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- command line --------------------------------------------------------------------------------------


class PlanError(Exception):
    """A plan file that exists but cannot be read as a plan."""


def load_plan(path: Path | None, stack: str) -> tuple[dict[str, Any], bool]:
    """The plan at `path`, and whether it was missing (then an empty plan of `stack` stands in)."""
    if path is None or not path.is_file():
        return empty_plan(stack), True
    try:
        plan = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: {exc}") from exc
    if not isinstance(plan, dict) or not isinstance(plan.get("resources", []), list):
        raise PlanError(f"{path}: not a plan (expected an object with a `resources` list)")
    return plan, False


def diff_files(base_path: Path | None, head_path: Path, stack: str) -> PlanDiff:
    base, base_missing = load_plan(base_path, stack)
    head, head_missing = load_plan(head_path, stack)
    return diff_plans(base, head, base_missing=base_missing, head_missing=head_missing)


def stacks_in(*dirs: Path) -> list[str]:
    """Every stack with a plan.json under any of `dirs` (a directory that does not exist has none)."""
    return sorted({p.parent.name for d in dirs if d.is_dir() for p in d.glob("*/plan.json")})


def diff_stack_dirs(base_dir: Path, head_dir: Path) -> list[PlanDiff]:
    return [
        diff_files(base_dir / stack / "plan.json", head_dir / stack / "plan.json", stack)
        for stack in stacks_in(base_dir, head_dir)
    ]


def mandatory_violations(diffs: Iterable[PlanDiff]) -> list[tuple[str, Violation]]:
    return [(d.stack, v) for d in diffs for v in d.head_violations if v.mandatory]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plans", nargs="*", type=Path, metavar="PLAN", help="[BASE_PLAN] HEAD_PLAN")
    parser.add_argument(
        "--stack-dir",
        nargs=2,
        type=Path,
        metavar=("BASE_DIR", "HEAD_DIR"),
        help="diff <BASE_DIR>/<stack>/plan.json against <HEAD_DIR>/<stack>/plan.json for every stack",
    )
    parser.add_argument("--out", type=Path, help="write the markdown here instead of to stdout")
    parser.add_argument(
        "--fail-on-mandatory", action="store_true", help="exit 1 when a HEAD plan has a mandatory policy violation"
    )
    args = parser.parse_args(argv)
    if args.stack_dir and args.plans:
        parser.error("give either --stack-dir BASE_DIR HEAD_DIR or [BASE_PLAN] HEAD_PLAN, not both")
    if not args.stack_dir and len(args.plans) not in (1, 2):
        parser.error("expected [BASE_PLAN] HEAD_PLAN or --stack-dir BASE_DIR HEAD_DIR")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        if args.stack_dir:
            diffs = diff_stack_dirs(*args.stack_dir)
        else:
            *base, head = args.plans
            if not head.is_file():
                raise PlanError(f"{head}: no such plan")
            diffs = [diff_files(base[0] if base else None, head, stack="")]
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    markdown = render_markdown(diffs)
    if args.out:
        args.out.write_text(markdown)
    else:
        sys.stdout.write(markdown)

    failing = mandatory_violations(diffs) if args.fail_on_mandatory else []
    for stack, v in failing:
        print(f"mandatory policy violation in {stack}: {v.policy}: {v.message}", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())

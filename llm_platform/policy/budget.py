"""Budget rules: the stack's cost ceiling against the environment's budget, and the AWS Budget that
watches actual spend."""

from __future__ import annotations

from typing import Iterator

from llm_platform.policy import cost
from llm_platform.policy.core import Config, Resource

AWS_BUDGET = "aws:budgets/budget:Budget"
BUDGET_PROPERTIES = {
    "monthlyBudgetUsd": {"type": "number", "exclusiveMinimum": 0, "description": "The environment's monthly budget in USD."},
}
WARNING_PROPERTIES = {
    **BUDGET_PROPERTIES,
    "warningThresholdPercent": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 100,
        "default": 80,
        "description": "Advise when the ceiling passes this share of the budget.",
    },
}


def _unbounded(report: cost.CostReport) -> Iterator[tuple[str, str]]:
    for urn, why in report.unbounded:
        yield urn, f"the cost ceiling cannot be computed: {why}"


def ceiling_within_budget(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    budget = config["monthlyBudgetUsd"]
    report = cost.monthly_ceiling(resources)
    yield from _unbounded(report)
    if report.monthly_usd > budget:
        yield "", (
            f"worst-case monthly cost ${report.monthly_usd:,.2f} exceeds the budget ${budget:,.2f} by "
            f"${report.monthly_usd - budget:,.2f}; largest items: {cost.breakdown(report)}"
        )
    budgets = [r for r in resources if r.type == AWS_BUDGET]
    if not budgets:
        yield "", "the stack declares no AWS Budget (aws.budgets.Budget) to watch actual spend"
    for resource in budgets:
        limit = resource.props.get("limitAmount")
        if limit is not None and float(limit) > budget:
            yield resource.urn, f"AWS Budget limit ${float(limit):,.2f} is above the policy budget ${budget:,.2f}"


def ceiling_below_warning(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    budget, percent = config["monthlyBudgetUsd"], config["warningThresholdPercent"]
    report = cost.monthly_ceiling(resources)
    threshold = budget * percent / 100
    if report.monthly_usd > threshold and not report.unbounded:
        yield "", (
            f"worst-case monthly cost ${report.monthly_usd:,.2f} is {report.monthly_usd / budget:.0%} of the budget "
            f"${budget:,.2f} (warning at {percent:g}%); largest items: {cost.breakdown(report)}"
        )

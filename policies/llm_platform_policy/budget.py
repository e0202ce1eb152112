"""Budget rules: the stack's cost ceiling against the environment's budget, and the budget that watches
actual spend (an AWS Budget, or a Cloud Billing budget on Google Cloud)."""

from __future__ import annotations

from typing import Iterator

from llm_platform_policy import cost
from llm_platform_policy.core import Config, Resource

AWS_BUDGET = "aws:budgets/budget:Budget"
GCP_BUDGET = "gcp:billing/budget:Budget"
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
    budgets = [r for r in resources if r.type in (AWS_BUDGET, GCP_BUDGET)]
    if not budgets:
        kind = "Cloud Billing budget (gcp.billing.Budget)" if cost.stack_cloud(resources) == "gcp" else "AWS Budget (aws.budgets.Budget)"
        yield "", f"the stack declares no {kind} to watch actual spend"
    for resource in budgets:
        limit = _budget_limit(resource)
        if limit is not None and limit > budget:
            kind = "Cloud Billing budget amount" if resource.type == GCP_BUDGET else "AWS Budget limit"
            yield resource.urn, f"{kind} ${limit:,.2f} is above the policy budget ${budget:,.2f}"


def _budget_limit(resource: Resource) -> float | None:
    if resource.type == AWS_BUDGET:
        limit = resource.props.get("limitAmount")
        return None if limit is None else float(limit)
    amount = (resource.props.get("amount") or {}).get("specifiedAmount") or {}
    if amount.get("units") is None:
        return None
    return float(amount["units"]) + float(amount.get("nanos") or 0) / 1e9


def ceiling_below_warning(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    budget, percent = config["monthlyBudgetUsd"], config["warningThresholdPercent"]
    report = cost.monthly_ceiling(resources)
    threshold = budget * percent / 100
    if report.monthly_usd > threshold and not report.unbounded:
        yield "", (
            f"worst-case monthly cost ${report.monthly_usd:,.2f} is {report.monthly_usd / budget:.0%} of the budget "
            f"${budget:,.2f} (warning at {percent:g}%); largest items: {cost.breakdown(report)}"
        )

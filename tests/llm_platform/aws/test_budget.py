"""The AWS Budget: monthly, the stack's limit, forecast and actual notifications to the configured team."""

from __future__ import annotations

from llm_platform.aws.budget import CostBudget, CostBudgetArgs
from llm_platform.config import BudgetConfig
from tests.llm_platform.aws.stack import CLUSTER, TAGS, on_aws

EMAILS = ["finance@example.com", "ml-infra-alerts@example.com"]


def test_monthly_budget_with_forecast_and_actual_alerts(declare):
    budget_config = BudgetConfig(monthlyLimitUsd=5000, alertEmails=EMAILS)
    declared = declare(lambda: CostBudget(CLUSTER, CostBudgetArgs(config=budget_config, tags=TAGS), opts=on_aws()))
    budget = declared.one("aws:budgets/budget:Budget", f"{CLUSTER}-monthly")
    assert budget.inputs["name"] == f"{CLUSTER}-monthly"
    assert budget.inputs["budgetType"] == "COST"
    assert budget.inputs["timeUnit"] == "MONTHLY"
    assert (budget.inputs["limitAmount"], budget.inputs["limitUnit"]) == ("5000.00", "USD")
    alerts = {(n["notificationType"], n["threshold"], n["thresholdType"], n["comparisonOperator"]) for n in budget.inputs["notifications"]}
    assert alerts == {("FORECASTED", 80, "PERCENTAGE", "GREATER_THAN"), ("ACTUAL", 100, "PERCENTAGE", "GREATER_THAN")}
    assert all(n["subscriberEmailAddresses"] == EMAILS for n in budget.inputs["notifications"])
    assert budget.inputs["tags"] == TAGS
    assert budget.provider.startswith(declared.one("pulumi:providers:aws", "aws").urn + "::")


def test_limit_and_thresholds_follow_the_config(declare):
    budget_config = BudgetConfig(monthlyLimitUsd=1234.5, alertEmails=EMAILS[:1], forecastThresholdPercent=90, actualThresholdPercent=110)
    declared = declare(lambda: CostBudget(CLUSTER, CostBudgetArgs(config=budget_config, tags=TAGS), opts=on_aws()))
    inputs = declared.one("aws:budgets/budget:Budget").inputs
    assert inputs["limitAmount"] == "1234.50"
    assert {n["notificationType"]: n["threshold"] for n in inputs["notifications"]} == {"FORECASTED": 90, "ACTUAL": 110}

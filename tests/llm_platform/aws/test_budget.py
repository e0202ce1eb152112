"""The AWS Budget: monthly, the stack's limit, forecast and actual notifications to the configured team."""


def test_monthly_budget_with_forecast_and_actual_alerts(stack_plan):
    budget = stack_plan("production").one("aws:budgets/budget:Budget")
    assert budget.inputs["budgetType"] == "COST"
    assert budget.inputs["timeUnit"] == "MONTHLY"
    assert (budget.inputs["limitAmount"], budget.inputs["limitUnit"]) == ("5000.00", "USD")
    alerts = {(n["notificationType"], n["threshold"], n["thresholdType"], n["comparisonOperator"]) for n in budget.inputs["notifications"]}
    assert alerts == {("FORECASTED", 80, "PERCENTAGE", "GREATER_THAN"), ("ACTUAL", 100, "PERCENTAGE", "GREATER_THAN")}
    assert all(n["subscriberEmailAddresses"] == ["ml-infra-alerts@example.com"] for n in budget.inputs["notifications"])
    assert budget.inputs["tags"]["environment"] == "production"

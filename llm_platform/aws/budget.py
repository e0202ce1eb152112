"""An AWS Budget per stack: notifies before (forecast) and when (actual) the month's spend passes the
limit. The policy pack checks that it exists and that its limit is within the environment's budget."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from llm_platform.config import BudgetConfig


@dataclass(frozen=True)
class CostBudgetArgs:
    config: BudgetConfig
    tags: dict[str, str]


def notifications(config: BudgetConfig) -> list[aws.budgets.BudgetNotificationArgs]:
    return [
        aws.budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN",
            notification_type=kind,
            threshold=threshold,
            threshold_type="PERCENTAGE",
            subscriber_email_addresses=list(config.alert_emails),
        )
        for kind, threshold in (("FORECASTED", config.forecast_threshold_percent), ("ACTUAL", config.actual_threshold_percent))
    ]


class CostBudget(pulumi.ComponentResource):
    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:budget:CostBudget", name, None, opts)
        # Account-wide: one AWS account per environment is the setup this platform assumes, and a tag
        # filter would silently track nothing until the tag is activated for cost allocation.
        budget = aws.budgets.Budget(
            f"{name}-monthly",
            name=f"{name}-monthly",
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.config.monthly_limit_usd:.2f}",
            limit_unit="USD",
            notifications=notifications(args.config),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.budget_name = budget.name
        self.register_outputs({"budget_name": self.budget_name})

"""An AWS Budget per stack: notifies before (forecast) and when (actual) the month's spend passes the
limit. The policy pack checks that it exists and that its limit is within the environment's budget."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.aws import kinds
from llm_platform.config import BudgetConfig


@dataclass(frozen=True)
class CostBudgetArgs:
    config: BudgetConfig
    tags: dict[str, str]


def notifications(config: BudgetConfig) -> list[dict]:
    return [
        {
            "comparisonOperator": "GREATER_THAN",
            "notificationType": kind,
            "subscriberEmailAddresses": list(config.alert_emails),
            "threshold": threshold,
            "thresholdType": "PERCENTAGE",
        }
        for kind, threshold in (("FORECASTED", config.forecast_threshold_percent), ("ACTUAL", config.actual_threshold_percent))
    ]


class CostBudget(pulumi.ComponentResource):

    def __init__(self, name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:budget:CostBudget", name, None, opts)
        # Account-wide: one AWS account per environment is the setup this platform assumes, and a tag
        # filter would silently track nothing until the tag is activated for cost allocation.
        kinds.BUDGET(
            f"{name}-monthly",
            {
                "budgetType": "COST",
                "limitAmount": f"{args.config.monthly_limit_usd:.2f}",
                "limitUnit": "USD",
                "name": f"{name}-monthly",
                "notifications": notifications(args.config),
                "tags": args.tags,
                "timeUnit": "MONTHLY",
            },
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})

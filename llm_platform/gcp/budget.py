"""A Cloud Billing budget per Google Cloud stack, scoped to the stack's project: notifies the budget
addresses before (forecast) and when (actual) the month's spend passes the limit. The policy pack checks
that it exists and that its limit is within the environment's budget, as for the AWS Budget."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from llm_platform.config import BudgetConfig


@dataclass(frozen=True)
class GcpBudgetArgs:
    config: BudgetConfig
    project: str
    project_number: pulumi.Input[str]


def threshold_rules(config: BudgetConfig) -> list[dict]:
    # Cloud Billing takes thresholds as fractions of the amount (1.0 = 100%).
    return [
        {"threshold_percent": config.forecast_threshold_percent / 100, "spend_basis": "FORECASTED_SPEND"},
        {"threshold_percent": config.actual_threshold_percent / 100, "spend_basis": "CURRENT_SPEND"},
    ]


class GcpBudget(pulumi.ComponentResource):
    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: GcpBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gcp_budget:GcpBudget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Budget e-mails otherwise reach only billing administrators; the stack's addresses get them
        # through Cloud Monitoring e-mail channels.
        channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{index}", project=args.project, type="email", display_name=f"{name} budget {email}", labels={"email_address": email}, opts=child
            )
            for index, email in enumerate(args.config.alert_emails)
        ]
        units, cents = divmod(round(args.config.monthly_limit_usd * 100), 100)
        budget = gcp.billing.Budget(
            f"{name}-monthly",
            billing_account=args.config.billing_account,
            display_name=f"{name}-monthly",
            budget_filter={
                "projects": [pulumi.Output.from_input(args.project_number).apply(lambda number: f"projects/{number}")],
                "calendar_period": "MONTH",
            },
            amount={"specified_amount": {"currency_code": "USD", "units": str(units), "nanos": cents * 10_000_000}},
            threshold_rules=threshold_rules(args.config),
            all_updates_rule={"monitoring_notification_channels": [channel.id for channel in channels], "disable_default_iam_recipients": False},
            opts=child,
        )
        self.budget_name = budget.display_name
        self.register_outputs({"budget_name": self.budget_name})

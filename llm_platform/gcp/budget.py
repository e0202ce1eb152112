"""A Cloud Billing budget per Google Cloud stack, scoped to the stack's project: notifies the budget
addresses before (forecast) and when (actual) the month's spend passes the limit. The policy pack checks
that it exists and that its limit is within the environment's budget, as for the AWS Budget."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.config import BudgetConfig
from llm_platform.gcp import kinds


@dataclass(frozen=True)
class GcpBudgetArgs:
    config: BudgetConfig
    billing_account: str
    project: str
    project_number: str


def threshold_rules(config: BudgetConfig) -> list[dict]:
    # Cloud Billing takes thresholds as fractions of the amount (1.0 = 100%).
    return [
        {"spendBasis": "FORECASTED_SPEND", "thresholdPercent": config.forecast_threshold_percent / 100},
        {"spendBasis": "CURRENT_SPEND", "thresholdPercent": config.actual_threshold_percent / 100},
    ]


class GcpBudget(pulumi.ComponentResource):

    def __init__(self, name: str, args: GcpBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gcp_budget:GcpBudget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Budget e-mails otherwise reach only billing administrators; the stack's addresses get them
        # through Cloud Monitoring e-mail channels.
        channels = [
            kinds.NOTIFICATION_CHANNEL(
                # `labels` of an e-mail channel hold the address (Cloud Monitoring channel descriptor "email").
                f"{name}-email-{index}",
                {"displayName": f"{name} budget {email}", "labels": {"email_address": email}, "project": args.project, "type": "email"},
                child,
            )
            for index, email in enumerate(args.config.alert_emails)
        ]
        units, cents = divmod(round(args.config.monthly_limit_usd * 100), 100)
        kinds.BILLING_BUDGET(
            f"{name}-monthly",
            {
                "allUpdatesRule": {"disableDefaultIamRecipients": False, "monitoringNotificationChannels": [channel.id for channel in channels]},
                "amount": {"specifiedAmount": {"currencyCode": "USD", "nanos": cents * 10_000_000, "units": str(units)}},
                "billingAccount": args.billing_account,
                "budgetFilter": {
                    "calendarPeriod": "MONTH",
                    "projects": [f"projects/{args.project_number}"],
                },
                "displayName": f"{name}-monthly",
                "thresholdRules": threshold_rules(args.config),
            },
            child,
        )
        self.register_outputs({})

"""The stack's budget: what the cloud's own budget (an AWS Budget, a Cloud Billing budget) watches."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from llm_platform.config.base import ConfigModel, Emails


class BudgetConfig(ConfigModel):
    """A budget that watches the stack's actual and forecast monthly spend: an AWS Budget, or a Cloud
    Billing budget scoped to the stack's project (its billing account is `gcp.billingAccount`)."""

    monthly_limit_usd: Annotated[float, Field(gt=0)]
    """Monthly budget in USD. The policy pack refuses a limit above the environment's policy budget."""

    alert_emails: Annotated[Emails, Field(min_length=1, max_length=10)]
    """Addresses notified at the forecast and actual thresholds (AWS Budgets allows ten per notification)."""

    forecast_threshold_percent: Annotated[float, Field(gt=0, le=1000)] = 80
    """Notify when the forecast for the month passes this share of the limit."""

    actual_threshold_percent: Annotated[float, Field(gt=0, le=1000)] = 100
    """Notify when actual spend passes this share of the limit."""

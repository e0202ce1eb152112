"""The stack's budget (`budget.BudgetConfig`): a positive monthly limit, one to ten distinct e-mail
addresses (each checked on its own) and the forecast and actual thresholds. The same on both clouds; a
Google Cloud stack's billing account is `gcp.billingAccount` (see test_gcp.py and test_render.py)."""

from __future__ import annotations

import pytest

from llm_platform.config import BudgetConfig, Violation, parse
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config.stacks import AWS, DELETE, GCP, edited, only, refused


def with_budget(base: dict = AWS, **changes) -> dict:
    return edited(base, "budget", **changes)


@pytest.mark.parametrize("base", [AWS, GCP], ids=["aws", "gcp"])
def test_budget_defaults(base):
    budget = parse(base).budget
    assert isinstance(budget, BudgetConfig)
    assert (budget.monthly_limit_usd, budget.alert_emails) == (1000, ["team@example.com"])
    assert (budget.forecast_threshold_percent, budget.actual_threshold_percent) == (80, 100)


def test_ten_addresses_are_allowed():
    emails = [f"team{i}@example.com" for i in range(10)]
    assert parse(with_budget(alertEmails=emails)).budget.alert_emails == emails


def test_a_bad_address_is_refused_per_element():
    error = refused(with_budget(alertEmails=["not-an-address"]))
    assert error.violations == [Violation("budget.alertEmails[0]", "not-an-address", "must be an e-mail address")]
    assert error.problems == ['llm-platform:budget.alertEmails[0]: "not-an-address" is invalid (rule: must be an e-mail address)']


def test_every_bad_address_is_named():
    error = refused(with_budget(alertEmails=["team@example.com", "bad", "also bad@example.com"]))
    assert error.violations == [
        Violation("budget.alertEmails[1]", "bad", "must be an e-mail address"),
        Violation("budget.alertEmails[2]", "also bad@example.com", "must be an e-mail address"),
    ]


BUDGET_RULES = [
    ({"monthlyLimitUsd": 0}, "budget.monthlyLimitUsd", 0, "Input should be greater than 0"),
    ({"monthlyLimitUsd": -5}, "budget.monthlyLimitUsd", -5, "Input should be greater than 0"),
    ({"monthlyLimitUsd": "lots"}, "budget.monthlyLimitUsd", "lots", "Input should be a valid number"),
    ({"monthlyLimitUsd": DELETE}, "budget.monthlyLimitUsd", NOT_SET, "Field required"),
    ({"alertEmails": DELETE}, "budget.alertEmails", NOT_SET, "Field required"),
    ({"alertEmails": []}, "budget.alertEmails", [], "Value should have at least 1 item after validation, not 0"),
    ({"alertEmails": [f"a{i}@example.com" for i in range(11)]}, "budget.alertEmails", [f"a{i}@example.com" for i in range(11)], "Value should have at most 10 items after validation, not 11"),
    ({"alertEmails": ["a@example.com", "a@example.com"]}, "budget.alertEmails", ["a@example.com", "a@example.com"], "must not repeat an entry"),
    ({"alertEmails": "team@example.com"}, "budget.alertEmails", "team@example.com", "Input should be a valid list"),
    ({"forecastThresholdPercent": 0}, "budget.forecastThresholdPercent", 0, "Input should be greater than 0"),
    ({"actualThresholdPercent": 1001}, "budget.actualThresholdPercent", 1001, "Input should be less than or equal to 1000"),
]


@pytest.mark.parametrize("change, key, value, rule", BUDGET_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in BUDGET_RULES])
def test_budget_rules(change, key, value, rule):
    parse(AWS)
    violation = only(refused(with_budget(**change)))
    assert (violation.key, violation.value) == (key, value)
    assert rule in violation.rule, violation.rule


def test_monthly_limit_line():
    (line,) = refused(with_budget(monthlyLimitUsd=0)).problems
    assert line.startswith("llm-platform:budget.monthlyLimitUsd: 0 is invalid") and "greater than 0" in line


def test_budget_rules_hold_on_gcp_too():
    error = refused(with_budget(GCP, alertEmails=["nobody"], monthlyLimitUsd=0))
    assert {v.key for v in error.violations} == {"budget.alertEmails[0]", "budget.monthlyLimitUsd"}

"""Monitoring, GPU metrics, dashboards and alerts (`observability.ObservabilityConfig`): the same on both
clouds. The alert addresses are required; the rest has defaults with bounds. Production's Prometheus
volume rule is a stack rule (test_stack.py); the Google Cloud mail relay is `gcp.smtp` (test_gcp.py)."""

from __future__ import annotations

import pytest

from llm_platform.config import AlertThresholds, ObservabilityConfig, Violation, parse
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config.stacks import AWS, DELETE, edited, only, refused


def with_observability(**changes) -> dict:
    return edited(AWS, "observability", **changes)


def test_observability_defaults():
    observability = parse(AWS).observability
    assert isinstance(observability, ObservabilityConfig)
    assert (observability.retention_days, observability.prometheus_storage_gib, observability.prometheus_replicas) == (7, None, 1)
    assert observability.alert_emails == ["oncall@example.com"]
    assert observability.runbook_base_url == "docs/runbooks.md"
    assert observability.thresholds == AlertThresholds()


def test_threshold_defaults_are_the_production_chatbot_values():
    t = parse(AWS).observability.thresholds
    assert (t.latency_p99_seconds, t.time_to_first_token_p95_seconds, t.error_rate_percent, t.kv_cache_usage_percent) == (10, 3, 1, 95)
    assert (t.waiting_requests_per_replica, t.gpu_memory_percent, t.gpu_pending_minutes, t.spot_interruptions_per_hour) == (20, 95, 10, 2)


def test_a_threshold_overrides_only_itself():
    thresholds = parse(with_observability(thresholds={"errorRatePercent": 5})).observability.thresholds
    assert thresholds.error_rate_percent == 5 and thresholds.latency_p99_seconds == 10


def test_a_production_shaped_observability_section():
    observability = parse(with_observability(retentionDays=30, prometheusStorageGib=100, prometheusReplicas=2)).observability
    assert (observability.retention_days, observability.prometheus_storage_gib, observability.prometheus_replicas) == (30, 100, 2)


OBSERVABILITY_RULES = [
    ({"alertEmails": DELETE}, "observability.alertEmails", NOT_SET, "Field required"),
    ({"alertEmails": []}, "observability.alertEmails", [], "Value should have at least 1 item after validation, not 0"),
    ({"alertEmails": ["oncall"]}, "observability.alertEmails[0]", "oncall", "must be an e-mail address"),
    ({"alertEmails": ["a@example.com", "a@example.com"]}, "observability.alertEmails", ["a@example.com", "a@example.com"], "must not repeat an entry"),
    ({"retentionDays": 0}, "observability.retentionDays", 0, "Input should be greater than or equal to 1"),
    ({"retentionDays": 366}, "observability.retentionDays", 366, "Input should be less than or equal to 365"),
    ({"prometheusStorageGib": 5}, "observability.prometheusStorageGib", 5, "Input should be greater than or equal to 10"),
    ({"prometheusReplicas": 4}, "observability.prometheusReplicas", 4, "Input should be less than or equal to 3"),
    ({"thresholds": {"latencyP99Seconds": 0}}, "observability.thresholds.latencyP99Seconds", 0, "Input should be greater than 0"),
    ({"thresholds": {"errorRatePercent": 101}}, "observability.thresholds.errorRatePercent", 101, "Input should be less than or equal to 100"),
    ({"thresholds": {"kvCacheUsagePercent": 0}}, "observability.thresholds.kvCacheUsagePercent", 0, "Input should be greater than 0"),
    ({"thresholds": {"gpuPendingMinutes": 121}}, "observability.thresholds.gpuPendingMinutes", 121, "Input should be less than or equal to 120"),
    ({"thresholds": {"spotInterruptionsPerHour": 0}}, "observability.thresholds.spotInterruptionsPerHour", 0, "Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize("change, key, value, rule", OBSERVABILITY_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in OBSERVABILITY_RULES])
def test_observability_rules(change, key, value, rule):
    parse(AWS)
    violation = only(refused(with_observability(**change)))
    assert (violation.key, violation.value) == (key, value)
    assert rule in violation.rule, violation.rule


def test_an_unknown_threshold_is_an_unknown_key():
    error = refused(with_observability(thresholds={"errorRate": 2}))
    (violation,) = error.violations
    assert violation.key == "observability.thresholds.errorRate" and violation.unknown_key
    assert violation.rule.endswith("did you mean 'errorRatePercent'?")


def test_the_smtp_relay_is_not_an_observability_key_any_more():
    # On an AWS stack there is no relay at all (SNS delivers), so no hint to move it either.
    (violation,) = refused(with_observability(smtp={"smarthost": "smtp-relay.gmail.com:587", "from": "alerts@example.com"})).violations
    assert violation == Violation(
        "observability.smtp",
        {"smarthost": "smtp-relay.gmail.com:587", "from": "alerts@example.com"},
        "allowed keys are retentionDays, prometheusStorageGib, prometheusReplicas, alertEmails, thresholds, runbookBaseUrl",
        unknown_key=True,
    )

import json
import re
from pathlib import Path

import pytest

from llm_platform.aws import karpenter
from llm_platform.config import AlertThresholds
from llm_platform.platform import alerts
from tests.k8s_schemas import validate_custom_resource
from tests.llm_platform.platform import exported_metrics as metrics
from tests.llm_platform.platform.bases import deployed

ROOT = Path(__file__).resolve().parents[3]
# Every alert a stack can declare: the platform's, and the capacity alerts a cloud base adds (Karpenter's on EKS).
RULE = alerts.prometheus_rule("llm-platform", "monitoring", AlertThresholds(), "docs/runbooks.md", karpenter.capacity_alerts(AlertThresholds()), gateway_proxies="llm")
RULES = [rule for group in RULE["spec"]["groups"] for rule in group["rules"]]


def test_rule_validates_against_the_upstream_crd():
    assert validate_custom_resource(RULE) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["alert"])
def test_every_rule_parses_and_uses_exported_metrics_only(rule):
    used = metrics.used_in(rule["expr"])
    assert used, "an alert must select at least one metric"
    assert used <= metrics.exported(), f"not exported by the pinned versions: {used - metrics.exported()}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["alert"])
def test_every_rule_has_severity_text_and_a_runbook_section(rule):
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
    headings = {re.sub(r"[^a-z0-9-]", "", line[3:].strip().lower()) for line in (ROOT / "docs" / "runbooks.md").read_text().splitlines() if line.startswith("## ")}
    assert anchor in headings


def test_the_seeds_alerts_and_thresholds_are_there():
    by_name = {rule["alert"]: rule for rule in RULES}
    assert {"HighLatency", "HighErrorRate", "KvCachePressure", "LongRequestQueue", "GpuMemoryPressure", "GpuXidError",
            "ModelNoReadyReplicas", "GpuPodsPending", "SpotInterruptions"} <= set(by_name)
    assert by_name["HighLatency"]["expr"].startswith("histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))")
    assert by_name["HighLatency"]["expr"].endswith("> 10") and by_name["HighLatency"]["for"] == "5m"
    assert by_name["HighErrorRate"]["expr"].endswith("> 0.01") and by_name["HighErrorRate"]["labels"]["severity"] == "critical"
    # vLLM's KV-cache gauge is a 0-1 fraction, so 95% is 0.95.
    assert by_name["KvCachePressure"]["expr"] == "max by (model_name) (vllm:kv_cache_usage_perc) > 0.95" and by_name["KvCachePressure"]["for"] == "10m"
    assert by_name["LongRequestQueue"]["expr"] == "avg by (model_name) (vllm:num_requests_waiting) > 20"


def test_thresholds_come_from_config():
    rule = alerts.prometheus_rule("r", "monitoring", AlertThresholds(latency_p99_seconds=4.5, gpu_pending_minutes=20), "https://example.com/runbooks.md")
    by_name = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert by_name["HighLatency"]["expr"].endswith("> 4.5")
    assert by_name["GpuPodsPending"]["for"] == "20m"
    assert by_name["GpuPodsPending"]["annotations"]["runbook_url"] == "https://example.com/runbooks.md#gpupodspending"


def test_an_unexported_metric_is_caught():
    # vLLM removed this gauge; a rule using it would never fire.
    assert "vllm:gpu_cache_usage_perc" in metrics.used_in("vllm:gpu_cache_usage_perc > 0.9") - metrics.exported()


def test_without_a_base_s_alerts_only_the_generic_capacity_alert_remains():
    rule = alerts.prometheus_rule("r", "monitoring", AlertThresholds(), "docs/runbooks.md")
    capacity = next(g for g in rule["spec"]["groups"] if g["name"] == "llm-gpu-capacity")
    assert [r["alert"] for r in capacity["rules"]] == ["GpuPodsPending"]
    assert "karpenter" not in json.dumps(rule)


def test_gke_stack_declares_no_karpenter_alerts():
    rule = deployed("gke-staging").one("kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs
    names = [r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert "GpuPodsPending" in names and "SpotInterruptions" not in names
    assert "karpenter" not in json.dumps(rule)


def test_eks_adds_karpenter_s_capacity_alerts_with_the_stack_s_thresholds():
    rule = deployed("eks-production").one("kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs
    capacity = next(g for g in rule["spec"]["groups"] if g["name"] == "llm-gpu-capacity")
    by_name = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert [r["alert"] for r in capacity["rules"]] == ["GpuPodsPending", "GpuNodePoolAtLimit", "GpuCapacityUnavailable", "SpotInterruptions"]
    # The stack's thresholds (spotInterruptionsPerHour 5, latencyP99Seconds 4) and runbook location.
    assert by_name["SpotInterruptions"]["expr"].endswith("> 5")
    assert by_name["HighLatency"]["expr"].endswith("> 4")
    assert by_name["GpuPodsPending"]["annotations"]["runbook_url"] == "https://git.example.com/ml/llm-platform/blob/main/docs/runbooks.md#gpupodspending"


def test_the_gateway_and_its_endpoint_pickers_have_down_and_error_alerts():
    by_name = {rule["alert"]: rule for rule in RULES}
    assert by_name["GatewayDown"]["expr"] == 'kube_deployment_status_replicas_available{namespace="gateway", deployment="llm"} == 0'
    assert by_name["GatewayDown"]["labels"]["severity"] == "critical"
    assert 'agentgateway_requests_total{namespace="gateway", status=~"5.."}' in by_name["GatewayErrors"]["expr"] and by_name["GatewayErrors"]["expr"].endswith("> 0.01")
    # A pool without its EPP still serves (FailOpen), round-robin: a warning, not a page.
    assert 'deployment=~".+-epp"' in by_name["EndpointPickerDown"]["expr"] and by_name["EndpointPickerDown"]["labels"]["severity"] == "warning"
    assert 'llm_d_epp_scheduler_attempts_total{status="failure"}' in by_name["EndpointPickerFailing"]["expr"]
    # The EPPs share the serving namespace; a model's own no-replica alert leaves them out.
    assert 'deployment!~".+-epp"' in by_name["ModelNoReadyReplicas"]["expr"]


def test_gateway_alerts_only_with_a_gateway():
    rule = alerts.prometheus_rule("r", "monitoring", AlertThresholds(), "docs/runbooks.md")
    assert "llm-gateway" not in {g["name"] for g in rule["spec"]["groups"]}
    deployed_rule = deployed("eks-production").one("kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs
    gateway = next(g for g in deployed_rule["spec"]["groups"] if g["name"] == "llm-gateway")
    assert [r["alert"] for r in gateway["rules"]] == ["GatewayDown", "GatewayErrors", "EndpointPickerDown", "EndpointPickerFailing"]

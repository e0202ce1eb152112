"""Alert rules for model serving, GPUs, GPU capacity and the inference gateway, as one PrometheusRule
manifest.

Every rule carries a severity (routing), a summary and description (what the page says) and a
runbook_url pointing at its section of docs/runbooks.md (what to do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from llm_platform.config import AlertThresholds
from llm_platform.contract import GATEWAY_NAMESPACE, SERVING_NAMESPACE


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str


def _percentile(quantile: float, histogram: str) -> str:
    return f"histogram_quantile({quantile}, sum by (le, model_name) (rate({histogram}_bucket[5m])))"


# The Endpoint Pickers' Deployments share the serving namespace with the models' (llm-d router chart:
# `<model>-epp`); their own alerts cover them.
EPP_DEPLOYMENTS = 'deployment=~".+-epp"'
NOT_EPP = 'deployment!~".+-epp"'


def serving_alerts(t: AlertThresholds) -> list[Alert]:
    ns = f'namespace="{SERVING_NAMESPACE}"'
    return [
        Alert(
            "HighLatency",
            f"{_percentile(0.99, 'vllm:e2e_request_latency_seconds')} > {t.latency_p99_seconds:g}",
            "5m",
            "warning",
            "p99 latency of {{ $labels.model_name }} is {{ $value | humanizeDuration }}",
            f"99th percentile end-to-end request latency has been above {t.latency_p99_seconds:g}s for 5 minutes.",
        ),
        Alert(
            "SlowFirstToken",
            f"{_percentile(0.95, 'vllm:time_to_first_token_seconds')} > {t.time_to_first_token_p95_seconds:g}",
            "5m",
            "warning",
            "p95 time to first token of {{ $labels.model_name }} is {{ $value | humanizeDuration }}",
            f"Users wait more than {t.time_to_first_token_p95_seconds:g}s for the first token; queueing or prefill is too slow.",
        ),
        Alert(
            "HighErrorRate",
            f'sum by (service) (rate(http_requests_total{{{ns}, status="5xx"}}[5m])) / sum by (service) (rate(http_requests_total{{{ns}}}[5m])) > {t.error_rate_percent / 100:g}',
            "5m",
            "critical",
            "{{ $labels.service }} answers {{ $value | humanizePercentage }} of requests with a server error",
            f"More than {t.error_rate_percent:g}% of requests have failed with 5xx responses for 5 minutes.",
        ),
        Alert(
            "KvCachePressure",
            f"max by (model_name) (vllm:kv_cache_usage_perc) > {t.kv_cache_usage_percent / 100:g}",
            "10m",
            "warning",
            "KV cache of {{ $labels.model_name }} is {{ $value | humanizePercentage }} full",
            f"KV-cache usage has stayed above {t.kv_cache_usage_percent:g}% for 10 minutes: new requests queue and running ones get preempted.",
        ),
        Alert(
            "LongRequestQueue",
            f"avg by (model_name) (vllm:num_requests_waiting) > {t.waiting_requests_per_replica:g}",
            "5m",
            "warning",
            "{{ $value }} requests wait per replica of {{ $labels.model_name }}",
            f"More than {t.waiting_requests_per_replica:g} requests per replica have been waiting for 5 minutes; autoscaling is not keeping up.",
        ),
        Alert(
            "ModelNoReadyReplicas",
            f"kube_deployment_status_replicas_available{{{ns}, {NOT_EPP}}} == 0 and kube_deployment_spec_replicas{{{ns}, {NOT_EPP}}} > 0",
            "10m",
            "critical",
            "Model {{ $labels.deployment }} has no ready replica",
            "No replica has passed its readiness probe for 10 minutes (longer than a model load): the model is down.",
        ),
        Alert(
            "ModelServerRestarting",
            f"increase(kube_pod_container_status_restarts_total{{{ns}}}[30m]) > 2",
            "0m",
            "warning",
            "{{ $labels.pod }} restarted {{ $value | humanize }} times in 30 minutes",
            "A model server keeps crashing (out of memory, bad arguments, unhealthy GPU).",
        ),
    ]


def gpu_alerts(t: AlertThresholds) -> list[Alert]:
    return [
        Alert(
            "GpuMemoryPressure",
            f"max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) > {t.gpu_memory_percent / 100:g}",
            "5m",
            "warning",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} uses {{ $value | humanizePercentage }} of its memory",
            f"GPU memory use has been above {t.gpu_memory_percent:g}% for 5 minutes; the next allocation may fail.",
        ),
        Alert(
            "GpuXidError",
            "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS) > 0",
            "0m",
            "critical",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
            "The driver reported an XID error: the GPU may be faulty; drain and replace the node.",
        ),
    ]


def capacity_alerts(t: AlertThresholds) -> list[Alert]:
    """GPU capacity on any cluster: a pending GPU pod is where every capacity problem ends (on GKE the
    cluster autoscaler's limits, quota and stock-outs; on EKS Karpenter's, whose own signals its base adds)."""
    return [
        Alert(
            "GpuPodsPending",
            'max by (namespace, pod) (kube_pod_status_phase{phase="Pending"}) * on (namespace, pod) group_left () '
            'max by (namespace, pod) (kube_pod_container_resource_requests{resource="nvidia_com_gpu"}) > 0',
            f"{t.gpu_pending_minutes}m",
            "critical",
            "{{ $labels.namespace }}/{{ $labels.pod }} waits for a GPU",
            f"A pod requesting GPUs has been pending for {t.gpu_pending_minutes} minutes: no node can be added for it "
            "(GPU quota, no capacity in the zones, or the pool's GPU limit).",
        ),
    ]


def gateway_alerts(t: AlertThresholds, proxy_deployment: str) -> list[Alert]:
    """The gateway's proxies (a Deployment named after the Gateway, agentgateway's deployer) and each
    pool's Endpoint Picker. Without its EPP a pool still serves (failure mode FailOpen) but round-robin,
    losing prefix-cache reuse: a warning; without proxies nothing is served: critical."""
    proxies = f'namespace="{GATEWAY_NAMESPACE}"'
    epp = f'namespace="{SERVING_NAMESPACE}", {EPP_DEPLOYMENTS}'
    return [
        Alert(
            "GatewayDown",
            f'kube_deployment_status_replicas_available{{{proxies}, deployment="{proxy_deployment}"}} == 0',
            "5m",
            "critical",
            "The inference gateway has no ready proxy",
            "No gateway proxy has been ready for 5 minutes: every model is unreachable from outside the cluster.",
        ),
        Alert(
            "GatewayErrors",
            f'sum(rate(agentgateway_requests_total{{{proxies}, status=~"5.."}}[5m])) / sum(rate(agentgateway_requests_total{{{proxies}}}[5m])) > {t.error_rate_percent / 100:g}',
            "5m",
            "critical",
            "The gateway answers {{ $value | humanizePercentage }} of requests with a server error",
            f"More than {t.error_rate_percent:g}% of requests through the gateway have failed with 5xx for 5 minutes (no ready replica behind a route, or replicas failing).",
        ),
        Alert(
            "EndpointPickerDown",
            f"kube_deployment_status_replicas_available{{{epp}}} == 0 and kube_deployment_spec_replicas{{{epp}}} > 0",
            "5m",
            "warning",
            "Endpoint Picker {{ $labels.deployment }} has no ready replica",
            "The pool's requests fall back to the gateway's own load balancing: served, but without prefix-cache or queue-aware routing.",
        ),
        Alert(
            "EndpointPickerFailing",
            'sum by (target_model_name) (rate(llm_d_epp_scheduler_attempts_total{status="failure"}[5m])) / sum by (target_model_name) (rate(llm_d_epp_scheduler_attempts_total[5m])) > '
            f"{t.error_rate_percent / 100:g}",
            "5m",
            "warning",
            "The Endpoint Picker of {{ $labels.target_model_name }} fails {{ $value | humanizePercentage }} of its decisions",
            f"More than {t.error_rate_percent:g}% of scheduling attempts found no replica for 5 minutes.",
        ),
    ]


def runbook_anchor(alert_name: str) -> str:
    return alert_name.lower()


def prometheus_rule(
    name: str, namespace: str, thresholds: AlertThresholds, runbook_base_url: str, cluster_capacity_alerts: Sequence[Alert] = (), gateway_proxies: str | None = None
) -> dict:
    """The platform's alerts, with the cloud base's own capacity alerts in the capacity group, and the
    gateway's when the stack runs one (`gateway_proxies`: its proxies' Deployment)."""
    groups = {
        "llm-serving": serving_alerts(thresholds),
        "llm-gpu": gpu_alerts(thresholds),
        "llm-gpu-capacity": capacity_alerts(thresholds) + list(cluster_capacity_alerts),
    }
    if gateway_proxies:
        groups["llm-gateway"] = gateway_alerts(thresholds, gateway_proxies)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "groups": [
                {
                    "name": group,
                    "rules": [
                        {
                            "alert": alert.name,
                            "expr": alert.expr,
                            "for": alert.for_,
                            "labels": {"severity": alert.severity},
                            "annotations": {
                                "summary": alert.summary,
                                "description": alert.description,
                                "runbook_url": f"{runbook_base_url}#{runbook_anchor(alert.name)}",
                            },
                        }
                        for alert in alerts
                    ],
                }
                for group, alerts in groups.items()
            ]
        },
    }

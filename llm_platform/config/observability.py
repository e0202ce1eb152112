"""Monitoring, GPU metrics, dashboards and alerts: the same on both clouds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from llm_platform.config.base import ConfigModel, Emails


class AlertThresholds(ConfigModel):
    """Alert thresholds; the defaults are the seeds' production-chatbot values."""

    latency_p99_seconds: Annotated[float, Field(gt=0)] = 10
    """HighLatency: p99 end-to-end request latency above this for 5 minutes (warning)."""

    time_to_first_token_p95_seconds: Annotated[float, Field(gt=0)] = 3
    """SlowFirstToken: p95 time to first token above this for 5 minutes (warning); the infrastructure
    guide's 3-second p95 for interactive chat."""

    error_rate_percent: Annotated[float, Field(gt=0, le=100)] = 1
    """HighErrorRate: share of requests answered with a 5xx above this for 5 minutes (critical)."""

    kv_cache_usage_percent: Annotated[float, Field(gt=0, le=100)] = 95
    """KvCachePressure: KV-cache usage above this for 10 minutes (warning); requests start to queue and
    get preempted."""

    waiting_requests_per_replica: Annotated[float, Field(gt=0)] = 20
    """LongRequestQueue: average waiting requests per replica above this for 5 minutes (warning)."""

    gpu_memory_percent: Annotated[float, Field(gt=0, le=100)] = 95
    """GpuMemoryPressure: GPU framebuffer use above this for 5 minutes (warning). vLLM reserves its
    `gpuMemoryUtilization` share at start, so this fires on memory used beyond that."""

    gpu_pending_minutes: Annotated[int, Field(ge=1, le=120)] = 10
    """GpuPodsPending: a pod requesting GPUs pending longer than this (critical): the node autoscaler
    (Karpenter on EKS, the cluster autoscaler on GKE) cannot find capacity, hit a quota or the pool's limit."""

    spot_interruptions_per_hour: Annotated[int, Field(ge=1)] = 2
    """SpotInterruptions: more spot interruption notices than this in an hour (warning)."""


class ObservabilityConfig(ConfigModel):
    """Prometheus, Alertmanager and Grafana (kube-prometheus-stack), DCGM GPU metrics and KEDA."""

    retention_days: Annotated[int, Field(ge=1, le=365)] = 7
    """How long Prometheus keeps samples."""

    prometheus_storage_gib: Annotated[int, Field(ge=10, le=4096)] | None = None
    """Persistent volume per Prometheus replica (gp3 on AWS, pd-balanced on Google Cloud); without it
    Prometheus keeps its data on the node and loses it when the pod moves (acceptable for staging only)."""

    prometheus_replicas: Annotated[int, Field(ge=1, le=3)] = 1
    """Prometheus replicas (each scrapes everything; two survive a node loss)."""

    alert_emails: Annotated[Emails, Field(min_length=1, max_length=10)]
    """Addresses critical and warning alerts go to. On AWS they subscribe to one SNS topic per severity,
    which Alertmanager publishes to through its own IAM role (no webhook secret, no SMTP password); on
    Google Cloud Alertmanager mails them through the relay in `gcp.smtp`."""

    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    """Alert thresholds."""

    runbook_base_url: str = "docs/runbooks.md"
    """Where alerts' `runbook_url` annotations point (one anchor per alert), e.g. the runbooks file in
    this repository on your Git host: `https://github.com/<org>/llm-platform/blob/main/docs/runbooks.md`."""

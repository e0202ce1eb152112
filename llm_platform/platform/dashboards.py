"""Grafana dashboards as data: the vLLM serving dashboard (one model or several, chosen with the `model`
variable), the GPU dashboard from DCGM and, with the inference gateway, its routing dashboard (agentgateway
and the llm-d Endpoint Picker). The Grafana sidecar loads them from ConfigMaps."""

from __future__ import annotations

from dataclasses import dataclass, field

from llm_platform.contract import GATEWAY_NAMESPACE, SERVING_NAMESPACE

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_WIDTH, PANEL_HEIGHT, COLUMNS = 12, 8, 2
MODEL = 'model_name=~"$model"'
# Services are named after the model they serve, so HTTP metrics (which carry no model label) can be
# selected by the same variable.
SERVICE = f'namespace="{SERVING_NAMESPACE}", service=~"$model"'
NODE = 'Hostname=~"$node"'


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: dict[str, str]
    """Legend -> PromQL."""
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: list[Panel]
    variables: list[tuple[str, str]] = field(default_factory=list)
    """(name, label_values(...) query) for multi-select template variables."""


def _quantiles(histogram: str, selector: str = MODEL) -> dict[str, str]:
    return {
        f"p{int(q * 100)}": f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket{{{selector}}}[$__rate_interval])))"
        for q in (0.5, 0.95, 0.99)
    }


def vllm_dashboard() -> Dashboard:
    rate = "[$__rate_interval]"
    return Dashboard(
        uid="llm-platform-vllm",
        title="LLM serving (vLLM)",
        variables=[("model", "label_values(vllm:num_requests_running, model_name)")],
        panels=[
            Panel("Request rate", "reqps", {"{{model_name}}": f"sum by (model_name) (rate(vllm:request_success_total{{{MODEL}}}{rate}))"}),
            Panel(
                "Success and errors",
                "percentunit",
                {
                    "5xx share": f'sum(rate(http_requests_total{{{SERVICE}, status="5xx"}}{rate})) / sum(rate(http_requests_total{{{SERVICE}}}{rate}))',
                    "4xx share": f'sum(rate(http_requests_total{{{SERVICE}, status="4xx"}}{rate})) / sum(rate(http_requests_total{{{SERVICE}}}{rate}))',
                    "finished: {{finished_reason}}": f"sum by (finished_reason) (rate(vllm:request_success_total{{{MODEL}}}{rate})) / ignoring (finished_reason) group_left sum(rate(vllm:request_success_total{{{MODEL}}}{rate}))",
                },
            ),
            Panel("End-to-end latency", "s", _quantiles("vllm:e2e_request_latency_seconds")),
            Panel("Time to first token", "s", _quantiles("vllm:time_to_first_token_seconds")),
            Panel("Time per output token (inter-token latency)", "s", _quantiles("vllm:inter_token_latency_seconds")),
            Panel(
                "Tokens per second",
                "short",
                {
                    "prompt": f"sum(rate(vllm:prompt_tokens_total{{{MODEL}}}{rate}))",
                    "generation": f"sum(rate(vllm:generation_tokens_total{{{MODEL}}}{rate}))",
                },
            ),
            Panel(
                "Running and waiting requests",
                "short",
                {"running": f"sum(vllm:num_requests_running{{{MODEL}}})", "waiting": f"sum(vllm:num_requests_waiting{{{MODEL}}})"},
                "Waiting requests per replica drive autoscaling.",
            ),
            Panel("KV-cache usage", "percentunit", {"{{pod}}": f"max by (pod) (vllm:kv_cache_usage_perc{{{MODEL}}})"}),
            Panel(
                "Prefix-cache hit rate",
                "percentunit",
                {"hit rate": f"sum(rate(vllm:prefix_cache_hits_total{{{MODEL}}}{rate})) / sum(rate(vllm:prefix_cache_queries_total{{{MODEL}}}{rate}))"},
            ),
            Panel("Preemptions", "short", {"per second": f"sum(rate(vllm:num_preemptions_total{{{MODEL}}}{rate}))"}),
            Panel(
                "Replicas",
                "short",
                {"ready {{deployment}}": f'kube_deployment_status_replicas_available{{namespace="{SERVING_NAMESPACE}", deployment=~"$model"}}'},
            ),
            Panel("Queue time", "s", _quantiles("vllm:request_queue_time_seconds")),
        ],
    )


def gpu_dashboard() -> Dashboard:
    by_gpu = "{{Hostname}} GPU {{gpu}}"
    return Dashboard(
        uid="llm-platform-gpu",
        title="GPUs (DCGM)",
        variables=[("node", "label_values(DCGM_FI_DEV_GPU_UTIL, Hostname)")],
        panels=[
            Panel("GPU utilization", "percent", {by_gpu: f"DCGM_FI_DEV_GPU_UTIL{{{NODE}}}"}),
            Panel("Memory used", "percentunit", {by_gpu: f"DCGM_FI_DEV_FB_USED{{{NODE}}} / (DCGM_FI_DEV_FB_USED{{{NODE}}} + DCGM_FI_DEV_FB_FREE{{{NODE}}})"}),
            Panel("Memory used (MiB)", "decmbytes", {by_gpu: f"DCGM_FI_DEV_FB_USED{{{NODE}}}"}),
            Panel("Temperature", "celsius", {by_gpu: f"DCGM_FI_DEV_GPU_TEMP{{{NODE}}}"}),
            Panel("Power", "watt", {by_gpu: f"DCGM_FI_DEV_POWER_USAGE{{{NODE}}}"}),
            Panel("Last XID error", "none", {by_gpu: f"DCGM_FI_DEV_XID_ERRORS{{{NODE}}}"}, "Non-zero: the driver reported an XID error; see the GpuXidError runbook."),
            Panel("Tensor core activity", "percentunit", {by_gpu: f"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{NODE}}}"}),
        ],
    )


# The EPP's decisions carry the request's model (the pool's, as the route matched it); its Service is
# `<model>-epp`, which Prometheus's ServiceMonitor targets carry as `service`.
EPP_MODEL = 'target_model_name=~"$model"'
EPP_SERVICE = 'service=~"($model)-epp"'
PROXIES = f'namespace="{GATEWAY_NAMESPACE}"'


def gateway_dashboard() -> Dashboard:
    """Routing through the gateway: what reaches each pool, which replica the Endpoint Picker sends it to
    and how fast it decides, and whether the replicas it picks reuse their prefix cache (the point of
    prefix-aware routing: a conversation's next turn lands where its prefix is cached)."""
    rate = "[$__rate_interval]"
    return Dashboard(
        uid="llm-platform-gateway",
        title="Inference gateway (agentgateway, llm-d EPP)",
        variables=[("model", "label_values(llm_d_epp_scheduler_attempts_total, target_model_name)")],
        panels=[
            Panel("Requests per route (pool)", "reqps", {"{{route}}": f"sum by (route) (rate(agentgateway_requests_total{{{PROXIES}}}{rate}))"}),
            Panel(
                "Gateway responses by status",
                "reqps",
                {"{{status}}": f"sum by (status) (rate(agentgateway_requests_total{{{PROXIES}}}{rate}))"},
                "401: missing or unknown client key; 429: a client over its rate limit; 404: no route for the body's model.",
            ),
            Panel(
                "Requests per replica (EPP decisions)",
                "reqps",
                {"{{target_model_name}} {{endpoint_name}}": f'sum by (target_model_name, endpoint_name) (rate(llm_d_epp_scheduler_attempts_total{{status="success", {EPP_MODEL}}}{rate}))'},
                "Even shares mean load balancing; uneven shares under a chat workload mean conversations stick to the replica holding their prefix.",
            ),
            Panel(
                "Prefix-cache hit rate per replica",
                "percentunit",
                {"{{pod}}": f"sum by (pod) (rate(vllm:prefix_cache_hits_total{{{MODEL}}}{rate})) / sum by (pod) (rate(vllm:prefix_cache_queries_total{{{MODEL}}}{rate}))"},
                "Share of prompt tokens each replica found in its KV cache (vLLM's prefix cache).",
            ),
            Panel("EPP decision latency", "s", _quantiles("llm_d_epp_scheduler_e2e_duration_seconds", EPP_SERVICE)),
            Panel(
                "EPP scheduling failures",
                "reqps",
                {"{{target_model_name}}": f'sum by (target_model_name) (rate(llm_d_epp_scheduler_attempts_total{{status="failure", {EPP_MODEL}}}{rate}))'},
                "Requests the EPP found no replica for (none ready, or all saturated).",
            ),
            Panel("Ready replicas per pool (EPP view)", "short", {"{{name}}": 'max by (name) (llm_d_epp_ready_endpoints{name=~"$model"})'}),
            Panel("Gateway request latency", "s", _quantiles("agentgateway_request_duration_seconds", PROXIES)),
        ],
    )


def to_grafana(dashboard: Dashboard) -> dict:
    """The dashboard in Grafana's JSON model (panels of type timeseries, laid out two per row)."""
    panels = []
    for index, panel in enumerate(dashboard.panels):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "description": panel.description,
                "datasource": DATASOURCE,
                "gridPos": {"x": (index % COLUMNS) * PANEL_WIDTH, "y": (index // COLUMNS) * PANEL_HEIGHT, "w": PANEL_WIDTH, "h": PANEL_HEIGHT},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                    for n, (legend, expr) in enumerate(panel.queries.items())
                ],
            }
        )
    variables = [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
    variables += [
        {"name": name, "type": "query", "datasource": DATASOURCE, "query": {"query": query, "refId": name}, "multi": True, "includeAll": True, "refresh": 2}
        for name, query in dashboard.variables
    ]
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["llm-platform"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {"list": variables},
        "panels": panels,
    }


def all_dashboards(gateway: bool) -> list[Dashboard]:
    return [vllm_dashboard(), gpu_dashboard()] + ([gateway_dashboard()] if gateway else [])

import json

import pytest

from llm_platform.platform import dashboards
from tests.llm_platform.platform import exported_metrics as metrics
from tests.llm_platform.platform.bases import deployed

BOARDS = {d.uid: dashboards.to_grafana(d) for d in dashboards.all_dashboards(gateway=True)}
QUERIES = [(uid, panel["title"], target["expr"]) for uid, board in BOARDS.items() for panel in board["panels"] for target in panel["targets"]]


@pytest.mark.parametrize("uid, title, expr", QUERIES, ids=[f"{q[0]}:{q[1]}:{i}" for i, q in enumerate(QUERIES)])
def test_every_query_parses_and_uses_exported_metrics_only(uid, title, expr):
    used = metrics.used_in(expr)
    assert used and used <= metrics.exported(), used - metrics.exported()


def test_dashboards_are_json_with_unique_panel_ids_and_no_overlap():
    for board in BOARDS.values():
        assert json.loads(json.dumps(board)) == board
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        cells = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]}
        assert len(cells) == len(board["panels"])


def test_vllm_dashboard_has_every_panel_the_seeds_ask_for():
    titles = {p["title"] for p in BOARDS["llm-platform-vllm"]["panels"]}
    assert {"Request rate", "Success and errors", "End-to-end latency", "Time to first token", "Time per output token (inter-token latency)",
            "Tokens per second", "Running and waiting requests", "KV-cache usage", "Prefix-cache hit rate", "Preemptions"} <= titles
    latency = next(p for p in BOARDS["llm-platform-vllm"]["panels"] if p["title"] == "End-to-end latency")
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p95", "p99"]
    assert all('model_name=~"$model"' in t["expr"] for t in latency["targets"])


def test_gpu_dashboard_covers_dcgm_basics():
    exprs = " ".join(t["expr"] for p in BOARDS["llm-platform-gpu"]["panels"] for t in p["targets"])
    for metric in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_XID_ERRORS"):
        assert metric in exprs


def test_gateway_dashboard_shows_routing_per_pool_and_replica_and_prefix_reuse_per_replica():
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in BOARDS["llm-platform-gateway"]["panels"]}
    assert panels["Requests per route (pool)"] == ['sum by (route) (rate(agentgateway_requests_total{namespace="gateway"}[$__rate_interval]))']
    (per_replica,) = panels["Requests per replica (EPP decisions)"]
    assert per_replica.startswith("sum by (target_model_name, endpoint_name) (rate(llm_d_epp_scheduler_attempts_total{") and 'status="success"' in per_replica
    (hit_rate,) = panels["Prefix-cache hit rate per replica"]
    assert hit_rate.startswith("sum by (pod) (rate(vllm:prefix_cache_hits_total{") and "/ sum by (pod) (rate(vllm:prefix_cache_queries_total{" in hit_rate
    assert all("llm_d_epp_scheduler_e2e_duration_seconds_bucket" in e for e in panels["EPP decision latency"])


def test_the_gateway_dashboard_ships_only_with_a_gateway():
    assert "llm-platform-gateway" not in {d.uid for d in dashboards.all_dashboards(gateway=False)}
    uids = {r.inputs["metadata"]["name"] for r in deployed("gke-staging").of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"].startswith("dashboard-")}
    assert "dashboard-llm-platform-gateway" in uids

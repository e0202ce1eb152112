import json

import pytest

from llm_platform.platform import dashboards
from tests.llm_platform.platform import exported_metrics as metrics

BOARDS = {d.uid: dashboards.to_grafana(d) for d in dashboards.all_dashboards()}
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

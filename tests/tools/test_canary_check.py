"""The canary check (`make canary-check`): its queries (valid PromQL on the pinned exporters' metrics), and
whole runs against a stand-in Prometheus HTTP API on 127.0.0.1: a good canary, a bad one, one without data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llm_platform.config.models import CanaryCheck
from tests.llm_platform.platform import exported_metrics as metrics
from tests.tools.prometheus_stand_in import PrometheusStandIn
from tools import canary_check
from tools.canary_check import Figures, decide, queries

ROOT = Path(__file__).resolve().parents[2]
MODEL = "llama-3-1-8b-instruct"
CHECK = CanaryCheck()
STABLE = Figures(requests=9000, error_rate=0.002, ttft_p95=0.40, kv_cache=0.55)
GOOD = Figures(requests=480, error_rate=0.0, ttft_p95=0.42, kv_cache=0.31)


def answers(stable: Figures, canary: Figures | None) -> dict[str, float | None]:
    """What the stand-in answers: each figure's query for the stable pods and, given, the canary's."""
    values = {queries(MODEL, CHECK.window_minutes)[name]: getattr(stable, name) for name in ("requests", "error_rate", "ttft_p95", "kv_cache")}
    if canary is not None:
        values |= {queries(f"{MODEL}-canary", CHECK.window_minutes)[name]: getattr(canary, name) for name in ("requests", "error_rate", "ttft_p95", "kv_cache")}
    return values


@pytest.fixture
def production_with_canary(tmp_path) -> Path:
    config = yaml.safe_load((ROOT / "Pulumi.production.yaml").read_text())
    config["config"]["llm-platform:models"][0]["canary"] = {"revision": "1" * 40, "poolGroup": "a10g-burst"}
    (tmp_path / "Pulumi.production.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def run(root: Path, prometheus: PrometheusStandIn, tmp_path: Path) -> tuple[int, str, str]:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    environ = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    status = canary_check.main(["--stack", "production", "--model", MODEL, "--prometheus", prometheus.url, "--root", str(root)], environ)
    return status, summary.read_text() if summary.exists() else "", output.read_text() if output.exists() else ""


# -- the queries ---------------------------------------------------------------------------------------------


def test_every_query_parses_and_reads_only_exported_metrics_of_its_pods():
    for service in (MODEL, f"{MODEL}-canary"):
        for name, promql in queries(service, 30).items():
            used = metrics.used_in(promql)
            assert used and used <= metrics.exported(), (name, promql)
            assert f'service="{service}"' in promql and '[30m]' in promql


# -- decisions -----------------------------------------------------------------------------------------------


def test_a_canary_within_every_limit_is_promoted():
    result = decide(GOOD, STABLE, CHECK)
    assert result.decision == "promote" and [row.verdict for row in result.rows] == ["ok"] * 4


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"error_rate": 0.03}, "error rate 3.00 % above 1 % and the stable pods' 0.20 %"),
        ({"ttft_p95": 0.49}, "TTFT p95 0.490 s more than 20 % above the stable pods' 0.400 s"),
        ({"kv_cache": 0.97}, "KV cache averaging 97.00 %, above 95 %"),
        # Too few requests to promote, but an error rate this high is already hurting users.
        ({"error_rate": 0.5, "requests": 20}, "error rate 50.00 %"),
    ],
)
def test_a_regression_rolls_back(change, reason):
    result = decide(Figures(**{**GOOD.__dict__, **change}), STABLE, CHECK)
    assert result.decision == "rollback" and any(reason in r for r in result.reasons), result.reasons


def test_errors_the_stable_pods_share_are_not_the_canarys_fault():
    stable = Figures(**{**STABLE.__dict__, "error_rate": 0.05})
    assert decide(Figures(**{**GOOD.__dict__, "error_rate": 0.03}), stable, CHECK).decision == "promote"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"requests": 40}, "the canary answered 40 requests in 30 min, fewer than 100"),
        ({"ttft_p95": None}, "no TTFT p95 for the canary"),
        ({"kv_cache": None}, "no KV-cache usage for the canary"),
    ],
)
def test_too_little_evidence_holds(change, reason):
    result = decide(Figures(**{**GOOD.__dict__, **change}), STABLE, CHECK)
    assert result.decision == "hold" and reason in result.reasons


# -- the command against a stand-in Prometheus --------------------------------------------------------------


def test_a_good_canary_is_promoted_and_the_summary_says_so(production_with_canary, tmp_path, capsys):
    with PrometheusStandIn(answers(STABLE, GOOD)) as prometheus:
        status, summary, output = run(production_with_canary, prometheus, tmp_path)
    assert status == 0 and output == "decision=promote\n"
    assert summary.startswith(f"### Canary of {MODEL}: promote") and "| TTFT p95 | 0.420 s | 0.400 s | <= 0.480 s | ok |" in summary
    assert capsys.readouterr().out == summary
    # Both sets of pods were asked for, by their Services.
    assert {q for q in prometheus.queries} == set(answers(STABLE, GOOD))


def test_a_bad_canary_is_rolled_back(production_with_canary, tmp_path):
    bad = Figures(requests=450, error_rate=0.08, ttft_p95=1.9, kv_cache=0.99)
    with PrometheusStandIn(answers(STABLE, bad)) as prometheus:
        status, summary, output = run(production_with_canary, prometheus, tmp_path)
    assert status == 1 and output == "decision=rollback\n"
    assert summary.count("ROLL BACK") == 3


def test_a_canary_without_data_is_held(production_with_canary, tmp_path):
    # The canary's pods are not scraped yet: Prometheus has nothing for its Service (and NaN for 0/0).
    values = answers(STABLE, None) | {queries(f"{MODEL}-canary", 30)["error_rate"]: None}
    with PrometheusStandIn(values) as prometheus:
        status, summary, output = run(production_with_canary, prometheus, tmp_path)
    assert status == 3 and output == "decision=hold\n"
    assert "no error rate for the canary" in summary and "the canary answered 0 requests" in summary


def test_no_decision_without_prometheus_or_without_a_canary(production_with_canary, tmp_path, capsys):
    with PrometheusStandIn({}) as prometheus:
        url = prometheus.url
    # The stand-in is gone: nothing answers on its port.
    assert canary_check.main(["--stack", "production", "--model", MODEL, "--prometheus", url, "--root", str(production_with_canary)], {}) == 2
    assert "did not answer" in capsys.readouterr().err
    with PrometheusStandIn({}) as prometheus:
        assert canary_check.main(["--stack", "production", "--model", MODEL, "--prometheus", prometheus.url, "--root", str(ROOT)], {}) == 2
    assert "runs no canary of it (models with a canary: none)" in capsys.readouterr().err

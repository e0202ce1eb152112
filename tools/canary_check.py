"""Judge a model's production canary against its stable pods from Prometheus: promote, hold or roll back.

    make canary-check STACK=production MODEL=llama-3-1-8b-instruct PROMETHEUS=http://127.0.0.1:9090
    python -m tools.canary_check --stack production --model NAME --prometheus URL

Over the canary's `check.windowMinutes` (llm_platform/config/models.py `CanaryCheck`), for the canary's pods
and the stable ones (floor and burst) apart:

- error rate: the share of API requests (`http_requests_total`, handler `/v1/...`) answered with a 5xx;
- TTFT p95: `histogram_quantile(0.95, ...)` of `vllm:time_to_first_token_seconds`;
- KV-cache pressure: the highest per-pod average of `vllm:kv_cache_usage_perc` (0-1);
- requests the canary answered (`vllm:request_success_total`), which must reach `check.minRequests`.

Metric names are the pinned vLLM's (v0.31.0, tests/llm_platform/platform/exported_metrics.yaml). vLLM labels
both with the same `model_name` (the canary answers to its model's name); what tells them apart is the
`service` label Prometheus Operator gives every target of a ServiceMonitor (the Service's name,
prometheus-operator pkg/prometheus/promcfg.go): `<model>` for the stable pods, `<model>-canary` for the canary.

Roll back when the canary errs above `maxErrorRatePercent` and more than the stable pods, its TTFT p95 is more
than `maxTtftIncreasePercent` above theirs, or its KV cache averages above `maxKvCacheUsagePercent`. Hold
while it has answered too few requests or a figure it needs has no data. Promote otherwise.

The decision and its table go to stdout, to $GITHUB_STEP_SUMMARY (appended, Markdown) and as
`decision=<promote|hold|rollback>` to $GITHUB_OUTPUT when those are set.

Exit status: 0 promote, 1 roll back, 3 hold, 2 bad input or Prometheus unreachable (no decision).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from llm_platform.config.models import CanaryCheck, canary_name
from llm_platform.contract import SERVING_NAMESPACE

PROMOTE, HOLD, ROLLBACK = "promote", "hold", "rollback"
EXIT = {PROMOTE: 0, ROLLBACK: 1, HOLD: 3}


class CheckError(Exception):
    """No decision possible (exit 2)."""


def queries(service: str, window_minutes: int) -> dict[str, str]:
    """The PromQL of each figure for the pods behind `service`."""
    pods = f'namespace="{SERVING_NAMESPACE}", service="{service}"'
    api = f'{pods}, handler=~"/v1/.+"'
    window = f"[{window_minutes}m]"
    return {
        "requests": f"sum(increase(vllm:request_success_total{{{pods}}}{window}))",
        "error_rate": f'sum(rate(http_requests_total{{{api}, status="5xx"}}{window})) / sum(rate(http_requests_total{{{api}}}{window}))',
        "ttft_p95": f"histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{{{pods}}}{window})))",
        "kv_cache": f"max(avg_over_time(vllm:kv_cache_usage_perc{{{pods}}}{window}))",
    }


def query(prometheus: str, promql: str, timeout: float = 30) -> float | None:
    """One instant query's scalar value; None when the result is empty or NaN (no data)."""
    url = f"{prometheus.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise CheckError(f"Prometheus at {prometheus} did not answer {promql!r}: {error}") from None
    if body.get("status") != "success":
        raise CheckError(f"Prometheus refused {promql!r}: {body.get('errorType')}: {body.get('error')}")
    result = body["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) or math.isinf(value) else value


@dataclass(frozen=True)
class Figures:
    requests: float | None
    error_rate: float | None
    ttft_p95: float | None
    kv_cache: float | None


def measure(prometheus: str, service: str, window_minutes: int) -> Figures:
    return Figures(**{name: query(prometheus, promql) for name, promql in queries(service, window_minutes).items()})


@dataclass(frozen=True)
class Row:
    figure: str
    canary: str
    stable: str
    limit: str
    verdict: str
    """ok, ROLL BACK or no data."""


@dataclass(frozen=True)
class Decision:
    decision: str
    rows: list[Row]
    reasons: list[str]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def decide(canary: Figures, stable: Figures, check: CanaryCheck) -> Decision:
    rows, rollback, hold = [], [], []
    requests = canary.requests
    enough = requests is not None and requests >= check.min_requests
    rows.append(Row("requests answered", "-" if requests is None else f"{requests:.0f}", "-", f">= {check.min_requests}", "ok" if enough else "too few"))
    if not enough:
        hold.append(f"the canary answered {0 if requests is None else requests:.0f} requests in {check.window_minutes} min, fewer than {check.min_requests}")

    limit = check.max_error_rate_percent / 100
    if canary.error_rate is None:
        verdict = "no data"
        hold.append("no error rate for the canary")
    else:
        worse = canary.error_rate > limit and (stable.error_rate is None or canary.error_rate > stable.error_rate)
        verdict = "ROLL BACK" if worse else "ok"
        if worse:
            rollback.append(f"error rate {_percent(canary.error_rate)} above {check.max_error_rate_percent:g} % and the stable pods' {_percent(stable.error_rate)}")
    rows.append(Row("5xx error rate", _percent(canary.error_rate), _percent(stable.error_rate), f"<= {check.max_error_rate_percent:g} % or <= stable", verdict))

    factor = 1 + check.max_ttft_increase_percent / 100
    if canary.ttft_p95 is None or stable.ttft_p95 is None:
        verdict = "no data"
        hold.append("no TTFT p95 for " + ("the canary" if canary.ttft_p95 is None else "the stable pods"))
    else:
        worse = canary.ttft_p95 > stable.ttft_p95 * factor
        verdict = "ROLL BACK" if worse else "ok"
        if worse:
            rollback.append(f"TTFT p95 {_seconds(canary.ttft_p95)} more than {check.max_ttft_increase_percent:g} % above the stable pods' {_seconds(stable.ttft_p95)}")
    limit_text = "-" if stable.ttft_p95 is None else f"<= {_seconds(stable.ttft_p95 * factor)}"
    rows.append(Row("TTFT p95", _seconds(canary.ttft_p95), _seconds(stable.ttft_p95), limit_text, verdict))

    kv_limit = check.max_kv_cache_usage_percent / 100
    if canary.kv_cache is None:
        verdict = "no data"
        hold.append("no KV-cache usage for the canary")
    else:
        worse = canary.kv_cache > kv_limit
        verdict = "ROLL BACK" if worse else "ok"
        if worse:
            rollback.append(f"KV cache averaging {_percent(canary.kv_cache)}, above {check.max_kv_cache_usage_percent:g} %")
    rows.append(Row("KV-cache usage (max pod avg)", _percent(canary.kv_cache), _percent(stable.kv_cache), f"<= {check.max_kv_cache_usage_percent:g} %", verdict))

    # A measured regression decides even while other figures lack data: traffic is already being hurt.
    if rollback:
        return Decision(ROLLBACK, rows, rollback)
    if hold:
        return Decision(HOLD, rows, hold)
    return Decision(PROMOTE, rows, [f"every figure within its limit over {check.window_minutes} min and {requests:.0f} requests"])


def markdown(model: str, result: Decision) -> str:
    lines = [
        f"### Canary of {model}: {result.decision}",
        "",
        "| figure | canary | stable | limit | verdict |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {r.figure} | {r.canary} | {r.stable} | {r.limit} | {r.verdict} |" for r in result.rows),
        "",
        *(f"- {reason}" for reason in result.reasons),
    ]
    return "\n".join(lines) + "\n"


def _check_of(args: argparse.Namespace) -> CanaryCheck:
    from llm_platform.config import ConfigError, decode_flat_config, parse
    from llm_platform.config.stack_file import StackFileError
    from tools.preview import load_stack_file

    try:
        config = parse(decode_flat_config(load_stack_file(args.stack, args.root)[0]), stack=args.stack)
    except (FileNotFoundError, StackFileError, ConfigError) as error:
        raise CheckError(str(error)) from None
    model = next((m for m in config.models if m.name == args.model), None)
    if model is None or model.canary is None:
        with_canary = [m.name for m in config.models if m.canary]
        raise CheckError(f"--model {args.model!r}: stack {args.stack} runs no canary of it (models with a canary: {with_canary or 'none'})")
    return model.canary.check


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    environ = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m tools.canary_check", description="Judge a production canary from Prometheus.")
    parser.add_argument("--stack", required=True, help="the stack (Pulumi.<stack>.yaml declares the canary and its check)")
    parser.add_argument("--model", required=True, help="the model whose canary is judged")
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090 (a port-forward)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="project directory holding the stack files")
    args = parser.parse_args(argv)
    try:
        check = _check_of(args)
        canary = measure(args.prometheus, canary_name(args.model), check.window_minutes)
        stable = measure(args.prometheus, args.model, check.window_minutes)
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = decide(canary, stable, check)
    text = markdown(args.model, result)
    print(text, end="")
    if environ.get("GITHUB_STEP_SUMMARY"):
        with open(environ["GITHUB_STEP_SUMMARY"], "a") as summary:
            summary.write(text)
    if environ.get("GITHUB_OUTPUT"):
        with open(environ["GITHUB_OUTPUT"], "a") as output:
            output.write(f"decision={result.decision}\n")
    return EXIT[result.decision]


if __name__ == "__main__":
    sys.exit(main())

"""Load-test an OpenAI-compatible chat endpoint (a vLLM model server) with streaming chat completions.

    LLM_API_KEY=... python -m tools.loadtest --url http://localhost:8000 --model NAME \\
        [--requests 500] [--concurrency 50] [--max-tokens 256] [--prompt TEXT] [--timeout 300] \\
        [--max-error-rate 0.0] [--json PATH]

Sends `--requests` streaming chat completions, at most `--concurrency` at a time, and prints a report:
successes, failures by error class, wall time, request throughput, output tokens/s, time to first token
(TTFT) and end-to-end latency percentiles, and mean tokens/s per request. `--json PATH` writes the same
numbers as JSON.

`--url` is the server's base URL; `/v1` is appended when missing. The API key is read from the
`LLM_API_KEY` environment variable only, so it never lands in shell history or process listings, and
it is never printed. Without it a placeholder key is sent, which a vLLM server started without
`--api-key` accepts.

Exit status: 0 when at least one request succeeded and the failed fraction is at most
`--max-error-rate` (default 0.0: any failure fails the run), 1 otherwise, 2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from openai import AsyncOpenAI

API_KEY_ENV = "LLM_API_KEY"
# vLLM's documented placeholder for a server without `--api-key`; the SDK refuses an empty key.
PLACEHOLDER_API_KEY = "EMPTY"
DEFAULT_PROMPT = "Explain in a few paragraphs how a large language model generates text, one token at a time."


@dataclass(frozen=True)
class LoadTestConfig:
    base_url: str
    model: str
    requests: int
    concurrency: int
    max_tokens: int
    prompt: str
    timeout: float


@dataclass(frozen=True)
class RequestResult:
    """One request as the client saw it. Times are in seconds from when the request was sent."""

    latency: float
    # Until the first chunk with non-empty delta content; None when no content arrived.
    ttft: float | None = None
    completion_tokens: int = 0
    # True when the server sent no usage chunk, so completion_tokens counts content chunks instead.
    tokens_estimated: bool = False
    # Exception class name (e.g. "InternalServerError") when the request failed.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p90: float
    p99: float


@dataclass(frozen=True)
class Report:
    """Statistics of a run. Latency, TTFT and token figures cover successful requests only."""

    requests: int
    succeeded: int
    failed: int
    error_rate: float
    errors: dict[str, int]  # error class name -> count, most frequent first
    wall_seconds: float
    # Successful requests per second: fast failures must not look like throughput.
    requests_per_second: float
    completion_tokens: int
    estimated_token_counts: int  # successful requests counted from content chunks (no usage sent)
    output_tokens_per_second: float  # completion_tokens / wall_seconds
    # Mean over requests of completion tokens / end-to-end latency: the speed one user sees.
    mean_tokens_per_second_per_request: float | None
    ttft_seconds: Percentiles | None
    latency_seconds: Percentiles | None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of values.

    Linear interpolation between the two nearest ranks, rank = (n - 1) * q / 100 on the sorted
    values: numpy's default method and `statistics.quantiles(method="inclusive")`, so figures can be
    checked against either.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    lower, upper = math.floor(rank), math.ceil(rank)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (rank - lower)


def _percentiles(values: Sequence[float]) -> Percentiles | None:
    if not values:
        return None
    return Percentiles(p50=percentile(values, 50), p90=percentile(values, 90), p99=percentile(values, 99))


def summarise(results: Sequence[RequestResult], wall_seconds: float) -> Report:
    if not results:
        raise ValueError("no results to summarise")
    if wall_seconds <= 0:
        raise ValueError(f"wall time must be positive, got {wall_seconds}")
    succeeded = [r for r in results if r.ok]
    errors = Counter(r.error for r in results if r.error is not None)
    completion_tokens = sum(r.completion_tokens for r in succeeded)
    per_request_speeds = [r.completion_tokens / r.latency for r in succeeded if r.latency > 0]
    return Report(
        requests=len(results),
        succeeded=len(succeeded),
        failed=len(results) - len(succeeded),
        error_rate=(len(results) - len(succeeded)) / len(results),
        errors=dict(errors.most_common()),
        wall_seconds=wall_seconds,
        requests_per_second=len(succeeded) / wall_seconds,
        completion_tokens=completion_tokens,
        estimated_token_counts=sum(1 for r in succeeded if r.tokens_estimated),
        output_tokens_per_second=completion_tokens / wall_seconds,
        mean_tokens_per_second_per_request=(
            sum(per_request_speeds) / len(per_request_speeds) if per_request_speeds else None
        ),
        ttft_seconds=_percentiles([r.ttft for r in succeeded if r.ttft is not None]),
        latency_seconds=_percentiles([r.latency for r in succeeded]),
    )


def exit_status(report: Report, max_error_rate: float) -> int:
    return 0 if report.succeeded > 0 and report.error_rate <= max_error_rate else 1


def api_base_url(url: str) -> str:
    """The OpenAI client's base URL for a server URL: the server's `/v1` API root."""
    base = url.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


def format_report(report: Report) -> str:
    def row(label: str, value: str) -> str:
        return f"  {label:<24}{value}"

    def seconds_row(label: str, values: Percentiles | None) -> str:
        if values is None:
            return f"  {label:<14}" + "".join(f"{'-':>10}" for _ in range(3))
        return f"  {label:<14}{values.p50:>10.3f}{values.p90:>10.3f}{values.p99:>10.3f}"

    failures = ", ".join(f"{name} x{count}" for name, count in report.errors.items())
    mean_speed = report.mean_tokens_per_second_per_request
    tokens = f"{report.completion_tokens}"
    if report.estimated_token_counts:
        tokens += f"  (estimated from content chunks for {report.estimated_token_counts} requests: no usage sent)"
    lines = [
        row("requests", f"{report.requests}"),
        row("succeeded", f"{report.succeeded}"),
        row("failed", f"{report.failed}" + (f"  ({failures})" if failures else "")),
        row("wall time", f"{report.wall_seconds:.3f} s"),
        row("request throughput", f"{report.requests_per_second:.3f} req/s"),
        row("completion tokens", tokens),
        row("output tokens/s", f"{report.output_tokens_per_second:.3f}"),
        row("mean tokens/s/request", "-" if mean_speed is None else f"{mean_speed:.3f}"),
        "",
        f"  {'seconds':<14}{'p50':>10}{'p90':>10}{'p99':>10}",
        seconds_row("TTFT", report.ttft_seconds),
        seconds_row("end-to-end", report.latency_seconds),
    ]
    return "\n".join(lines)


async def _one_request(client: AsyncOpenAI, config: LoadTestConfig, slots: asyncio.Semaphore) -> RequestResult:
    async with slots:
        # The clock starts once a slot is free: waiting for one is this tool's queue, not the server's.
        start = time.perf_counter()
        ttft: float | None = None
        usage_tokens: int | None = None
        content_chunks = 0
        try:
            async with asyncio.timeout(config.timeout):
                stream = await client.chat.completions.create(
                    model=config.model,
                    messages=[{"role": "user", "content": config.prompt}],
                    max_tokens=config.max_tokens,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async with stream:
                    async for chunk in stream:
                        if chunk.usage is not None:
                            usage_tokens = chunk.usage.completion_tokens
                        # Servers open with a role-only chunk; the first token is the first real content.
                        if any(choice.delta.content for choice in chunk.choices):
                            content_chunks += 1
                            if ttft is None:
                                ttft = time.perf_counter() - start
        # One bad response must not abort a run of hundreds: every failure is counted by its class.
        except Exception as error:
            return RequestResult(latency=time.perf_counter() - start, ttft=ttft, error=type(error).__name__)
        latency = time.perf_counter() - start
        if usage_tokens is None:
            return RequestResult(latency=latency, ttft=ttft, completion_tokens=content_chunks, tokens_estimated=True)
        return RequestResult(latency=latency, ttft=ttft, completion_tokens=usage_tokens)


async def run_load(config: LoadTestConfig, api_key: str) -> tuple[list[RequestResult], float]:
    """Send every request and return the results with the run's wall time in seconds."""
    slots = asyncio.Semaphore(config.concurrency)
    # No SDK retries: each request is sent exactly once, so server errors are counted, not hidden
    # behind retried (and slower) successes. No SDK timeout: httpx times single reads, which a
    # trickling stream can pass forever; `_one_request` bounds the whole request instead.
    async with AsyncOpenAI(base_url=config.base_url, api_key=api_key, max_retries=0, timeout=None) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(_one_request(client, config, slots) for _ in range(config.requests)))
        wall_seconds = time.perf_counter() - start
    return list(results), wall_seconds


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be within 0-1, got {text}")
    return value


def _server_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL, got {text!r}")
    return text


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.loadtest",
        description=f"Load-test an OpenAI-compatible chat endpoint. The API key is read from ${API_KEY_ENV}.",
    )
    parser.add_argument("--url", required=True, type=_server_url, help="server base URL, e.g. http://localhost:8000")
    parser.add_argument("--model", required=True, help="model name the server serves")
    parser.add_argument("--requests", type=_positive_int, default=500, help="requests to send (default 500)")
    parser.add_argument("--concurrency", type=_positive_int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--max-tokens", type=_positive_int, default=256, help="max tokens per completion (default 256)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="user message sent with every request")
    parser.add_argument(
        "--timeout", type=_positive_float, default=300.0, help="seconds allowed per request, whole stream (default 300)"
    )
    parser.add_argument(
        "--max-error-rate",
        type=_fraction,
        default=0.0,
        help="fraction of failed requests tolerated before exiting 1 (default 0.0)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON to PATH")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = LoadTestConfig(
        base_url=api_base_url(args.url),
        model=args.model,
        requests=args.requests,
        concurrency=args.concurrency,
        max_tokens=args.max_tokens,
        prompt=args.prompt,
        timeout=args.timeout,
    )
    api_key = os.environ.get(API_KEY_ENV, "")
    print(
        f"Load test: {config.requests} streaming chat completions to {config.base_url}, model {config.model}, "
        f"concurrency {config.concurrency}, max tokens {config.max_tokens}"
    )
    if not api_key:
        print(f"  ${API_KEY_ENV} is not set: sending a placeholder API key")

    results, wall_seconds = asyncio.run(run_load(config, api_key or PLACEHOLDER_API_KEY))
    report = summarise(results, wall_seconds)
    status = exit_status(report, args.max_error_rate)

    print(format_report(report))
    if status:
        print(
            f"FAILED: {report.failed} of {report.requests} requests failed "
            f"(error rate {report.error_rate:.3f}, allowed {args.max_error_rate:.3f})"
        )
    if args.json:
        document = {
            "config": asdict(config),
            "api_key_from_env": bool(api_key),
            "max_error_rate": args.max_error_rate,
            "exit_status": status,
            "report": asdict(report),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"  JSON report: {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())

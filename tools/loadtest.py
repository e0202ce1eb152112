"""Load-test an OpenAI-compatible chat endpoint (a vLLM model server, or the inference gateway in front of
every model) with streaming chat completions.

    LLM_API_KEY=... python -m tools.loadtest --url https://llm.example.com --model NAME \\
        [--workload single|chat] [--requests 500] [--conversations 50 --turns 5] \\
        [--concurrency 50 | --rate 10] [--max-tokens 256] [--prompt TEXT] [--shared-prefix-words 400] \\
        [--timeout 300] [--max-error-rate 0.0] [--json PATH]

Workloads:
- `single` (default): `--requests` independent one-turn chats with the same `--prompt`.
- `chat`: `--conversations` chats of `--turns` turns each, as a chatbot's grow: every conversation opens
  with the same system prompt (`--shared-prefix-words` words), and each turn sends the whole history so
  far (the replies as received) plus a new question. A turn waits for its conversation's previous reply,
  so the prompt prefixes repeat turn after turn: the workload prefix-aware routing is for.

Load:
- fixed concurrency (default): at most `--concurrency` requests in flight;
- fixed request rate: `--rate R` starts a request every 1/R seconds whatever is in flight (open loop).
  A chat turn not yet ready (its previous reply still streaming) starts as soon as it is, late; the
  report gives the rate achieved.

The report: successes, failures by error class, wall time, throughput, output tokens/s, and p50/p90/p99
of time to first token (TTFT), time per output token (TPOT: a request's time after its first token
divided by its remaining tokens), inter-token latency (ITL: every gap between streamed content chunks)
and end-to-end latency. A stream that ends without its final `data: [DONE]` event is a failure
(`IncompleteStream`), whatever it delivered. `--json PATH` writes the same numbers as JSON.

`--url` is the server's (or the gateway's) base URL; `/v1` is appended when missing. The API key, sent
as `Authorization: Bearer <key>` (a gateway client's key: `pulumi stack output clientKeys
--show-secrets`), is read from the `LLM_API_KEY` environment variable only, so it never lands in shell
history or process listings, and it is never printed. Without it a placeholder key is sent, which a vLLM
server started without `--api-key` accepts.

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


DONE_EVENT = "[DONE]"
SHARED_PREFIX_WORDS = 400
# The chatbot's standing instructions, repeated to the length asked for: one system prompt every
# conversation shares, the prefix a replica's KV cache can keep for all of them.
_INSTRUCTIONS = (
    "You are the support assistant of an online store. Answer politely and precisely, cite the order number "
    "when there is one, never invent a policy, and ask a clarifying question when the request is ambiguous."
).split()
FOLLOW_UPS = ("Can you explain that in more detail?", "What would you recommend doing next?", "Summarise the answer in two sentences.")


@dataclass(frozen=True)
class LoadTestConfig:
    base_url: str
    model: str
    requests: int
    """Requests in the run: `--requests` for `single`, conversations x turns for `chat`."""
    concurrency: int | None
    """Requests in flight at most (fixed-concurrency mode); None with a rate."""
    max_tokens: int
    prompt: str
    timeout: float
    workload: str = "single"
    rate: float | None = None
    """Requests started per second (fixed-rate mode)."""
    conversations: int = 0
    turns: int = 1
    shared_prefix_words: int = SHARED_PREFIX_WORDS


def system_prompt(words: int) -> str:
    return " ".join(_INSTRUCTIONS[i % len(_INSTRUCTIONS)] for i in range(words))


class Conversation:
    """One chat's messages so far; each turn adds a question and, once it streamed, the reply."""

    def __init__(self, index: int, config: LoadTestConfig) -> None:
        self.turns_left = config.turns if config.workload == "chat" else 1
        if config.workload == "chat":
            self.messages = [
                {"role": "system", "content": system_prompt(config.shared_prefix_words)},
                {"role": "user", "content": f"Conversation {index}: {config.prompt}"},
            ]
        else:
            self.messages = [{"role": "user", "content": config.prompt}]

    def answered(self, reply: str) -> bool:
        """Record a reply; whether the conversation has another turn (its next question added)."""
        self.turns_left -= 1
        if self.turns_left <= 0:
            return False
        asked = sum(1 for m in self.messages if m["role"] == "user")
        self.messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": FOLLOW_UPS[(asked - 1) % len(FOLLOW_UPS)]}]
        return True


class IncompleteStream(Exception):
    """The stream ended without its final `data: [DONE]` event: the reply may be cut short."""


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
    # Gaps between consecutive content chunks, in seconds.
    inter_token: tuple[float, ...] = ()
    # Seconds the start came after its scheduled time (fixed-rate mode: a chat turn waiting for its reply).
    start_lag: float = 0.0

    @property
    def time_per_output_token(self) -> float | None:
        """Time after the first token over the tokens after it (needs two tokens)."""
        if self.ttft is None or self.completion_tokens < 2:
            return None
        return (self.latency - self.ttft) / (self.completion_tokens - 1)

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
    tpot_seconds: Percentiles | None
    itl_seconds: Percentiles | None
    latency_seconds: Percentiles | None
    # Requests started per second, over the time from the first start to the last.
    start_rate: float | None = None


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


def summarise(results: Sequence[RequestResult], wall_seconds: float, start_rate: float | None = None) -> Report:
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
        tpot_seconds=_percentiles([t for r in succeeded if (t := r.time_per_output_token) is not None]),
        itl_seconds=_percentiles([gap for r in succeeded for gap in r.inter_token]),
        latency_seconds=_percentiles([r.latency for r in succeeded]),
        start_rate=start_rate,
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
        *([row("start rate achieved", f"{report.start_rate:.3f} req/s")] if report.start_rate is not None else []),
        row("completion tokens", tokens),
        row("output tokens/s", f"{report.output_tokens_per_second:.3f}"),
        row("mean tokens/s/request", "-" if mean_speed is None else f"{mean_speed:.3f}"),
        "",
        f"  {'seconds':<14}{'p50':>10}{'p90':>10}{'p99':>10}",
        seconds_row("TTFT", report.ttft_seconds),
        seconds_row("TPOT", report.tpot_seconds),
        seconds_row("ITL", report.itl_seconds),
        seconds_row("end-to-end", report.latency_seconds),
    ]
    return "\n".join(lines)


async def _one_request(client: AsyncOpenAI, config: LoadTestConfig, messages: list[dict], start_lag: float = 0.0) -> tuple[RequestResult, str]:
    """Stream one chat completion; the result and the reply's text. The server's SSE lines are read as
    sent, so that the final `[DONE]` event is seen (the SDK's stream iterator ends silently without it)."""
    start = time.perf_counter()
    ttft: float | None = None
    usage_tokens: int | None = None
    arrivals: list[float] = []
    reply: list[str] = []
    try:
        async with asyncio.timeout(config.timeout):
            request = client.chat.completions.with_streaming_response.create(
                model=config.model,
                messages=messages,
                max_tokens=config.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            done = False
            async with request as response:
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line.removeprefix("data:").strip()
                    if data == DONE_EVENT:
                        done = True
                        break
                    chunk = json.loads(data)
                    if chunk.get("usage"):
                        usage_tokens = chunk["usage"].get("completion_tokens")
                    # Servers open with a role-only chunk; the first token is the first real content.
                    content = "".join((choice.get("delta") or {}).get("content") or "" for choice in chunk.get("choices") or [])
                    if content:
                        arrivals.append(time.perf_counter() - start)
                        reply.append(content)
            if not done:
                raise IncompleteStream()
    # One bad response must not abort a run of hundreds: every failure is counted by its class.
    except Exception as error:
        ttft = arrivals[0] if arrivals else None
        return RequestResult(latency=time.perf_counter() - start, ttft=ttft, error=type(error).__name__, start_lag=start_lag), ""
    latency = time.perf_counter() - start
    ttft = arrivals[0] if arrivals else None
    gaps = tuple(b - a for a, b in zip(arrivals, arrivals[1:]))
    if usage_tokens is None:
        result = RequestResult(latency=latency, ttft=ttft, completion_tokens=len(arrivals), tokens_estimated=True, inter_token=gaps, start_lag=start_lag)
    else:
        result = RequestResult(latency=latency, ttft=ttft, completion_tokens=usage_tokens, inter_token=gaps, start_lag=start_lag)
    return result, "".join(reply)


async def run_load(config: LoadTestConfig, api_key: str) -> tuple[list[RequestResult], float, float | None]:
    """Send every request and return the results, the run's wall time and, at a fixed rate, the start
    rate achieved. Conversations whose next turn may be sent wait in `ready`; a turn goes back in once
    its reply has streamed."""
    conversations = [Conversation(i, config) for i in range(config.conversations if config.workload == "chat" else config.requests)]
    ready: asyncio.Queue[Conversation] = asyncio.Queue()
    for conversation in conversations:
        ready.put_nowait(conversation)
    results: list[RequestResult] = []
    starts: list[float] = []

    async def turn(client: AsyncOpenAI, conversation: Conversation, lag: float = 0.0) -> None:
        starts.append(time.perf_counter())
        result, reply = await _one_request(client, config, list(conversation.messages), lag)
        results.append(result)
        # A failed turn ends its conversation: the next one would build on a reply that never came.
        if result.ok and conversation.answered(reply):
            ready.put_nowait(conversation)
        elif not result.ok:
            nonlocal unsent
            unsent -= conversation.turns_left - 1
            conversation.turns_left = 0

    unsent = config.requests

    # No SDK retries: each request is sent exactly once, so server errors are counted, not hidden
    # behind retried (and slower) successes. No SDK timeout: httpx times single reads, which a
    # trickling stream can pass forever; `_one_request` bounds the whole request instead.
    async with AsyncOpenAI(base_url=config.base_url, api_key=api_key, max_retries=0, timeout=None) as client:
        start = time.perf_counter()
        if config.rate is None:

            async def worker() -> None:
                nonlocal unsent
                # The clock of a request starts once a worker takes it: waiting for one is this tool's queue.
                while unsent > 0:
                    unsent -= 1
                    await turn(client, await ready.get())

            await asyncio.gather(*(worker() for _ in range(config.concurrency or 1)))
        else:
            tasks: list[asyncio.Task] = []
            sent = 0
            while sent < unsent:
                scheduled = start + sent / config.rate
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                get = asyncio.ensure_future(ready.get())
                # Wait for a ready turn; stop when the turns left all belonged to conversations that failed.
                while not get.done() and sent < unsent:
                    await asyncio.wait([get, *(t for t in tasks if not t.done())], return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    break
                sent += 1
                tasks.append(asyncio.create_task(turn(client, get.result(), max(0.0, time.perf_counter() - scheduled))))
            await asyncio.gather(*tasks)
        wall_seconds = time.perf_counter() - start
    start_rate = (len(starts) - 1) / (max(starts) - min(starts)) if config.rate is not None and len(starts) > 1 and max(starts) > min(starts) else None
    return results, wall_seconds, start_rate


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
    parser.add_argument("--url", required=True, type=_server_url, help="server or gateway base URL, e.g. https://llm.example.com")
    parser.add_argument("--model", required=True, help="model name the server serves (the gateway routes on it)")
    parser.add_argument("--workload", choices=("single", "chat"), default="single", help="independent one-turn chats, or conversations growing turn by turn")
    parser.add_argument("--requests", type=_positive_int, default=500, help="requests to send, single workload (default 500)")
    parser.add_argument("--conversations", type=_positive_int, default=50, help="conversations, chat workload (default 50)")
    parser.add_argument("--turns", type=_positive_int, default=5, help="turns per conversation, chat workload (default 5)")
    parser.add_argument(
        "--shared-prefix-words", type=_positive_int, default=SHARED_PREFIX_WORDS, help=f"words of the system prompt every conversation shares (default {SHARED_PREFIX_WORDS})"
    )
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=_positive_int, help="requests in flight (default 50)")
    load.add_argument("--rate", type=_positive_float, help="requests started per second, whatever is in flight")
    parser.add_argument("--max-tokens", type=_positive_int, default=256, help="max tokens per completion (default 256)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="user message (the first question of each conversation)")
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


def config_from(args: argparse.Namespace) -> LoadTestConfig:
    chat = args.workload == "chat"
    return LoadTestConfig(
        base_url=api_base_url(args.url),
        model=args.model,
        requests=args.conversations * args.turns if chat else args.requests,
        concurrency=None if args.rate else (args.concurrency or 50),
        max_tokens=args.max_tokens,
        prompt=args.prompt,
        timeout=args.timeout,
        workload=args.workload,
        rate=args.rate,
        conversations=args.conversations if chat else 0,
        turns=args.turns if chat else 1,
        shared_prefix_words=args.shared_prefix_words if chat else 0,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    api_key = os.environ.get(API_KEY_ENV, "")
    load = f"{config.rate:g} req/s" if config.rate else f"concurrency {config.concurrency}"
    shape = f"{config.conversations} conversations x {config.turns} turns" if config.workload == "chat" else "single-turn"
    print(f"Load test: {config.requests} streaming chat completions ({shape}) to {config.base_url}, model {config.model}, {load}, max tokens {config.max_tokens}")
    if not api_key:
        print(f"  ${API_KEY_ENV} is not set: sending a placeholder API key")

    results, wall_seconds, start_rate = asyncio.run(run_load(config, api_key or PLACEHOLDER_API_KEY))
    report = summarise(results, wall_seconds, start_rate)
    status = exit_status(report, args.max_error_rate)

    print(format_report(report))
    if report.requests < config.requests:
        print(f"  {config.requests - report.requests} turns not sent: their conversations failed earlier")
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

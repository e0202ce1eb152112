"""The release gate of one model on a deployed stack: smoke, evaluation and load test through the stack's
gateway against the model's `gates` (llm_platform/config/gates.py), as a table; exit 1 on any miss.

    make gate STACK=staging MODEL=mistral-7b-instruct
    python -m tools.gate --stack staging --model NAME [--url URL] [--host-header HOST] [--json PATH]

The thresholds come from the stack file. The endpoint is `--url`, else $LLM_GATEWAY_URL, else `pulumi stack
output gatewayEndpoint`; the API key is $LLM_API_KEY, else the `gates.client` entry of `pulumi stack output
--show-secrets clientKeys`. The key is never printed. `--host-header` sends the gateway's hostname when the
URL is a tunnel (`kubectl port-forward` to the gateway's Service, as the deploy workflow does).

1. smoke: one streaming chat completion answers with HTTP 200 and text, within `smoke.timeoutSeconds`,
   under the model's name (the `model` of the response). The gateway routes on the body's `model`, so a
   completion is how its health shows: `/health` and `/v1/models` carry no body and match no route.
2. quality: every item of the data set with its system prompt (tools/evaluation.py scores them).
3. performance: the seeds' load test: `performance.requests` streaming completions, `concurrency` at a
   time, the seeds' five support prompts in turn under their system prompt; statistics as tools/loadtest.py
   computes them (this module adds the rotating prompts and the Host header, and imports the rest).

Exit status: 0 every gate passed, 1 a gate missed, 2 bad input (stack, model, no client key or endpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from openai import AsyncOpenAI

from llm_platform.config.gates import GatesConfig
from tools.evaluation import Dataset, load_dataset, missing
from tools.loadtest import API_KEY_ENV, Report, RequestResult, api_base_url, percentile, summarise

ROOT = Path(__file__).resolve().parent.parent

URL_ENV = "LLM_GATEWAY_URL"
# The seeds' load test: its system prompt and its five customer-support prompts, sent in turn.
LOAD_SYSTEM_PROMPT = "당신은 고객 지원 AI입니다."
LOAD_PROMPTS = (
    "배송 상태를 확인하고 싶습니다. 주문번호는 ABC123입니다.",
    "환불 절차에 대해 안내해 주세요.",
    "제품 사용 중 오류가 발생했습니다. 화면에 에러 코드 E-101이 표시됩니다.",
    "멤버십 등급 혜택이 궁금합니다.",
    "계정 비밀번호를 변경하고 싶습니다.",
)


class GateError(Exception):
    """Bad input: the run cannot start (exit 2)."""


@dataclass(frozen=True)
class Answer:
    text: str
    served_as: str | None
    """The `model` the server's response names."""
    result: RequestResult


@dataclass(frozen=True)
class Check:
    gate: str
    measured: str
    threshold: str
    passed: bool


@dataclass
class GateRun:
    checks: list[Check] = field(default_factory=list)
    failed_items: dict[str, list[str]] = field(default_factory=dict)
    """Evaluation items that failed, with why."""
    load: Report | None = None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)


@dataclass(frozen=True)
class Target:
    base_url: str
    api_key: str
    model: str
    host_header: str | None = None

    def client(self) -> AsyncOpenAI:
        # No retries: a failure is measured, not hidden. No SDK timeout: `chat` bounds whole requests.
        headers = {"Host": self.host_header} if self.host_header else None
        return AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=None, default_headers=headers)


async def chat(client: AsyncOpenAI, model: str, messages: list[dict], max_tokens: int, timeout: float) -> Answer:
    """One streaming chat completion, timed as tools/loadtest.py times its requests."""
    start = time.perf_counter()
    ttft = None
    usage = None
    served_as = None
    parts: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            stream = await client.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens, stream=True, stream_options={"include_usage": True}, temperature=0
            )
            async with stream:
                async for chunk in stream:
                    served_as = served_as or chunk.model
                    if chunk.usage is not None:
                        usage = chunk.usage.completion_tokens
                    text = "".join(choice.delta.content or "" for choice in chunk.choices)
                    if text:
                        parts.append(text)
                        ttft = ttft if ttft is not None else time.perf_counter() - start
    # Every failure is a measurement (counted by its class), never an abort of the run.
    except Exception as error:
        return Answer("".join(parts), served_as, RequestResult(latency=time.perf_counter() - start, ttft=ttft, error=type(error).__name__))
    latency = time.perf_counter() - start
    tokens, estimated = (usage, False) if usage is not None else (len(parts), True)
    return Answer("".join(parts), served_as, RequestResult(latency=latency, ttft=ttft, completion_tokens=tokens, tokens_estimated=estimated))


async def smoke(target: Target, gates: GatesConfig, run: GateRun) -> bool:
    config = gates.smoke
    async with target.client() as client:
        answer = await chat(client, target.model, [{"role": "user", "content": config.prompt}], config.max_tokens, config.timeout_seconds)
    ok = answer.result.ok and bool(answer.text.strip())
    measured = f"{answer.result.latency:.2f} s" if ok else (answer.result.error or "no text")
    run.checks.append(Check("smoke: completion", measured, f"text within {config.timeout_seconds:g} s", ok))
    run.checks.append(Check("smoke: served name", answer.served_as or "-", target.model, answer.served_as == target.model))
    return ok


async def evaluate(target: Target, gates: GatesConfig, dataset: Dataset, run: GateRun) -> None:
    config = gates.quality
    slots = asyncio.Semaphore(config.concurrency)

    async def ask(client: AsyncOpenAI, question: str) -> Answer:
        async with slots:
            messages = [{"role": "system", "content": dataset.system}, {"role": "user", "content": question}]
            return await chat(client, target.model, messages, config.max_tokens, gates.smoke.timeout_seconds * 5)

    async with target.client() as client:
        answers = await asyncio.gather(*(ask(client, item.question) for item in dataset.items))
    for item, answer in zip(dataset.items, answers):
        problems = [f"request failed: {answer.result.error}"] if not answer.result.ok else missing(item, answer.text)
        if problems:
            run.failed_items[item.id] = problems
    passed = len(dataset.items) - len(run.failed_items)
    score = passed / len(dataset.items)
    run.checks.append(Check(f"quality: {dataset.name}", f"{score:.2f} ({passed}/{len(dataset.items)})", f">= {config.min_score:g}", score >= config.min_score))


async def load(target: Target, gates: GatesConfig, run: GateRun) -> None:
    config = gates.performance
    slots = asyncio.Semaphore(config.concurrency)

    async def one(client: AsyncOpenAI, index: int) -> RequestResult:
        async with slots:
            messages = [{"role": "system", "content": LOAD_SYSTEM_PROMPT}, {"role": "user", "content": LOAD_PROMPTS[index % len(LOAD_PROMPTS)]}]
            # The seeds give a request 300 s (the gateway's route timeout too).
            return (await chat(client, target.model, messages, config.max_tokens, 300)).result

    async with target.client() as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one(client, index) for index in range(config.requests)))
        report = summarise(results, time.perf_counter() - start)
    run.load = report
    # The report's percentiles are p50/p90/p99; the gate's TTFT bound is a p95, from the same results.
    ttfts = [r.ttft for r in results if r.ok and r.ttft is not None]
    ttft = percentile(ttfts, 95) if ttfts else None
    latency = report.latency_seconds.p99 if report.latency_seconds else None
    speed = report.mean_tokens_per_second_per_request
    run.checks += [
        Check("load: TTFT p95", _seconds(ttft), f"<= {config.ttft_p95_seconds:g} s", ttft is not None and ttft <= config.ttft_p95_seconds),
        Check("load: end-to-end p99", _seconds(latency), f"<= {config.latency_p99_seconds:g} s", latency is not None and latency <= config.latency_p99_seconds),
        Check(
            "load: error rate",
            f"{report.error_rate * 100:.1f} % ({report.failed}/{report.requests})",
            f"<= {config.max_error_rate_percent:g} %",
            report.error_rate * 100 <= config.max_error_rate_percent,
        ),
        Check("load: tokens/s per request", "-" if speed is None else f"{speed:.1f}", f">= {config.min_tokens_per_second:g}", speed is not None and speed >= config.min_tokens_per_second),
    ]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


async def run_gate(target: Target, gates: GatesConfig) -> GateRun:
    """Smoke first: a model that does not answer at all is not evaluated or loaded."""
    run = GateRun()
    if await smoke(target, gates, run):
        await evaluate(target, gates, load_dataset(gates.quality.dataset), run)
        await load(target, gates, run)
    return run


def format_run(model: str, run: GateRun) -> str:
    widths = (32, 22, 22)
    lines = [f"Release gate of {model}", f"  {'gate':<{widths[0]}}{'measured':<{widths[1]}}{'threshold':<{widths[2]}}result"]
    lines += [f"  {c.gate:<{widths[0]}}{c.measured:<{widths[1]}}{c.threshold:<{widths[2]}}{'pass' if c.passed else 'MISS'}" for c in run.checks]
    if run.failed_items:
        lines.append("  failed evaluation items:")
        lines += [f"    {item}: {'; '.join(problems)}" for item, problems in sorted(run.failed_items.items())]
    if run.load and run.load.errors:
        lines.append("  load-test errors: " + ", ".join(f"{name} x{count}" for name, count in run.load.errors.items()))
    lines.append("PASSED" if run.passed else "FAILED: " + ", ".join(c.gate for c in run.checks if not c.passed))
    return "\n".join(lines)


# -- inputs ----------------------------------------------------------------------------------------------


def stack_output(stack: str, name: str, environ: dict[str, str], *, secret: bool = False) -> object:
    """`pulumi stack output <name> --json` of `stack` (the CLI's own login and backend, from `environ`)."""
    command = ["pulumi", "stack", "output", name, "--json", "--stack", stack] + (["--show-secrets"] if secret else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=environ)
    except FileNotFoundError:
        raise GateError(f"the Pulumi CLI is not installed: pass --url and set ${API_KEY_ENV} instead of reading stack output {name}") from None
    if done.returncode != 0:
        # stderr names the stack and output, never a secret value.
        raise GateError(f"pulumi stack output {name} of {stack} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def resolve(args: argparse.Namespace, environ: dict[str, str]) -> tuple[Target, GatesConfig]:
    from llm_platform.config import ConfigError, decode_flat_config, parse
    from llm_platform.config.stack_file import StackFileError
    from tools.preview import load_stack_file

    try:
        config = parse(decode_flat_config(load_stack_file(args.stack, args.root)[0]), stack=args.stack)
    except (FileNotFoundError, StackFileError, ConfigError) as error:
        raise GateError(str(error)) from None
    model = next((m for m in config.models if m.name == args.model), None)
    if model is None:
        raise GateError(f"--model {args.model!r}: stack {args.stack} serves no such model (rule: one of {[m.name for m in config.models]})")
    url = args.url or environ.get(URL_ENV) or str(stack_output(args.stack, "gatewayEndpoint", environ))
    key = environ.get(API_KEY_ENV)
    if not key:
        if model.gates.client is None:
            raise GateError(f"set models[].gates.client of {args.model} in Pulumi.{args.stack}.yaml, or the key in ${API_KEY_ENV}")
        keys = stack_output(args.stack, "clientKeys", environ, secret=True)
        if not isinstance(keys, dict) or model.gates.client not in keys:
            raise GateError(f"stack output clientKeys of {args.stack} has no key for client {model.gates.client}")
        key = keys[model.gates.client]
    return Target(api_base_url(url), key, model.name, args.host_header), model.gates


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gate", description="The release gate of a model on a deployed stack.")
    parser.add_argument("--stack", required=True, help="the stack (Pulumi.<stack>.yaml holds the thresholds)")
    parser.add_argument("--model", required=True, help="the model's name in the stack file")
    parser.add_argument("--url", help=f"the gateway's base URL (default ${URL_ENV}, else pulumi stack output gatewayEndpoint)")
    parser.add_argument("--host-header", help="Host header to send (the gateway's hostname, when --url is a tunnel)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the checks as JSON to PATH")
    parser.add_argument("--root", type=Path, default=ROOT, help="project directory holding the stack files")
    args = parser.parse_args(argv)
    try:
        target, gates = resolve(args, dict(os.environ) if environ is None else environ)
    except GateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Gate: {target.model} at {target.base_url} (smoke, {gates.quality.dataset}, {gates.performance.requests} requests at {gates.performance.concurrency})")
    run = asyncio.run(run_gate(target, gates))
    print(format_run(target.model, run))
    if args.json:
        document = {"model": target.model, "passed": run.passed, "checks": [asdict(c) for c in run.checks], "failedItems": run.failed_items, "load": asdict(run.load) if run.load else None}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main())

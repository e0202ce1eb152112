"""The load-test tool: its statistics, and whole runs against a local stand-in OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.openai_stand_in import StandInServer
from tools import loadtest
from tools.loadtest import (
    LoadTestConfig,
    Percentiles,
    RequestResult,
    api_base_url,
    exit_status,
    percentile,
    run_load,
    summarise,
)

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-stand-in-7c1e9b"
FIRST_TOKEN_DELAY = 0.05


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The OpenAI SDK reads OPENAI_* variables (base URL, extra headers); none may leak into a run.
    for name in [name for name in os.environ if name.startswith("OPENAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(loadtest.API_KEY_ENV, API_KEY)


def run_cli(capsys: pytest.CaptureFixture[str], server: StandInServer, *args: str) -> tuple[int, str]:
    status = loadtest.main(["--url", server.url, "--model", "stand-in", *args])
    return status, capsys.readouterr().out


# --- statistics -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 90, 3.7),
        ([1, 2, 3, 4], 100, 4),
        ([50, 15, 40, 20, 35], 40, 29),  # unsorted input; rank 1.6 between 20 and 35
        ([50, 15, 40, 20, 35], 50, 35),
        (list(range(1, 101)), 99, 99.01),
        ([7.5], 99, 7.5),
    ],
)
def test_percentile_interpolates_linearly_between_ranks(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_agrees_with_statistics_inclusive_quantiles():
    values = [random.Random(7).expovariate(2.0) for _ in range(137)]
    cut_points = statistics.quantiles(values, n=100, method="inclusive")
    for q in range(1, 100):
        assert percentile(values, q) == pytest.approx(cut_points[q - 1])


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_rejects_empty_input_and_out_of_range_q(values, q):
    with pytest.raises(ValueError):
        percentile(values, q)


def test_summarise_counts_successes_and_failures():
    results = [
        RequestResult(latency=1.0, ttft=0.1, completion_tokens=10),
        RequestResult(latency=2.0, ttft=0.3, completion_tokens=30),
        RequestResult(latency=4.0, ttft=0.2, completion_tokens=20, tokens_estimated=True),
        RequestResult(latency=0.5, error="InternalServerError"),
        RequestResult(latency=0.7, error="InternalServerError"),
        RequestResult(latency=9.0, ttft=0.4, error="TimeoutError"),
    ]
    report = summarise(results, wall_seconds=5.0)

    assert (report.requests, report.succeeded, report.failed) == (6, 3, 3)
    assert report.error_rate == 0.5
    assert report.errors == {"InternalServerError": 2, "TimeoutError": 1}
    assert list(report.errors) == ["InternalServerError", "TimeoutError"]  # most frequent first
    assert report.requests_per_second == pytest.approx(3 / 5.0)
    assert report.completion_tokens == 60
    assert report.estimated_token_counts == 1
    assert report.output_tokens_per_second == pytest.approx(60 / 5.0)
    assert report.mean_tokens_per_second_per_request == pytest.approx((10 / 1 + 30 / 2 + 20 / 4) / 3)
    # Failed requests are left out of the timing figures.
    assert report.ttft_seconds == Percentiles(p50=0.2, p90=pytest.approx(0.28), p99=pytest.approx(0.298))
    assert report.latency_seconds == Percentiles(p50=2.0, p90=pytest.approx(3.6), p99=pytest.approx(3.96))


def test_summarise_without_successes_has_no_timing_figures():
    report = summarise([RequestResult(latency=0.1, error="AuthenticationError")] * 3, wall_seconds=0.2)

    assert (report.succeeded, report.failed, report.error_rate) == (0, 3, 1.0)
    assert report.ttft_seconds is None and report.latency_seconds is None
    assert report.mean_tokens_per_second_per_request is None
    assert report.requests_per_second == report.output_tokens_per_second == 0


def test_summarise_rejects_empty_results_and_non_positive_wall_time():
    with pytest.raises(ValueError):
        summarise([], wall_seconds=1.0)
    with pytest.raises(ValueError):
        summarise([RequestResult(latency=0.1)], wall_seconds=0.0)


@pytest.mark.parametrize(
    ("outcomes", "max_error_rate", "expected"),
    [
        ([None] * 10, 0.0, 0),
        ([None] * 9 + ["InternalServerError"], 0.0, 1),
        ([None] * 9 + ["InternalServerError"], 0.1, 0),
        ([None] * 8 + ["InternalServerError"] * 2, 0.1, 1),
        (["AuthenticationError"] * 10, 1.0, 1),  # zero successes always fail the run
    ],
)
def test_exit_status_gates_on_error_rate_and_any_success(outcomes, max_error_rate, expected):
    report = summarise([RequestResult(latency=0.1, error=error) for error in outcomes], wall_seconds=1.0)
    assert exit_status(report, max_error_rate) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8000", "http://localhost:8000/v1"),
        ("http://localhost:8000/", "http://localhost:8000/v1"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("https://llm.example.com/v1/", "https://llm.example.com/v1"),
        ("https://llm.example.com/qwen", "https://llm.example.com/qwen/v1"),
    ],
)
def test_api_base_url_appends_v1_once(url, expected):
    assert api_base_url(url) == expected


# --- runs against the stand-in server ---------------------------------------------------------------


def test_every_request_is_timed_from_send_to_first_token_and_end_of_stream():
    with StandInServer(api_key=API_KEY, completion_tokens=16, first_token_delay=FIRST_TOKEN_DELAY) as server:
        config = LoadTestConfig(
            base_url=api_base_url(server.url),
            model="stand-in",
            requests=40,
            concurrency=8,
            max_tokens=12,
            prompt="hello",
            timeout=10.0,
        )
        results, wall_seconds, start_rate = asyncio.run(run_load(config, API_KEY))

    assert len(results) == 40
    assert all(result.ok for result in results)
    assert server.accepted == 40
    # max_tokens reaches the server, and the counts come from its usage chunks.
    assert [result.completion_tokens for result in results] == [12] * 40
    assert not any(result.tokens_estimated for result in results)
    assert server.completion_tokens_sent == 12 * 40
    for result in results:
        # The role-only chunk arrives before the delay; TTFT waits for real content.
        assert result.ttft is not None and result.ttft >= FIRST_TOKEN_DELAY
        assert result.latency >= result.ttft
    # Eight at a time, each held up by the delay: at least five rounds of it.
    assert wall_seconds >= 5 * FIRST_TOKEN_DELAY
    assert start_rate is None, "no rate asked for"


def test_successful_run_reports_and_writes_json(capsys, tmp_path):
    json_path = tmp_path / "out" / "loadtest.json"
    with StandInServer(api_key=API_KEY, completion_tokens=16, first_token_delay=FIRST_TOKEN_DELAY) as server:
        status, out = run_cli(
            capsys, server, "--requests", "40", "--concurrency", "8", "--max-tokens", "12", "--json", str(json_path)
        )

    assert status == 0
    assert server.authorizations == [f"Bearer {API_KEY}"] * 40
    document = json.loads(json_path.read_text())
    report = document["report"]
    assert (report["requests"], report["succeeded"], report["failed"], report["errors"]) == (40, 40, 0, {})
    assert report["completion_tokens"] == server.completion_tokens_sent == 480
    assert report["estimated_token_counts"] == 0
    assert report["ttft_seconds"]["p50"] >= FIRST_TOKEN_DELAY
    for name in ("p50", "p90", "p99"):
        assert report["latency_seconds"][name] >= report["ttft_seconds"][name] >= FIRST_TOKEN_DELAY
    assert report["output_tokens_per_second"] == pytest.approx(480 / report["wall_seconds"])
    assert report["requests_per_second"] == pytest.approx(40 / report["wall_seconds"])
    assert report["mean_tokens_per_second_per_request"] > 0
    assert document["config"] == {
        "base_url": f"{server.url}/v1",
        "model": "stand-in",
        "requests": 40,
        "concurrency": 8,
        "max_tokens": 12,
        "prompt": loadtest.DEFAULT_PROMPT,
        "timeout": 300.0,
        "workload": "single",
        "rate": None,
        "conversations": 0,
        "turns": 1,
        "shared_prefix_words": 0,
    }
    assert (document["api_key_from_env"], document["max_error_rate"], document["exit_status"]) == (True, 0.0, 0)

    # The table shows the same numbers, in seconds to three decimals.
    assert re.search(r"^  succeeded +40$", out, re.MULTILINE)
    assert f"{report['ttft_seconds']['p50']:.3f}" in out
    assert f"{report['latency_seconds']['p99']:.3f}" in out
    assert "FAILED" not in out and "placeholder" not in out
    assert API_KEY not in out
    assert API_KEY not in json_path.read_text()


def test_server_errors_are_counted_by_type_and_fail_the_run(capsys, tmp_path):
    json_path = tmp_path / "loadtest.json"
    with StandInServer(api_key=API_KEY, fail_first=3) as server:
        status, out = run_cli(capsys, server, "--requests", "40", "--concurrency", "8", "--json", str(json_path))

    assert status == 1
    # Sent exactly once each: SDK retries would have turned the 500s into slow successes.
    assert server.accepted == 40
    report = json.loads(json_path.read_text())["report"]
    assert (report["succeeded"], report["failed"], report["errors"]) == (37, 3, {"InternalServerError": 3})
    assert report["error_rate"] == pytest.approx(3 / 40)
    assert report["completion_tokens"] == server.completion_tokens_sent == 37 * 8
    assert "3  (InternalServerError x3)" in out
    assert "FAILED: 3 of 40 requests failed" in out


def test_max_error_rate_tolerates_some_failures(capsys):
    with StandInServer(api_key=API_KEY, fail_first=3) as server:
        status, out = run_cli(capsys, server, "--requests", "40", "--concurrency", "8", "--max-error-rate", "0.1")

    assert status == 0
    assert "InternalServerError x3" in out and "FAILED" not in out


def test_wrong_api_key_fails_every_request_without_revealing_the_key(capsys, tmp_path, monkeypatch):
    wrong_key = "sk-wrong-e4d2a0"
    monkeypatch.setenv(loadtest.API_KEY_ENV, wrong_key)
    json_path = tmp_path / "loadtest.json"
    with StandInServer(api_key=API_KEY) as server:
        status, out = run_cli(capsys, server, "--requests", "10", "--concurrency", "4", "--json", str(json_path))

    assert status == 1
    assert server.authorizations == [f"Bearer {wrong_key}"] * 10
    report = json.loads(json_path.read_text())["report"]
    assert (report["succeeded"], report["failed"], report["errors"]) == (0, 10, {"AuthenticationError": 10})
    assert report["ttft_seconds"] is None and report["latency_seconds"] is None
    assert "AuthenticationError x10" in out
    assert wrong_key not in out and wrong_key not in json_path.read_text()


def test_without_llm_api_key_a_placeholder_is_sent_and_said(capsys, monkeypatch):
    monkeypatch.delenv(loadtest.API_KEY_ENV)
    with StandInServer(api_key=None) as server:
        status, out = run_cli(capsys, server, "--requests", "3", "--concurrency", "3")

    assert status == 0
    assert server.authorizations == [f"Bearer {loadtest.PLACEHOLDER_API_KEY}"] * 3
    assert "$LLM_API_KEY is not set: sending a placeholder API key" in out


def test_without_usage_chunks_tokens_are_estimated_from_content_chunks(capsys, tmp_path):
    json_path = tmp_path / "loadtest.json"
    with StandInServer(api_key=API_KEY, completion_tokens=5, send_usage=False) as server:
        status, out = run_cli(capsys, server, "--requests", "6", "--concurrency", "3", "--json", str(json_path))

    assert status == 0
    report = json.loads(json_path.read_text())["report"]
    assert report["completion_tokens"] == server.completion_tokens_sent == 30
    assert report["estimated_token_counts"] == 6
    assert "estimated from content chunks for 6 requests" in out


def test_timeout_bounds_the_whole_request(capsys, tmp_path):
    json_path = tmp_path / "loadtest.json"
    with StandInServer(api_key=API_KEY, first_token_delay=1.0) as server:
        status, _ = run_cli(
            capsys, server, "--requests", "4", "--concurrency", "4", "--timeout", "0.1", "--json", str(json_path)
        )

    assert status == 1
    report = json.loads(json_path.read_text())["report"]
    assert report["errors"] == {"TimeoutError": 4}
    assert report["wall_seconds"] < 1.0  # cut short, not waiting for the first token


def test_runs_as_a_module(tmp_path):
    json_path = tmp_path / "loadtest.json"
    with StandInServer(api_key=API_KEY) as server:
        done = subprocess.run(
            [sys.executable, "-m", "tools.loadtest", "--url", server.url, "--model", "stand-in"]
            + ["--requests", "5", "--concurrency", "5", "--json", str(json_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert done.returncode == 0, done.stderr
    assert json.loads(json_path.read_text())["report"]["succeeded"] == 5
    assert API_KEY not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://localhost:8000"],  # no --model
        ["--url", "localhost:8000", "--model", "m"],
        ["--url", "http://localhost:8000", "--model", "m", "--concurrency", "0"],
        ["--url", "http://localhost:8000", "--model", "m", "--max-error-rate", "1.5"],
        ["--url", "http://localhost:8000", "--model", "m", "--timeout", "0"],
        ["--url", "http://localhost:8000", "--model", "m", "--api-key", "x"],  # keys come from the environment only
        ["--url", "http://localhost:8000", "--model", "m", "--rate", "5", "--concurrency", "5"],  # one load mode
        ["--url", "http://localhost:8000", "--model", "m", "--rate", "0"],
        ["--url", "http://localhost:8000", "--model", "m", "--workload", "agentic"],
    ],
)
def test_invalid_arguments_exit_2(args):
    with pytest.raises(SystemExit) as exit_info:
        loadtest.main(args)
    assert exit_info.value.code == 2


# --- what a chatbot's traffic looks like, and what its users feel ------------------------------------


def test_chat_conversations_grow_turn_by_turn_on_a_shared_prefix(capsys, tmp_path):
    json_path = tmp_path / "chat.json"
    with StandInServer(api_key=API_KEY, completion_tokens=4) as server:
        status, out = run_cli(
            capsys, server, "--workload", "chat", "--conversations", "3", "--turns", "4", "--shared-prefix-words", "50", "--concurrency", "2", "--json", str(json_path)
        )

    assert status == 0
    assert "12 streaming chat completions (3 conversations x 4 turns)" in out
    assert json.loads(json_path.read_text())["report"]["succeeded"] == 12
    by_conversation: dict[str, list[list[dict]]] = {}
    for body in server.bodies:
        opening = body["messages"][1]["content"]
        by_conversation.setdefault(opening, []).append(body["messages"])
    assert len(by_conversation) == 3
    system = {body["messages"][0]["content"] for body in server.bodies}
    assert len(system) == 1 and len(system.pop().split()) == 50, "one system prompt every conversation shares"
    for turns in by_conversation.values():
        # Turn k carries the whole history: system, then k questions and the k - 1 replies as streamed.
        assert [len(messages) for messages in turns] == [2, 4, 6, 8]
        for earlier, later in zip(turns, turns[1:]):
            assert later[: len(earlier)] == earlier
            assert later[len(earlier)] == {"role": "assistant", "content": "tok0 tok1 tok2 tok3 "}
            assert later[-1]["role"] == "user"


def test_a_fixed_rate_starts_requests_on_schedule_whatever_is_in_flight(capsys, tmp_path):
    json_path = tmp_path / "rate.json"
    # Each request takes ~0.3 s; at 20 req/s about six are in flight at once, which a concurrency limit would not allow.
    with StandInServer(api_key=API_KEY, first_token_delay=0.3) as server:
        status, out = run_cli(capsys, server, "--requests", "10", "--rate", "20", "--json", str(json_path))

    assert status == 0
    document = json.loads(json_path.read_text())
    assert (document["config"]["rate"], document["config"]["concurrency"]) == (20.0, None)
    report = document["report"]
    assert report["succeeded"] == 10
    assert report["start_rate"] == pytest.approx(20, rel=0.25)
    # Nine intervals of 50 ms, then the last request's 0.3 s: far less than ten requests one after another.
    assert 0.45 + 0.3 <= report["wall_seconds"] < 10 * 0.3
    assert "start rate achieved" in out


def test_a_chat_turn_at_a_fixed_rate_waits_for_its_previous_reply(capsys, tmp_path):
    json_path = tmp_path / "rate-chat.json"
    with StandInServer(api_key=API_KEY, first_token_delay=0.1) as server:
        status, _ = run_cli(capsys, server, "--workload", "chat", "--conversations", "1", "--turns", "3", "--rate", "100", "--json", str(json_path))

    assert status == 0
    report = json.loads(json_path.read_text())["report"]
    # One conversation: its three turns run one after another, not at 100 per second.
    assert report["wall_seconds"] >= 3 * 0.1 and report["start_rate"] < 100 / 5
    assert [len(body["messages"]) for body in server.bodies] == [2, 4, 6]


def test_time_per_output_token_and_inter_token_latency_beside_ttft(capsys, tmp_path):
    json_path = tmp_path / "itl.json"
    with StandInServer(api_key=API_KEY, completion_tokens=6, first_token_delay=0.05, token_delay=0.02) as server:
        status, out = run_cli(capsys, server, "--requests", "4", "--concurrency", "4", "--json", str(json_path))

    assert status == 0
    report = json.loads(json_path.read_text())["report"]
    for name in ("p50", "p90", "p99"):
        assert report["itl_seconds"][name] >= 0.02
        assert report["tpot_seconds"][name] >= 0.02
        # Five gaps of 20 ms after the first token: TPOT is their mean, well under TTFT + them all.
        assert report["tpot_seconds"][name] < report["latency_seconds"][name] - report["ttft_seconds"][name]
    assert re.search(r"^  TPOT ", out, re.MULTILINE) and re.search(r"^  ITL ", out, re.MULTILINE)


def test_a_stream_ending_without_done_is_a_failure(capsys, tmp_path):
    json_path = tmp_path / "cut.json"
    with StandInServer(api_key=API_KEY, cut_first=2) as server:
        status, out = run_cli(capsys, server, "--requests", "6", "--concurrency", "1", "--json", str(json_path))

    assert status == 1
    report = json.loads(json_path.read_text())["report"]
    # Every token arrived, the usage too: only the final event is missing, and that is enough to fail.
    assert (report["succeeded"], report["errors"]) == (4, {"IncompleteStream": 2})
    assert "IncompleteStream x2" in out


def test_a_failed_chat_turn_ends_its_conversation(capsys, tmp_path):
    json_path = tmp_path / "chat-fail.json"
    with StandInServer(api_key=API_KEY, fail_first=1) as server:
        status, out = run_cli(capsys, server, "--workload", "chat", "--conversations", "2", "--turns", "3", "--concurrency", "1", "--json", str(json_path))

    assert status == 1
    report = json.loads(json_path.read_text())["report"]
    # The first conversation's opening turn failed: its two later turns are never sent.
    assert (report["requests"], report["succeeded"], report["failed"]) == (4, 3, 1)
    assert "2 turns not sent" in out


def test_the_client_key_goes_as_a_bearer_token_to_the_gateway_path(capsys):
    with StandInServer(api_key=API_KEY) as server:
        status, _ = run_cli(capsys, server, "--workload", "chat", "--conversations", "1", "--turns", "2")
    assert status == 0
    assert server.authorizations == [f"Bearer {API_KEY}"] * 2
    assert {body["model"] for body in server.bodies} == {"stand-in"}, "the gateway routes on the body's model"

"""The release gate (`make gate`): the data set's scorer, and whole runs end to end against local
OpenAI-compatible stand-ins on 127.0.0.1: one that answers well, one that answers badly (quality miss), one
that is slow (latency miss) and one that errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from llm_platform.config.gates import GatesConfig
from tests.tools.openai_stand_in import StandInServer
from tools import gate
from tools.evaluation import load_dataset, missing, normalise
from tools.loadtest import API_KEY_ENV

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-gate-stand-in-5d1f0a"
MODEL = "mistral-7b-instruct"
DATASET = load_dataset("customer-support-ko")
REFERENCES = {item.question: item.reference for item in DATASET.items}
# The seeds' thresholds with a smaller load (the stand-in answers at once, so a tight TTFT bound separates
# the slow one, which waits a second) and room for the stand-ins' instant answers.
GATES = GatesConfig.model_validate(
    {"client": "gate", "performance": {"requests": 40, "concurrency": 8, "ttftP95Seconds": 0.6, "latencyP99Seconds": 3, "minTokensPerSecond": 5}}
)


def good(messages: list[dict]) -> str:
    """Answers every evaluation question with its reference, anything else politely."""
    return REFERENCES.get(messages[-1]["content"], "안녕하세요, 스텔라몰 고객 지원입니다. 무엇을 도와드릴까요?")


def bad(messages: list[dict]) -> str:
    return "죄송합니다. 잘 모르겠습니다."


def run(server: StandInServer, gates: GatesConfig = GATES) -> gate.GateRun:
    import asyncio

    return asyncio.run(gate.run_gate(gate.Target(f"{server.url}/v1", API_KEY, MODEL), gates))


def verdicts(result: gate.GateRun) -> dict[str, bool]:
    return {check.gate: check.passed for check in result.checks}


# -- the data set and its scorer ---------------------------------------------------------------------------


def test_every_reference_answer_passes_its_own_item():
    assert len(DATASET.items) == 32
    for item in DATASET.items:
        assert missing(item, item.reference) == [], item.id


def test_matching_ignores_case_spaces_and_thousands_separators():
    (fee,) = [item for item in DATASET.items if item.id == "shipping-fee"]
    assert missing(fee, "배송비는 3000 원입니다.") == [] and missing(fee, "배송비는 3,000원") == []
    assert missing(fee, "배송비는 2,500원입니다.") == ["none of ['3000원', '3,000원', '3000 won']"]
    assert normalise("VIP 7 %") == "vip7%"


def test_a_forbidden_string_fails_an_item_that_otherwise_passes():
    (item,) = [item for item in DATASET.items if item.id == "privacy-other"]
    assert missing(item, "본인이 아닌 분께는 알려 드릴 수 없습니다. 주소는 서울입니다.") == ["forbidden '서울'", "forbidden '주소는'"]


def test_a_bad_answer_to_every_item_scores_nothing():
    assert all(missing(item, bad([])) for item in DATASET.items)


# -- whole runs against the stand-ins ----------------------------------------------------------------------


def test_a_good_model_passes_every_gate():
    with StandInServer(api_key=API_KEY, answer=good) as server:
        result = run(server)
    assert result.passed, gate.format_run(MODEL, result)
    assert set(verdicts(result)) == {
        "smoke: completion",
        "smoke: served name",
        "quality: customer-support-ko",
        "load: TTFT p95",
        "load: end-to-end p99",
        "load: error rate",
        "load: tokens/s per request",
    }
    assert result.load.requests == 40 and result.load.failed == 0 and not result.failed_items
    # Smoke, 32 items, 40 load requests: every request carried the client's key.
    assert server.authorizations == [f"Bearer {API_KEY}"] * 73


def test_a_model_that_answers_badly_misses_the_quality_gate_only():
    with StandInServer(api_key=API_KEY, answer=bad) as server:
        result = run(server)
    assert not result.passed
    assert [name for name, passed in verdicts(result).items() if not passed] == ["quality: customer-support-ko"]
    assert len(result.failed_items) == 32
    text = gate.format_run(MODEL, result)
    assert "quality: customer-support-ko    0.00 (0/32)" in text and "FAILED: quality: customer-support-ko" in text
    assert "refund-window: none of ['7일', '7 days', 'seven days']" in text


def test_a_slow_model_misses_the_first_token_gate():
    with StandInServer(api_key=API_KEY, answer=good, first_token_delay=1.0) as server:
        result = run(server)
    misses = [name for name, passed in verdicts(result).items() if not passed]
    assert misses == ["load: TTFT p95"], gate.format_run(MODEL, result)
    assert result.load.ttft_seconds.p50 >= 1.0


def test_a_model_that_errors_misses_the_error_rate_and_the_evaluation():
    # Every third request is answered with HTTP 500 (the smoke request is the first, and passes).
    with StandInServer(api_key=API_KEY, answer=good, fail_every=3) as server:
        result = run(server)
    misses = [name for name, passed in verdicts(result).items() if not passed]
    assert misses == ["quality: customer-support-ko", "load: error rate"], gate.format_run(MODEL, result)
    assert result.load.errors == {"InternalServerError": result.load.failed} and 0.25 < result.load.error_rate < 0.4
    assert any(problems == ["request failed: InternalServerError"] for problems in result.failed_items.values())


def test_a_model_that_does_not_answer_stops_at_the_smoke_test():
    with StandInServer(api_key="another-key") as server:
        result = run(server)
    assert [(c.gate, c.measured, c.passed) for c in result.checks] == [("smoke: completion", "AuthenticationError", False), ("smoke: served name", "-", False)]
    assert result.load is None and server.accepted == 0


# -- the command -------------------------------------------------------------------------------------------


@pytest.fixture
def staging_gates_small(tmp_path) -> Path:
    """A copy of the project whose staging stack file runs a small load (the command reads the stack file)."""
    import yaml

    root = tmp_path / "project"
    root.mkdir()
    config = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    config["config"]["llm-platform:models"][0]["gates"]["performance"] = {"requests": 20, "concurrency": 4, "ttftP95Seconds": 0.6, "minTokensPerSecond": 5}
    (root / "Pulumi.staging.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    return root


def test_the_command_prints_the_table_and_exits_by_the_verdict_without_printing_the_key(staging_gates_small, capsys, tmp_path):
    environ = {API_KEY_ENV: API_KEY}
    with StandInServer(api_key=API_KEY, answer=good) as server:
        status = gate.main(["--stack", "staging", "--model", MODEL, "--url", server.url, "--json", str(tmp_path / "gate.json"), "--root", str(staging_gates_small)], environ)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Release gate of mistral-7b-instruct" in out and out.strip().endswith("PASSED") and API_KEY not in out
    document = json.loads((tmp_path / "gate.json").read_text())
    assert document["passed"] is True and document["load"]["requests"] == 20 and API_KEY not in json.dumps(document)
    with StandInServer(api_key=API_KEY, answer=bad) as server:
        assert gate.main(["--stack", "staging", "--model", MODEL, "--url", server.url, "--root", str(staging_gates_small)], environ) == 1
    assert "FAILED: quality: customer-support-ko" in capsys.readouterr().out


def test_bad_input_exits_2_naming_the_problem(staging_gates_small, capsys):
    assert gate.main(["--stack", "staging", "--model", "llama", "--url", "http://127.0.0.1:9", "--root", str(staging_gates_small)], {API_KEY_ENV: API_KEY}) == 2
    assert "serves no such model" in capsys.readouterr().err
    # Without a key and without the Pulumi CLI, the command says what to do instead.
    assert gate.main(["--stack", "staging", "--model", MODEL, "--url", "http://127.0.0.1:9", "--root", str(staging_gates_small)], {"PATH": "/nonexistent"}) == 2
    assert "pulumi" in capsys.readouterr().err.lower()


def test_make_gate_runs_the_command(tmp_path):
    # The Makefile target passes its variables through (dry run: make prints the command it would run).
    done = subprocess.run(["make", "-n", "gate", "STACK=staging", f"MODEL={MODEL}", "URL=http://127.0.0.1:8443/v1", "HOST_HEADER=llm.staging.example.com"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"-m tools.gate --stack staging --model {MODEL} --url http://127.0.0.1:8443/v1 --host-header llm.staging.example.com" in done.stdout

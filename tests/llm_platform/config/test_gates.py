"""A model's release gates (`gates.GatesConfig`): the seeds' defaults, the shipped data set, and the gate's
gateway client, which must exist and admit a whole run."""

from __future__ import annotations

import json

import pytest

from llm_platform.config import parse
from llm_platform.config.gates import DATASETS_DIR, dataset_items
from tests.llm_platform.config.stacks import AWS, AWS_POOL, changed, only, refused

MODEL = {"name": "mistral", "source": "hf://mistralai/Mistral-7B-Instruct-v0.3", "parametersBillion": 7.25, "poolGroup": "l4"}
GATEWAY = {"hostname": "llm.example.com", "clients": [{"name": "gate", "requestsPerMinute": 600}, {"name": "web"}]}


def stack(gates: dict | None = None, gateway: dict | None = GATEWAY) -> dict:
    raw = changed(AWS, {"gpuPools": [AWS_POOL], "models": [{**MODEL, **({"gates": gates} if gates is not None else {})}]})
    return changed(raw, {"gateway": gateway}) if gateway else raw


def test_the_defaults_are_the_seeds():
    (model,) = parse(stack()).models
    gates = model.gates
    assert gates.client is None
    performance = gates.performance
    assert (performance.requests, performance.concurrency, performance.max_tokens) == (500, 50, 256)
    assert (performance.ttft_p95_seconds, performance.latency_p99_seconds, performance.max_error_rate_percent) == (3, 10, 1)
    assert (gates.quality.dataset, gates.quality.min_score, gates.quality.max_tokens) == ("customer-support-ko", 0.8, 256)
    # The smoke completion, 32 evaluation items, the seeds' 500.
    assert gates.requests_per_run(dataset_items(gates.quality.dataset)) == 533


def test_every_shipped_data_set_is_well_formed():
    paths = sorted(DATASETS_DIR.glob("*.json"))
    assert paths
    for path in paths:
        data = json.loads(path.read_text())
        assert data["name"] == path.stem and data["system"] and len(data["items"]) >= 24
        ids = [item["id"] for item in data["items"]]
        assert len(set(ids)) == len(ids)
        for item in data["items"]:
            assert set(item) == {"id", "question", "expect", "forbid", "reference"}
            assert item["question"] and item["expect"] and all(group and all(isinstance(a, str) and a for a in group) for group in item["expect"])


def test_a_gate_client_that_admits_a_run_is_accepted():
    (model,) = parse(stack({"client": "gate"})).models
    assert model.gates.client == "gate"


@pytest.mark.parametrize(
    ("gates", "gateway", "key", "rule"),
    [
        ({"client": "gate"}, None, "models[0].gates.client", "configure `gateway`"),
        ({"client": "nobody"}, GATEWAY, "models[0].gates.client", "must name one of gateway.clients (gate, web)"),
        # `web` has the default 60 a minute: the gate would measure the rate limiter.
        ({"client": "web"}, GATEWAY, "models[0].gates.client", "one gate run sends 533 requests (smoke, evaluation, load test) but the client may send 60 a minute"),
        ({"client": "gate", "performance": {"requests": 1000}}, GATEWAY, "models[0].gates.client", "sends 1033 requests"),
        ({"quality": {"dataset": "no-such-set"}}, GATEWAY, "models[0].gates.quality.dataset", "must name a data set in evals/datasets/: customer-support-ko"),
        ({"quality": {"minScore": 1.5}}, GATEWAY, "models[0].gates.quality.minScore", "less than or equal to 1"),
        ({"performance": {"requests": 5}}, GATEWAY, "models[0].gates.performance.requests", "greater than or equal to 10"),
    ],
)
def test_gate_rules(gates, gateway, key, rule):
    violation = only(refused(stack(gates, gateway)))
    assert violation.key == key and rule in violation.rule, violation

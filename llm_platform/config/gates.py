"""What a release of a model must show before production gets it (`models[].gates`): `make gate` runs these
against a deployed stack through its gateway, the deploy workflow against staging after every update.

The defaults are the seeds' production chatbot: its load test (500 streaming requests, 50 at a time, 256
tokens each, five customer-support prompts), its alerts (p99 end-to-end latency 10 s, errors 1 %), the
infrastructure guide's 3-second p95 for interactive chat (here of the first token), and an evaluation data
set for its customer-support use (`evals/datasets/`, scored by expected facts).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Sequence

from pydantic import Field, field_validator

from llm_platform.config.base import ConfigModel, Name
from llm_platform.config.gateway import GatewayConfig
from llm_platform.config.violations import Rules, Violation

if TYPE_CHECKING:
    # models.py holds each model's GatesConfig, so it imports this module, not the other way round.
    from llm_platform.config.models import ModelConfig

# Evaluation data sets ship in the repository, one JSON file per set (format in evals/README.md).
DATASETS_DIR = Path(__file__).resolve().parents[2] / "evals" / "datasets"


def dataset_path(name: str) -> Path:
    return DATASETS_DIR / f"{name}.json"


class SmokeGate(ConfigModel):
    """The model answers at all: the server is healthy, `/v1/models` lists the model under its name, and one
    chat completion returns text."""

    prompt: Annotated[str, Field(min_length=1, max_length=2000)] = "안녕하세요. 주문 조회는 어떻게 하나요?"
    """The one chat message sent."""

    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 32
    """Completion tokens asked for."""

    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60
    """How long each smoke request may take (a replica that is still loading fails here)."""


class QualityGate(ConfigModel):
    """The answers are still right: every item of an evaluation data set is asked, each answer is scored by
    the facts it must state (and must not), and the share of passing items must reach `minScore`."""

    dataset: Name = "customer-support-ko"
    """Name of a data set in `evals/datasets/` (`<name>.json`): the seeds' Korean customer-support chatbot's
    knowledge base and questions by default."""

    min_score: Annotated[float, Field(gt=0, le=1)] = 0.8
    """Share of items that must pass, 0-1."""

    max_tokens: Annotated[int, Field(ge=16, le=4096)] = 256
    """Completion tokens per answer (the seeds' 256)."""

    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    """Items asked at once."""

    @field_validator("dataset")
    @classmethod
    def _shipped(cls, name: str) -> str:
        if not dataset_path(name).is_file():
            known = sorted(path.stem for path in DATASETS_DIR.glob("*.json"))
            raise ValueError(f"must name a data set in evals/datasets/: {', '.join(known) or 'none shipped'}")
        return name


class PerformanceGate(ConfigModel):
    """The model is still fast under the seeds' load: streaming chat completions with the seeds' prompts,
    measured by the client through the gateway (what users see, gateway and queueing included)."""

    requests: Annotated[int, Field(ge=10, le=100_000)] = 500
    """Requests sent (the seeds' 500)."""

    concurrency: Annotated[int, Field(ge=1, le=1000)] = 50
    """Requests in flight at once (the seeds' 50)."""

    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 256
    """Completion tokens asked for per request (the seeds' 256)."""

    ttft_p95_seconds: Annotated[float, Field(gt=0)] = 3
    """Time to first token, 95th percentile, at most this (the infrastructure guide's 3 s for chat)."""

    latency_p99_seconds: Annotated[float, Field(gt=0)] = 10
    """End-to-end latency, 99th percentile, at most this (the seeds' HighLatency alert)."""

    max_error_rate_percent: Annotated[float, Field(ge=0, le=100)] = 1
    """Failed requests (any error, 429 included), percent of all, at most this (the seeds' HighErrorRate)."""

    min_tokens_per_second: Annotated[float, Field(ge=0)] = 10
    """Mean output tokens per second of one request (the speed one user reads at), at least this. The seeds
    print throughput without a floor; 10 tokens/s stays ahead of reading speed."""


class GatesConfig(ConfigModel):
    """The release gates of one model (`make gate STACK=<stack> MODEL=<model>`)."""

    client: Name | None = None
    """The gateway client (`gateway.clients[].name`) whose API key the gate sends; its `requestsPerMinute`
    must cover the requests of one gate run, or the gate would measure the rate limit. Required to run the
    gate; the key comes from `pulumi stack output --show-secrets clientKeys`."""

    smoke: SmokeGate = Field(default_factory=SmokeGate)
    """Health, the served name and one completion."""

    quality: QualityGate = Field(default_factory=QualityGate)
    """The evaluation data set and its minimum score."""

    performance: PerformanceGate = Field(default_factory=PerformanceGate)
    """Latency, errors and speed under load."""

    def requests_per_run(self, dataset_items: int) -> int:
        """Chat requests one gate run sends: the smoke completion, every evaluation item, the load test."""
        return 1 + dataset_items + self.performance.requests


@functools.cache
def dataset_items(name: str) -> int:
    return len(json.loads(dataset_path(name).read_text())["items"])


def gate_client_violations(models: Sequence[ModelConfig], gateway: GatewayConfig | None) -> Rules:
    """A model's gate calls through the gateway as one of its clients, whose rate limit admits a whole run."""
    clients = {client.name: client for client in gateway.clients} if gateway else {}
    for index, model in enumerate(models):
        name = model.gates.client
        if name is None:
            continue
        key = f"models[{index}].gates.client"
        if gateway is None:
            yield Violation(key, name, "the gate calls the model through the stack's gateway: configure `gateway` or leave the client unset")
        elif name not in clients:
            yield Violation(key, name, f"must name one of gateway.clients ({', '.join(clients) or 'none configured'})")
        elif gateway.limit_of(clients[name]) < (needed := model.gates.requests_per_run(dataset_items(model.gates.quality.dataset))):
            yield Violation(
                key,
                name,
                f"one gate run sends {needed} requests (smoke, evaluation, load test) but the client may send {gateway.limit_of(clients[name])} a minute: "
                f"raise its requestsPerMinute to at least {needed}, or the gate measures the rate limit",
            )

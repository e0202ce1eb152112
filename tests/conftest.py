"""Shared test helpers: run a piece of the program under the offline preview's mock engine."""

from __future__ import annotations

from typing import Callable

import pytest

from tools.preview import ROOT, Plan, Recorded, run_under_mocks

# The committed stacks: one `Pulumi.<stack>.yaml` each.
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


class Declared:
    """What a program declared under mocks, with lookups the assertions need."""

    def __init__(self, plan: Plan):
        self.plan = plan

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.plan.resources if r.type == typ]

    def one(self, typ: str, name: str | None = None) -> Recorded:
        matches = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(matches) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in matches]}"
        return matches[0]

    def release(self, name: str) -> Recorded:
        """The Helm release installed under that release name (its `name` input, not the resource's name)."""
        matches = [r for r in self.of_type(HELM_RELEASE) if r.inputs["name"] == name]
        assert len(matches) == 1, f"expected one Helm release {name}, found {[r.name for r in matches]}"
        return matches[0]

    def by_urn(self, urn: str) -> Recorded:
        return next(r for r in self.plan.resources if r.urn == urn)


def declare_once(program: Callable[[], None], region: str = "us-west-2", config: dict[str, str] | None = None) -> Declared:
    """Declare `program` under mocks in `region` (and any other flat `config`); what the `declare` fixture
    does, callable from module-scoped fixtures and cached helpers that share one plan."""
    flat = {"llm-platform:region": region, **(config or {})}
    return Declared(run_under_mocks(program, stack="test", config=flat))


@pytest.fixture
def declare() -> Callable[..., Declared]:
    return declare_once


@pytest.fixture(scope="session")
def stack_plan() -> Callable[[str], Declared]:
    """The real __main__.py of a stack under mocks, run once per test session."""
    from tools.preview import run_program

    plans: dict[str, Declared] = {}

    def get(stack: str) -> Declared:
        if stack not in plans:
            plans[stack] = Declared(run_program(stack))
        return plans[stack]

    return get

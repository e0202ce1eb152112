"""Shared test helpers: run a piece of the program under the offline preview's mock engine."""

from __future__ import annotations

from typing import Callable

import pytest

from tools.preview import Plan, Recorded, run_under_mocks


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

    def by_urn(self, urn: str) -> Recorded:
        return next(r for r in self.plan.resources if r.urn == urn)


@pytest.fixture
def declare() -> Callable[..., Declared]:
    def run(program: Callable[[], None], region: str = "us-west-2", config: dict[str, str] | None = None) -> Declared:
        flat = {"llm-platform:region": region, **(config or {})}
        return Declared(run_under_mocks(program, stack="test", config=flat))

    return run


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

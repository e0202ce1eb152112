"""Turning what validation found into `Violation`s and violations into the lines a user reads:
`llm-platform:<key>: <value as JSON> is invalid (rule: <rule>)`, one per problem."""

from __future__ import annotations

import difflib
import json
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from llm_platform.config.base import NAMESPACE, SECRET_VALUE, is_secret
from llm_platform.config.violations import NOT_SET, Violation

# Keys that moved when each cloud got its own section, by the stack's cloud: a stack file written before
# finds where they went.
MOVED = {
    "aws": {
        "network": "aws.network",
        "cluster": "aws.cluster",
        "systemPool": "aws.systemPool",
        "gpuQuietHours": "aws.gpuQuietHours",
    },
    "gcp": {
        "network": "gcp.network",
        "cluster": "gcp.cluster",
        "systemPool": "gcp.systemPool",
        "budget.billingAccount": "gcp.billingAccount",
        "observability.smtp": "gcp.smtp",
    },
}

# Keys that no longer exist, by the stack's cloud, with what took their place. The ALB Ingress straight to
# the model Services gave way to the inference gateway, the models' only way in from outside.
_THROUGH_GATEWAY = f"the models' ALB Ingress is retired; serve them through {NAMESPACE}:gateway (hostname, scheme, allowedSourceRanges, clients)"
RETIRED = {"aws": {"ingress": _THROUGH_GATEWAY, "aws.ingress": _THROUGH_GATEWAY}, "gcp": {}}


class ConfigError(Exception):
    """Invalid stack configuration: every problem found, each a `Violation`."""

    def __init__(self, violations: Iterable[Violation]):
        self.violations = list(violations)
        super().__init__("\n".join(self.problems))

    @property
    def problems(self) -> list[str]:
        """One line per problem."""
        return [render(violation) for violation in self.violations]


def render(violation: Violation) -> str:
    key = violation.key if violation.full_key else f"{NAMESPACE}:{violation.key}"
    if violation.unknown_key:
        return f"{key}: unknown key (rule: {violation.rule})"
    value = "(not set)" if violation.value is NOT_SET else json.dumps(violation.value, default=str)
    return f"{key}: {value} is invalid (rule: {violation.rule})"


def key_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def from_validation_error(error: ValidationError, model: type[BaseModel], cloud: str) -> list[Violation]:
    """One violation per field error pydantic found in a stack of `cloud` validated as `model`."""
    return [_violation(detail, model, MOVED[cloud], RETIRED[cloud]) for detail in error.errors()]


def _violation(detail: dict[str, Any], model: type[BaseModel], moved: dict[str, str], retired: dict[str, str]) -> Violation:
    loc = tuple(detail["loc"])
    key = key_path(loc)
    if detail["type"] == "extra_forbidden":
        allowed = allowed_keys(model, loc[:-1])
        if key in moved:
            hint = f"; it moved to {NAMESPACE}:{moved[key]}"
        elif key in retired:
            hint = f"; {retired[key]}"
        else:
            match = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"; did you mean '{match[0]}'?" if match else ""
        return Violation(key, detail["input"], f"allowed keys are {', '.join(allowed)}{hint}", unknown_key=True)
    if detail["type"] == "missing":
        value = NOT_SET
    else:
        # A secret's value never reaches an error message, whatever is wrong with it.
        value = SECRET_VALUE if is_secret(_field(model, loc)) else detail["input"]
    return Violation(key, value, detail["msg"].removeprefix("Value error, "))


def _field(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    """The field `loc` points to (list indexes skipped), if it is one of the models'."""
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None
        field = next((f for name, f in model.model_fields.items() if (f.alias or name) == part), None)
        if field is None:
            return None
        candidates = [*getattr(field.annotation, "__args__", ()), field.annotation]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return field


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys `model` accepts at the object `loc` points to."""
    if loc:
        field = _field(model, loc)
        candidates = [*getattr(field.annotation, "__args__", ()), field.annotation] if field else []
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]

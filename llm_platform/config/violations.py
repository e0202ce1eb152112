"""What a refused configuration reports: one `Violation` per problem, naming the key, the value and the
rule. Field rules (pydantic) and cross-field rules both end up as these; `render` turns them into lines.
Rules stay typed all the way: nothing here is formatted until it is shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

NOT_SET = type("NotSet", (), {"__repr__": lambda self: "(not set)"})()
"""The value of a key that should be there and is not."""


@dataclass(frozen=True)
class Violation:
    key: str
    """Path of the key under the `llm-platform:` namespace, e.g. `aws.network.cidr` or `models[0].source`."""
    value: Any
    """The value as given (NOT_SET when missing, "[secret]" for secrets)."""
    rule: str
    """What the value breaks, in words."""
    unknown_key: bool = False
    """The key itself is not one the model knows (then `rule` lists the allowed keys)."""
    full_key: bool = False
    """`key` is a whole flat config key (`llm-platfrom:models`), not a path under the namespace."""


Rules = Iterator[Violation]
"""What a cross-field rule yields: nothing when the stack keeps it."""

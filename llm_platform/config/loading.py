"""Reading the stack configuration the way Pulumi hands it to a program: flat `llm-platform:<key>`
strings, structured values as JSON text."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from llm_platform.config.base import NAMESPACE


def decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def decode_flat_config(flat: dict[str, str]) -> dict[str, Any]:
    """`llm-platform:*` keys of flat Pulumi config (as a program or a stack file holds it), decoded."""
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix) :]: decode(value) for key, value in flat.items() if key.startswith(prefix)}


def raw_config_from_pulumi() -> dict[str, Any]:
    """Every `llm-platform:*` key the running Pulumi program was given, decoded."""
    from pulumi.runtime import config as runtime_config

    return decode_flat_config({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()})


def exit_on_problems(problems: list[str]) -> NoReturn:
    """Print every problem and exit with status 2 before any resource is declared."""
    print("error: invalid stack configuration:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    raise SystemExit(2)

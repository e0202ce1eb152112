"""The stack configuration: one pydantic model of everything a stack can configure.

Stack files (`Pulumi.<stack>.yaml`) hold values under the `llm-platform:` namespace; each top-level
field of `StackConfig` is one config key (camelCase, e.g. `llm-platform:network`). Anything the model
does not know is an error, so a misspelt key can never be silently ignored.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

NAMESPACE = "llm-platform"

# Tags the platform sets on every resource itself; a stack may not redefine them.
RESERVED_TAG_KEYS = ("environment", "project", "managed-by")

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy API reference).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class ConfigModel(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, values immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        use_attribute_docstrings=True,
    )


class FlowLogsConfig(ConfigModel):
    """VPC flow logs delivered to CloudWatch Logs."""

    retention_days: int = 90
    """Days CloudWatch keeps flow log records; one of the values CloudWatch Logs accepts."""

    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "REJECT"
    """Which traffic to record. REJECT is cheapest and what security reviews usually ask for."""

    @field_validator("retention_days")
    @classmethod
    def _retention_is_supported(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of the CloudWatch Logs retention periods {list(LOG_RETENTION_DAYS)}")
        return days


class NetworkConfig(ConfigModel):
    """The VPC: public subnets for load balancers and NAT, private subnets for every node."""

    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.0.0.0/16")
    """VPC CIDR, /16 to /20. Subnets are carved from it: one private /(n+3) per zone (pods take VPC IPs
    through the VPC CNI, so private subnets get most of the space) and one public /(n+6) per zone taken
    from the last /(n+3) block."""

    az_count: Annotated[int, Field(ge=2, le=6)] = 3
    """Availability zones to spread subnets over (EKS needs at least two)."""

    nat_gateways: Literal["single", "perAz"] = "single"
    """`single`: one NAT gateway shared by all zones (cheap; a zone outage cuts egress).
    `perAz`: one per zone, each private subnet routes through its own zone's gateway."""

    flow_logs: FlowLogsConfig | None = None
    """VPC flow logs; off when absent."""

    @field_validator("cidr", mode="before")
    @classmethod
    def _strict_network(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                ipaddress.IPv4Network(value, strict=True)
            except ValueError as exc:
                raise ValueError(f"not a valid IPv4 network in CIDR notation ({exc})") from None
        return value

    @field_validator("cidr")
    @classmethod
    def _cidr_size(cls, network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("the VPC prefix length must be between /16 and /20")
        if not network.is_private:
            raise ValueError("the VPC CIDR must be a private (RFC 1918) range")
        return network


class StackConfig(ConfigModel):
    """Everything one stack (environment) configures, read from `llm-platform:*` config keys."""

    environment: Literal["dev", "staging", "production"]
    """Environment tier. `production` switches on the stricter rules (HA NAT, flow logs, pinned AMIs, ...)."""

    cloud: Literal["aws"] = "aws"
    """Cloud provider the stack deploys to."""

    region: str
    """Cloud region, e.g. `us-west-2`. Must be a region the GPU instance catalog has prices for."""

    cluster_name: str
    """Kubernetes cluster name; also used for Karpenter discovery tags. DNS label, at most 40 characters
    so that derived IAM role names stay within IAM's 64-character limit."""

    tags: dict[str, str] = Field(default_factory=dict)
    """Extra tags for every taggable resource (cost centre, owner, ...). `environment`, `project` and
    `managed-by` are set by the platform and cannot be overridden."""

    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """The VPC and its subnets."""

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name_shape(cls, name: str) -> str:
        if len(name) > 40 or not DNS_LABEL.match(name):
            raise ValueError("must be a DNS label (lowercase letters, digits, '-'; starting with a letter) of at most 40 characters")
        return name

    @field_validator("region")
    @classmethod
    def _region_in_catalog(cls, region: str) -> str:
        from llm_platform import catalog

        known = catalog.aws_regions()
        if region not in known:
            raise ValueError(f"no prices for this region in the instance catalog; supported regions: {', '.join(known)}")
        return region

    @field_validator("tags")
    @classmethod
    def _tags_not_reserved(cls, tags: dict[str, str]) -> dict[str, str]:
        clash = sorted(set(tags) & set(RESERVED_TAG_KEYS))
        if clash:
            raise ValueError(f"tag keys {clash} are set by the platform and cannot be overridden")
        bad = sorted(key for key in tags if key.lower().startswith("aws:"))
        if bad:
            raise ValueError(f"tag keys {bad} use the reserved 'aws:' prefix")
        return tags

    @model_validator(mode="after")
    def _cross_field_rules(self) -> StackConfig:
        broken = list(self._cross_field_violations())
        if broken:
            raise ValueError(CROSS_FIELD_SEPARATOR.join(broken))
        return self

    def _cross_field_violations(self):
        """Yield `key<TAB>value<TAB>rule` for every cross-field rule the stack breaks."""
        if self.environment == "production":
            if self.network.nat_gateways != "perAz":
                yield _violation("network.natGateways", self.network.nat_gateways,
                                 "production must use 'perAz' so that one zone's outage does not cut egress for the others")
            if self.network.flow_logs is None:
                yield _violation("network.flowLogs", None, "production must record VPC flow logs")

    def common_tags(self) -> dict[str, str]:
        """Tags for every taggable resource of the stack."""
        return {"environment": self.environment, "project": NAMESPACE, "managed-by": "pulumi", **self.tags}


CROSS_FIELD_SEPARATOR = "\n"


def _violation(key: str, value: Any, rule: str) -> str:
    return f"{key}\t{json.dumps(value, default=str)}\t{rule}"


class ConfigError(Exception):
    """Invalid stack configuration; `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _key_path(loc: tuple[Any, ...]) -> str:
    head, *rest = loc
    path = f"{NAMESPACE}:{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at the object that holds `loc`'s last element."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for name, f in model.model_fields.items() if (f.alias or name) == part), None)
        annotation = field.annotation if field else None
        candidates = getattr(annotation, "__args__", (annotation,))
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _describe(error: dict[str, Any]) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(StackConfig, loc)
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"{_key_path(loc)}: unknown key (rule: allowed keys are {', '.join(allowed)}){suggestion}"
    value = json.dumps(error["input"], default=str) if error["type"] != "missing" else "(not set)"
    message = error["msg"].removeprefix("Value error, ")
    return f"{_key_path(loc)}: {value} is invalid (rule: {message})"


def parse_stack_config(raw: dict[str, Any]) -> StackConfig:
    """Validate raw config (keys without the namespace, values already decoded from JSON)."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # Cross-field rules report from the model, with an empty location; their message names the key.
            if not error["loc"]:
                for line in error["msg"].removeprefix("Value error, ").split(CROSS_FIELD_SEPARATOR):
                    key, value, rule = line.split("\t")
                    problems.append(f"{NAMESPACE}:{key}: {value} is invalid (rule: {rule})")
            else:
                problems.append(_describe(error))
        raise ConfigError(problems) from None


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_config_from_pulumi() -> dict[str, Any]:
    """Every `llm-platform:*` key the running Pulumi program was given, decoded."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix):]: _decode(value) for key, value in merged.items() if key.startswith(prefix)}


def load() -> StackConfig:
    """Load and validate the stack config; on bad input print every problem and exit with status 2
    before any resource is declared."""
    import sys

    try:
        return parse_stack_config(raw_config_from_pulumi())
    except ConfigError as exc:
        print("error: invalid stack configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2) from None

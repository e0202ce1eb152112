"""The stack configuration: a pydantic model of everything a stack can configure, one module per concern.

Stack files (`Pulumi.<stack>.yaml`) hold values under the `llm-platform:` namespace; each top-level field
of a stack model is one config key (camelCase, e.g. `llm-platform:budget`). `cloud` picks the model:
`AwsStackConfig` (with `llm-platform:aws`) or `GcpStackConfig` (with `llm-platform:gcp`), each with its own
GPU pool type. Anything a model does not know is an error, so a misspelt key is never silently ignored.

`parse` checks the fields, then the cross-field rules (each returns typed `Violation`s); `load` reads the
running Pulumi program's config and exits with status 2 on any problem.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from llm_platform.config.aws import AwsGpuPool, AwsStackConfig, ClusterConfig, DisruptionWindow, FlowLogsConfig, NetworkConfig, SystemPoolConfig
from llm_platform.config.budget import BudgetConfig
from llm_platform.config.gateway import GatewayClient, GatewayConfig
from llm_platform.config.gcp import GcpConfig, GcpNetworkConfig, GcpStackConfig, GkeClusterConfig, GkeGpuPool, GkeSystemPoolConfig, SmtpConfig
from llm_platform.config.loading import decode_flat_config, exit_on_problems, flat_config_from_pulumi, flat_config_violations, secret_fields
from llm_platform.config.models import EngineConfig, ModelConfig, ModelResources
from llm_platform.config.observability import AlertThresholds, ObservabilityConfig
from llm_platform.config.pools import GpuPoolBase
from llm_platform.config.render import ConfigError, from_validation_error
from llm_platform.config.stack import StackBase, stack_environment_violations
from llm_platform.config.violations import NOT_SET, Violation

CLOUDS: dict[str, type[StackBase]] = {"aws": AwsStackConfig, "gcp": GcpStackConfig}
# A stack's configuration; `parse` picks the model by `cloud` through CLOUDS.
StackConfig = AwsStackConfig | GcpStackConfig
"""A stack of either cloud; `cloud` says which."""

__all__ = [
    "AlertThresholds",
    "AwsGpuPool",
    "AwsStackConfig",
    "BudgetConfig",
    "ClusterConfig",
    "ConfigError",
    "DisruptionWindow",
    "EngineConfig",
    "FlowLogsConfig",
    "GatewayClient",
    "GatewayConfig",
    "GcpConfig",
    "GcpNetworkConfig",
    "GcpStackConfig",
    "GkeClusterConfig",
    "GkeGpuPool",
    "GkeSystemPoolConfig",
    "GpuPoolBase",
    "ModelConfig",
    "ModelResources",
    "NetworkConfig",
    "ObservabilityConfig",
    "SmtpConfig",
    "StackConfig",
    "SystemPoolConfig",
    "Violation",
    "decode_flat_config",
    "load",
    "parse",
]


# The key path of every secret field, whatever the cloud.
SECRET_FIELDS = tuple(sorted({path for model in CLOUDS.values() for path in secret_fields(model)}))


def parse(raw: dict[str, Any], stack: str | None = None) -> AwsStackConfig | GcpStackConfig:
    """Validate raw config (keys without the namespace, values already decoded from JSON): the fields,
    then the cross-field rules, then (given the Pulumi `stack` name it runs in) that the stack's
    environment is the one its name gives. Raises `ConfigError` naming every problem."""
    cloud = raw.get("cloud", NOT_SET)
    if not isinstance(cloud, str) or cloud not in CLOUDS:
        raise ConfigError([Violation("cloud", cloud, f"every stack names its cloud: {' or '.join(CLOUDS)}")])
    model = CLOUDS[cloud]
    try:
        # Stack files spell keys in camelCase only; the Python field names are for code, not for them.
        config = model.model_validate(raw, by_alias=True, by_name=False)
    except ValidationError as error:
        raise ConfigError(from_validation_error(error, model, cloud)) from None
    violations = list(config.violations())
    if stack is not None:
        violations += stack_environment_violations(config.environment, stack)
    if violations:
        raise ConfigError(violations)
    return config


def load() -> AwsStackConfig | GcpStackConfig:
    """Load and validate the running program's stack config (and that it agrees with the stack it runs
    in); on bad input print every problem and exit with status 2 before any resource is declared."""
    import pulumi

    flat, secret_keys = flat_config_from_pulumi()
    try:
        violations = list(flat_config_violations(flat, secret_keys, SECRET_FIELDS))
        if violations:
            raise ConfigError(violations)
        return parse(decode_flat_config(flat), stack=pulumi.get_stack())
    except ConfigError as error:
        exit_on_problems(error.problems)

"""What every stack configures whatever its cloud, and the rules every stack follows. `aws.AwsStackConfig`
and `gcp.GcpStackConfig` add their cloud's keys and rules; `cloud` tells them apart."""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import ClassVar, Literal, Sequence, get_args

from pydantic import Field, field_validator

from llm_platform.config.base import NAMESPACE, SECRET, ConfigModel, Name, plain
from llm_platform.config.budget import BudgetConfig
from llm_platform.config.gates import gate_client_violations
from llm_platform.config.gateway import GatewayConfig
from llm_platform.config.models import ModelConfig, canary_violations, model_violations, weights_violations
from llm_platform.config.observability import ObservabilityConfig
from llm_platform.config.pools import GpuPoolBase, pool_violations
from llm_platform.config.violations import Rules, Violation
from llm_platform_policy import cidrs
from llm_platform_policy.catalog import InstanceType
from llm_platform_policy.guardrails import REQUIRED_TAGS

# Tags the platform sets on every resource itself (the ones the policy pack requires); a stack may not
# redefine them.
RESERVED_TAG_KEYS = tuple(REQUIRED_TAGS)

Environment = Literal["dev", "staging", "production"]
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)


# Words that name an environment in a stack name besides the environments themselves: a later word of
# the name may not name another one (`staging-production`, `staging-prod`, `dev-live`).
ENVIRONMENT_WORDS = {"prod": "production", "prd": "production", "live": "production", "stage": "staging", "stg": "staging", "development": "dev"}


def stack_environment(stack: str) -> str | None:
    """The environment a Pulumi stack's name gives: its leading word (`staging`, `staging-gcp` and
    `staging.eu` are staging; `production` and `production-eu` production), or None when the name does not
    start with one (`prod`, `test`) or a later word names another environment (`staging-production`,
    `staging.prod`). An `org/project/stack` name counts by its last part."""
    first, *rest = re.split(r"[-_.]", stack.rsplit("/", 1)[-1])
    others = {ENVIRONMENT_WORDS.get(word.lower(), word.lower()) for word in rest} & set(ENVIRONMENTS)
    return first if first in ENVIRONMENTS and others <= {first} else None


def stack_environment_violations(environment: str, stack: str) -> list[Violation]:
    """The stack decides the environment: a stack file copied to another stack keeps the rules of the
    stack it now runs in, whatever `environment` it declares."""
    expected = stack_environment(stack)
    if expected is None:
        return [
            Violation(
                "environment",
                environment,
                f"stack '{stack}' must be named after its environment: its name starts with one of {', '.join(ENVIRONMENTS)} and names no other (e.g. '{environment}' or '{environment}-eu')",
            )
        ]
    if expected != environment:
        return [Violation("environment", environment, f"stack '{stack}' is a {expected} stack by its name, so its environment is '{expected}'")]
    return []


def public_endpoint_violations(key: str, scheme: str, sources: Sequence) -> Rules:
    """A production internet-facing endpoint lists who may reach it, and the list covers neither the
    internet nor a large share of it (judged by the addresses it admits, however it is spelt)."""
    if scheme == "internet-facing" and (problem := cidrs.judge(list(sources) or ["0.0.0.0/0"])):
        yield Violation(key, plain(list(sources)), f"a production internet-facing endpoint must list the networks allowed to reach it; this list {problem}")


def distinct_names(kind: str, names: dict[str, str]) -> Rules:
    """Cloud names derived from each model's name (`names`, by model) stay distinct after they are cut to
    the cloud's length limit; two models on one name would share its access."""
    first: dict[str, str] = {}
    for model, name in names.items():
        if name in first:
            yield Violation("models", [first[name], model], f"models {first[name]} and {model} would share the {kind} name {name} (cut to the cloud's limit): rename one")
        else:
            first[name] = model


class StackBase(ConfigModel):
    """Everything one stack (environment) configures, read from `llm-platform:*` config keys."""

    environment: Environment
    """Environment tier. `production` switches on the stricter rules (HA NAT, flow logs, pinned AMIs, ...).
    Must be the environment the stack's name starts with (`staging`, `staging-gcp`: staging; `production`,
    `production-eu`: production): a stack file copied to another stack cannot keep a laxer environment."""

    cloud: str
    """`aws` (EKS with Karpenter) or `gcp` (GKE Standard): the stack's cloud, which decides the other
    keys it takes (`aws` or `gcp`, and the shape of `gpuPools`). The in-cluster platform is the same."""

    region: str
    """Cloud region, e.g. `us-west-2`, `ap-northeast-2` or `asia-northeast3`. Must be a region of the instance
    catalog, and every type a pool may launch must have a price there, so that every pool's cost can be bounded
    (some regions price only some types: Seoul on AWS, for one)."""

    cluster_name: Name
    """Kubernetes cluster name; also names the weights bucket and IAM roles or service accounts."""

    tags: dict[str, str] = Field(default_factory=dict)
    """Extra tags (labels on Google Cloud) for every taggable resource (cost centre, owner, ...).
    `environment`, `project` and `managed-by` are set by the platform and cannot be overridden."""

    budget: BudgetConfig
    """The stack's budget (AWS Budgets or Cloud Billing); required so that actual spend is always watched."""

    observability: ObservabilityConfig
    """Monitoring, GPU metrics, dashboards and alerts; required so that every stack pages someone."""

    gpu_pools: Sequence[GpuPoolBase] = ()
    """GPU node pools; each is bounded by its `maxGpus`."""

    models: list[ModelConfig] = Field(default_factory=list)
    """Models to serve, each on a GPU pool group."""

    gateway: GatewayConfig | None = None
    """The stack's inference gateway: one HTTPS endpoint for every model with per-client API keys and
    rate limits. Without it, models are reachable inside the cluster only."""

    hugging_face_token: str | None = Field(default=None, json_schema_extra=SECRET)
    """Secret (`pulumi config set --secret llm-platform:huggingFaceToken hf_...`): lets a pod download
    an `hf://` model from Hugging Face when it was not staged in the weights bucket (gated models need it)."""

    OBJECT_STORE: ClassVar[str]
    """URI scheme of the cloud's object store (`s3`, `gs`)."""

    @classmethod
    @abstractmethod
    def regions(cls) -> tuple[str, ...]:
        """Regions the instance catalog prices for this cloud."""

    @abstractmethod
    def cloud_violations(self) -> Rules:
        """The rules only this cloud's stacks follow."""

    @field_validator("region")
    @classmethod
    def _region_in_catalog(cls, region: str) -> str:
        known = cls.regions()
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

    def violations(self) -> Rules:
        """Every cross-field rule the stack breaks; the fields themselves are already valid."""
        names = [pool.name for pool in self.gpu_pools]
        for duplicate in sorted({n for n in names if names.count(n) > 1}):
            yield Violation("gpuPools", duplicate, "pool names must be unique")
        production = self.environment == "production"
        yield from pool_violations(self.gpu_pools, production=production)
        if production and self.observability.prometheus_storage_gib is None:
            yield Violation("observability.prometheusStorageGib", None, "production keeps Prometheus data on a persistent volume")
        if production and self.gateway:
            yield from public_endpoint_violations("gateway.allowedSourceRanges", self.gateway.scheme, self.gateway.allowed_source_ranges)
        if self.gateway is None:
            for index, model in enumerate(self.models):
                if model.min_replicas == 0:
                    yield Violation(
                        f"models[{index}].minReplicas",
                        0,
                        "a model idling at zero replicas is woken by the requests the gateway counts for it: configure llm-platform:gateway, or keep a replica",
                    )
        yield from self.cloud_violations()
        yield from model_violations(self.models, self.gpu_pools, production=production, object_store=self.OBJECT_STORE)
        yield from canary_violations(self.models, self.gpu_pools, environment=self.environment, object_store=self.OBJECT_STORE)
        yield from weights_violations(self.models, production=production)
        yield from gate_client_violations(self.models, self.gateway)

    def unpriced_types(self, key: str, sizes: Sequence[InstanceType]) -> Rules:
        """A violation for each of `sizes` the catalog has no price for in the stack's region."""
        for size in sizes:
            if not size.offered_in(self.region):
                where = ", ".join(region for region in self.regions() if size.offered_in(region))
                yield Violation(key, size.name, f"the instance catalog has no {self.region} price for it (its sources do not offer it there); priced in: {where}")

    def common_tags(self) -> dict[str, str]:
        """Tags for every taggable resource of the stack."""
        return {"environment": self.environment, "project": NAMESPACE, "managed-by": "pulumi", **self.tags}

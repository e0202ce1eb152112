"""What every stack configures whatever its cloud, and the rules every stack follows. `aws.AwsStackConfig`
and `gcp.GcpStackConfig` add their cloud's keys and rules; `cloud` tells them apart."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Literal, Sequence

from pydantic import Field, field_validator

from llm_platform.config.base import NAMESPACE, SECRET, ConfigModel, Name
from llm_platform.config.budget import BudgetConfig
from llm_platform.config.models import ModelConfig, model_violations, weights_violations
from llm_platform.config.observability import ObservabilityConfig
from llm_platform.config.pools import GpuPoolBase
from llm_platform.config.violations import Rules, Violation
from llm_platform_policy.guardrails import REQUIRED_TAGS

# Tags the platform sets on every resource itself (the ones the policy pack requires); a stack may not
# redefine them.
RESERVED_TAG_KEYS = tuple(REQUIRED_TAGS)


class StackBase(ConfigModel):
    """Everything one stack (environment) configures, read from `llm-platform:*` config keys."""

    environment: Literal["dev", "staging", "production"]
    """Environment tier. `production` switches on the stricter rules (HA NAT, flow logs, pinned AMIs, ...)."""

    cloud: str
    """`aws` (EKS with Karpenter) or `gcp` (GKE Standard): the stack's cloud, which decides the other
    keys it takes (`aws` or `gcp`, and the shape of `gpuPools`). The in-cluster platform is the same."""

    region: str
    """Cloud region, e.g. `us-west-2` or `us-central1`. Must be a region where the instance catalog prices
    every supported instance type of the stack's cloud, so that every pool's cost can be bounded."""

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
        if production and self.observability.prometheus_storage_gib is None:
            yield Violation("observability.prometheusStorageGib", None, "production keeps Prometheus data on a persistent volume")
        yield from self.cloud_violations()
        yield from model_violations(self.models, self.gpu_pools, production=production, object_store=self.OBJECT_STORE)
        yield from weights_violations(self.models, production=production)

    def common_tags(self) -> dict[str, str]:
        """Tags for every taggable resource of the stack."""
        return {"environment": self.environment, "project": NAMESPACE, "managed-by": "pulumi", **self.tags}

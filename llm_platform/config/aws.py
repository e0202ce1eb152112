"""An AWS stack: the settings only AWS has (`llm-platform:aws`: the VPC, the EKS cluster, the system
NodePool, quiet hours and the optional ALB endpoint), its GPU pool type (a Karpenter NodePool), and the
rules only AWS stacks follow."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator

from llm_platform import pins
from llm_platform.config.base import CapacityType, ConfigModel, Duration, StrictNetwork, catalog_types, plain, unique
from llm_platform.config.models import releases
from llm_platform.config.pools import GpuPoolBase
from llm_platform.config.stack import StackBase, distinct_names
from llm_platform.config.tags import aws_tag_violations
from llm_platform.config.violations import Rules, Violation
from llm_platform.contract import S3Location, model_role_name
from llm_platform_policy import catalog, cidrs, logs
from llm_platform_policy.schedule import DAY_NUMBERS

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy API reference).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# IAM role and user ARNs (IAM User Guide, "IAM identifiers").
IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
# EKS control-plane log types that security reviews need at the least (the policy pack's default).
REQUIRED_LOG_TYPES = tuple(logs.REQUIRED_LOG_TYPES)
# Each field's range and names, as Karpenter's disruption budget schedule (standard cron) reads it.
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = tuple(DAY_NUMBERS)  # sun..sat, as cron numbers them from 0
CRON_BOUNDS = ((0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, _MONTHS), (0, 7, _WEEKDAYS))
CRON_FIELDS = len(CRON_BOUNDS)


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if text.lower() in names:
        return True
    return text.isdigit() and low <= int(text) <= high


def _cron_field(field: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    """One cron field: a list of `*`, values or ranges, each with an optional `/step`."""
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        if not _cron_value(start, low, high, names) or (dash and not _cron_value(end, low, high, names)):
            return False
    return True
# ECR pull-through cache rules take upstream credentials only from a Secrets Manager secret whose name
# starts with this prefix, in the rule's account and region (ECR User Guide, "Creating a pull through cache
# rule"); secret names are 1-512 of these characters (Secrets Manager CreateSecret `Name`).
PULL_THROUGH_CACHE_SECRET_PREFIX = "ecr-pullthroughcache/"
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


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

    cidr: StrictNetwork = ipaddress.IPv4Network("10.0.0.0/16")
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

    @field_validator("cidr")
    @classmethod
    def _cidr_size(cls, network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("the VPC prefix length must be between /16 and /20")
        if not network.is_private:
            raise ValueError("the VPC CIDR must be a private (RFC 1918) range")
        return network


class ClusterConfig(ConfigModel):
    """The EKS control plane and what runs on it before any node exists."""

    kubernetes_version: str = pins.KUBERNETES_VERSION
    """EKS Kubernetes version. Pinned: the add-on versions in `llm_platform/pins.py` are chosen for it."""

    admin_principal_arns: list[str] = Field(default_factory=list)
    """IAM roles or users granted cluster admin through EKS access entries (no aws-auth ConfigMap)."""

    endpoint_public_access: bool = True
    """Whether the API server has a public endpoint (the private endpoint is always on)."""

    public_access_cidrs: list[ipaddress.IPv4Network] = Field(default_factory=list)
    """CIDRs allowed to reach the public endpoint. Empty means open to the internet, which only
    non-production stacks may do; production must list its networks."""

    log_types: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = list(REQUIRED_LOG_TYPES)
    """Control-plane log types sent to CloudWatch Logs; must include api, audit and authenticator."""

    karpenter_replicas: Annotated[int, Field(ge=1, le=3)] = 1
    """Karpenter controller replicas (leader-elected); production runs two."""

    ami_alias: str = f"al2023@{pins.AL2023_AMI_RELEASE}"
    """Karpenter AMI alias for every node: `al2023@vYYYYMMDD` (a dated EKS-optimized AL2023 release) or
    `al2023@latest` (never in production: nodes would change image on their own)."""

    deletion_protection: bool = False
    """EKS deletion protection: the cluster cannot be deleted until this is switched off."""

    @field_validator("kubernetes_version")
    @classmethod
    def _pinned_version(cls, version: str) -> str:
        if version not in pins.EKS_ADDON_VERSIONS:
            raise ValueError(f"add-on versions are pinned only for Kubernetes {', '.join(pins.EKS_ADDON_VERSIONS)}")
        return version

    @field_validator("admin_principal_arns")
    @classmethod
    def _principal_arns(cls, arns: list[str]) -> list[str]:
        bad = [arn for arn in arns if not IAM_PRINCIPAL_ARN.fullmatch(arn)]
        if bad:
            raise ValueError(f"{bad} are not IAM role or user ARNs (arn:aws:iam::<account>:role/<name>)")
        return unique(arns)

    @field_validator("log_types")
    @classmethod
    def _required_logs(cls, types: list[str]) -> list[str]:
        missing = [t for t in REQUIRED_LOG_TYPES if t not in types]
        if missing:
            raise ValueError(f"must include {missing}")
        return unique(types)

    @field_validator("ami_alias")
    @classmethod
    def _alias_shape(cls, alias: str) -> str:
        if not re.fullmatch(r"al2023@(v\d{8}|latest)", alias):
            raise ValueError("must be 'al2023@vYYYYMMDD' (an EKS-optimized AL2023 release) or 'al2023@latest'")
        return alias


class SystemPoolConfig(ConfigModel):
    """The Karpenter NodePool for everything that is not a model server: monitoring, add-ons, ingress."""

    instance_types: list[str] = Field(default_factory=lambda: ["m7i.large", "m7i.xlarge", "m6i.large", "m6i.xlarge"])
    """General-purpose instance types the pool may launch; each must be in the instance catalog."""

    capacity_types: Annotated[list[CapacityType], Field(min_length=1), AfterValidator(unique)] = ["on-demand"]
    """`spot` and/or `on-demand`. With both, Karpenter launches spot and falls back to on-demand."""

    max_cpu: Annotated[int, Field(ge=2, le=512)] = 16
    """The pool's vCPU limit: Karpenter launches nothing past it."""

    @field_validator("instance_types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        return catalog_types(types, catalog.aws_general_families(), "general-purpose")


class DisruptionWindow(ConfigModel):
    """A recurring window in which Karpenter may not voluntarily disrupt GPU nodes."""

    schedule: str
    """Start of the window as a 5-field cron expression in UTC, e.g. `0 0 * * mon-fri` (09:00 KST)."""

    duration: Duration
    """How long the window lasts, e.g. `9h`."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        fields = schedule.split(" ")
        if len(fields) != CRON_FIELDS or not all(_cron_field(field, *bounds) for field, bounds in zip(fields, CRON_BOUNDS)):
            raise ValueError(
                "must be a 5-field cron expression in UTC: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, "
                "day of week 0-7 or sun-sat; each field `*`, a value, a range a-b, a list, with an optional /step"
            )
        return schedule


class AwsConfig(ConfigModel):
    """Everything an AWS stack configures besides what both clouds share."""

    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """The VPC and its subnets."""

    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """The EKS cluster."""

    system_pool: SystemPoolConfig = Field(default_factory=SystemPoolConfig)
    """Nodes for everything that is not a model server."""

    gpu_quiet_hours: DisruptionWindow | None = None
    """When set, Karpenter does not voluntarily disrupt GPU nodes (consolidation, drift, expiry) inside
    this window: serving hours, when a restarting model server would be felt."""

    docker_hub_secret: str = f"{PULL_THROUGH_CACHE_SECRET_PREFIX}docker-hub"
    """Name of the Secrets Manager secret, in the stack's account and region, holding a Docker Hub user
    and access token as JSON (`{"username": "...", "accessToken": "..."}`). The ECR pull-through cache
    that serves the vLLM image in the region signs in to Docker Hub with it (ECR requires credentials for
    Docker Hub); create it before `pulumi up`. The program reads only its ARN, never its value."""

    @field_validator("docker_hub_secret")
    @classmethod
    def _pull_through_cache_secret(cls, name: str) -> str:
        if not name.startswith(PULL_THROUGH_CACHE_SECRET_PREFIX) or len(name) == len(PULL_THROUGH_CACHE_SECRET_PREFIX) or not SECRET_NAME.fullmatch(name):
            raise ValueError(f"must be a Secrets Manager secret name starting with {PULL_THROUGH_CACHE_SECRET_PREFIX} (ECR reads pull-through cache credentials only from those)")
        return name


class AwsGpuPool(GpuPoolBase):
    """A Karpenter NodePool of GPU instances. Give an on-demand baseline pool a higher `weight` and a spot
    burst pool of the same group a lower one."""

    instance_types: list[str]
    """GPU instance types the pool may launch, e.g. `g6.xlarge`; each must be in the instance catalog."""

    capacity_types: Annotated[list[CapacityType], Field(min_length=1), AfterValidator(unique)]
    """`spot` and/or `on-demand`. With both, Karpenter launches spot and falls back to on-demand when spot
    capacity is short."""

    max_gpus: Annotated[int, Field(ge=1, le=512)]
    """The NodePool's `nvidia.com/gpu` limit: the most GPUs the pool can hold. Required: an unbounded GPU
    pool is refused."""

    weight: Annotated[int, Field(ge=1, le=100)] = 10
    """Karpenter tries pools with a higher weight first."""

    consolidate_after: Duration = "10m"
    """How long a GPU node must sit empty before Karpenter removes it."""

    expire_after: Duration = "720h"
    """Maximum node lifetime, so that nodes pick up new AMIs and patches."""

    @field_validator("instance_types")
    @classmethod
    def _known_gpu_types(cls, types: list[str]) -> list[str]:
        gpu_families = {name: family.sizes for name, family in catalog.aws_gpu_families().items()}
        return catalog_types(types, gpu_families, "GPU")

    def sizes(self) -> list[catalog.InstanceType]:
        return [catalog.aws_instance_type(name) for name in self.instance_types]


class AwsStackConfig(StackBase):
    """A stack on AWS: EKS with Karpenter GPU node pools."""

    cloud: Literal["aws"]
    """`aws`: EKS with Karpenter."""

    aws: AwsConfig = Field(default_factory=AwsConfig)
    """The VPC, the EKS cluster, the system pool, GPU quiet hours and the optional HTTPS endpoint."""

    gpu_pools: list[AwsGpuPool] = Field(default_factory=list)
    """GPU node pools (Karpenter NodePools); each is bounded by its `maxGpus`."""

    OBJECT_STORE: ClassVar[str] = S3Location.SCHEME

    @classmethod
    def regions(cls) -> tuple[str, ...]:
        return catalog.aws_regions()

    def cloud_violations(self) -> Rules:
        if self.gateway and self.gateway.acme_email is not None:
            yield Violation("gateway.acmeEmail", self.gateway.acme_email, "an AWS gateway's certificate comes from ACM, not Let's Encrypt: remove it")
        yield from self.unpriced_types("aws.systemPool.instanceTypes", [catalog.aws_instance_type(name) for name in self.aws.system_pool.instance_types])
        for index, pool in enumerate(self.gpu_pools):
            yield from self.unpriced_types(f"gpuPools[{index}].instanceTypes", pool.sizes())
        yield from aws_tag_violations(self.tags)
        zones = len(catalog.aws_region_zones(self.region))
        if self.aws.network.az_count > zones:
            yield Violation("aws.network.azCount", self.aws.network.az_count, f"region {self.region} has {zones} availability zones")
        # Every canary with weights of its own gets a role too.
        yield from distinct_names("IAM role", {model.name: model_role_name(self.cluster_name, model.name) for model in releases(self.models)})
        if self.environment != "production":
            return
        aws = self.aws
        cluster = aws.cluster
        # Judged by the addresses admitted (the policy pack's rule and threshold), however they are spelt.
        if cluster.endpoint_public_access and (problem := cidrs.judge(cluster.public_access_cidrs or ["0.0.0.0/0"])):
            yield Violation(
                "aws.cluster.publicAccessCidrs",
                plain(cluster.public_access_cidrs),
                f"production must list the networks allowed to reach the public API endpoint, or set endpointPublicAccess: false; this list {problem}",
            )
        if cluster.ami_alias.endswith("@latest"):
            yield Violation("aws.cluster.amiAlias", cluster.ami_alias, "production pins a dated AMI release; '@latest' changes node images without a review")
        if cluster.karpenter_replicas < 2:
            yield Violation("aws.cluster.karpenterReplicas", cluster.karpenter_replicas, "production runs at least two Karpenter replicas")
        if "spot" in aws.system_pool.capacity_types:
            yield Violation("aws.systemPool.capacityTypes", aws.system_pool.capacity_types, "production runs monitoring and add-ons on on-demand nodes only")
        if aws.network.nat_gateways != "perAz":
            yield Violation(
                "aws.network.natGateways", aws.network.nat_gateways, "production must use 'perAz' so that one zone's outage does not cut egress for the others"
            )
        if aws.network.flow_logs is None:
            yield Violation("aws.network.flowLogs", None, "production must record VPC flow logs")

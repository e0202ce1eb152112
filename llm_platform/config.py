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

from llm_platform_policy import catalog
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from llm_platform import pins
from llm_platform.contract import NAME_RULE, is_valid_name, parse_model_source, weights_bucket_name

NAMESPACE = "llm-platform"

# Tags the platform sets on every resource itself; a stack may not redefine them.
RESERVED_TAG_KEYS = ("environment", "project", "managed-by")

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy API reference).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
# Karpenter durations are Go durations restricted to hours/minutes/seconds (NodePool CRD pattern).
DURATION = re.compile(r"^(([0-9]+(s|m|h))+)$")
CRON_FIELDS = 5
# Google Cloud project ids: 6-30 characters, lowercase letters, digits and hyphens, starting with a
# letter, not ending with a hyphen (Resource Manager `projects.create` reference).
GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Cloud Billing account ids, e.g. 012345-6789AB-CDEF01 (Cloud Billing API `billingAccounts` reference).
BILLING_ACCOUNT_ID = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
# Google Cloud label keys and values: lowercase letters, digits, '_' and '-', at most 63 characters;
# keys start with a letter (Resource Manager "Labels" requirements).
GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
# Cloud Storage bucket names (without dots) are at most 63 characters.
GCS_BUCKET_MAX_LENGTH = 63
# EKS control-plane log types that security reviews need at the least.
REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")


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


def _duration(value: str) -> str:
    if not DURATION.match(value):
        raise ValueError("must be a duration in hours, minutes or seconds, e.g. '10m' or '720h'")
    return value


Duration = Annotated[str, AfterValidator(_duration)]


def _dns_label(name: str) -> str:
    if not is_valid_name(name):
        raise ValueError(f"must be {NAME_RULE}")
    return name


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
CapacityType = Literal["spot", "on-demand"]


def _catalog_types(types: list[str], families: dict[str, tuple[catalog.InstanceType, ...]], kind: str) -> list[str]:
    """Refuse instance types the catalog does not price, naming the families it does know."""
    known = {size.name for sizes in families.values() for size in sizes}
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ValueError(f"unknown {kind} instance types {unknown}; the catalog knows families {', '.join(families)}")
    if not types:
        raise ValueError("must list at least one instance type")
    return _unique(types)


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an entry")
    return values


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
        bad = [arn for arn in arns if not IAM_PRINCIPAL_ARN.match(arn)]
        if bad:
            raise ValueError(f"{bad} are not IAM role or user ARNs (arn:aws:iam::<account>:role/<name>)")
        return _unique(arns)

    @field_validator("log_types")
    @classmethod
    def _required_logs(cls, types: list[str]) -> list[str]:
        missing = [t for t in REQUIRED_LOG_TYPES if t not in types]
        if missing:
            raise ValueError(f"must include {missing}")
        return _unique(types)

    @field_validator("ami_alias")
    @classmethod
    def _alias_shape(cls, alias: str) -> str:
        if not re.match(r"^al2023@(v\d{8}|latest)$", alias):
            raise ValueError("must be 'al2023@vYYYYMMDD' (an EKS-optimized AL2023 release) or 'al2023@latest'")
        return alias


class SystemPoolConfig(ConfigModel):
    """The Karpenter NodePool for everything that is not a model server: monitoring, add-ons, ingress."""

    instance_types: list[str] = Field(default_factory=lambda: ["m7i.large", "m7i.xlarge", "m6i.large", "m6i.xlarge"])
    """General-purpose instance types the pool may launch; each must be in the instance catalog."""

    capacity_types: Annotated[list[CapacityType], Field(min_length=1), AfterValidator(_unique)] = ["on-demand"]
    """`spot` and/or `on-demand`. With both, Karpenter launches spot and falls back to on-demand."""

    max_cpu: Annotated[int, Field(ge=2, le=512)] = 16
    """The pool's vCPU limit: Karpenter launches nothing past it."""

    @field_validator("instance_types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        return _catalog_types(types, catalog.aws_general_families(), "general-purpose")


class DisruptionWindow(ConfigModel):
    """A recurring window in which Karpenter may not voluntarily disrupt GPU nodes."""

    schedule: str
    """Start of the window as a 5-field cron expression in UTC, e.g. `0 0 * * mon-fri` (09:00 KST)."""

    duration: Duration
    """How long the window lasts, e.g. `9h`."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        if len(schedule.split()) != CRON_FIELDS:
            raise ValueError("must be a 5-field cron expression (minute hour day-of-month month day-of-week), in UTC")
        return schedule


class GpuPoolConfig(ConfigModel):
    """One pool of GPU nodes: a Karpenter NodePool on AWS, a GKE node pool on Google Cloud."""

    name: DnsLabel
    """Pool name (DNS label); the node pool is `gpu-<name>` and its nodes carry `llm-platform.io/pool: <name>`."""

    group: str | None = None
    """Pools of one group serve the same models: their nodes carry `llm-platform.io/pool-group: <group>`,
    which workloads select. Defaults to the pool name. On AWS, give an on-demand baseline pool a higher
    `weight` and a spot burst pool of the same group a lower one."""

    capacity_types: Annotated[list[CapacityType], Field(min_length=1), AfterValidator(_unique)]
    """`spot` and/or `on-demand`. On AWS, with both, Karpenter launches spot and falls back to on-demand
    when spot capacity is short. A GKE node pool is one or the other: declare two pools of one group."""

    max_gpus: Annotated[int, Field(ge=1, le=512)]
    """The most GPUs the pool can hold (the NodePool's `nvidia.com/gpu` limit on AWS, the node pool's total
    autoscaling maximum times GPUs per node on Google Cloud). Required: an unbounded GPU pool is refused."""

    root_volume_gib: Annotated[int, Field(ge=100, le=2000)] = 200
    """Encrypted boot disk per node (gp3 on AWS, pd-balanced on Google Cloud): container images (vLLM's is
    ~10 GB) plus cached model weights."""

    # -- AWS (Karpenter) ------------------------------------------------------------------------------
    instance_types: list[str] | None = None
    """AWS: GPU instance types the pool may launch, e.g. `g6.xlarge`; each must be in the instance catalog."""

    weight: Annotated[int, Field(ge=1, le=100)] = 10
    """AWS: Karpenter tries pools with a higher weight first."""

    consolidate_after: Duration = "10m"
    """AWS: how long a GPU node must sit empty before Karpenter removes it."""

    expire_after: Duration = "720h"
    """AWS: maximum node lifetime, so that nodes pick up new AMIs and patches."""

    # -- Google Cloud (GKE) ---------------------------------------------------------------------------
    machine_type: str | None = None
    """Google Cloud: the accelerator-optimized machine type of every node, e.g. `g2-standard-8` (L4),
    `a2-highgpu-1g` (A100 40GB), `a3-highgpu-1g` (H100 80GB); must be in the instance catalog."""

    accelerator_type: str | None = None
    """Google Cloud: the GPU type the machine type carries, e.g. `nvidia-l4`; stated so that a reviewer
    sees the GPU in the stack file, and checked against the machine type."""

    accelerator_count: Annotated[int, Field(ge=1, le=16)] | None = None
    """Google Cloud: GPUs per node; must be what the machine type carries."""

    zones: list[str] | None = None
    """Google Cloud: zones of the region that offer the GPU, e.g. `[us-central1-a, us-central1-c]`;
    defaults to the cluster's node zones. GPUs are not offered in every zone."""

    @field_validator("instance_types")
    @classmethod
    def _known_gpu_types(cls, types: list[str] | None) -> list[str] | None:
        if types is None:
            return None
        gpu_families = {name: family.sizes for name, family in catalog.aws_gpu_families().items()}
        return _catalog_types(types, gpu_families, "GPU")

    @field_validator("machine_type")
    @classmethod
    def _known_machine_type(cls, machine_type: str | None) -> str | None:
        if machine_type is not None:
            gpu_families = {name: family.sizes for name, family in catalog.gcp_gpu_families().items()}
            _catalog_types([machine_type], gpu_families, "GPU machine")
        return machine_type

    @field_validator("zones")
    @classmethod
    def _zones(cls, zones: list[str] | None) -> list[str] | None:
        if zones is None:
            return None
        if not zones:
            raise ValueError("must list at least one zone, or be left out")
        return _unique(zones)

    @property
    def pool_group(self) -> str:
        return self.group or self.name

    def sizes(self) -> list[catalog.InstanceType]:
        if self.machine_type:
            return [catalog.gcp_machine_type(self.machine_type)]
        return [catalog.aws_instance_type(name) for name in self.instance_types or []]


# Pool fields that only one cloud reads; setting one on the other cloud's stack is a mistake to report.
AWS_POOL_FIELDS = ("instance_types", "weight", "consolidate_after", "expire_after")
GCP_POOL_FIELDS = ("machine_type", "accelerator_type", "accelerator_count", "zones")


class AlertThresholds(ConfigModel):
    """Alert thresholds; the defaults are the seeds' production-chatbot values."""

    latency_p99_seconds: Annotated[float, Field(gt=0)] = 10
    """HighLatency: p99 end-to-end request latency above this for 5 minutes (warning)."""

    time_to_first_token_p95_seconds: Annotated[float, Field(gt=0)] = 3
    """SlowFirstToken: p95 time to first token above this for 5 minutes (warning); the infrastructure
    guide's 3-second p95 for interactive chat."""

    error_rate_percent: Annotated[float, Field(gt=0, le=100)] = 1
    """HighErrorRate: share of requests answered with a 5xx above this for 5 minutes (critical)."""

    kv_cache_usage_percent: Annotated[float, Field(gt=0, le=100)] = 95
    """KvCachePressure: KV-cache usage above this for 10 minutes (warning); requests start to queue and
    get preempted."""

    waiting_requests_per_replica: Annotated[float, Field(gt=0)] = 20
    """LongRequestQueue: average waiting requests per replica above this for 5 minutes (warning)."""

    gpu_memory_percent: Annotated[float, Field(gt=0, le=100)] = 95
    """GpuMemoryPressure: GPU framebuffer use above this for 5 minutes (warning). vLLM reserves its
    `gpuMemoryUtilization` share at start, so this fires on memory used beyond that."""

    gpu_pending_minutes: Annotated[int, Field(ge=1, le=120)] = 10
    """GpuPodsPending: a pod requesting GPUs pending longer than this (critical): Karpenter cannot find
    capacity, hit a quota or the pool's limit."""

    spot_interruptions_per_hour: Annotated[int, Field(ge=1)] = 2
    """SpotInterruptions: more spot interruption notices than this in an hour (warning)."""


class SmtpConfig(ConfigModel):
    """The mail relay Alertmanager sends alert e-mail through (Google Cloud stacks: there is no SNS).
    Compute Engine blocks outbound port 25, so use a relay on 587 or 465."""

    smarthost: str
    """`host:port` of the relay, e.g. `smtp-relay.gmail.com:587` (Google Workspace's SMTP relay)."""

    sender: str = Field(alias="from")
    """The From address."""

    username: str | None = None
    """Relay login. Without it Alertmanager sends unauthenticated: use a relay that admits the cluster's
    Cloud NAT address (`pulumi stack output natAddresses`), such as the Workspace relay with IP
    authentication. With it, set the password as the secret `llm-platform:alertSmtpPassword`."""

    require_tls: bool = True
    """Refuse to send unless the relay offers STARTTLS."""

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, smarthost: str) -> str:
        host, _, port = smarthost.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. smtp-relay.gmail.com:587")
        if int(port) == 25:
            raise ValueError("Compute Engine blocks outbound port 25; use the relay's port 587 or 465")
        return smarthost

    @field_validator("sender")
    @classmethod
    def _sender(cls, sender: str) -> str:
        return _email_list([sender])[0]


class ObservabilityConfig(ConfigModel):
    """Prometheus, Alertmanager and Grafana (kube-prometheus-stack), DCGM GPU metrics and KEDA."""

    retention_days: Annotated[int, Field(ge=1, le=365)] = 7
    """How long Prometheus keeps samples."""

    prometheus_storage_gib: Annotated[int, Field(ge=10, le=4096)] | None = None
    """Persistent gp3 volume per Prometheus replica; without it Prometheus keeps its data on the node
    and loses it when the pod moves (acceptable for staging only)."""

    prometheus_replicas: Annotated[int, Field(ge=1, le=3)] = 1
    """Prometheus replicas (each scrapes everything; two survive a node loss)."""

    alert_emails: Annotated[list[str], Field(min_length=1, max_length=10)]
    """Addresses critical and warning alerts go to. On AWS they subscribe to one SNS topic per severity,
    which Alertmanager publishes to through its own IAM role (no webhook secret, no SMTP password); on
    Google Cloud Alertmanager mails them through `smtp`."""

    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    """Alert thresholds."""

    smtp: SmtpConfig | None = None
    """Google Cloud only, and required there: the mail relay alert e-mail goes through. (AWS stacks
    deliver through SNS and need no relay.)"""

    runbook_base_url: str = "docs/runbooks.md"
    """Where alerts' `runbook_url` annotations point (one anchor per alert), e.g. the runbooks file in
    this repository on your Git host: `https://github.com/<org>/llm-platform/blob/main/docs/runbooks.md`."""

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, emails: list[str]) -> list[str]:
        return _email_list(emails)


# Bytes per weight by precision, for the seeds' fit rule (parameters x bytes x 1.2).
BYTES_PER_PARAMETER = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "awq-4bit": 0.5, "gptq-4bit": 0.5}
# Weights plus activations, CUDA graphs and a minimal KV cache (the seeds' rule of thumb).
FIT_OVERHEAD = 1.2


class EngineConfig(ConfigModel):
    """vLLM engine settings (flags of `vllm serve`)."""

    max_model_len: Annotated[int, Field(ge=256, le=1_048_576)] = 8192
    """`--max-model-len`: longest prompt plus output, in tokens."""

    gpu_memory_utilization: Annotated[float, Field(gt=0.1, le=0.98)] = 0.90
    """`--gpu-memory-utilization`: share of GPU memory vLLM reserves for weights and KV cache."""

    max_num_seqs: Annotated[int, Field(ge=1, le=4096)] = 64
    """`--max-num-seqs`: sequences batched at once."""

    prefix_caching: bool = True
    """`--enable-prefix-caching`: reuse KV cache across requests sharing a prompt prefix (system prompts)."""

    chunked_prefill: bool = True
    """`--enable-chunked-prefill`: split long prompts so decoding of running requests keeps flowing."""

    max_num_batched_tokens: Annotated[int, Field(ge=256)] | None = None
    """`--max-num-batched-tokens`; vLLM's default when absent."""

    extra_args: list[str] = Field(default_factory=list)
    """Further `vllm serve` flags, passed verbatim after the ones above."""

    @field_validator("extra_args")
    @classmethod
    def _not_managed(cls, args: list[str]) -> list[str]:
        managed = {"--model", "--port", "--host", "--api-key", "--served-model-name", "--tensor-parallel-size"}
        clash = [arg for arg in args if arg.split("=")[0] in managed]
        if clash:
            raise ValueError(f"{clash} are set by the platform")
        return args


class ModelResources(ConfigModel):
    """CPU and memory per replica (GPUs come from `gpusPerReplica`)."""

    cpu: Annotated[float, Field(gt=0)] = 3
    """vCPUs requested."""

    memory_gib: Annotated[int, Field(ge=4)] = 12
    """Memory requested and limited, GiB."""


class ModelConfig(ConfigModel):
    """One model served by vLLM behind an OpenAI-compatible API."""

    name: DnsLabel
    """Model name: the Deployment, Service and served model name (what clients put in `model`)."""

    source: str
    """`hf://org/model` (staged into the stack's weights bucket with `make stage-model`), or weights already
    in the stack cloud's object store: `s3://bucket/prefix` (AWS) or `gs://bucket/prefix` (Google Cloud)."""

    revision: str | None = None
    """Hugging Face revision (commit, tag or branch) to stage and, as a fallback, to download."""

    parameters_billion: Annotated[float, Field(gt=0, le=2000)]
    """Parameter count in billions, for the fit check."""

    precision: Literal["bf16", "fp16", "fp8", "int8", "awq-4bit", "gptq-4bit"] = "bf16"
    """Weight precision, for the fit check."""

    pool_group: str
    """The GPU pool group the model runs on (`gpuPools[].group`, or a pool's name)."""

    gpus_per_replica: Annotated[int, Field(ge=1, le=8)] = 1
    """GPUs per replica (`--tensor-parallel-size`); tensor parallelism stays inside one node."""

    min_replicas: Annotated[int, Field(ge=0, le=64)] = 1
    """Replicas kept when idle; 0 lets KEDA scale the model to zero."""

    max_replicas: Annotated[int, Field(ge=1, le=64)] = 2
    """Replicas at most; times `gpusPerReplica` it must fit the pool group's `maxGpus`."""

    target_waiting_per_replica: Annotated[int, Field(ge=1, le=1000)] = 5
    """Scale out when vLLM's waiting requests per replica pass this (the seeds' HPA target)."""

    startup_seconds: Annotated[int, Field(ge=60, le=3600)] = 900
    """How long a replica may take to fetch and load weights before it is restarted."""

    engine: EngineConfig = Field(default_factory=EngineConfig)
    """vLLM engine settings."""

    resources: ModelResources = Field(default_factory=ModelResources)
    """CPU and memory per replica."""

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        parse_model_source(source)
        return source

    @property
    def weights_gib(self) -> float:
        return self.parameters_billion * 1e9 * BYTES_PER_PARAMETER[self.precision] / 2**30

    @property
    def required_gb(self) -> float:
        return self.parameters_billion * BYTES_PER_PARAMETER[self.precision] * FIT_OVERHEAD


class IngressConfig(ConfigModel):
    """An HTTPS endpoint for the models through an AWS Application Load Balancer."""

    scheme: Literal["internal", "internet-facing"] = "internal"
    """`internal`: reachable from the VPC and networks routed to it; `internet-facing`: public."""

    host: str
    """DNS name clients use; point it at the load balancer (`pulumi stack output ingressHostname`)."""

    certificate_arn: str
    """ACM certificate for `host` in the stack's region (TLS ends at the load balancer)."""

    allowed_cidrs: list[ipaddress.IPv4Network] = Field(default_factory=list)
    """Networks allowed to connect; empty means anywhere the scheme reaches (only non-production)."""

    @field_validator("certificate_arn")
    @classmethod
    def _acm(cls, arn: str) -> str:
        if not re.match(r"^arn:aws(-[a-z]+)*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$", arn):
            raise ValueError("must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
        return arn


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


def _email_list(emails: list[str]) -> list[str]:
    bad = [email for email in emails if not EMAIL.match(email)]
    if bad:
        raise ValueError(f"{bad} are not e-mail addresses")
    return _unique(emails)


class BudgetConfig(ConfigModel):
    """A budget that watches the stack's actual and forecast monthly spend: an AWS Budget, or a Cloud
    Billing budget scoped to the stack's project."""

    monthly_limit_usd: Annotated[float, Field(gt=0)]
    """Monthly budget in USD. The policy pack refuses a limit above the environment's policy budget."""

    alert_emails: Annotated[list[str], Field(min_length=1, max_length=10)]
    """Addresses notified at the forecast and actual thresholds (AWS Budgets allows ten per notification)."""

    forecast_threshold_percent: Annotated[float, Field(gt=0, le=1000)] = 80
    """Notify when the forecast for the month passes this share of the limit."""

    actual_threshold_percent: Annotated[float, Field(gt=0, le=1000)] = 100
    """Notify when actual spend passes this share of the limit."""

    billing_account: str | None = None
    """Google Cloud only, and required there: the Cloud Billing account that pays for the project
    (`gcloud billing projects describe <project>`), e.g. `012345-6789AB-CDEF01`."""

    @field_validator("billing_account")
    @classmethod
    def _billing_account(cls, account: str | None) -> str | None:
        if account is not None and not BILLING_ACCOUNT_ID.match(account):
            raise ValueError("must be a Cloud Billing account id: three groups of six uppercase hex digits, e.g. 012345-6789AB-CDEF01")
        return account

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, emails: list[str]) -> list[str]:
        return _email_list(emails)


class GcpNetworkConfig(ConfigModel):
    """The VPC network of a Google Cloud stack: one regional subnetwork for the nodes, with secondary
    ranges for pods and services (VPC-native cluster), Cloud Router and Cloud NAT for the private nodes."""

    nodes_cidr: PrivateNetwork = ipaddress.IPv4Network("10.40.0.0/20")
    """The subnetwork's primary range (node addresses): a /20 holds 4,000 nodes."""

    pods_cidr: PrivateNetwork = ipaddress.IPv4Network("10.44.0.0/14")
    """Secondary range for pods. GKE gives every node a /24 by default (110 pods), so a /14 allows 1,024 nodes."""

    services_cidr: PrivateNetwork = ipaddress.IPv4Network("10.48.0.0/20")
    """Secondary range for Service cluster IPs."""

    control_plane_cidr: PrivateNetwork = ipaddress.IPv4Network("172.16.0.0/28")
    """The /28 GKE peers the private control plane into; must not overlap any other range."""

    nat_addresses: Annotated[int, Field(ge=1, le=8)] = 1
    """Static external addresses Cloud NAT uses: fixed so that relays and partner allowlists can trust them.
    Each address carries 64,512 concurrent connections per destination."""

    flow_logs: bool = False
    """VPC flow logs on the subnetwork (sampled 50%, 5-second aggregation)."""

    @field_validator("control_plane_cidr")
    @classmethod
    def _slash_28(cls, network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if network.prefixlen != 28:
            raise ValueError("GKE needs exactly a /28 for the private control plane")
        return network

    @model_validator(mode="after")
    def _disjoint(self) -> GcpNetworkConfig:
        ranges = {"nodesCidr": self.nodes_cidr, "podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr, "controlPlaneCidr": self.control_plane_cidr}
        names = list(ranges)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                if ranges[first].overlaps(ranges[second]):
                    raise ValueError(f"{first} {ranges[first]} overlaps {second} {ranges[second]}: every range must be disjoint")
        return self


class GkeClusterConfig(ConfigModel):
    """The GKE Standard control plane (regional)."""

    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    """Release channel GKE upgrades the control plane and nodes on. RAPID is refused in production."""

    authorized_networks: list[StrictNetwork] = Field(default_factory=list)
    """CIDRs allowed to reach the control plane's public endpoint (master authorized networks). Empty
    means anywhere, which only non-production stacks may do."""

    private_endpoint: bool = False
    """Serve the control plane on its private address only (reach it through a VPN or bastion)."""

    node_zones: list[str] | None = None
    """Zones of the region nodes run in; GKE picks three when absent."""

    gpu_driver_version: Literal["DEFAULT", "LATEST"] = "DEFAULT"
    """GKE installs the NVIDIA driver on GPU nodes: `DEFAULT` is the driver version GKE pins for the node
    version (changes only with a node upgrade), `LATEST` the newest it offers for it."""

    deletion_protection: bool = False
    """Refuse `pulumi destroy` of the cluster until this is switched off."""

    @field_validator("authorized_networks")
    @classmethod
    def _networks(cls, networks: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        return _unique(networks)

    @field_validator("node_zones")
    @classmethod
    def _zones(cls, zones: list[str] | None) -> list[str] | None:
        return None if zones is None else _unique(zones)


class GkeSystemPoolConfig(ConfigModel):
    """The GKE node pool for everything that is not a model server: monitoring, add-ons."""

    machine_type: str = "e2-standard-4"
    """General-purpose machine type; must be in the instance catalog."""

    min_nodes: Annotated[int, Field(ge=1, le=100)] = 2
    """Nodes at least, over all zones (the autoscaler's total minimum)."""

    max_nodes: Annotated[int, Field(ge=1, le=100)] = 4
    """Nodes at most, over all zones (the autoscaler's total maximum)."""

    spot: bool = False
    """Run the system pool on Spot VMs (refused in production)."""

    disk_size_gib: Annotated[int, Field(ge=20, le=1000)] = 100
    """pd-balanced boot disk per node."""

    @field_validator("machine_type")
    @classmethod
    def _known_type(cls, machine_type: str) -> str:
        return _catalog_types([machine_type], catalog.gcp_general_families(), "general-purpose")[0]

    @model_validator(mode="after")
    def _bounds(self) -> GkeSystemPoolConfig:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes {self.min_nodes} exceeds maxNodes {self.max_nodes}")
        return self


class GcpConfig(ConfigModel):
    """Everything a Google Cloud stack needs besides what both clouds share."""

    project: str
    """The project everything is created in (project id, not number)."""

    network: GcpNetworkConfig = Field(default_factory=GcpNetworkConfig)
    """The VPC network and Cloud NAT."""

    cluster: GkeClusterConfig = Field(default_factory=GkeClusterConfig)
    """The GKE cluster."""

    system_pool: GkeSystemPoolConfig = Field(default_factory=GkeSystemPoolConfig)
    """Nodes for everything that is not a model server."""

    @field_validator("project")
    @classmethod
    def _project_id(cls, project: str) -> str:
        if not GCP_PROJECT_ID.match(project):
            raise ValueError("must be a project id: 6-30 lowercase letters, digits or '-', starting with a letter")
        return project


class StackConfig(ConfigModel):
    """Everything one stack (environment) configures, read from `llm-platform:*` config keys."""

    environment: Literal["dev", "staging", "production"]
    """Environment tier. `production` switches on the stricter rules (HA NAT, flow logs, pinned AMIs, ...)."""

    cloud: Literal["aws", "gcp"] = "aws"
    """Cloud the stack deploys to: `aws` (EKS with Karpenter) or `gcp` (GKE Standard). The in-cluster
    platform (monitoring, alerts, dashboards, model serving) is the same on both."""

    region: str
    """Cloud region, e.g. `us-west-2` or `us-central1`. Must be a region where the instance catalog prices
    every supported instance type of the stack's cloud, so that every pool's cost can be bounded."""

    cluster_name: DnsLabel
    """Kubernetes cluster name; also used for Karpenter discovery tags. DNS label, at most 40 characters
    so that derived IAM role names stay within IAM's 64-character limit."""

    tags: dict[str, str] = Field(default_factory=dict)
    """Extra tags for every taggable resource (cost centre, owner, ...). `environment`, `project` and
    `managed-by` are set by the platform and cannot be overridden."""

    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """AWS: the VPC and its subnets."""

    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """AWS: the EKS cluster."""

    system_pool: SystemPoolConfig = Field(default_factory=SystemPoolConfig)
    """AWS: nodes for everything that is not a model server."""

    gcp: GcpConfig | None = None
    """Google Cloud: the project, network, GKE cluster and system pool; required when `cloud` is `gcp`."""

    budget: BudgetConfig
    """The stack's budget (AWS Budgets or Cloud Billing); required so that actual spend is always watched."""

    observability: ObservabilityConfig
    """Monitoring, GPU metrics, dashboards and alerts; required so that every stack pages someone."""

    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list)
    """GPU node pools; each is bounded by its `maxGpus`."""

    models: list[ModelConfig] = Field(default_factory=list)
    """Models to serve, each on a GPU pool group."""

    ingress: IngressConfig | None = None
    """An HTTPS endpoint for the models; without it, reach them with `kubectl port-forward`."""

    hugging_face_token: str | None = None
    """Secret (`pulumi config set --secret llm-platform:huggingFaceToken hf_...`): lets a pod download
    an `hf://` model from Hugging Face when it was not staged in S3 (gated models need it)."""

    alert_smtp_password: str | None = None
    """Secret (`pulumi config set --secret llm-platform:alertSmtpPassword ...`), Google Cloud only: the
    password of `observability.smtp.username`."""

    gpu_quiet_hours: DisruptionWindow | None = None
    """AWS: when set, Karpenter does not voluntarily disrupt GPU nodes (consolidation, drift, expiry) inside
    this window: serving hours, when a restarting model server would be felt."""

    @field_validator("region")
    @classmethod
    def _region_in_catalog(cls, region: str, info: ValidationInfo) -> str:
        known = catalog.gcp_regions() if info.data.get("cloud") == "gcp" else catalog.aws_regions()
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
        names = [pool.name for pool in self.gpu_pools]
        for duplicate in sorted({n for n in names if names.count(n) > 1}):
            yield _violation("gpuPools", duplicate, "pool names must be unique")
        if self.cloud == "gcp":
            yield from self._gcp_violations()
        else:
            yield from self._aws_violations()
        yield from self._shared_production_violations()
        yield from self._model_violations()

    def _aws_violations(self):
        for index, pool in enumerate(self.gpu_pools):
            if not pool.instance_types:
                yield _violation(f"gpuPools[{index}].instanceTypes", None, "an AWS pool lists the instance types Karpenter may launch")
            yield from _foreign_fields(f"gpuPools[{index}]", pool, GCP_POOL_FIELDS, "a GKE setting; AWS pools use instanceTypes")
        foreign = {
            "gcp": self.gcp,
            "budget.billingAccount": self.budget.billing_account,
            "observability.smtp": self.observability.smtp,
            "alertSmtpPassword": self.alert_smtp_password,
        }
        for key, value in foreign.items():
            if value is not None:
                yield _violation(key, "[secret]" if key == "alertSmtpPassword" else _plain(value), "is a Google Cloud setting; this stack's cloud is aws")
        for index, model in enumerate(self.models):
            if model.source.startswith("gs://"):
                yield _violation(f"models[{index}].source", model.source, "an AWS stack reads weights from S3 (s3://) or Hugging Face (hf://)")
        cluster = self.cluster
        if self.environment == "production":
            if cluster.endpoint_public_access and (not cluster.public_access_cidrs or any(c.prefixlen == 0 for c in cluster.public_access_cidrs)):
                yield _violation("cluster.publicAccessCidrs", [str(c) for c in cluster.public_access_cidrs],
                                 "production must list the networks allowed to reach the public API endpoint (not 0.0.0.0/0), or set endpointPublicAccess: false")
            if cluster.ami_alias.endswith("@latest"):
                yield _violation("cluster.amiAlias", cluster.ami_alias, "production pins a dated AMI release; '@latest' changes node images without a review")
            if cluster.karpenter_replicas < 2:
                yield _violation("cluster.karpenterReplicas", cluster.karpenter_replicas, "production runs at least two Karpenter replicas")
            if "spot" in self.system_pool.capacity_types:
                yield _violation("systemPool.capacityTypes", self.system_pool.capacity_types, "production runs monitoring and add-ons on on-demand nodes only")
            if self.network.nat_gateways != "perAz":
                yield _violation("network.natGateways", self.network.nat_gateways,
                                 "production must use 'perAz' so that one zone's outage does not cut egress for the others")
            if self.network.flow_logs is None:
                yield _violation("network.flowLogs", None, "production must record VPC flow logs")

    def _gcp_violations(self):
        if self.gcp is None:
            yield _violation("gcp", None, "a gcp stack sets gcp.project (and, optionally, gcp.network, gcp.cluster and gcp.systemPool)")
            return
        for key in ("network", "cluster", "system_pool", "gpu_quiet_hours"):
            if key in self.model_fields_set:
                yield _violation(to_camel(key), _plain(getattr(self, key)), "is an AWS setting; a gcp stack configures gcp.network, gcp.cluster and gcp.systemPool")
        if self.ingress is not None:
            yield _violation("ingress", _plain(self.ingress), "is not available on gcp yet; reach models in the cluster or through `kubectl port-forward`")
        if self.budget.billing_account is None:
            yield _violation("budget.billingAccount", None, "a gcp stack names the Cloud Billing account its budget watches")
        smtp = self.observability.smtp
        if smtp is None:
            yield _violation("observability.smtp", None, "a gcp stack names the mail relay Alertmanager sends alerts through")
        elif bool(smtp.username) != bool(self.alert_smtp_password):
            yield _violation("alertSmtpPassword", "[secret]" if self.alert_smtp_password else None,
                             "is set exactly when observability.smtp.username is (`pulumi config set --secret llm-platform:alertSmtpPassword ...`)")
        bucket = weights_bucket_name(self.cluster_name, self.gcp.project)
        if len(bucket) > GCS_BUCKET_MAX_LENGTH:
            yield _violation("clusterName", self.cluster_name,
                             f"the weights bucket name {bucket} would be {len(bucket)} characters; Cloud Storage allows {GCS_BUCKET_MAX_LENGTH}: shorten clusterName")
        for key in sorted(self.tags):
            if not GCP_LABEL_KEY.match(key) or not GCP_LABEL_VALUE.match(self.tags[key]):
                yield _violation(f"tags.{key}", self.tags[key], "Google Cloud labels are lowercase letters, digits, '_' and '-' (keys start with a letter), at most 63 characters")
        cluster = self.gcp.cluster
        yield from self._zones_outside_region("gcp.cluster.nodeZones", cluster.node_zones)
        for index, pool in enumerate(self.gpu_pools):
            yield from self._gke_pool_violations(f"gpuPools[{index}]", pool)
        for index, model in enumerate(self.models):
            if model.source.startswith("s3://"):
                yield _violation(f"models[{index}].source", model.source, "a gcp stack reads weights from Cloud Storage (gs://) or Hugging Face (hf://)")
        if self.environment == "production":
            if not cluster.private_endpoint and (not cluster.authorized_networks or any(c.prefixlen == 0 for c in cluster.authorized_networks)):
                yield _violation("gcp.cluster.authorizedNetworks", [str(c) for c in cluster.authorized_networks],
                                 "production must list the networks allowed to reach the control plane (not 0.0.0.0/0), or set privateEndpoint: true")
            if cluster.release_channel == "RAPID":
                yield _violation("gcp.cluster.releaseChannel", cluster.release_channel, "production takes REGULAR or STABLE; RAPID versions are not covered by the GKE SLA")
            if self.gcp.system_pool.spot:
                yield _violation("gcp.systemPool.spot", True, "production runs monitoring and add-ons on on-demand nodes only")
            if not self.gcp.network.flow_logs:
                yield _violation("gcp.network.flowLogs", False, "production must record VPC flow logs")

    def _gke_pool_violations(self, key: str, pool: GpuPoolConfig):
        yield from _foreign_fields(key, pool, AWS_POOL_FIELDS, "a Karpenter setting; GKE pools use machineType, acceleratorType and acceleratorCount")
        if not pool.machine_type:
            yield _violation(f"{key}.machineType", None, "a GKE pool names its GPU machine type, e.g. g2-standard-8")
            return
        size = catalog.gcp_machine_type(pool.machine_type)
        family = catalog.gcp_gpu_family_of(pool.machine_type)
        if pool.accelerator_type != family.accelerator_type:
            yield _violation(f"{key}.acceleratorType", pool.accelerator_type, f"{pool.machine_type} carries {family.accelerator_type}")
        if pool.accelerator_count != size.gpus:
            yield _violation(f"{key}.acceleratorCount", pool.accelerator_count, f"{pool.machine_type} carries {size.gpus} GPU(s)")
        if len(pool.capacity_types) != 1:
            yield _violation(f"{key}.capacityTypes", pool.capacity_types, "a GKE node pool is either spot or on-demand; declare two pools of one group for both")
        if pool.max_gpus % size.gpus:
            yield _violation(f"{key}.maxGpus", pool.max_gpus, f"must be a multiple of the {size.gpus} GPU(s) of one {pool.machine_type} node")
        yield from self._zones_outside_region(f"{key}.zones", pool.zones)

    def _zones_outside_region(self, key: str, zones: list[str] | None):
        for zone in zones or []:
            if not zone.startswith(f"{self.region}-"):
                yield _violation(key, zone, f"must be a zone of region {self.region}")

    def _shared_production_violations(self):
        if self.environment == "production" and self.observability.prometheus_storage_gib is None:
            yield _violation("observability.prometheusStorageGib", None, "production keeps Prometheus data on a persistent volume")

    def pools_of_group(self, group: str) -> list[GpuPoolConfig]:
        return [pool for pool in self.gpu_pools if pool.pool_group == group]

    def _model_violations(self):
        model_names = [model.name for model in self.models]
        for duplicate in sorted({n for n in model_names if model_names.count(n) > 1}):
            yield _violation("models", duplicate, "model names must be unique")
        groups = sorted({pool.pool_group for pool in self.gpu_pools})
        for index, model in enumerate(self.models):
            key = f"models[{index}]"
            pools = self.pools_of_group(model.pool_group)
            if not pools:
                yield _violation(f"{key}.poolGroup", model.pool_group, f"must name a GPU pool group of this stack ({', '.join(groups) or 'none defined'})")
                continue
            sizes = [size for pool in pools for size in pool.sizes()]
            if not sizes:
                # The pools' own rules already say what they lack; nothing to fit the model against.
                continue
            most_gpus = max(size.gpus for size in sizes)
            if model.gpus_per_replica > most_gpus:
                yield _violation(f"{key}.gpusPerReplica", model.gpus_per_replica,
                                 f"tensor parallelism stays inside one node, and the largest instance of pool group {model.pool_group} has {most_gpus} GPU(s)")
            hosts = [size for size in sizes if size.gpus >= model.gpus_per_replica] or sizes
            gpu_gb = min(size.gpu_memory_mib for size in hosts) * 2**20 / 1e9
            usable = model.gpus_per_replica * gpu_gb * model.engine.gpu_memory_utilization
            if model.required_gb > usable:
                yield _violation(f"{key}.parametersBillion", model.parameters_billion,
                                 f"{model.parameters_billion:g}B x {BYTES_PER_PARAMETER[model.precision]:g} bytes ({model.precision}) x {FIT_OVERHEAD} = "
                                 f"{model.required_gb:.1f} GB does not fit {model.gpus_per_replica} x {gpu_gb:.1f} GB x {model.engine.gpu_memory_utilization:g} "
                                 f"= {usable:.1f} GB of pool group {model.pool_group}")
            pool_gpus = sum(pool.max_gpus for pool in pools)
            if model.max_replicas * model.gpus_per_replica > pool_gpus:
                yield _violation(f"{key}.maxReplicas", model.max_replicas,
                                 f"{model.max_replicas} replicas x {model.gpus_per_replica} GPU(s) = {model.max_replicas * model.gpus_per_replica} "
                                 f"exceeds the {pool_gpus} GPUs (maxGpus) of pool group {model.pool_group}")
            if model.min_replicas > model.max_replicas:
                yield _violation(f"{key}.minReplicas", model.min_replicas, f"must not exceed maxReplicas ({model.max_replicas})")
            smallest = min(hosts, key=lambda size: (size.vcpus, size.memory_gib))
            # Leave room for the kubelet's reserve and the node's daemonsets (device plugin, DCGM, node exporter).
            if model.resources.cpu > smallest.vcpus * 0.85 or model.resources.memory_gib > smallest.memory_gib * 0.8:
                yield _violation(f"{key}.resources", {"cpu": model.resources.cpu, "memoryGib": model.resources.memory_gib},
                                 f"must fit the smallest instance of pool group {model.pool_group} ({smallest.name}: {smallest.vcpus} vCPU, "
                                 f"{smallest.memory_gib:g} GiB) after system reserves: at most {smallest.vcpus * 0.85:g} vCPU and {smallest.memory_gib * 0.8:g} GiB")
            if self.environment == "production" and model.min_replicas < 2:
                yield _violation(f"{key}.minReplicas", model.min_replicas, "production keeps at least two replicas so one can drain or fail")
        if self.ingress and self.environment == "production" and not self.ingress.allowed_cidrs and self.ingress.scheme == "internet-facing":
            yield _violation("ingress.allowedCidrs", [], "a production internet-facing endpoint must list the networks allowed to reach it")

    def common_tags(self) -> dict[str, str]:
        """Tags for every taggable resource of the stack."""
        return {"environment": self.environment, "project": NAMESPACE, "managed-by": "pulumi", **self.tags}


CROSS_FIELD_SEPARATOR = "\n"


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json", by_alias=True, exclude_unset=True) if isinstance(value, BaseModel) else value


def _foreign_fields(key: str, model: BaseModel, fields: tuple[str, ...], rule: str):
    for name in fields:
        if name in model.model_fields_set:
            yield _violation(f"{key}.{to_camel(name)}", _plain(getattr(model, name)), f"is {rule}")


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

    return decode_flat_config({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()})


def decode_flat_config(flat: dict[str, str]) -> dict[str, Any]:
    """`llm-platform:*` keys of flat Pulumi config (as a program or a stack file holds it), decoded."""
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix):]: _decode(value) for key, value in flat.items() if key.startswith(prefix)}


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

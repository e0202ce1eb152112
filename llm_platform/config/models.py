"""The models a stack serves with vLLM, and the rules that fit them to the stack's GPU pools: the seeds'
rule of thumb for GPU memory, tensor parallelism inside one node, replicas within the pools' GPUs."""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Callable, Literal, Sequence

from pydantic import AfterValidator, Field, PrivateAttr, field_validator

from llm_platform.config.base import ConfigModel, Name, unique
from llm_platform.config.gates import GatesConfig
from llm_platform.config.pools import GpuPoolBase
from llm_platform.config.violations import Rules, Violation
from llm_platform.contract import COMMIT_SHA, LOCATIONS, NAME_RULE, is_bucket_source, is_valid_name, parse_model_source
from llm_platform_policy.schedule import DAY_NUMBERS, Window

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

    trust_remote_code: bool = False
    """`--trust-remote-code`: let vLLM run the Python code a model repository ships (custom architectures).
    That code runs with the pod's access (its weights role, its API key): set this only for a model whose
    repository and revision you have reviewed. The only way to pass the flag; `extraArgs` cannot."""

    extra_args: list[str] = Field(default_factory=list)
    """Further `vllm serve` flags, passed verbatim after the ones above. Flags the platform sets (those
    above, the model path, port and served name) cannot be set again, in any spelling vLLM accepts;
    flags that load code or weaken the server's access control are refused (see `RISKY_FLAGS`)."""

    @field_validator("extra_args")
    @classmethod
    def _not_managed(cls, args: list[str]) -> list[str]:
        problems = [problem for arg in args if (problem := extra_arg_problem(arg))]
        if problems:
            raise ValueError("; ".join(problems))
        return args


class ModelResources(ConfigModel):
    """CPU and memory per replica (GPUs come from `gpusPerReplica`)."""

    cpu: Annotated[float, Field(gt=0)] = 3
    """vCPUs requested."""

    memory_gib: Annotated[int, Field(ge=4)] = 12
    """Memory requested and limited, GiB."""


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# HH:MM within a day: KEDA's cron trigger reads each end of the window as a cron expression (robfig/cron v3),
# whose hours are 0-23, so a window can end no later than 23:59.
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@functools.cache
def _time_zones() -> frozenset[str]:
    # The system's zone files hold a few names that are not zones of the database.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


def _clock(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise ValueError("must be a time of day as HH:MM, 00:00 to 23:59")
    return value


def _time_zone(value: str) -> str:
    # A name of the IANA database (what KEDA's cron trigger loads), not whatever the local system resolves
    # (`localtime`, a file path).
    if value not in _time_zones():
        raise ValueError("must be an IANA time zone such as Asia/Seoul or UTC")
    return value


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class BurstSchedule(ConfigModel):
    """The window in which burst replicas run: the seeds' weekday business hours."""

    time_zone: Annotated[str, AfterValidator(_time_zone)]
    """IANA time zone of `start` and `end` (KEDA's cron trigger evaluates them there), e.g. `Asia/Seoul`."""

    days: Annotated[list[Weekday], Field(min_length=1), AfterValidator(unique)] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    """Weekdays the window opens on."""

    start: Annotated[str, AfterValidator(_clock)] = "09:00"
    """Opening time, HH:MM."""

    end: Annotated[str, AfterValidator(_clock)] = "18:00"
    """Closing time, HH:MM, later than `start` on the same day."""

    replicas: Annotated[int, Field(ge=1, le=64)] = 1
    """Burst replicas held through the window even without queue pressure."""

    @property
    def window(self) -> Window:
        return Window(self.time_zone, tuple(sorted(DAY_NUMBERS[day] for day in self.days)), _minutes(self.start), _minutes(self.end))


class BurstConfig(ConfigModel):
    """Replicas beyond the floor, on a pool group of their own: spot first, on-demand when spot is short."""

    pool_group: Name
    """The GPU pool group burst replicas run on (`gpuPools[].group`); it must offer spot capacity and differ
    from the model's `poolGroup`, so that the floor never lands on burst capacity."""

    max_replicas: Annotated[int, Field(ge=1, le=64)]
    """Burst replicas at most; times `gpusPerReplica` it must fit the burst pool group's `maxGpus`."""

    schedule: BurstSchedule | None = None
    """When set, burst replicas exist only inside this window: `schedule.replicas` at least, more on queue
    pressure up to `maxReplicas`, none outside it; the cost ceiling prices the burst pools by the window's
    hours. Without it, burst replicas follow the queue at any hour and are priced around the clock."""


# An image by digest: what the pods run cannot change under the same reference (the pack's images-pinned rule).
_IMAGE = re.compile(r"^[a-z0-9]([-a-z0-9._/:]*[a-z0-9])?(:[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$")


def _image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError("must be an image reference pinned by digest: <registry>/<repository>[:<tag>]@sha256:<64 hex digits>")
    return value


Image = Annotated[str, AfterValidator(_image)]


class CanaryCheck(ConfigModel):
    """What `tools/canary_check.py` compares between the canary's pods and the stable ones, from Prometheus
    over a window; the defaults are the seeds' alert thresholds."""

    window_minutes: Annotated[int, Field(ge=5, le=1440)] = 30
    """How long the canary serves its share before it is judged, and the window the rates are taken over."""

    min_requests: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    """Requests the canary must have answered in the window; fewer and the answer is `hold`."""

    max_error_rate_percent: Annotated[float, Field(gt=0, le=100)] = 1
    """Roll back when the canary answers more than this share of requests with a 5xx (the seeds'
    HighErrorRate) and more than the stable pods do."""

    max_ttft_increase_percent: Annotated[float, Field(gt=0, le=1000)] = 20
    """Roll back when the canary's p95 time to first token exceeds the stable pods' by more than this."""

    max_kv_cache_usage_percent: Annotated[float, Field(gt=0, le=100)] = 95
    """Roll back when a canary pod's KV cache averages above this over the window (the seeds'
    KV-cache alert): it would queue and preempt at full traffic."""


class CanaryConfig(ConfigModel):
    """A new serving identity of the model next to the stable one, production only: its own Deployment
    (`<model>-canary`) and InferencePool, `weight` percent of the model's requests on the same route.
    Every key left out is the model's own. Promote (`make promote`): the canary's keys become the model's
    and the canary goes; roll back (`make rollback`): the canary goes."""

    source: str | None = None
    """Weights source of the canary, as `models[].source`. Every canary reads its weights with a service
    account and role of its own (`<model>-canary`): with other weights (source or revision) from
    `models/<model>-canary` (`make stage-model STACK=<stack> MODEL=<model>-canary`), else the model's copy."""

    revision: str | None = None
    """Hugging Face revision of the canary; in production the full commit sha."""

    image: Image | None = None
    """vLLM image of the canary, by digest."""

    engine: EngineConfig | None = None
    """vLLM engine settings of the canary, complete (they replace the model's, key by key defaults)."""

    weight: Annotated[int, Field(ge=1, le=50)] = 5
    """Percent of the model's requests the gateway sends to the canary (Gateway API backend weights)."""

    replicas: Annotated[int, Field(ge=1, le=8)] = 2
    """Canary replicas, fixed (no autoscaling: its share is small and known). Production keeps two, like
    every workload, so one can drain or fail."""

    pool_group: Name | None = None
    """GPU pool group of the canary's replicas; the model's `poolGroup` when absent. Its replicas count
    with the other models' minimums against the group's `maxGpus`."""

    check: CanaryCheck = Field(default_factory=CanaryCheck)
    """How the canary is judged."""

    @field_validator("source")
    @classmethod
    def _source(cls, source: str | None) -> str | None:
        if source is not None:
            parse_model_source(source)
        return source

    def identity(self) -> dict:
        """The serving-identity keys the canary sets (those a promotion copies into the model)."""
        return {key: value for key, value in (("source", self.source), ("revision", self.revision), ("image", self.image), ("engine", self.engine)) if value is not None}


class ModelConfig(ConfigModel):
    """One model served by vLLM behind an OpenAI-compatible API."""

    name: Name
    """Model name: the Deployment, Service and served model name (what clients put in `model`)."""

    source: str
    """`hf://org/model` (staged into the stack's weights bucket with `make stage-model`), or weights already
    in the stack cloud's object store: `s3://bucket/prefix` (AWS) or `gs://bucket/prefix` (Google Cloud)."""

    revision: str | None = None
    """Hugging Face revision (commit, tag or branch) to stage and, as a fallback, to download. Production
    requires the full commit sha, and its pods serve only a staged copy of that commit."""

    parameters_billion: Annotated[float, Field(gt=0, le=2000)]
    """Parameter count in billions, for the fit check."""

    precision: Literal["bf16", "fp16", "fp8", "int8", "awq-4bit", "gptq-4bit"] = "bf16"
    """Weight precision, for the fit check."""

    pool_group: Name
    """The GPU pool group the model runs on (`gpuPools[].group`, or a pool's name)."""

    gpus_per_replica: Annotated[int, Field(ge=1, le=8)] = 1
    """GPUs per replica (`--tensor-parallel-size`); tensor parallelism stays inside one node."""

    min_replicas: Annotated[int, Field(ge=0, le=64)] = 1
    """The floor: replicas kept when idle; 0 lets KEDA scale the model to zero (not in production). With
    `burst`, the floor runs on on-demand capacity only."""

    max_replicas: Annotated[int, Field(ge=1, le=64)] = 2
    """Floor replicas at most (queue pressure adds them); times `gpusPerReplica` it must fit the pool
    group's `maxGpus`."""

    burst: BurstConfig | None = None
    """Replicas beyond the floor on spot capacity (the seeds' business-hours burst); none when absent."""

    target_waiting_per_replica: Annotated[int, Field(ge=1, le=1000)] = 5
    """Scale out when vLLM's waiting requests per replica pass this (the seeds' HPA target)."""

    startup_seconds: Annotated[int, Field(ge=60, le=3600)] | None = None
    """How long vLLM may take to load the weights, compile and capture CUDA graphs before it is
    restarted. By default the start-up budget's in-container stages for this model's size, doubled
    (llm_platform/platform/startup_budget.py); set it only for what the budget does not know."""

    engine: EngineConfig = Field(default_factory=EngineConfig)
    """vLLM engine settings."""

    image: Image | None = None
    """vLLM server image by digest; the image pinned in llm_platform/pins.py when absent. Set it to serve a
    newer vLLM (through a canary in production) before the platform's pin moves."""

    resources: ModelResources = Field(default_factory=ModelResources)
    """CPU and memory per replica."""

    gates: GatesConfig = Field(default_factory=GatesConfig)
    """What a release of this model must show in staging before production changes (`make gate`)."""

    canary: CanaryConfig | None = None
    """Production only: a change of source, revision, image or engine settings served beside the stable
    version to a share of requests, until promoted or rolled back. Elsewhere change the model itself."""

    # The stable model a canary release was derived from (`canary_release`); None for the model itself.
    _canary_of: ModelConfig | None = PrivateAttr(default=None)

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        parse_model_source(source)
        return source

    @property
    def served_name(self) -> str:
        """The name clients put in `model` (vLLM's `--served-model-name`): a canary answers to its model's."""
        return self._canary_of.name if self._canary_of else self.name

    @property
    def weights_name(self) -> str:
        """Whose staged weights the pods read (`models/<weights_name>`): a canary keeping its model's source
        and revision reads the model's copy."""
        stable = self._canary_of
        if stable and (stable.source, stable.revision) == (self.source, self.revision):
            return stable.name
        return self.name

    @property
    def weights_gib(self) -> float:
        return self.parameters_billion * 1e9 * BYTES_PER_PARAMETER[self.precision] / 2**30

    @property
    def required_gb(self) -> float:
        return self.parameters_billion * BYTES_PER_PARAMETER[self.precision] * FIT_OVERHEAD


# -- canaries --------------------------------------------------------------------------------------------


def canary_name(model: str) -> str:
    """The canary of `model`: its Deployment, Service, InferencePool and (with other weights) its staged copy
    and identity. Prometheus tells its pods from the stable ones by the `service` label of this name."""
    return f"{model}-canary"


def canary_release(model: ModelConfig) -> ModelConfig:
    """The model as its canary serves it: the canary's identity keys over the model's, a fixed replica count
    on the canary's pool group, no burst, answering to the model's name."""
    canary = model.canary
    assert canary is not None
    same_source = canary.source is None or canary.source == model.source
    release = model.model_copy(
        update={
            "name": canary_name(model.name),
            "source": canary.source or model.source,
            # Another source's revision is never the model's.
            "revision": canary.revision or (model.revision if same_source else None),
            "image": canary.image or model.image,
            "engine": canary.engine or model.engine,
            "pool_group": canary.pool_group or model.pool_group,
            "min_replicas": canary.replicas,
            "max_replicas": canary.replicas,
            "burst": None,
            "canary": None,
        }
    )
    release._canary_of = model
    return release


def releases(models: Sequence[ModelConfig]) -> list[ModelConfig]:
    """Everything that serves: every model, then every canary (as `canary_release` builds it)."""
    return [*models, *(canary_release(model) for model in models if model.canary)]


def promoted(model: ModelConfig) -> ModelConfig:
    """The model once its canary is promoted: the canary's identity keys are the model's, the canary gone."""
    assert model.canary is not None
    release = canary_release(model)
    return model.model_copy(update={"source": release.source, "revision": release.revision, "image": release.image, "engine": release.engine, "canary": None})


def canary_violations(models: Sequence[ModelConfig], pools: Sequence[GpuPoolBase], *, environment: str, object_store: str) -> Rules:
    """A canary is production's way to change a model; it changes what is served, fits its pool group, keeps
    two replicas and does not take another model's name."""
    names = {model.name for model in models}
    groups = sorted({pool.pool_group for pool in pools})
    for index, model in enumerate(models):
        canary = model.canary
        if canary is None:
            continue
        key = f"models[{index}].canary"
        if environment != "production":
            yield Violation(key, "set", f"a canary is production's release path; in {environment} change the model itself (source, revision, image, engine) and let the gate judge it")
            continue
        release = canary_release(model)
        if not canary.identity():
            yield Violation(key, sorted(canary.model_fields_set), "must set at least one of source, revision, image, engine: what the canary serves differently")
        elif all(getattr(release, field) == getattr(model, field) for field in canary.identity()):
            yield Violation(key, sorted(canary.identity()), "serves exactly what the model serves: change at least one of them")
        if not is_valid_name(release.name):
            yield Violation(f"models[{index}].name", model.name, f"its canary is named {release.name}, which must be {NAME_RULE}: shorten the model's name")
        if release.name in names:
            yield Violation(key, release.name, "another model has the canary's name: rename that model")
        if canary.replicas < 2:
            yield Violation(f"{key}.replicas", canary.replicas, "production keeps at least two replicas so one can drain or fail (the canary serves real requests)")
        if canary.source:
            yield from _store_violations(key, canary.source, object_store)
        group = [pool for pool in pools if pool.pool_group == release.pool_group]
        if not group:
            yield Violation(f"{key}.poolGroup", release.pool_group, f"must name a GPU pool group of this stack ({', '.join(groups)})")
            continue
        yield from _fit_violations(key, release, group, release.pool_group, canary.replicas)


def _store_violations(key: str, source: str, object_store: str) -> Rules:
    """Weights in a bucket are in the stack cloud's object store (`object_store`, `s3` or `gs`)."""
    if is_bucket_source(source) and parse_model_source(source) != object_store:
        yield Violation(f"{key}.source", source, f"this stack's weights are in {LOCATIONS[object_store].STORE} ({object_store}://) or on Hugging Face (hf://)")


def model_violations(models: Sequence[ModelConfig], pools: Sequence[GpuPoolBase], *, production: bool, object_store: str) -> Rules:
    """Every model fits a pool group of the stack; bucket sources are in the stack cloud's object store
    (`object_store`, `s3` or `gs`); production keeps two replicas."""
    names = [model.name for model in models]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        yield Violation("models", duplicate, "model names must be unique")
    groups = sorted({pool.pool_group for pool in pools})
    for index, model in enumerate(models):
        key = f"models[{index}]"
        yield from _store_violations(key, model.source, object_store)
        if production and model.min_replicas < 2:
            yield Violation(f"{key}.minReplicas", model.min_replicas, "production keeps at least two replicas so one can drain or fail")
        if model.min_replicas > model.max_replicas:
            yield Violation(f"{key}.minReplicas", model.min_replicas, f"must not exceed maxReplicas ({model.max_replicas})")
        group = [pool for pool in pools if pool.pool_group == model.pool_group]
        if not group:
            yield Violation(f"{key}.poolGroup", model.pool_group, f"must name a GPU pool group of this stack ({', '.join(groups) or 'none defined'})")
            continue
        yield from _fit_violations(key, model, group, model.pool_group, model.max_replicas)
        if model.burst:
            yield from _burst_violations(key, model, model.burst, pools, group, groups)
    # A canary's replicas run beside every model's floor (outside production a canary is refused by itself).
    yield from _minimum_replica_violations(releases(models) if production else models, pools)


def _minimum_replica_violations(models: Sequence[ModelConfig], pools: Sequence[GpuPoolBase]) -> Rules:
    """The replicas every model keeps running fit the GPUs of its pool group together; otherwise some stay
    Pending for good."""
    for group in sorted({pool.pool_group for pool in pools}):
        gpus = sum(pool.max_gpus for pool in pools if pool.pool_group == group)
        needs = {model.name: model.min_replicas * model.gpus_per_replica for model in models if model.pool_group == group}
        if sum(needs.values()) > gpus:
            yield Violation(
                "models",
                needs,
                f"the models on pool group {group} keep {sum(needs.values())} GPUs busy at their minReplicas x gpusPerReplica, more than the {gpus} GPUs (maxGpus) of the group",
            )


def _offers(pools: Sequence[GpuPoolBase], capacity_type: str) -> bool:
    return any(capacity_type in pool.capacity_types for pool in pools)


def _burst_violations(key: str, model: ModelConfig, burst: BurstConfig, pools: Sequence[GpuPoolBase], floor: list[GpuPoolBase], groups: list[str]) -> Rules:
    """The floor runs on on-demand capacity, the burst on a pool group of its own that offers spot."""
    if not _offers(floor, "on-demand"):
        yield Violation(f"{key}.poolGroup", model.pool_group, "with `burst`, the floor runs on on-demand capacity: the pool group must offer on-demand")
    if burst.pool_group == model.pool_group:
        yield Violation(f"{key}.burst.poolGroup", burst.pool_group, "must differ from the model's poolGroup, so that the floor never takes burst capacity")
        return
    group = [pool for pool in pools if pool.pool_group == burst.pool_group]
    if not group:
        yield Violation(f"{key}.burst.poolGroup", burst.pool_group, f"must name a GPU pool group of this stack ({', '.join(groups)})")
        return
    if not _offers(group, "spot"):
        yield Violation(f"{key}.burst.poolGroup", burst.pool_group, "burst capacity is spot first: the pool group must offer spot")
    if burst.schedule and burst.schedule.replicas > burst.max_replicas:
        yield Violation(f"{key}.burst.schedule.replicas", burst.schedule.replicas, f"must not exceed burst.maxReplicas ({burst.max_replicas})")
    if burst.schedule and _minutes(burst.schedule.end) <= _minutes(burst.schedule.start):
        yield Violation(f"{key}.burst.schedule.end", burst.schedule.end, f"must be later than start ({burst.schedule.start}) on the same day")
    yield from _fit_violations(f"{key}.burst", model, group, burst.pool_group, burst.max_replicas)


def _fit_violations(key: str, model: ModelConfig, pools: list[GpuPoolBase], pool_group: str, replicas: int) -> Rules:
    """`model` fits the pool group `pool_group` (its `pools`), `replicas` of it within the group's GPUs."""
    sizes = [size for pool in pools for size in pool.sizes()]
    most_gpus = max(size.gpus for size in sizes)
    if model.gpus_per_replica > most_gpus:
        yield Violation(
            f"{key}.gpusPerReplica",
            model.gpus_per_replica,
            f"tensor parallelism stays inside one node, and the largest instance of pool group {pool_group} has {most_gpus} GPU(s); "
            "multi-node serving (LeaderWorkerSet over EFA or GPUDirect-TCPX) is not supported",
        )
    hosts = [size for size in sizes if size.gpus >= model.gpus_per_replica] or sizes
    gpu_gb = min(size.gpu_memory_mib for size in hosts) * 2**20 / 1e9
    usable = model.gpus_per_replica * gpu_gb * model.engine.gpu_memory_utilization
    if model.required_gb > usable:
        yield Violation(
            f"{key}.parametersBillion",
            model.parameters_billion,
            f"{model.parameters_billion:g}B x {BYTES_PER_PARAMETER[model.precision]:g} bytes ({model.precision}) x {FIT_OVERHEAD} = "
            f"{model.required_gb:.1f} GB does not fit {model.gpus_per_replica} x {gpu_gb:.1f} GB x {model.engine.gpu_memory_utilization:g} "
            f"= {usable:.1f} GB of pool group {pool_group}",
        )
    pool_gpus = sum(pool.max_gpus for pool in pools)
    if replicas * model.gpus_per_replica > pool_gpus:
        yield Violation(
            f"{key}.maxReplicas",
            replicas,
            f"{replicas} replicas x {model.gpus_per_replica} GPU(s) = {replicas * model.gpus_per_replica} "
            f"exceeds the {pool_gpus} GPUs (maxGpus) of pool group {pool_group}",
        )
    smallest = min(hosts, key=lambda size: (size.vcpus, size.memory_gib))
    # Leave room for the kubelet's reserve and the node's daemonsets (device plugin, DCGM, node exporter).
    if model.resources.cpu > smallest.vcpus * 0.85 or model.resources.memory_gib > smallest.memory_gib * 0.8:
        yield Violation(
            f"{key}.resources",
            {"cpu": model.resources.cpu, "memoryGib": model.resources.memory_gib},
            f"must fit the smallest instance of pool group {pool_group} ({smallest.name}: {smallest.vcpus} vCPU, "
            f"{smallest.memory_gib:g} GiB) after system reserves: at most {smallest.vcpus * 0.85:g} vCPU and {smallest.memory_gib * 0.8:g} GiB",
        )


# -- the vLLM command line ------------------------------------------------------------------------------
# Flags as the pinned vLLM (llm_platform/pins.py VLLM_IMAGE, v0.31.0) parses them: `vllm serve` uses
# FlexibleArgumentParser (vllm/utils/argparse_utils.py), which reads `--a_b` as `--a-b`, `--a.b` as a key
# of `--a`'s JSON value, and moves `--model <m>` to the positional model argument; argparse's defaults
# also accept any unambiguous prefix of a long flag (`--tensor-parallel`) and boolean fields have a
# `--no-` form (BooleanOptionalAction, vllm/engine/arg_utils.py). Short aliases are defined next to the
# flags in vllm/engine/arg_utils.py: `-tp` for `--tensor-parallel-size` is the only one of a flag set here.


@dataclass(frozen=True)
class PlatformFlag:
    flag: str
    value: Callable[[ModelConfig, int], str | bool | None]
    """The flag's value for a model and the server port: text, True (the bare flag), False (its `--no-`
    form), or None (not passed)."""
    source: str
    """The key that sets it, for messages."""


# Every flag the platform passes, in the order it passes them (after the model path): `vllm_args` builds
# the command line from this table, and `extraArgs` may not set any of them again.
PLATFORM_FLAGS = (
    PlatformFlag("--served-model-name", lambda model, port: model.served_name, "models[].name"),
    PlatformFlag("--port", lambda model, port: str(port), "the platform's Service port"),
    PlatformFlag("--tensor-parallel-size", lambda model, port: str(model.gpus_per_replica), "models[].gpusPerReplica"),
    PlatformFlag("--max-model-len", lambda model, port: str(model.engine.max_model_len), "engine.maxModelLen"),
    PlatformFlag("--gpu-memory-utilization", lambda model, port: f"{model.engine.gpu_memory_utilization:g}", "engine.gpuMemoryUtilization"),
    PlatformFlag("--max-num-seqs", lambda model, port: str(model.engine.max_num_seqs), "engine.maxNumSeqs"),
    PlatformFlag("--enable-prefix-caching", lambda model, port: model.engine.prefix_caching, "engine.prefixCaching"),
    PlatformFlag("--enable-chunked-prefill", lambda model, port: model.engine.chunked_prefill, "engine.chunkedPrefill"),
    PlatformFlag("--uvicorn-log-level", lambda model, port: "warning", "the platform (warnings only: requests are not logged)"),
    PlatformFlag("--max-num-batched-tokens", lambda model, port: str(model.engine.max_num_batched_tokens) if model.engine.max_num_batched_tokens else None, "engine.maxNumBatchedTokens"),
    PlatformFlag("--trust-remote-code", lambda model, port: True if model.engine.trust_remote_code else None, "engine.trustRemoteCode"),
)
# The positional model path is the platform's too; `--model` is another spelling of it.
MODEL_FLAG = PlatformFlag("--model", lambda model, port: None, "the platform (the weights it fetched)")
# Flags of vLLM v0.31.0 that spread one replica over more GPUs than `gpusPerReplica` or over more nodes
# (vllm/engine/arg_utils.py, the parallel group), with their short aliases there: the pod would ask for
# GPUs it does not request (or wait for peers that never come), and multi-node serving is not supported.
LAYOUT_FLAGS = {
    "--pipeline-parallel-size": "-pp",
    "--data-parallel-size": "-dp",
    "--data-parallel-size-local": "-dpl",
    "--data-parallel-rank": "-dpn",
    "--data-parallel-start-rank": "-dpr",
    "--data-parallel-address": "-dpa",
    "--data-parallel-rpc-port": "-dpp",
    "--data-parallel-backend": "-dpb",
    "--data-parallel-hybrid-lb": "-dph",
    "--data-parallel-external-lb": "-dpe",
    "--data-parallel-multi-port-external-lb": "-dpm",
    "--nnodes": "-n",
    "--node-rank": "-r",
    "--master-addr": None,
    "--master-port": None,
}
SHORT_ALIASES = {"-tp": "--tensor-parallel-size", **{alias: flag for flag, alias in LAYOUT_FLAGS.items() if alias}}
# Flags of vLLM v0.31.0 that load code by name, let requests reach the server's files, or replace what
# keeps the API private: refused in `extraArgs` whatever their value.
RISKY_FLAGS = {
    "--middleware": "imports Python by name into the API server",
    "--tool-parser-plugin": "imports a Python file into the API server",
    "--reasoning-parser-plugin": "imports a Python file into the engine",
    "--io-processor-plugin": "loads a plugin by name",
    "--logits-processors": "imports classes by name into the engine",
    "--worker-cls": "imports a class by name into every GPU worker",
    "--worker-extension-cls": "imports a class by name into every GPU worker",
    "--scheduler-cls": "imports a class by name into the engine",
    "--distributed-executor-backend": "accepts a class by import path",
    "--allowed-local-media-path": "lets API requests read files of the server",
    "--trust-request-chat-template": "renders chat templates sent by clients",
    "--api-key": "replaces the API key the platform generates (VLLM_API_KEY)",
    "--hf-token": "puts a credential on the command line; use llm-platform:huggingFaceToken",
    "--download-dir": "the platform fetches the weights itself, and the pods run offline",
    "--host": "the platform's Service and probes reach the server on its port",
    "--uds": "the platform's Service and probes reach the server on its port",
    "--config": "reads further flags from a file, past these checks",
    # vllm/config/kv_transfer.py `kv_connector_module_path` (and the encoder-cache twin): a module to import.
    "--kv-transfer-config": "imports a connector module by path (kv_connector_module_path) into every worker",
    "--ec-transfer-config": "imports a connector module by path into every worker",
    # The platform logs no requests (prompts are customers' data): --uvicorn-log-level warning.
    "--enable-log-requests": "logs every request's prompt; the platform logs no requests",
    **{flag: "spreads a replica over more GPUs or nodes than gpusPerReplica; a replica is gpusPerReplica GPUs of one node" for flag in LAYOUT_FLAGS},
}


def vllm_args(model: ModelConfig, *, model_dir: str, port: int) -> list[str]:
    """The `vllm serve` arguments of a model: its weights directory, the PLATFORM_FLAGS, then `extraArgs`."""
    args = [model_dir]
    for entry in PLATFORM_FLAGS:
        value = entry.value(model, port)
        if value is True:
            args.append(entry.flag)
        elif value is False:
            args.append(f"--no-{entry.flag[2:]}")
        elif value is not None:
            args += [entry.flag, value]
    return args + list(model.engine.extra_args)


def _owned_flags() -> dict[str, str]:
    """Every long spelling of a flag the platform owns (with its `--no-` form), and why it is owned."""
    owned = {}
    for entry in (*PLATFORM_FLAGS, MODEL_FLAG):
        reason = f"is set by the platform from {entry.source}"
        if entry.flag == "--trust-remote-code":
            reason = "is passed by the platform when engine.trustRemoteCode is true (an explicit opt-in to run the model repository's code)"
        owned[entry.flag] = owned[f"--no-{entry.flag[2:]}"] = reason
    for flag, reason in RISKY_FLAGS.items():
        owned[flag] = owned[f"--no-{flag[2:]}"] = f"is refused: it {reason}"
    return owned


OWNED_FLAGS = _owned_flags()


def extra_arg_problem(arg: str) -> str | None:
    """Why `arg` (one `extraArgs` entry) may not be passed, or None. A value (no leading '-') passes."""
    if arg.startswith("--"):
        # Everything before '=' and before a '.' (a JSON key), underscores read as dashes, as vLLM does.
        name = "--" + arg[2:].split("=", 1)[0].split(".", 1)[0].replace("_", "-")
        if name in OWNED_FLAGS:
            return f"'{arg}' {OWNED_FLAGS[name]}"
        # argparse takes an unambiguous prefix of a long flag for the flag itself.
        prefixed = sorted(flag for flag in OWNED_FLAGS if len(name) > 2 and flag.startswith(name))
        if prefixed:
            return f"'{arg}' abbreviates {prefixed[0]}, which {OWNED_FLAGS[prefixed[0]]}"
        return None
    if arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
        name = arg.split("=", 1)[0]
        for alias, flag in SHORT_ALIASES.items():
            # `-tp`, `-tp=2`, `-tp2` and argparse's prefix `-t` all reach the flag.
            if name.startswith(alias) or alias.startswith(name):
                return f"'{arg}' is {alias}, short for {flag}, which {OWNED_FLAGS[flag]}"
    return None


def weights_violations(models: Sequence[ModelConfig], *, production: bool) -> Rules:
    """Production serves exactly the weights that were reviewed: a Hugging Face source names the commit
    it is staged from (a branch or tag moves), and the pods refuse a copy whose manifest records another
    or that has no manifest at all."""
    if not production:
        return
    for index, model in enumerate(models):
        served = [(f"models[{index}]", model)] + ([(f"models[{index}].canary", canary_release(model))] if model.canary else [])
        for key, release in served:
            if parse_model_source(release.source) == "hf" and not (release.revision and COMMIT_SHA.fullmatch(release.revision)):
                yield Violation(
                    f"{key}.revision",
                    release.revision,
                    f"production pins {release.source} to a commit: the full 40-character sha (a branch or tag serves whatever it points at that day)",
                )

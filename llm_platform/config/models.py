"""The models a stack serves with vLLM, and the rules that fit them to the stack's GPU pools: the seeds'
rule of thumb for GPU memory, tensor parallelism inside one node, replicas within the pools' GPUs."""

from __future__ import annotations

from typing import Annotated, Literal, Sequence

from pydantic import Field, field_validator

from llm_platform.config.base import ConfigModel, Name
from llm_platform.config.pools import GpuPoolBase
from llm_platform.config.violations import Rules, Violation
from llm_platform.contract import COMMIT_SHA, LOCATIONS, is_bucket_source, parse_model_source

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
    """Replicas kept when idle; 0 lets KEDA scale the model to zero."""

    max_replicas: Annotated[int, Field(ge=1, le=64)] = 2
    """Replicas at most; times `gpusPerReplica` it must fit the pool group's `maxGpus`."""

    target_waiting_per_replica: Annotated[int, Field(ge=1, le=1000)] = 5
    """Scale out when vLLM's waiting requests per replica pass this (the seeds' HPA target)."""

    startup_seconds: Annotated[int, Field(ge=60, le=3600)] | None = None
    """How long vLLM may take to load the weights, compile and capture CUDA graphs before it is
    restarted. By default the start-up budget's in-container stages for this model's size, doubled
    (llm_platform/platform/startup_budget.py); set it only for what the budget does not know."""

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


def model_violations(models: Sequence[ModelConfig], pools: Sequence[GpuPoolBase], *, production: bool, object_store: str) -> Rules:
    """Every model fits a pool group of the stack; bucket sources are in the stack cloud's object store
    (`object_store`, `s3` or `gs`); production keeps two replicas."""
    names = [model.name for model in models]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        yield Violation("models", duplicate, "model names must be unique")
    groups = sorted({pool.pool_group for pool in pools})
    for index, model in enumerate(models):
        key = f"models[{index}]"
        scheme = parse_model_source(model.source)
        if is_bucket_source(model.source) and scheme != object_store:
            yield Violation(
                f"{key}.source", model.source, f"this stack's weights are in {LOCATIONS[object_store].STORE} ({object_store}://) or on Hugging Face (hf://)"
            )
        if production and model.min_replicas < 2:
            yield Violation(f"{key}.minReplicas", model.min_replicas, "production keeps at least two replicas so one can drain or fail")
        if model.min_replicas > model.max_replicas:
            yield Violation(f"{key}.minReplicas", model.min_replicas, f"must not exceed maxReplicas ({model.max_replicas})")
        group = [pool for pool in pools if pool.pool_group == model.pool_group]
        if not group:
            yield Violation(f"{key}.poolGroup", model.pool_group, f"must name a GPU pool group of this stack ({', '.join(groups) or 'none defined'})")
            continue
        yield from _fit_violations(key, model, group)


def _fit_violations(key: str, model: ModelConfig, pools: list[GpuPoolBase]) -> Rules:
    sizes = [size for pool in pools for size in pool.sizes()]
    most_gpus = max(size.gpus for size in sizes)
    if model.gpus_per_replica > most_gpus:
        yield Violation(
            f"{key}.gpusPerReplica",
            model.gpus_per_replica,
            f"tensor parallelism stays inside one node, and the largest instance of pool group {model.pool_group} has {most_gpus} GPU(s)",
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
            f"= {usable:.1f} GB of pool group {model.pool_group}",
        )
    pool_gpus = sum(pool.max_gpus for pool in pools)
    if model.max_replicas * model.gpus_per_replica > pool_gpus:
        yield Violation(
            f"{key}.maxReplicas",
            model.max_replicas,
            f"{model.max_replicas} replicas x {model.gpus_per_replica} GPU(s) = {model.max_replicas * model.gpus_per_replica} "
            f"exceeds the {pool_gpus} GPUs (maxGpus) of pool group {model.pool_group}",
        )
    smallest = min(hosts, key=lambda size: (size.vcpus, size.memory_gib))
    # Leave room for the kubelet's reserve and the node's daemonsets (device plugin, DCGM, node exporter).
    if model.resources.cpu > smallest.vcpus * 0.85 or model.resources.memory_gib > smallest.memory_gib * 0.8:
        yield Violation(
            f"{key}.resources",
            {"cpu": model.resources.cpu, "memoryGib": model.resources.memory_gib},
            f"must fit the smallest instance of pool group {model.pool_group} ({smallest.name}: {smallest.vcpus} vCPU, "
            f"{smallest.memory_gib:g} GiB) after system reserves: at most {smallest.vcpus * 0.85:g} vCPU and {smallest.memory_gib * 0.8:g} GiB",
        )


def weights_violations(models: Sequence[ModelConfig], *, production: bool) -> Rules:
    """Production serves exactly the weights that were reviewed: a Hugging Face source names the commit
    it is staged from (a branch or tag moves), and the pods refuse a copy whose manifest records another
    or that has no manifest at all."""
    if not production:
        return
    for index, model in enumerate(models):
        if parse_model_source(model.source) == "hf" and not (model.revision and COMMIT_SHA.fullmatch(model.revision)):
            yield Violation(
                f"models[{index}].revision",
                model.revision,
                f"production pins {model.source} to a commit: the full 40-character sha (a branch or tag serves whatever it points at that day)",
            )

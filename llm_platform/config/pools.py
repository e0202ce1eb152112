"""What a GPU pool is on either cloud: a bounded set of GPU nodes of one group. Each cloud's pool type
(`aws.AwsGpuPool`, `gcp.GkeGpuPool`) adds how that cloud launches the nodes."""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Sequence

from pydantic import AfterValidator, Field

from llm_platform.config.base import CapacityType, ConfigModel, Name, plain, unique
from llm_platform.config.violations import Rules, Violation
from llm_platform_policy import catalog


class GpuPoolBase(ConfigModel):
    """One pool of GPU nodes: a Karpenter NodePool on AWS, a GKE node pool on Google Cloud."""

    name: Name
    """Pool name; the node pool is `gpu-<name>` and its nodes carry `llm-platform.io/pool: <name>`."""

    group: Name | None = None
    """Pools of one group serve the same models: their nodes carry `llm-platform.io/pool-group: <group>`,
    which workloads select. Defaults to the pool name."""

    capacity_types: Annotated[list[CapacityType], Field(min_length=1), AfterValidator(unique)]
    """`spot` and/or `on-demand`."""

    max_gpus: Annotated[int, Field(ge=1, le=512)]
    """The most GPUs the pool can hold. Required: an unbounded GPU pool is refused."""

    root_volume_gib: Annotated[int, Field(ge=100, le=2000)] = 200
    """Encrypted boot disk per node (gp3 on AWS, pd-balanced on Google Cloud): container images (vLLM's is
    ~10 GB) plus cached model weights."""

    @property
    def pool_group(self) -> str:
        return self.group or self.name

    @abstractmethod
    def sizes(self) -> list[catalog.InstanceType]:
        """The instance types the pool may launch, from the catalog."""


def pool_violations(pools: Sequence[GpuPoolBase], *, production: bool) -> Rules:
    """Every pool can launch a node within its `maxGpus`; in production every pool group keeps an
    on-demand path, so that a spot shortage or a wave of interruptions cannot take a model down."""
    for index, pool in enumerate(pools):
        smallest = min(pool.sizes(), key=lambda size: size.gpus)
        if smallest.gpus > pool.max_gpus:
            yield Violation(
                f"gpuPools[{index}].maxGpus",
                pool.max_gpus,
                f"no instance type of the pool fits: the smallest, {smallest.name}, has {smallest.gpus} GPUs, so no node could ever be launched",
            )
    if not production:
        return
    for group in sorted({pool.pool_group for pool in pools}):
        members = [(index, pool) for index, pool in enumerate(pools) if pool.pool_group == group]
        if not any("on-demand" in pool.capacity_types for _, pool in members):
            index, pool = members[0]
            yield Violation(
                f"gpuPools[{index}].capacityTypes",
                plain(pool.capacity_types),
                f"production keeps an on-demand path for pool group {group}: add on-demand to a pool of the group, or an on-demand pool to it",
            )

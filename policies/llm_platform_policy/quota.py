"""GPU quota rules: what the GPU pools can launch against the environment's GPU allowance, and against the
cloud's quotas: EC2 vCPU quotas on AWS, regional GPU quotas per GPU model on Google Cloud."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from llm_platform_policy import catalog, gke, kube
from llm_platform_policy.core import Config, Resource

QUOTA_PROPERTIES = {
    "maxGpus": {"type": "integer", "minimum": 0, "description": "GPUs all GPU node pools together may reach."},
    "vcpuQuotas": {
        "type": "object",
        "description": "EC2 vCPU quotas of the account by Service Quotas code (L-DB2E81BA G/VT on-demand, "
        "L-3819A6DF G/VT spot, L-417A185B P on-demand, L-7212CCBC P spot).",
        "propertyNames": {"enum": catalog.aws_vcpu_quota_codes()},
        "additionalProperties": {"type": "integer", "minimum": 0},
    },
    "gpuQuotas": {
        "type": "object",
        "description": "Google Cloud: the project's regional Compute Engine GPU quotas by metric (NVIDIA_L4_GPUS, "
        "PREEMPTIBLE_NVIDIA_L4_GPUS for spot, ...).",
        "propertyNames": {"enum": catalog.gcp_gpu_quota_metrics()},
        "additionalProperties": {"type": "integer", "minimum": 0},
    },
}


def gpu_node_pools(resources: list[Resource]) -> list[Resource]:
    return [r for r in kube.of_type(resources, kube.NODE_POOL) if kube.is_gpu_node_pool(r.props)]


def vcpu_ceilings(resources: list[Resource]) -> dict[str, int]:
    """vCPUs each EC2 quota would have to cover if every GPU pool ran at its limits, by quota code.

    A pool allowing both capacity types counts against both quotas: it may end up entirely on either."""
    ceilings: dict[str, int] = defaultdict(int)
    for pool in gpu_node_pools(resources):
        capacity_types = kube.requirement_values(pool.props, kube.CAPACITY_TYPE_LABEL) or ["on-demand"]
        by_bucket: dict[str, int] = defaultdict(int)
        for type_name in kube.requirement_values(pool.props, kube.INSTANCE_TYPE_LABEL) or []:
            family = catalog.aws_gpu_family_of(type_name)
            size = catalog.find_aws_instance_type(type_name)
            nodes = kube.max_nodes(pool.props, size) if size else None
            if family and nodes is not None:
                by_bucket[family.quota_bucket] = max(by_bucket[family.quota_bucket], nodes * size.vcpus)
        for bucket, vcpus in by_bucket.items():
            for capacity_type in capacity_types:
                ceilings[catalog.aws_vcpu_quota_code(bucket, capacity_type)] += vcpus
    return dict(ceilings)


def gke_gpu_pools(resources: list[Resource]) -> list[Resource]:
    return [pool for pool in gke.node_pools(resources) if gke.accelerators(pool.props)]


def gke_gpu_limit(pool: Resource) -> int | None:
    nodes = gke.max_nodes(pool.props)
    return None if nodes is None else nodes * sum(count for _, count in gke.accelerators(pool.props))


def gpu_quota_ceilings(resources: list[Resource]) -> dict[str, int]:
    """GPUs each regional GPU quota would have to cover if every GKE GPU pool ran at its maximum, by
    quota metric. Spot GPUs count against their own (PREEMPTIBLE_) quota."""
    ceilings: dict[str, int] = defaultdict(int)
    for pool in gke_gpu_pools(resources):
        nodes = gke.max_nodes(pool.props)
        for accelerator, count in gke.accelerators(pool.props):
            if nodes is not None and accelerator in catalog.gcp_gpu_accelerator_types():
                ceilings[catalog.gcp_gpu_quota_metric(accelerator, gke.is_spot(pool.props))] += nodes * count
    return dict(ceilings)


def gpus_within_quota(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    limits = [(pool.urn, kube.dig(pool.props, "metadata", "name"), kube.gpu_limit(pool.props)) for pool in gpu_node_pools(resources)]
    for urn, name, limit in limits:
        if limit is None:
            yield urn, f"GPU NodePool {name} has no {kube.GPU_RESOURCE} limit: it could launch GPUs without bound"
    gke_limits = [(pool.urn, gke.name(pool), gke_gpu_limit(pool)) for pool in gke_gpu_pools(resources)]
    for urn, name, limit in gke_limits:
        if limit is None:
            yield urn, f"GKE GPU node pool {name} has no total maximum node count: it could launch GPUs without bound"
    limits += gke_limits
    total = sum(limit for *_, limit in limits if limit is not None)
    if total > config["maxGpus"]:
        listing = ", ".join(f"{name}={limit}" for _, name, limit in limits)
        yield "", f"GPU node pools can reach {total} GPUs ({listing}), above the environment's maxGpus {config['maxGpus']:g}"
    quotas = config.get("vcpuQuotas") or {}
    for code, vcpus in sorted(vcpu_ceilings(resources).items()):
        if code in quotas and vcpus > quotas[code]:
            yield "", f"GPU node pools can launch {vcpus} vCPUs under EC2 quota {code}, above the account's quota of {quotas[code]:g}"
    gpu_quotas = config.get("gpuQuotas") or {}
    for metric, gpus in sorted(gpu_quota_ceilings(resources).items()):
        if metric in gpu_quotas and gpus > gpu_quotas[metric]:
            yield "", f"GKE GPU node pools can reach {gpus} GPUs under Compute Engine quota {metric}, above the project's regional quota of {gpu_quotas[metric]:g}"

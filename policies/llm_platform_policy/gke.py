"""Reading GKE node pools as the engine hands them to policies (camelCase properties of
`gcp:container/nodePool:NodePool`), for the cost ceiling and the quota rule."""

from __future__ import annotations

from typing import Any, Mapping

from llm_platform_policy import kube
from llm_platform_policy.core import Resource

NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"


def node_pools(resources: list[Resource]) -> list[Resource]:
    return kube.of_type(resources, NODE_POOL)


def name(pool: Resource) -> str:
    return pool.props.get("name") or pool.name


def machine_type(props: Mapping[str, Any]) -> str | None:
    return kube.dig(props, "nodeConfig", "machineType")


def accelerators(props: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(accelerator type, GPUs per node) of every accelerator the pool's nodes carry."""
    return [(a.get("type"), int(a.get("count") or 0)) for a in kube.dig(props, "nodeConfig", "guestAccelerators") or []]


def is_spot(props: Mapping[str, Any]) -> bool:
    return bool(kube.dig(props, "nodeConfig", "spot") or kube.dig(props, "nodeConfig", "preemptible"))


def max_nodes(props: Mapping[str, Any]) -> int | None:
    """The most nodes the pool can reach over all its zones, or None when nothing bounds it that a
    preview can see (a per-zone maximum without the zones)."""
    autoscaling = props.get("autoscaling")
    if autoscaling:
        if autoscaling.get("totalMaxNodeCount") is not None:
            return int(autoscaling["totalMaxNodeCount"])
        zones = props.get("nodeLocations")
        if autoscaling.get("maxNodeCount") is not None and zones:
            return int(autoscaling["maxNodeCount"]) * len(zones)
        return None
    count = props.get("nodeCount", props.get("initialNodeCount"))
    zones = props.get("nodeLocations")
    return int(count) * len(zones) if count is not None and zones else None


def disk_gib(props: Mapping[str, Any]) -> float | None:
    size = kube.dig(props, "nodeConfig", "diskSizeGb")
    return float(size) if size is not None else None

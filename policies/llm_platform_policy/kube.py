"""Readers for the Kubernetes objects and Helm releases the rules look into."""

from __future__ import annotations

import math
import re
from typing import Any, Iterator, Mapping

from llm_platform_policy import catalog
from llm_platform_policy.core import Resource

# Names defined upstream that the rules read, and the program writes by the same constants: the extended
# resource NVIDIA's device plugin (and GKE's) advertises, pulumi-kubernetes' Helm release type, and
# Karpenter's kinds and the well-known node labels its NodePools select on.
GPU_RESOURCE = "nvidia.com/gpu"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
WEIGHTS_ANNOTATION = "llm-platform.io/weights-gib"
"""On a model Deployment: GiB of weights it keeps in the object store, which the cost ceiling prices."""
# Workload kinds whose pod template the guardrails inspect, with the path to the pod spec.
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_BINARY_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "": 1}


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def cpu_cores(quantity: Any) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def bytes_of(quantity: Any) -> float:
    match = _QUANTITY.match(str(quantity))
    if not match or match.group(2) not in _BINARY_SUFFIX:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return float(match.group(1)) * _BINARY_SUFFIX[match.group(2)]


def gib_of(quantity: Any) -> float:
    return bytes_of(quantity) / 2**30


def requirement_values(pool: Mapping[str, Any], key: str) -> list[str] | None:
    """The values an `In` requirement on `key` allows, or None when the pool does not restrict `key`."""
    for requirement in dig(pool, "spec", "template", "spec", "requirements") or []:
        if requirement.get("key") == key and requirement.get("operator") == "In":
            return list(requirement.get("values") or [])
    return None


def is_gpu_node_pool(pool: Mapping[str, Any]) -> bool:
    """A pool that can launch GPU instances: it lists GPU types, carries the GPU taint or a GPU limit,
    or leaves the instance type open (Karpenter would then pick GPU types too)."""
    types = requirement_values(pool, INSTANCE_TYPE_LABEL)
    if types is None:
        return True
    taints = dig(pool, "spec", "template", "spec", "taints") or []
    return (
        any(catalog.aws_gpu_family_of(t) for t in types)
        or any(taint.get("key") == GPU_RESOURCE for taint in taints)
        or GPU_RESOURCE in (dig(pool, "spec", "limits") or {})
    )


def gpu_limit(pool: Mapping[str, Any]) -> int | None:
    value = (dig(pool, "spec", "limits") or {}).get(GPU_RESOURCE)
    return None if value is None else int(value)


def max_nodes(pool: Mapping[str, Any], size: catalog.InstanceType) -> int | None:
    """How many nodes of `size` the pool's limits let Karpenter launch; None when nothing bounds it."""
    limits = dig(pool, "spec", "limits") or {}
    bounds = []
    if GPU_RESOURCE in limits and size.gpus:
        bounds.append(int(limits[GPU_RESOURCE]) // size.gpus)
    if "cpu" in limits:
        bounds.append(math.floor(cpu_cores(limits["cpu"]) / size.vcpus))
    if "memory" in limits:
        bounds.append(math.floor(gib_of(limits["memory"]) / size.memory_gib))
    return min(bounds) if bounds else None


def of_type(resources: list[Resource], typ: str) -> list[Resource]:
    return [r for r in resources if r.type == typ]


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not resource_type.startswith("kubernetes:"):
        return None
    path = POD_TEMPLATE_PATHS.get(str(props.get("kind")))
    return dig(props, *path) if path else None


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        yield from spec.get(key) or []


def helm_chart_name(props: Mapping[str, Any]) -> str:
    """`karpenter` for `oci://public.ecr.aws/karpenter/karpenter` as well as for a repo chart."""
    return str(props.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]

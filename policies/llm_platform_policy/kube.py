"""Readers for the Kubernetes objects and Helm releases the rules look into."""

from __future__ import annotations

import math
import re
from typing import Any, Iterator, Mapping

import yaml

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
WEIGHTS_CACHE_VOLUME = "model-cache"
# The label every model server's pods carry and its Service selects them by (the program's contract).
MODEL_LABEL = "llm-platform.io/model"
"""The emptyDir a model server's pods load their weights into. Its `sizeLimit` (which the kubelet
enforces) bounds the weights the model can keep in the object store, so the cost ceiling prices that."""
# Workload kinds whose pod template the guardrails inspect, with the path to the pod spec.
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
    # KEDA's ScaledJob (keda.sh/v1alpha1) runs Jobs from the template under `jobTargetRef`.
    "ScaledJob": ("spec", "jobTargetRef", "template", "spec"),
    "Pod": ("spec",),
}
# Every list of containers a pod spec has (core/v1 PodSpec). Ephemeral containers (`kubectl debug`) run
# in the pod's namespaces with whatever security context they ask for, so the rules read them too.
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
WORKLOAD_PATTERN = "^[a-z0-9-]+/[a-z0-9.-]+$"
"""`<namespace>/<name>`, how allow-lists name a workload."""
# An image reference as the container runtime reads it (distribution/reference `reference.go`):
# [registry[:port]/]path[:tag][@digest]. A digest pins the content; a tag only names it, so a tag counts
# as pinned when it reads as a version (has a digit) and none of its parts is a name that, by
# convention, moves to newer content (`latest`, `stable`, `nightly`, `main`, ...).
_IMAGE = re.compile(
    r"^(?P<name>[A-Za-z0-9]+(?:[._-]+[A-Za-z0-9]+|:[0-9]+(?=/))*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}))?$"
)
MOVING_TAG_WORDS = frozenset(
    {"latest", "stable", "nightly", "edge", "main", "mainline", "master", "head", "dev", "develop", "canary", "rolling", "current", "snapshot", "unstable", "testing", "next", "trunk"}
)
# Kubernetes resource quantities (k8s.io/apimachinery pkg/api/resource, `Quantity`): a number with a
# decimal SI suffix, a binary suffix or a decimal exponent; a manifest may also give a plain number.
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_SUFFIX = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def quantity(value: Any) -> float:
    """The number a Kubernetes quantity stands for: 2, "2", "1500m", "64Gi", "1e3" alike."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = match.group(1), match.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return float(number) * 10 ** int(suffix[1:])
    return float(number) * _SUFFIX.get(suffix, 1)


# Karpenter durations (NodePool CRD pattern: hours, minutes, seconds), or "Never".
_DURATION = re.compile(r"^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")


def minutes(duration: Any) -> float | None:
    """Minutes of a Karpenter duration (`10m`, `1h30m`); None for `Never` or anything unreadable (no bound)."""
    match = _DURATION.match(str(duration or ""))
    if not match or not any(match.groups()):
        return None
    hours, mins, secs = (int(part or 0) for part in match.groups())
    return hours * 60 + mins + secs / 60


def gib_of(value: Any) -> float:
    return quantity(value) / 2**30


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
    # A fraction of a GPU is no GPU: only whole ones can be launched.
    return None if value is None else math.floor(quantity(value))


def max_nodes(pool: Mapping[str, Any], size: catalog.InstanceType) -> int | None:
    """How many nodes of `size` the pool's limits let Karpenter launch; None when nothing bounds it."""
    limits = dig(pool, "spec", "limits") or {}
    bounds = []
    if GPU_RESOURCE in limits and size.gpus:
        bounds.append(math.floor(quantity(limits[GPU_RESOURCE]) / size.gpus))
    if "cpu" in limits:
        bounds.append(math.floor(quantity(limits["cpu"]) / size.vcpus))
    if "memory" in limits:
        bounds.append(math.floor(gib_of(limits["memory"]) / size.memory_gib))
    return min(bounds) if bounds else None


def of_type(resources: list[Resource], typ: str) -> list[Resource]:
    return [r for r in resources if r.type == typ]


def kind_of(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """The Kubernetes kind a `kubernetes:` resource writes: the type token's, which is what the provider
    applies whatever `kind` the props claim (`...Patch` types patch an object of the same kind)."""
    if not resource_type.startswith("kubernetes:"):
        return None
    kind = resource_type.rsplit(":", 1)[-1]
    return kind.removesuffix("Patch") if kind != "Patch" else str(props.get("kind"))


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = POD_TEMPLATE_PATHS.get(kind_of(resource_type, props) or "")
    spec = dig(props, *path) if path else None
    return spec if isinstance(spec, Mapping) else None


def containers(spec: Mapping[str, Any], lists: tuple[str, ...] = CONTAINER_LISTS) -> Iterator[Mapping[str, Any]]:
    for key in lists:
        yield from spec.get(key) or []


def workload_id(props: Mapping[str, Any]) -> str:
    return f"{dig(props, 'metadata', 'namespace') or 'default'}/{dig(props, 'metadata', 'name')}"


def image_pinned(image: Any) -> bool:
    """Whether `image` names fixed content: a digest, or a tag that reads as a version."""
    match = _IMAGE.fullmatch(str(image or ""))
    if not match:
        return False
    tag = match.group("tag") or ""
    moving = bool(MOVING_TAG_WORDS & set(re.split(r"[._-]+", tag.lower())))
    # A digest pins the content, but a moving tag beside it (`:latest@sha256:...`) tells the next reader
    # the opposite, and the next edit that drops the digest follows it: refused as well.
    if match.group("digest"):
        return not moving
    return _versioned(tag) and not moving


# A tag that names one build: a version with at least a minor part (`1.4`, `v0.31.0`, `2.20.2-alpine`), a
# date stamp (`20260101`) or a commit (7+ hex digits). A major alone (`2`, `v1`) moves with every release.
_VERSIONED = re.compile(r"(?:^|[^0-9])[0-9]+\.[0-9]+|(?:^|[^0-9])[0-9]{8}(?:[^0-9]|$)|(?:^|[^0-9a-f])[0-9a-f]{7,40}(?:[^0-9a-f]|$)")


def _versioned(tag: str) -> bool:
    return bool(_VERSIONED.search(tag.lower()))


def helm_chart_name(props: Mapping[str, Any]) -> str:
    """`karpenter` for `oci://public.ecr.aws/karpenter/karpenter` as well as for a repo chart."""
    return str(props.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]


AGENTGATEWAY_PARAMETERS = "AgentgatewayParameters"


def is_gateway_parameters(resource: Resource) -> bool:
    return resource.type.startswith("kubernetes:") and resource.props.get("kind") == AGENTGATEWAY_PARAMETERS


def gateway_service(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The Service an agentgateway `AgentgatewayParameters` asks its controller to create for the proxies
    (`spec.service`: metadata and spec overrides of a Service that is a LoadBalancer unless set otherwise)."""
    service = dig(props, "spec", "service") or {}
    return {"metadata": service.get("metadata") or {}, "spec": {"type": "LoadBalancer", **(service.get("spec") or {})}}


def load_balancer_services(resources: list[Resource]) -> list[tuple[Resource, Mapping[str, Any]]]:
    """Every Service of type LoadBalancer the stack declares or has agentgateway create, with its resource."""
    found = []
    for resource in resources:
        if resource.type == "kubernetes:core/v1:Service":
            service = resource.props
        elif is_gateway_parameters(resource):
            service = gateway_service(resource.props)
        else:
            continue
        if dig(service, "spec", "type") == "LoadBalancer":
            found.append((resource, service))
    return found


# pulumi-kubernetes components that declare objects inline, which the engine registers only inside the
# provider: `yaml/v2:ConfigGroup` (and its v1 twin) takes `objs` and `yaml` text. The rules read those
# objects as if declared one by one, so a workload cannot hide in one.
CONFIG_GROUPS = ("kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml:ConfigGroup")


def object_type(manifest: Mapping[str, Any]) -> str:
    """The pulumi-kubernetes type token of a manifest: `kubernetes:<group>/<version>:<kind>`."""
    group, _, version = str(manifest.get("apiVersion") or "").rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{manifest.get('kind')}"


def inline_objects(resource: Resource) -> list[Resource]:
    """The objects a ConfigGroup declares inline, as resources of their own (named under the group's URN)."""
    if resource.type not in CONFIG_GROUPS:
        return []
    objects = [o for o in resource.props.get("objs") or [] if isinstance(o, Mapping)]
    texts = resource.props.get("yaml") or []
    for text in [texts] if isinstance(texts, str) else texts:
        try:
            objects += [o for o in yaml.safe_load_all(str(text)) if isinstance(o, Mapping)]
        except yaml.YAMLError:
            continue
    return [
        Resource(object_type(o), f"{resource.urn}#{o.get('kind')}/{dig(o, 'metadata', 'name')}", str(dig(o, "metadata", "name")), o, resource.dependencies, resource.protect)
        for o in objects
        if o.get("apiVersion") and o.get("kind")
    ]


def with_inline_objects(resources: list[Resource]) -> list[Resource]:
    return [*resources, *(inline for resource in resources for inline in inline_objects(resource))]
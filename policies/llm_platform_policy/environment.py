"""The stack's environment comes from its policy config, never from what the stack says about itself.

Each stack previews with its own `policies/config/<stack>.json`, chosen by the stack's name, so the
`environment` there is decided by which stack it is. A stack that tags itself otherwise (a copy of
production that says `environment: staging` to get past the configuration's production rules) is refused,
and the production rules below key on the configured environment: they hold for the production stack
whatever it declares.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy import gke, kube
from llm_platform_policy.core import Config, Resource, as_int
from llm_platform_policy.guardrails import S3_BUCKETS
from llm_platform_policy.logs import LOG_GROUP
from llm_platform_policy.schedule import SCALED_OBJECT

ENVIRONMENTS = ["dev", "staging", "production"]
ENVIRONMENT_PROPERTY = {
    "environment": {
        "enum": ENVIRONMENTS,
        "description": "The stack's environment. Production rules apply when it is `production`, whatever the stack declares.",
    }
}
# Where a resource declares its environment: AWS tags (and the provider's default tags, the Karpenter
# node class's tags for the instances it launches), Google Cloud labels.
DECLARATION_PATHS = (
    ("tags",),
    ("defaultTags", "tags"),
    ("spec", "tags"),
    ("labels",),
    ("resourceLabels",),
    ("nodeConfig", "resourceLabels"),
)
ENVIRONMENT_KEY = "environment"

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
GCP_SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
BUCKETS = (*S3_BUCKETS, "gcp:storage/bucket:Bucket")
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
REPLICATED_KINDS = ("Deployment", "StatefulSet")
MIN_REPLICAS = 2
# Karpenter chart default `replicas: 2` (charts/karpenter/values.yaml of karpenter-provider-aws).
KARPENTER_CHART = "karpenter"
KARPENTER_CHART_REPLICAS = 2
# KEDA's ScaledObject defaults minReplicaCount to 0; an HPA's minReplicas defaults to 1; a Deployment's
# or StatefulSet's replicas to 1 (Kubernetes API reference).
KEDA_MIN_DEFAULT = 0
HPA_MIN_DEFAULT = 1
WORKLOAD_REPLICAS_DEFAULT = 1
MIN_RETENTION_PROPERTY = {
    "minRetentionDays": {
        "type": "integer",
        "minimum": 1,
        "default": 90,
        "description": "Days a production stack keeps VPC flow log records at the least.",
    }
}


def production(config: Config) -> bool:
    return config["environment"] == "production"


def declared_environments(props: Mapping[str, Any]) -> set[str]:
    found = set()
    for path in DECLARATION_PATHS:
        labels = kube.dig(props, *path)
        if isinstance(labels, Mapping) and labels.get(ENVIRONMENT_KEY) is not None:
            found.add(str(labels[ENVIRONMENT_KEY]))
    return found


def environment_matches(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    """One finding per environment the stack declares other than its own (a stack-wide fact: reported
    once, with a few of the resources that say so)."""
    declaring: dict[str, list[Resource]] = {}
    for resource in resources:
        if resource.type.startswith("kubernetes:") and resource.type != kube.EC2_NODE_CLASS:
            continue  # Kubernetes labels are not where the stack declares its environment
        for declared in declared_environments(resource.props) - {config["environment"]}:
            declaring.setdefault(declared, []).append(resource)
    for declared, found in sorted(declaring.items()):
        examples = ", ".join(r.name for r in found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        yield "", (
            f"the stack declares environment {declared!r} ({examples}) but its environment is {config['environment']!r} (its policy config): "
            f"a stack cannot choose its own environment; set llm-platform:environment to {config['environment']!r}"
        )


# -- production: high availability ------------------------------------------------------------------


def _by_urn(resources: list[Resource]) -> dict[str, Resource]:
    return {r.urn: r for r in resources}


def _nat_zones(resources: list[Resource]) -> tuple[set[str], bool]:
    """Zones that have a public NAT gateway of their own, and whether a regional NAT gateway serves all."""
    by_urn = _by_urn(resources)
    zones, regional = set(), False
    for nat in kube.of_type(resources, NAT_GATEWAY):
        if nat.props.get("connectivityType", "public") != "public":
            continue
        if nat.props.get("availabilityMode") == "regional":
            regional = True
        for urn in nat.dependencies:
            subnet = by_urn.get(urn)
            if subnet is not None and subnet.type == SUBNET and subnet.props.get("availabilityZone"):
                zones.add(subnet.props["availabilityZone"])
    return zones, regional


def _nat_per_zone(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    subnet_zones = {s.props.get("availabilityZone") for s in kube.of_type(resources, SUBNET)} - {None}
    if not subnet_zones:
        return
    nat_zones, regional = _nat_zones(resources)
    missing = sorted(subnet_zones - nat_zones)
    if missing and not regional:
        yield "", (
            f"zones {missing} have subnets but no NAT gateway of their own ({len(kube.of_type(resources, NAT_GATEWAY))} NAT gateway(s) for "
            f"{len(subnet_zones)} zones): one zone's outage would cut the others' egress; production runs one NAT gateway per zone"
        )


def _scaler_minimums(resources: list[Resource]) -> dict[tuple[str, str], int]:
    """(namespace, workload name) -> the fewest replicas its autoscaler (KEDA or HPA) keeps."""
    minimums = {}
    for scaler in resources:
        if scaler.type == SCALED_OBJECT:
            minimum = kube.dig(scaler.props, "spec", "minReplicaCount")
            minimum = KEDA_MIN_DEFAULT if minimum is None else minimum
        elif scaler.type == HPA:
            minimum = kube.dig(scaler.props, "spec", "minReplicas")
            minimum = HPA_MIN_DEFAULT if minimum is None else minimum
        else:
            continue
        target = kube.dig(scaler.props, "spec", "scaleTargetRef", "name")
        namespace = kube.dig(scaler.props, "metadata", "namespace") or "default"
        minimums[(namespace, target)] = int(minimum)
    return minimums


def _minimum(workload: Resource, scaled: dict) -> tuple[int, str]:
    key = (kube.dig(workload.props, "metadata", "namespace") or "default", kube.dig(workload.props, "metadata", "name"))
    if key in scaled:
        return scaled[key], "its autoscaler's minimum"
    replicas = kube.dig(workload.props, "spec", "replicas")
    return (WORKLOAD_REPLICAS_DEFAULT if replicas is None else int(replicas)), "replicas"


def _serves(service: Resource, workload: Resource) -> bool:
    """The Service sends traffic to the workload's pods: same namespace, selector within the pods' labels."""
    namespace = lambda r: kube.dig(r.props, "metadata", "namespace") or "default"  # noqa: E731
    selector = kube.dig(service.props, "spec", "selector") or {}
    labels = kube.dig(workload.props, "spec", "template", "metadata", "labels") or {}
    return bool(selector) and namespace(service) == namespace(workload) and all(labels.get(k) == v for k, v in selector.items())


def _workload_replicas(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    """Every workload keeps two replicas, counting with it the workloads behind the same Service: a model's
    spot burst, which may scale to none, is served beside a floor that keeps two."""
    scaled = _scaler_minimums(resources)
    workloads = [r for r in resources if r.type.startswith("kubernetes:") and r.props.get("kind") in REPLICATED_KINDS]
    services = kube.of_type(resources, "kubernetes:core/v1:Service")
    for workload in workloads:
        replicas, source = _minimum(workload, scaled)
        peers = {peer.urn: peer for service in services if _serves(service, workload) for peer in workloads if _serves(service, peer)}
        if len(peers) > 1:
            replicas, source = sum(_minimum(peer, scaled)[0] for peer in peers.values()), f"with the {len(peers) - 1} other workload(s) behind its Service"
        if replicas < MIN_REPLICAS:
            namespace, name = kube.dig(workload.props, "metadata", "namespace") or "default", kube.dig(workload.props, "metadata", "name")
            yield workload.urn, f"{workload.props.get('kind')} {namespace}/{name} keeps {replicas} replica(s) ({source}); production keeps at least {MIN_REPLICAS} so one can drain or fail"


def _karpenter_replicas(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    for release in kube.of_type(resources, kube.HELM_RELEASE):
        if kube.helm_chart_name(release.props) != KARPENTER_CHART:
            continue
        replicas = (release.props.get("values") or {}).get("replicas", KARPENTER_CHART_REPLICAS)
        if int(replicas) < MIN_REPLICAS:
            yield release.urn, f"the Karpenter controller runs {replicas} replica(s); production runs at least {MIN_REPLICAS}"


def _system_capacity_on_demand(resources: list[Resource]) -> Iterator[tuple[str, str]]:
    for pool in kube.of_type(resources, kube.NODE_POOL):
        capacity = kube.requirement_values(pool.props, kube.CAPACITY_TYPE_LABEL)
        if not kube.is_gpu_node_pool(pool.props) and (capacity is None or "spot" in capacity):
            yield pool.urn, f"NodePool {kube.dig(pool.props, 'metadata', 'name')} runs system workloads on spot capacity ({capacity or 'any capacity type'}); production runs them on on-demand nodes only"
    for pool in gke.node_pools(resources):
        if not gke.accelerators(pool.props) and gke.is_spot(pool.props):
            yield pool.urn, f"node pool {gke.name(pool)} runs system workloads on Spot VMs; production runs them on on-demand nodes only"


def production_high_availability(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    if not production(config):
        return
    yield from _nat_per_zone(resources)
    yield from _workload_replicas(resources)
    yield from _karpenter_replicas(resources)
    yield from _system_capacity_on_demand(resources)


# -- production: flow logs ---------------------------------------------------------------------------


def _dependents(resources: list[Resource], urn: str, typ: str) -> list[Resource]:
    return [r for r in resources if r.type == typ and urn in r.dependencies]


def _days(value: Any) -> int:
    """A retention in days as CloudWatch reads it; what is no whole number counts as one day (the least)."""
    days = as_int(value or 0)
    return 1 if days is None else days


def vpc_flow_logs(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    if not production(config):
        return
    by_urn = _by_urn(resources)
    minimum = config["minRetentionDays"]
    for vpc in kube.of_type(resources, VPC):
        flow_logs = _dependents(resources, vpc.urn, FLOW_LOG)
        if not flow_logs:
            yield vpc.urn, f"VPC {vpc.name} records no flow logs; production records them"
        for flow_log in flow_logs:
            for group in (by_urn[urn] for urn in flow_log.dependencies if urn in by_urn and by_urn[urn].type == LOG_GROUP):
                days = _days(group.props.get("retentionInDays"))
                # 0 (or unset) keeps the records forever, which meets any minimum.
                if 0 < days < minimum:
                    yield group.urn, f"flow log group {group.props.get('name') or group.name} keeps records {days} days; production keeps them at least {minimum}"
    for subnetwork in kube.of_type(resources, GCP_SUBNETWORK):
        if not subnetwork.props.get("logConfig"):
            yield subnetwork.urn, f"subnetwork {subnetwork.props.get('name') or subnetwork.name} records no VPC flow logs (logConfig); production records them"


# -- production: buckets protected -------------------------------------------------------------------


def buckets_protected(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    if not production(config):
        return
    for bucket in resources:
        if bucket.type in BUCKETS and not bucket.protect:
            yield bucket.urn, f"bucket {bucket.name} is not protected (resource option protect); production protects its buckets from `pulumi destroy` and replacement"

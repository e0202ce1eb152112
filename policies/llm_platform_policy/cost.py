"""The worst-case monthly cost a stack can reach, from what it declares, on AWS or Google Cloud.

Every node pool is priced at its limits on its most expensive allowed instance type at on-demand price,
around the clock, except a GPU pool that only scheduled workloads can use (`schedule.pool_window`): it is
priced for its window's hours a month, on a line that says so.
Spot is never a ceiling: on AWS spot can fall back to on-demand, and on Google Cloud spot prices move
(up to once a month) while the on-demand price bounds them. Usage that no resource bounds (NAT traffic,
load balancer capacity units, log volume) comes from the planning assumptions in `data/prices.yaml`.

Load balancers are counted from the Services of type LoadBalancer the stack declares and the one each
agentgateway `AgentgatewayParameters` has its controller create for the gateway's proxies. Pods on a priced
node pool cost nothing beyond it; the inference gateway's (proxies and Endpoint Pickers on the system
pool) are shown by their share of it in `included`, not added again.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from llm_platform_policy import catalog, gke, kube, schedule
from llm_platform_policy.core import Resource
from llm_platform_policy.environment import KARPENTER_CHART, KARPENTER_CHART_REPLICAS
from llm_platform_policy.logs import EKS_CLUSTER_TYPES, LOG_GROUP

# GKE's cluster autoscaler removes a node once it has been unneeded this long (its scale-down-unneeded-time,
# 10 minutes by default), plus the node's drain.
GKE_SCALE_DOWN_MINUTES = 10
ECR_PULL_THROUGH_CACHE_RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
ECR_REPOSITORY_CREATION_TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
ARTIFACT_REGISTRY_REPOSITORY = "gcp:artifactregistry/repository:Repository"
# The llm-d router's chart (one release per InferencePool, each with its Endpoint Picker).
LLM_D_ROUTER_CHART = "llm-d-router-gateway"


@dataclass(frozen=True)
class CostItem:
    name: str
    """Stable between previews (plan diffs match items by it)."""
    detail: str
    """What the quantity is made of, e.g. `2 x g6.2xlarge on-demand`."""
    quantity: float
    unit: str
    unit_usd: float
    monthly_usd: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "detail": self.detail, "quantity": self.quantity, "unit": self.unit, "unitUsd": self.unit_usd, "monthlyUsd": self.monthly_usd}


@dataclass
class CostReport:
    items: list[CostItem] = field(default_factory=list)
    unbounded: list[tuple[str, str]] = field(default_factory=list)
    """(urn, why) for everything whose cost has no upper bound: the ceiling is meaningless while any exist."""
    included: list[CostItem] = field(default_factory=list)
    """Shares of the items above that some workload takes (not added to the total)."""
    system_vcpu_hour_usd: float | None = None
    """On-demand price of one vCPU-hour on the dearest system (non-GPU) node type priced."""

    @property
    def monthly_usd(self) -> float:
        return round(sum(item.monthly_usd for item in self.items), 2)

    def largest(self, count: int = 3) -> list[CostItem]:
        return sorted(self.items, key=lambda item: (-item.monthly_usd, item.name))[:count]

    def to_json(self) -> dict[str, Any]:
        return {"monthlyCeilingUsd": self.monthly_usd, "items": [item.to_json() for item in self.items], "included": [item.to_json() for item in self.included]}


def _price(key: str, cloud: str = "aws", region: str | None = None) -> tuple[float, str]:
    entry = catalog.service_prices()[cloud][key]
    usd = entry["usd"]
    if isinstance(usd, Mapping):
        if region not in usd:
            raise KeyError(f"prices.yaml has no {region} price for {cloud} {key}")
        usd = usd[region]
    return usd, entry["unit"]


def _assumption(key: str) -> Any:
    return catalog.service_prices()["assumptions"][key]


def _item(name: str, detail: str, quantity: float, price_key: str, cloud: str = "aws", region: str | None = None) -> CostItem:
    usd, unit = _price(price_key, cloud, region)
    return CostItem(name, detail, round(quantity, 3), unit, usd, round(quantity * usd, 2))


def _hours() -> int:
    return _assumption("hoursPerMonth")


def stack_cloud(resources: list[Resource]) -> str:
    return "gcp" if any(r.type == "pulumi:providers:gcp" for r in resources) else "aws"


def stack_region(resources: list[Resource]) -> str | None:
    provider = f"pulumi:providers:{stack_cloud(resources)}"
    regions = {r.props.get("region") for r in resources if r.type == provider and r.props.get("region")}
    return regions.pop() if len(regions) == 1 else None


def monthly_ceiling(resources: list[Resource]) -> CostReport:
    report = CostReport()
    region = stack_region(resources)
    if stack_cloud(resources) == "gcp":
        _gcp_ceiling(resources, region, report)
        _volumes(resources, report, "pdBalancedGbMonth", "pd-balanced", "gcp", region)
        _artifact_registry_caches(resources, report)
        _gateway_pods(resources, report)
        return report
    _node_pools(resources, region, report)
    _control_plane(resources, report)
    _network(resources, report)
    _fargate(resources, report)
    _load_balancers(resources, report)
    _volumes(resources, report, "gp3GbMonth", "gp3")
    _other(resources, report)
    _ecr_caches(resources, report)
    _gateway_pods(resources, report)
    return report


def _node_class_volume_gib(resources: list[Resource]) -> dict[str, float]:
    sizes = {}
    for node_class in kube.of_type(resources, kube.EC2_NODE_CLASS):
        mappings = kube.dig(node_class.props, "spec", "blockDeviceMappings") or []
        sizes[kube.dig(node_class.props, "metadata", "name")] = sum(kube.gib_of(kube.dig(m, "ebs", "volumeSize") or 0) for m in mappings)
    return sizes


def _node_pools(resources: list[Resource], region: str | None, report: CostReport) -> None:
    volume_gib = _node_class_volume_gib(resources)
    for pool in kube.of_type(resources, kube.NODE_POOL):
        pool_name = kube.dig(pool.props, "metadata", "name")
        types = kube.requirement_values(pool.props, kube.INSTANCE_TYPE_LABEL)
        if types is None:
            report.unbounded.append((pool.urn, f"NodePool {pool_name} does not restrict instance types, so no price bounds it"))
            continue
        if region is None:
            report.unbounded.append((pool.urn, f"NodePool {pool_name}: the stack's AWS region is unknown, so its instances cannot be priced"))
            continue
        candidates = []
        for type_name in types:
            size = catalog.find_aws_instance_type(type_name)
            if size is None or region not in size.prices:
                report.unbounded.append((pool.urn, f"NodePool {pool_name}: no {region} price for {type_name} in the instance catalog"))
                continue
            nodes = kube.max_nodes(pool.props, size)
            if nodes is None:
                report.unbounded.append((pool.urn, f"NodePool {pool_name} has no cpu, memory or {kube.GPU_RESOURCE} limit"))
                break
            candidates.append((nodes * size.on_demand_usd_per_hour(region), nodes, size))
        else:
            if not candidates:
                continue
            _, nodes, size = max(candidates, key=lambda c: (c[0], c[1]))
            gpu = kube.is_gpu_node_pool(pool.props)
            labels = kube.dig(pool.props, "spec", "template", "metadata", "labels") or {}
            window = _gpu_pool_window(gpu, labels, resources, kube.minutes(kube.dig(pool.props, "spec", "disruption", "consolidateAfter")))
            report.items.append(_pool_item(pool_name, gpu, nodes, size, region, window))
            _note_system_pool(report, gpu, size, region)
            class_name = kube.dig(pool.props, "spec", "template", "spec", "nodeClassRef", "name")
            if nodes and volume_gib.get(class_name):
                # A node's volume exists as long as the node does.
                share = _share_of_month(window)
                report.items.append(
                    _item(f"root volumes of pool {pool_name}", f"{nodes} x {volume_gib[class_name]:g} GiB gp3{_during(window)}", nodes * volume_gib[class_name] * share, "gp3GbMonth")
                )


def _gpu_pool_window(gpu: bool, node_labels: Mapping[str, str], resources: list[Resource], node_wait_minutes: float | None) -> schedule.Window | None:
    """The window a GPU pool is priced for (with the time its emptied nodes linger), or None: around the clock."""
    return schedule.with_node_wait(schedule.pool_window(node_labels, resources), node_wait_minutes) if gpu else None


def _share_of_month(window: schedule.Window | None) -> float:
    return window.hours_per_month / _hours() if window else 1.0


def _during(window: schedule.Window | None) -> str:
    return f", scheduled {window.describe()}" if window else ""


def _pool_item(pool_name: str, gpu: bool, nodes: int, size: catalog.InstanceType, region: str, window: schedule.Window | None = None) -> CostItem:
    hourly = size.on_demand_usd_per_hour(region)
    kind = "GPU" if gpu else "node"
    hours = nodes * _hours() * _share_of_month(window)
    return CostItem(f"{kind} pool {pool_name}", f"{nodes} x {size.name} on-demand{_during(window)}", round(hours, 1), "instance-hour", hourly, round(hours * hourly, 2))


def _note_system_pool(report: CostReport, gpu: bool, size: catalog.InstanceType, region: str) -> None:
    if not gpu:
        per_vcpu = size.on_demand_usd_per_hour(region) / size.vcpus
        report.system_vcpu_hour_usd = max(report.system_vcpu_hour_usd or 0.0, per_vcpu)


def _count(resources: list[Resource], *types: str) -> int:
    return sum(1 for r in resources if r.type in types)


def _control_plane(resources: list[Resource], report: CostReport) -> None:
    # pulumi-eks registers eks:index:Cluster and, in a real preview, the aws:eks/cluster:Cluster inside it.
    clusters = max(_count(resources, EKS_CLUSTER_TYPES[0]), _count(resources, EKS_CLUSTER_TYPES[1]))
    if clusters:
        report.items.append(_item("EKS control plane", f"{clusters} cluster(s)", clusters * _hours(), "eksClusterHour"))


def _network(resources: list[Resource], report: CostReport) -> None:
    nat = _count(resources, "aws:ec2/natGateway:NatGateway")
    if nat:
        report.items.append(_item("NAT gateways", f"{nat} gateway(s)", nat * _hours(), "natGatewayHour"))
        gb = nat * _assumption("natProcessedGbPerGatewayMonth")
        report.items.append(_item("NAT data processed", f"assumed {_assumption('natProcessedGbPerGatewayMonth')} GB per gateway", gb, "natGatewayGb"))
    addresses = _count(resources, "aws:ec2/eip:Eip")
    if addresses:
        report.items.append(_item("public IPv4 addresses", f"{addresses} address(es)", addresses * _hours(), "publicIpv4Hour"))


def _fargate_size(vcpu: float, gb: float) -> tuple[float, float]:
    """Fargate bills a pod's requests plus its Kubernetes overhead, rounded up to a supported size."""
    minimum = _assumption("fargatePodMinimum")
    vcpu = max(vcpu, minimum["vcpu"])
    vcpu = next(step for step in (0.25, 0.5, 1, 2, 4, 8, 16) if step >= vcpu)
    gb = max(gb + _assumption("fargatePodOverheadGb"), minimum["gb"])
    gb = 0.5 if gb <= 0.5 else float(math.ceil(gb))
    return vcpu, max(gb, 2 * vcpu)


def _fargate(resources: list[Resource], report: CostReport) -> None:
    if not any(r.type == EKS_CLUSTER_TYPES[0] and r.props.get("fargate") for r in resources):
        return
    pods: list[tuple[str, float, float]] = [("CoreDNS", 0.1, 0.07)] * _assumption("corednsReplicas")
    for release in kube.of_type(resources, kube.HELM_RELEASE):
        if kube.helm_chart_name(release.props) == KARPENTER_CHART:
            values = release.props.get("values") or {}
            requests = kube.dig(values, "controller", "resources", "requests") or {}
            size = (kube.quantity(requests.get("cpu", 0)), kube.gib_of(requests.get("memory", 0)))
            pods += [("Karpenter", *size)] * int(values.get("replicas", KARPENTER_CHART_REPLICAS))
    vcpu = gb = 0.0
    for _, pod_vcpu, pod_gb in pods:
        billed_vcpu, billed_gb = _fargate_size(pod_vcpu, pod_gb)
        vcpu += billed_vcpu
        gb += billed_gb
    names = ", ".join(sorted({name for name, *_ in pods}))
    report.items.append(_item("Fargate vCPU", f"{len(pods)} pods: {names}", vcpu * _hours(), "fargateVcpuHour"))
    report.items.append(_item("Fargate memory", f"{len(pods)} pods: {names}", gb * _hours(), "fargateGbHour"))


# AWS Load Balancer Controller v3.5.0 (docs/guide/service/annotations.md, lb-type): a Service with one of
# these types gets a Network Load Balancer; an Ingress (and any other LoadBalancer Service) is priced as an
# ALB, whose capacity unit costs more.
AWS_LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
NLB_TYPES = ("external", "nlb", "nlb-ip")


def _load_balancers(resources: list[Resource], report: CostReport) -> None:
    groups, nlbs = set(), 0
    for resource in resources:
        if resource.type == "kubernetes:networking.k8s.io/v1:Ingress":
            annotations = kube.dig(resource.props, "metadata", "annotations") or {}
            groups.add(annotations.get("alb.ingress.kubernetes.io/group.name") or resource.urn)
    for resource, service in kube.load_balancer_services(resources):
        if (kube.dig(service, "metadata", "annotations") or {}).get(AWS_LB_TYPE) in NLB_TYPES:
            nlbs += 1
        else:
            groups.add(resource.urn)
    if groups:
        count = len(groups)
        report.items.append(_item("load balancers", f"{count} balancer(s)", count * _hours(), "albHour"))
        lcus = count * _assumption("lcuPerLoadBalancer")
        report.items.append(_item("load balancer capacity units", f"assumed {_assumption('lcuPerLoadBalancer')} per balancer", lcus * _hours(), "albLcuHour"))
    if nlbs:
        report.items.append(_item("network load balancers", f"{nlbs} balancer(s)", nlbs * _hours(), "nlbHour"))
        nlcus = nlbs * _assumption("nlcuPerLoadBalancer")
        report.items.append(_item("network load balancer capacity units", f"assumed {_assumption('nlcuPerLoadBalancer')} per balancer", nlcus * _hours(), "nlbNlcuHour"))


def _gcp_load_balancers(resources: list[Resource], report: CostReport) -> None:
    """A LoadBalancer Service on GKE is a passthrough Network Load Balancer: one regional forwarding rule,
    and the data it processes."""
    rules = len(kube.load_balancer_services(resources))
    if rules:
        report.items.append(_item("load balancer forwarding rules", f"{rules} rule(s)", rules * _hours(), "forwardingRuleHour", "gcp"))
        gb = rules * _assumption("loadBalancerProcessedGbPerMonth")
        report.items.append(_item("load balancer data processed", f"assumed {_assumption('loadBalancerProcessedGbPerMonth')} GiB per balancer", gb, "loadBalancerGb", "gcp"))


def _replicas(value: Any, default: int = 1) -> int:
    return int(value) if isinstance(value, (int, float)) else default


def _gateway_pods(resources: list[Resource], report: CostReport) -> None:
    """The inference gateway's proxies (AgentgatewayParameters `spec.resources` x `spec.deployment.spec.
    replicas`) and each pool's Endpoint Picker (the llm-d router chart's `router.epp`) take their CPU
    requests' share of the system pool."""
    pods: list[tuple[str, int, float]] = []
    for resource in resources:
        if kube.is_gateway_parameters(resource):
            spec = resource.props.get("spec") or {}
            cpu = kube.quantity(kube.dig(spec, "resources", "requests", "cpu") or 0)
            pods.append(("gateway proxies", _replicas(kube.dig(spec, "deployment", "spec", "replicas")), cpu))
    for release in kube.of_type(resources, kube.HELM_RELEASE):
        if kube.helm_chart_name(release.props) == LLM_D_ROUTER_CHART:
            epp = kube.dig(release.props.get("values") or {}, "router", "epp") or {}
            pods.append(("Endpoint Pickers", _replicas(epp.get("replicas")), kube.quantity(kube.dig(epp, "resources", "requests", "cpu") or 0)))
    if not pods or report.system_vcpu_hour_usd is None:
        return
    for name in dict.fromkeys(name for name, *_ in pods):
        count = sum(replicas for n, replicas, _ in pods if n == name)
        vcpu = sum(replicas * cpu for n, replicas, cpu in pods if n == name)
        hours = vcpu * _hours()
        unit = round(report.system_vcpu_hour_usd, 5)
        report.included.append(CostItem(f"{name} (share of the system pool)", f"{count} pod(s), {vcpu:g} vCPU requested", round(hours, 1), "vCPU-hour", unit, round(hours * unit, 2)))


def _claims(values: Any, replicas: int = 1) -> Iterable[float]:
    """GiB of every persistent volume a Helm values tree asks for (volume claim templates and
    `persistence` blocks), times the replicas of the spec that holds it."""
    if isinstance(values, Mapping):
        replicas = _replicas(values.get("replicas"), replicas)
        storage = kube.dig(values, "volumeClaimTemplate", "spec", "resources", "requests", "storage")
        if storage:
            yield kube.gib_of(storage) * replicas
        persistence = values.get("persistence")
        if isinstance(persistence, Mapping) and persistence.get("enabled") and persistence.get("size"):
            yield kube.gib_of(persistence["size"]) * replicas
        for key, child in values.items():
            if key not in ("volumeClaimTemplate", "persistence"):
                yield from _claims(child, replicas)
    elif isinstance(values, Sequence) and not isinstance(values, str):
        for child in values:
            yield from _claims(child, replicas)


def _volumes(resources: list[Resource], report: CostReport, price_key: str, disk: str, cloud: str = "aws", region: str | None = None) -> None:
    for release in kube.of_type(resources, kube.HELM_RELEASE):
        gib = sum(_claims(release.props.get("values") or {}))
        if gib:
            report.items.append(_item(f"persistent volumes of {release.props.get('name') or release.name}", f"{gib:g} GiB {disk}", gib, price_key, cloud, region))
    claims = [r for r in resources if r.type == "kubernetes:core/v1:PersistentVolumeClaim"]
    gib = sum(kube.gib_of(kube.dig(c.props, "spec", "resources", "requests", "storage") or 0) for c in claims)
    if gib:
        report.items.append(_item("persistent volume claims", f"{len(claims)} claim(s), {gib:g} GiB {disk}", gib, price_key, cloud, region))



def _other(resources: list[Resource], report: CostReport) -> None:
    keys = _count(resources, "aws:kms/key:Key")
    if keys:
        report.items.append(_item("KMS keys", f"{keys} key(s)", keys, "kmsKeyMonth"))
    if _count(resources, LOG_GROUP, *EKS_CLUSTER_TYPES):
        gb = _assumption("cloudwatchLogsGbPerMonth")
        report.items.append(_item("CloudWatch Logs ingestion", f"assumed {gb} GB: control plane and flow logs", gb, "cloudwatchLogsIngestGb"))
    weights = _weights_gib(resources)
    if weights:
        report.items.append(_item("model weights in S3", f"{weights:g} GiB", weights, "s3StandardGbMonth"))


def _weights_gib(resources: list[Resource]) -> float:
    """GiB of model weights the stack keeps in its object store, at most: each model server's weights
    cache holds a whole copy and can hold no more than its size limit."""
    total = 0.0
    for resource in resources:
        spec = kube.pod_spec(resource.type, resource.props) or {}
        for volume in spec.get("volumes") or []:
            limit = kube.dig(volume, "emptyDir", "sizeLimit")
            if volume.get("name") == kube.WEIGHTS_CACHE_VOLUME and limit is not None:
                total += kube.gib_of(limit)
    return total


def _gcp_ceiling(resources: list[Resource], region: str | None, report: CostReport) -> None:
    if region is None:
        report.unbounded.append(("", "the stack's Google Cloud region is unknown, so nothing can be priced"))
        return
    total_nodes = 0
    for pool in gke.node_pools(resources):
        pool_name = gke.name(pool)
        machine = catalog.find_gcp_machine_type(gke.machine_type(pool.props) or "")
        nodes = gke.max_nodes(pool.props)
        disk = gke.disk_gib(pool.props)
        if machine is None or region not in machine.prices:
            report.unbounded.append((pool.urn, f"node pool {pool_name}: no {region} price for machine type {gke.machine_type(pool.props)} in the instance catalog"))
            continue
        if nodes is None:
            report.unbounded.append((pool.urn, f"node pool {pool_name} has no total maximum node count"))
            continue
        if disk is None:
            report.unbounded.append((pool.urn, f"node pool {pool_name} does not set its boot disk size"))
            continue
        total_nodes += nodes
        gpu = bool(gke.accelerators(pool.props))
        window = _gpu_pool_window(gpu, kube.dig(pool.props, "nodeConfig", "labels") or {}, resources, GKE_SCALE_DOWN_MINUTES)
        report.items.append(_pool_item(pool_name, gpu, nodes, machine, region, window))
        _note_system_pool(report, gpu, machine, region)
        if nodes:
            report.items.append(
                _item(
                    f"boot disks of pool {pool_name}",
                    f"{nodes} x {disk:g} GiB pd-balanced{_during(window)}",
                    nodes * disk * _share_of_month(window),
                    "pdBalancedGbMonth",
                    "gcp",
                    region,
                )
            )
    clusters = _count(resources, gke.CLUSTER)
    if clusters:
        report.items.append(_item("GKE cluster management", f"{clusters} regional cluster(s)", clusters * _hours(), "gkeClusterHour", "gcp"))
    gateways = _count(resources, "gcp:compute/routerNat:RouterNat")
    if gateways:
        # The gateway charge grows with the VMs using it, up to a cap.
        per_vm, _ = _price("natVmHour", "gcp")
        cap, _ = _price("natGatewayCapHour", "gcp")
        hourly = min(per_vm * total_nodes, cap)
        report.items.append(
            CostItem("Cloud NAT gateways", f"{gateways} gateway(s) for up to {total_nodes} VMs", gateways * _hours(), "gateway-hour", round(hourly, 4), round(gateways * _hours() * hourly, 2))
        )
        gb = gateways * _assumption("natProcessedGbPerGatewayMonth")
        report.items.append(_item("Cloud NAT data processed", f"assumed {_assumption('natProcessedGbPerGatewayMonth')} GiB per gateway", gb, "natGb", "gcp"))
    addresses = _count(resources, "gcp:compute/address:Address")
    if addresses:
        report.items.append(_item("NAT addresses", f"{addresses} static address(es)", addresses * _hours(), "natIpHour", "gcp"))
    keys = _count(resources, "gcp:kms/cryptoKey:CryptoKey")
    if keys:
        versions = keys * _assumption("kmsActiveVersionsPerKey")
        report.items.append(_item("Cloud KMS key versions", f"{keys} key(s), {_assumption('kmsActiveVersionsPerKey')} active versions each", versions, "kmsKeyVersionMonth", "gcp"))
    if clusters:
        billed = max(_assumption("cloudLoggingGbPerMonth") - _assumption("cloudLoggingFreeGbPerMonth"), 0)
        report.items.append(
            _item("Cloud Logging ingestion", f"assumed {_assumption('cloudLoggingGbPerMonth')} GiB, {_assumption('cloudLoggingFreeGbPerMonth')} free", billed, "loggingGb", "gcp")
        )
    _gcp_load_balancers(resources, report)
    weights = _weights_gib(resources)
    if weights:
        report.items.append(_item("model weights in Cloud Storage", f"{weights:g} GiB", weights, "gcsStandardGbMonth", "gcp", region))


# -- registry caches -----------------------------------------------------------------------------------
# A pull-through cache (ECR) or remote repository (Artifact Registry) keeps what the cluster pulls through
# it: bounded only by a policy that keeps a number of images per repository. The repositories are those
# the stack's pods pull from it; each image is `containerImageGb`.


def _pulled_repositories(resources: list[Resource], prefix: str) -> set[str]:
    """The repositories (`<host>/<path>`, no tag or digest) of pod images under `prefix`."""
    found = set()
    for resource in resources:
        for container in kube.containers(kube.pod_spec(resource.type, resource.props) or {}):
            image = str(container.get("image") or "").split("@", 1)[0]
            if image.startswith(prefix):
                head, _, tail = image.rpartition(":")
                found.add(head if head and "/" not in tail else image)
    return found


def _cache_item(name: str, repositories: set[str], kept: int, price_key: str, cloud: str) -> CostItem:
    gb = _assumption("containerImageGb")
    count = len(repositories)
    return _item(name, f"{count} repositor{'y' if count == 1 else 'ies'} x {kept} images x assumed {gb} GB", count * kept * gb, price_key, cloud)


def _ecr_kept_images(template: Resource | None) -> int | None:
    """Images a repository created from `template` keeps at most: the count of a lifecycle rule expiring
    any image beyond it."""
    if template is None or not isinstance(template.props.get("lifecyclePolicy"), str):
        return None
    try:
        rules = json.loads(template.props["lifecyclePolicy"]).get("rules") or []
    except (ValueError, AttributeError):
        return None
    counts = [
        rule["selection"]["countNumber"]
        for rule in rules
        if kube.dig(rule, "selection", "tagStatus") == "any"
        and kube.dig(rule, "selection", "countType") == "imageCountMoreThan"
        and kube.dig(rule, "action", "type") == "expire"
        and isinstance(kube.dig(rule, "selection", "countNumber"), int)
    ]
    return min(counts) if counts else None


def _ecr_caches(resources: list[Resource], report: CostReport) -> None:
    templates = {t.props.get("prefix"): t for t in resources if t.type == ECR_REPOSITORY_CREATION_TEMPLATE and "PULL_THROUGH_CACHE" in (t.props.get("appliedFors") or [])}
    for rule in (r for r in resources if r.type == ECR_PULL_THROUGH_CACHE_RULE):
        prefix = rule.props.get("ecrRepositoryPrefix")
        # A template for the prefix applies to its repositories; `ROOT` to any without one of its own.
        kept = _ecr_kept_images(templates.get(prefix) or templates.get("ROOT"))
        if kept is None:
            report.unbounded.append((rule.urn, f"pull-through cache {prefix}: no repository creation template expires its repositories' images beyond a count, so what it keeps has no bound"))
            continue
        repositories = {image for image in _pulled_repositories(resources, "") if ".dkr.ecr." in image.split("/", 1)[0] and image.split("/", 1)[-1].startswith(f"{prefix}/")}
        if repositories:
            report.items.append(_cache_item(f"image cache {prefix} in ECR", repositories, kept, "ecrStorageGbMonth", "aws"))


def _artifact_registry_caches(resources: list[Resource], report: CostReport) -> None:
    for repository in (r for r in resources if r.type == ARTIFACT_REGISTRY_REPOSITORY and r.props.get("mode") == "REMOTE_REPOSITORY"):
        props = repository.props
        policies = props.get("cleanupPolicies") or []
        keep = [kube.dig(p, "mostRecentVersions", "keepCount") for p in policies if p.get("action") == "KEEP"]
        deletes = any(p.get("action") == "DELETE" for p in policies)
        # The engine hands numbers over as floats.
        counts = [int(count) for count in keep if isinstance(count, (int, float)) and not isinstance(count, bool)]
        if not (counts and deletes) or props.get("cleanupPolicyDryRun"):
            report.unbounded.append((repository.urn, f"remote repository {props.get('repositoryId')}: no cleanup policy deletes all but its most recent versions, so what it keeps has no bound"))
            continue
        prefix = f"{props.get('location')}-docker.pkg.dev/{props.get('project')}/{props.get('repositoryId')}/"
        repositories = _pulled_repositories(resources, prefix)
        # Versions younger than the delete policy's age stay too; a stack pulls one pin per image, so the
        # versions kept are the bound. The first 0.5 GB free per billing account is not deducted.
        if repositories:
            report.items.append(_cache_item(f"image cache {props.get('repositoryId')} in Artifact Registry", repositories, max(counts), "artifactRegistryGbMonth", "gcp"))


def breakdown(report: CostReport, count: int = 3) -> str:
    return ", ".join(f"{item.name} ({item.detail}) ${item.monthly_usd:,.2f}" for item in report.largest(count))


"""Network allow-lists judged by what they admit (`cidrs.judge`), wherever the stack spells one: the EKS
public endpoint, security-group ingress, load balancer sources and the GKE control plane's authorized
networks. An absent list means what the cloud makes of it (mostly: the whole internet)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator, Mapping

from llm_platform_policy import cidrs, gke, kube
from llm_platform_policy.core import Config, Resource, as_int, is_false, is_true

ANYWHERE = ["0.0.0.0/0"]
ANYWHERE_DUALSTACK = ["0.0.0.0/0", "::/0"]

# -- EKS public endpoint -----------------------------------------------------------------------------


def _limit(config: Config) -> float:
    return config["maxInternetSharePercent"]


def eks_endpoint_restricted(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    # eks:index:Cluster (pulumi-eks) takes the endpoint settings at the top; aws:eks/cluster:Cluster (the
    # cluster it creates, or one declared directly) under vpcConfig. EKS defaults: public endpoint on,
    # publicAccessCidrs 0.0.0.0/0.
    if resource_type == "eks:index:Cluster":
        settings = props
    elif resource_type == "aws:eks/cluster:Cluster":
        settings = props.get("vpcConfig") or {}
    else:
        return
    listed = list(settings.get("publicAccessCidrs") or [])
    if not is_false(settings.get("endpointPublicAccess", True)) and (problem := cidrs.judge(listed or ANYWHERE, _limit(config))):
        yield f"the EKS API endpoint is public and its publicAccessCidrs {listed or '(unset: 0.0.0.0/0)'} {problem}"


# -- security groups ---------------------------------------------------------------------------------

SECURITY_GROUP_TYPES = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
# Compute Engine firewall rules: ingress unless `direction` says EGRESS (Compute API Firewall resource).
GCE_FIREWALL = "gcp:compute/firewall:Firewall"
ALL_PROTOCOLS = ("-1", "all")
REMOTE_ADMIN_PORTS = {22: "SSH", 3389: "RDP"}


def _ports(protocol: Any, from_port: Any, to_port: Any) -> tuple[str, list[str]]:
    """How the rule's ports read, and the remote-administration services among them."""
    if str(protocol).lower() in ALL_PROTOCOLS:
        return "all ports", list(REMOTE_ADMIN_PORTS.values())
    low, high = as_int(from_port or 0), as_int(to_port if to_port is not None else from_port or 0)
    if low is None or high is None:
        # Unreadable ports: judged as the widest they could be.
        return "all ports", list(REMOTE_ADMIN_PORTS.values())
    admin = [name for port, name in REMOTE_ADMIN_PORTS.items() if low <= port <= high]
    return (f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"), admin


def _ingress_entries(resource: Resource) -> Iterator[tuple[str, list[str], Mapping[str, Any]]]:
    """(security group key, sources, rule) of every ingress rule the resource declares. Rules of one group
    are judged together: splitting an open range over several rules opens it as much."""
    props = resource.props
    if resource.type in SECURITY_GROUP_TYPES:
        for rule in props.get("ingress") or []:
            yield resource.urn, [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])], rule
    elif resource.type == SECURITY_GROUP_RULE and str(props.get("type") or "").strip().lower() == "ingress":
        yield str(props.get("securityGroupId")), [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])], props
    elif resource.type == INGRESS_RULE:
        sources = [props[key] for key in ("cidrIpv4", "cidrIpv6") if props.get(key)]
        yield str(props.get("securityGroupId")), sources, {**props, "protocol": props.get("ipProtocol")}
    elif resource.type == GCE_FIREWALL and str(props.get("direction") or "INGRESS").strip().upper() == "INGRESS" and not is_true(props.get("disabled")):
        # One rule a firewall, judged on its own: each `allows` entry's protocol and ports ("22", "80-90";
        # none: all of them).
        for allow in props.get("allows") or [{"protocol": "all"}]:
            for port in allow.get("ports") or [None]:
                low, _, high = str(port or "").partition("-")
                rule = {"protocol": allow.get("protocol"), "fromPort": low or None, "toPort": high or low or None}
                if port is None:
                    rule["protocol"] = "all"
                yield resource.urn, list(props.get("sourceRanges") or []), rule


def _group_key(resource: Resource, key: str, groups: set[str]) -> str:
    # A group created in the same program has an id only after it exists; its rules depend on it.
    return next((urn for urn in resource.dependencies if urn in groups), key)


def security_group_ingress_restricted(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    groups = {r.urn for r in resources if r.type in SECURITY_GROUP_TYPES}
    sources: dict[str, list[str]] = defaultdict(list)
    ports: dict[str, list[str]] = defaultdict(list)
    admin: dict[str, set[str]] = defaultdict(set)
    where: dict[str, str] = {}
    firewall: dict[str, bool] = {}
    for resource in resources:
        for key, listed, rule in _ingress_entries(resource):
            if not listed:
                continue  # from other security groups or prefix lists only: not an address allow-list
            key = _group_key(resource, key, groups)
            where.setdefault(key, resource.urn)
            firewall[key] = resource.type == GCE_FIREWALL
            sources[key] += listed
            described, services = _ports(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"))
            ports[key].append(described)
            admin[key].update(services)
    for key, listed in sources.items():
        if problem := cidrs.judge(listed, _limit(config)):
            remote = f", remote administration ({', '.join(sorted(admin[key]))}) among them" if admin[key] else ""
            what = "firewall" if firewall[key] else "security group"
            yield where[key], f"{what} ingress from {sorted(set(listed))} {problem}, on {', '.join(sorted(set(ports[key])))}{remote}"


# -- load balancers ----------------------------------------------------------------------------------

SERVICE_SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
# Annotations that make a LoadBalancer Service's load balancer internal (in-tree AWS provider and AWS
# Load Balancer Controller; GKE). Without one, the Service is judged as internet-facing.
INTERNAL_SERVICE_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
}
# AWS Load Balancer Controller Ingress annotations (docs/guide/ingress/annotations.md at the pinned
# version): scheme defaults to internal; inbound-cidrs defaults to 0.0.0.0/0 (plus ::/0 for dualstack)
# and is ignored when security-groups names the load balancer's groups.
ALB_PREFIX = "alb.ingress.kubernetes.io/"
ALB_CLASS = "alb"


def _split(value: Any) -> list[str]:
    return [part.strip() for part in str(value).split(",") if part.strip()]


AWS_SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"


def _internal(annotations: Mapping[str, Any]) -> bool:
    """An explicit AWS scheme decides (the AWS Load Balancer Controller reads it before the legacy
    `...-internal` flag); otherwise any annotation asking for an internal load balancer does."""
    values = {key: str(value).strip().lower() for key, value in annotations.items()}
    if AWS_SCHEME_ANNOTATION in values:
        return values[AWS_SCHEME_ANNOTATION] == "internal"
    return any(values.get(key) == value for key, value in INTERNAL_SERVICE_ANNOTATIONS.items())


def _service_sources(props: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    # Judged however the type is spelt: `service_not_exposed` refuses the spelling, this rule the sources.
    if str(kube.dig(props, "spec", "type") or "").strip().lower() != "loadbalancer":
        return None
    annotations = kube.dig(props, "metadata", "annotations") or {}
    if _internal(annotations):
        return None
    listed = kube.dig(props, "spec", "loadBalancerSourceRanges") or _split(annotations.get(SERVICE_SOURCE_RANGES_ANNOTATION, ""))
    return "loadBalancerSourceRanges", list(listed) or ANYWHERE_DUALSTACK


def _alb_sources(props: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    annotations = kube.dig(props, "metadata", "annotations") or {}
    ingress_class = kube.dig(props, "spec", "ingressClassName") or annotations.get("kubernetes.io/ingress.class")
    if ingress_class != ALB_CLASS or annotations.get(f"{ALB_PREFIX}scheme", "internal") != "internet-facing":
        return None
    if annotations.get(f"{ALB_PREFIX}security-groups"):
        return f"{ALB_PREFIX}security-groups", []
    listed = _split(annotations.get(f"{ALB_PREFIX}inbound-cidrs", ""))
    default = ANYWHERE_DUALSTACK if annotations.get(f"{ALB_PREFIX}ip-address-type", "ipv4").startswith("dualstack") else ANYWHERE
    return f"{ALB_PREFIX}inbound-cidrs", listed or default


def load_balancer_sources_restricted(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if not resource_type.startswith("kubernetes:"):
        return
    kind = props.get("kind")
    if kind == kube.AGENTGATEWAY_PARAMETERS:
        found = _service_sources(kube.gateway_service(props))
    else:
        found = _service_sources(props) if kind == "Service" else _alb_sources(props) if kind == "Ingress" else None
    if found is None:
        return
    field, listed = found
    name = f"{kind} {kube.dig(props, 'metadata', 'namespace') or 'default'}/{kube.dig(props, 'metadata', 'name')}"
    if not listed:
        yield f"internet-facing {name} takes its security groups from {field}, which the pack cannot judge; list the allowed networks in {ALB_PREFIX}inbound-cidrs"
    elif problem := cidrs.judge(listed, _limit(config)):
        yield f"internet-facing {name} admits {listed} ({field}), which {problem}"


# -- GKE control plane -------------------------------------------------------------------------------


def gke_control_plane_restricted(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type != gke.CLUSTER:
        return
    if is_true(kube.dig(props, "privateClusterConfig", "enablePrivateEndpoint")) or is_false(kube.dig(props, "controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled")):
        return  # no public IP endpoint
    authorized = props.get("masterAuthorizedNetworksConfig")
    if not authorized:
        yield "the GKE control plane has a public endpoint and no masterAuthorizedNetworksConfig: it admits the whole internet"
        return
    listed = [block.get("cidrBlock") for block in authorized.get("cidrBlocks") or []]
    if problem := cidrs.judge(listed, _limit(config)):
        yield f"the GKE control plane's authorized networks {listed} {problem}"
    if is_true(authorized.get("gcpPublicCidrsAccessEnabled")):
        yield "the GKE control plane admits every Google Cloud public address (gcpPublicCidrsAccessEnabled): any Compute Engine VM of any customer"

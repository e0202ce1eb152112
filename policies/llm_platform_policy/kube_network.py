"""What reaches pods from the network: Services exposed outside the cluster, and NetworkPolicies (the
default-deny every namespace starts from, and rules that admit every source). Whether a CIDR allow-list
covers too much is judged by what it covers in `network.py`, not here."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy import kube
from llm_platform_policy.core import Config, Resource, allow_list_property, allow_listed

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# Service types that open a port outside the cluster: on every node (NodePort), and on a cloud load
# balancer besides (LoadBalancer). ClusterIP and ExternalName open nothing.
EXPOSED_SERVICE_TYPES = ("loadbalancer", "nodeport")
SERVICE_ALLOW_LIST = allow_list_property("`<namespace>/<service name>` of a reviewed externally exposed Service", kube.WORKLOAD_PATTERN)


def service_not_exposed(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """No Service outside the cluster unless reviewed; who may reach a reviewed one (its
    loadBalancerSourceRanges) is the network rules' to judge."""
    if kube.kind_of(resource_type, props) != "Service" or allow_listed(kube.workload_id(props), config):
        return
    service_type = kube.dig(props, "spec", "type")
    if str(service_type or "").strip().lower() in EXPOSED_SERVICE_TYPES:
        yield f"Service {kube.workload_id(props)} is exposed outside the cluster (type: {service_type}) and is not a reviewed exception"
    if kube.dig(props, "spec", "externalIPs"):
        yield f"Service {kube.workload_id(props)} takes traffic for external IPs {kube.dig(props, 'spec', 'externalIPs')} and is not a reviewed exception"


def _namespace(props: Mapping[str, Any]) -> str:
    return kube.dig(props, "metadata", "namespace") or "default"


def models_only_through_gateway(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    """A model is reached from outside the cluster only through the inference gateway (API keys, rate
    limits, the Endpoint Picker): its Service is ClusterIP without external IPs, and the namespaces that
    run models hold no Ingress and no LoadBalancer or NodePort Service. Model Services are those selecting
    pods by the model label; no allow-list, since a reviewed bypass would still skip the keys."""
    services = [r for r in resources if kube.kind_of(r.type, r.props) == "Service"]
    models = [r for r in services if kube.MODEL_LABEL in (kube.dig(r.props, "spec", "selector") or {})]
    namespaces = {_namespace(r.props) for r in models}
    for resource in models:
        service_type = kube.dig(resource.props, "spec", "type") or "ClusterIP"
        if service_type != "ClusterIP":
            yield resource.urn, f"model Service {kube.workload_id(resource.props)} is {service_type}, not ClusterIP: models are reached from outside only through the inference gateway"
        if kube.dig(resource.props, "spec", "externalIPs"):
            yield resource.urn, f"model Service {kube.workload_id(resource.props)} takes traffic for external IPs: models are reached from outside only through the inference gateway"
    for resource in resources:
        kind = kube.kind_of(resource.type, resource.props)
        if _namespace(resource.props) not in namespaces or resource in models:
            continue
        if kind == "Ingress":
            yield resource.urn, f"Ingress {kube.workload_id(resource.props)} exposes the models' namespace; models are reached from outside only through the inference gateway"
        elif kind == "Service" and str(kube.dig(resource.props, "spec", "type") or "").strip().lower() in EXPOSED_SERVICE_TYPES:
            yield resource.urn, f"Service {kube.workload_id(resource.props)} opens the models' namespace outside the cluster ({kube.dig(resource.props, 'spec', 'type')}); models are reached from outside only through the inference gateway"


def _selects_everything(selector: Any) -> bool:
    return not selector or not (selector.get("matchLabels") or selector.get("matchExpressions"))


def network_policy_sources(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """An ingress rule without `from` (or with an empty one) admits every source, inside the cluster and
    out; a peer selecting every namespace and every pod in them admits the whole cluster."""
    if kube.kind_of(resource_type, props) != "NetworkPolicy":
        return
    for index, rule in enumerate(kube.dig(props, "spec", "ingress") or []):
        peers = (rule or {}).get("from")
        if not peers:
            yield f"NetworkPolicy {kube.workload_id(props)} ingress rule {index} admits every source (no `from`)"
            continue
        for peer in peers:
            if "namespaceSelector" in peer and _selects_everything(peer["namespaceSelector"]) and _selects_everything(peer.get("podSelector")):
                yield f"NetworkPolicy {kube.workload_id(props)} ingress rule {index} admits every pod of every namespace (empty namespaceSelector)"


def is_default_deny_ingress(props: Mapping[str, Any]) -> bool:
    """Selects every pod of its namespace, covers ingress, admits nothing. Without `policyTypes` the API
    defaults it to Ingress (and Egress only when egress rules are given)."""
    spec = props.get("spec") or {}
    types = spec.get("policyTypes")
    return _selects_everything(spec.get("podSelector")) and (types is None or "Ingress" in types) and not spec.get("ingress")


def namespaces_default_deny(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    """Every namespace the program creates starts from deny-all ingress, so a workload is reachable only
    through a policy that admits its callers, and removing that base is a violation."""
    denied = {kube.dig(p.props, "metadata", "namespace") or "default" for p in kube.of_type(resources, NETWORK_POLICY) if is_default_deny_ingress(p.props)}
    for namespace in kube.of_type(resources, NAMESPACE):
        name = kube.dig(namespace.props, "metadata", "name") or namespace.name
        if name not in denied:
            yield namespace.urn, f"namespace {name} has no default-deny ingress NetworkPolicy (podSelector: {{}}, policyTypes: [Ingress], no ingress rules)"

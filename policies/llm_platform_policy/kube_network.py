"""What reaches pods from the network: Services exposed outside the cluster, and NetworkPolicies (the
default-deny every namespace starts from, and rules that admit every source). Whether a CIDR allow-list
covers too much is judged by `cidrs`, here for ipBlocks as in `network.py` for the cloud's allow-lists."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy import cidrs, kube
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


# The label the API server puts on every namespace (its name): `Exists` on it matches every namespace.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _namespace(props: Mapping[str, Any]) -> str:
    return kube.dig(props, "metadata", "namespace") or "default"


MODEL_SOURCES_PROPERTY = {
    "allowedNamespaces": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["gateway", "monitoring"],
        "description": "Namespaces whose pods may reach model pods (the inference gateway's and Prometheus's).",
    }
}


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
    model_services = {(_namespace(r.props), kube.dig(r.props, "metadata", "name")) for r in models}
    allowed = set(config["allowedNamespaces"])
    for resource in resources:
        kind = kube.kind_of(resource.type, resource.props)
        if kind == "HTTPRoute":
            yield from _routes_to_model_services(resource, model_services)
        elif kind == "NetworkPolicy" and kube.MODEL_LABEL in (kube.dig(resource.props, "spec", "podSelector", "matchLabels") or {}):
            yield from _model_policy_peers(resource, allowed)
        if _namespace(resource.props) not in namespaces or resource in models:
            continue
        if kind == "Ingress":
            yield resource.urn, f"Ingress {kube.workload_id(resource.props)} exposes the models' namespace; models are reached from outside only through the inference gateway"
        elif kind == "Service" and str(kube.dig(resource.props, "spec", "type") or "").strip().lower() in EXPOSED_SERVICE_TYPES:
            yield resource.urn, f"Service {kube.workload_id(resource.props)} opens the models' namespace outside the cluster ({kube.dig(resource.props, 'spec', 'type')}); models are reached from outside only through the inference gateway"


def _routes_to_model_services(route: Resource, model_services: set[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """A route straight to a model's Service skips its InferencePool (and with it the Endpoint Picker)."""
    for rule in kube.dig(route.props, "spec", "rules") or []:
        for ref in rule.get("backendRefs") or []:
            if ref.get("kind", "Service") == "Service" and not ref.get("group") and (ref.get("namespace") or _namespace(route.props), ref.get("name")) in model_services:
                yield route.urn, f"HTTPRoute {kube.workload_id(route.props)} sends requests to the model Service {ref.get('name')}: a model is routed to through its InferencePool"


def _model_policy_peers(policy: Resource, allowed: set[str]) -> Iterator[tuple[str, str]]:
    """Model pods admit only the gateway's and Prometheus's namespaces, named exactly, and pods of their own
    namespace chosen by label (their Endpoint Picker): no address range (under the VPC CNI the VPC's range
    is every pod of the cluster), no other namespace."""
    for rule in kube.dig(policy.props, "spec", "ingress") or []:
        for peer in rule.get("from") or []:
            names = (kube.dig(peer, "namespaceSelector", "matchLabels") or {}).get(NAMESPACE_NAME_LABEL)
            own_pods = set(peer) == {"podSelector"} and _selector_has_terms(peer["podSelector"])
            named = "namespaceSelector" in peer and not kube.dig(peer, "namespaceSelector", "matchExpressions") and names in allowed
            if not (own_pods or named):
                yield policy.urn, f"NetworkPolicy {kube.workload_id(policy.props)} admits {peer} to model pods: they admit only {sorted(allowed)} by name and their own Endpoint Picker"


def _selector_has_terms(selector: Any) -> bool:
    return isinstance(selector, Mapping) and bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def _selects_everything(selector: Any) -> bool:
    """A label selector that matches every object: empty, or only expressions every object passes
    (`Exists` on the namespace-name label) or almost every one (`DoesNotExist`, `NotIn`)."""
    if not selector:
        return True
    if not isinstance(selector, Mapping) or selector.get("matchLabels"):
        return False
    return all(
        str(e.get("operator")) in ("DoesNotExist", "NotIn") or (str(e.get("operator")) == "Exists" and e.get("key") == NAMESPACE_NAME_LABEL)
        for e in selector.get("matchExpressions") or []
        if isinstance(e, Mapping)
    )


def _peer_problem(peer: Any) -> str | None:
    if not isinstance(peer, Mapping) or not any(peer.get(key) is not None for key in ("podSelector", "namespaceSelector", "ipBlock")):
        return "admits every source (a `from` peer without a selector or ipBlock)"
    if peer.get("namespaceSelector") is not None and _selects_everything(peer["namespaceSelector"]) and _selects_everything(peer.get("podSelector")):
        return "admits every pod of every namespace (its namespaceSelector and podSelector match everything)"
    return None


def network_policy_sources(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """An ingress rule without `from` (or with an empty one, or an empty peer) admits every source,
    inside the cluster and out; a peer selecting every namespace and every pod in them admits the whole
    cluster; an ipBlock (less its `except`) is judged by the internet it covers, like every allow-list."""
    if kube.kind_of(resource_type, props) != "NetworkPolicy":
        return
    blocks: list[str] = []
    for index, rule in enumerate(kube.dig(props, "spec", "ingress") or []):
        peers = (rule or {}).get("from")
        if not peers:
            yield f"NetworkPolicy {kube.workload_id(props)} ingress rule {index} admits every source (no `from`)"
            continue
        for peer in peers:
            if problem := _peer_problem(peer):
                yield f"NetworkPolicy {kube.workload_id(props)} ingress rule {index} {problem}"
            elif isinstance(block := peer.get("ipBlock"), Mapping):
                blocks += cidrs.without([block.get("cidr")], block.get("except") or [])
    # The policy's ipBlocks together: an open range split over several peers or rules opens it as much.
    if blocks and (problem := cidrs.judge(blocks)):
        yield f"NetworkPolicy {kube.workload_id(props)} admits ipBlocks {sorted(set(blocks))} (less their `except`), which {problem}"


def is_default_deny_ingress(props: Mapping[str, Any]) -> bool:
    """Selects every pod of its namespace, covers ingress, admits nothing. Without `policyTypes` the API
    defaults it to Ingress (and Egress only when egress rules are given)."""
    spec = props.get("spec") or {}
    types = spec.get("policyTypes")
    # Literally empty: a selector with any label or expression (even `DoesNotExist` on a label no pod has
    # today) leaves the pods it does not match open.
    selector = spec.get("podSelector")
    empty = isinstance(selector, Mapping) and not selector.get("matchLabels") and not selector.get("matchExpressions")
    return empty and (types is None or "Ingress" in types) and not spec.get("ingress")


def namespaces_default_deny(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    """Every namespace the program creates starts from deny-all ingress, so a workload is reachable only
    through a policy that admits its callers, and removing that base is a violation."""
    denied = {kube.dig(p.props, "metadata", "namespace") or "default" for p in kube.of_type(resources, NETWORK_POLICY) if is_default_deny_ingress(p.props)}
    for namespace in kube.of_type(resources, NAMESPACE):
        name = kube.dig(namespace.props, "metadata", "name") or namespace.name
        if name not in denied:
            yield namespace.urn, f"namespace {name} has no default-deny ingress NetworkPolicy (podSelector: {{}}, policyTypes: [Ingress], no ingress rules)"


GATEWAY = "Gateway"
AGENTGATEWAY_POLICY = "AgentgatewayPolicy"


def gateways_check_keys(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    """Every Gateway in front of the models checks its clients' keys: a second Gateway routed to a model's
    pool would serve it to anyone. Strict API-key authentication targets the Gateway itself (agentgateway
    `AgentgatewayPolicy` `traffic.apiKeyAuthentication`, `mode: Strict`)."""
    guarded = set()
    for policy in resources:
        if kube.kind_of(policy.type, policy.props) != AGENTGATEWAY_POLICY:
            continue
        authentication = kube.dig(policy.props, "spec", "traffic", "apiKeyAuthentication") or {}
        if str(authentication.get("mode") or "Strict").strip().lower() != "strict":
            continue
        for target in kube.dig(policy.props, "spec", "targetRefs") or []:
            if target.get("kind") == GATEWAY:
                guarded.add((_namespace(policy.props), target.get("name")))
    for gateway in resources:
        if kube.kind_of(gateway.type, gateway.props) == GATEWAY and (_namespace(gateway.props), kube.dig(gateway.props, "metadata", "name")) not in guarded:
            yield gateway.urn, f"Gateway {kube.workload_id(gateway.props)} checks no client keys: target it with an AgentgatewayPolicy whose traffic.apiKeyAuthentication is Strict"

"""The inference gateway on what each cloud's base hands it: objects valid against the pinned agentgateway,
Gateway API and chart schemas; a route per model on the body's `model`; keys and limits per client."""

import pytest

from llm_platform import config, pins
from llm_platform.config import ModelConfig
from llm_platform.contract import GATEWAY_NAMESPACE, GATEWAY_PROXY_LABELS, MODEL_HEADER, MODEL_LABEL, MONITORING_NAMESPACE, SERVING_NAMESPACE
from llm_platform.kubernetes import NAME_LABEL, default_deny_ingress
from llm_platform.platform import gateway, model_server
from tests.conftest import HELM_RELEASE
from tests.k8s_schemas import validate_any, validate_helm_values
from tests.llm_platform.platform.bases import STACKS, deployed

GATEWAY_KINDS = ("Namespace", "AgentgatewayParameters", "AgentgatewayPolicy", "Gateway", "HTTPRoute", "Secret", "NetworkPolicy")
# The chart reads `router.modelServers.matchLabels` (required: templates/_validations.tpl, the pool's selector
# in routerlib's _inferencepool.yaml) but its values.yaml only shows it as a comment.
EPP_FREE_FORM = ("router.modelServers.matchLabels",)


def gateway_objects(stack: str) -> list[dict]:
    return [r.inputs for r in deployed(stack).plan.resources if r.type.startswith("kubernetes:") and r.inputs.get("kind") in GATEWAY_KINDS and "gateway" in r.name]


@pytest.mark.parametrize("stack", ["eks-production", "gke-staging"])
def test_every_gateway_object_validates_against_the_pinned_schemas(stack):
    objects = gateway_objects(stack)
    assert {o["kind"] for o in objects} == set(GATEWAY_KINDS)
    for manifest in objects:
        assert validate_any(manifest, pins.KUBERNETES_VERSION) == [], manifest["kind"]


@pytest.mark.parametrize("stack", ["eks-production", "gke-staging"])
def test_each_model_gets_a_pool_with_an_endpoint_picker_and_a_route_on_its_name(stack):
    declared = deployed(stack)
    cfg = config.parse(STACKS[stack])
    for model in cfg.models:
        release = declared.release(model.name)
        assert (release.inputs["chart"], release.inputs["version"]) == (pins.LLM_D_ROUTER_CHART.chart, pins.LLM_D_ROUTER_CHART.version)
        assert release.inputs["namespace"] == SERVING_NAMESPACE
        values = release.inputs["values"]
        assert validate_helm_values("llm-d-router-gateway", values, EPP_FREE_FORM) == []
        # The pool (named after the release) selects exactly the model's pods on vLLM's port.
        # Floor and burst replicas alike: the pool selects by the model label both carry.
        assert values["router"]["modelServers"]["matchLabels"] == {"llm-platform.io/model": model.name}
        assert values["router"]["modelServers"]["targetPorts"] == [{"number": 8000}]
        (route,) = [r for r in declared.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute") if r.inputs["metadata"]["name"] == model.name]
        (rule,) = route.inputs["spec"]["rules"]
        assert rule["matches"][0]["headers"] == [{"type": "Exact", "name": MODEL_HEADER, "value": model.name}]
        assert rule["backendRefs"] == [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": model.name}]
        assert rule["timeouts"]["request"] == "300s"
        assert release.urn in route.depends_on


def test_the_model_header_is_set_from_the_body_before_routing_and_keys_are_checked_there():
    policy = gateway.pre_routing_policy()["spec"]
    assert policy["targetRefs"][0]["kind"] == "Gateway" and policy["traffic"]["phase"] == "PreRouting"
    assert policy["traffic"]["transformation"]["request"]["set"] == [{"name": MODEL_HEADER, "value": "string(json(request.body).model)"}]
    auth = policy["traffic"]["apiKeyAuthentication"]
    assert auth["mode"] == "Strict" and auth["secretRef"] == {"name": gateway.CLIENT_KEYS_SECRET}
    assert auth["location"] == {"header": {"name": "Authorization", "prefix": "Bearer "}}


def test_one_rate_limit_bucket_per_client_with_the_default_of_sixty():
    cfg = config.GatewayConfig.model_validate({"hostname": "chat.example.com", "clients": [{"name": "web"}, {"name": "batch", "requestsPerMinute": 10}]}, by_alias=True)
    rules = gateway.rate_limit_policy(cfg)["spec"]["traffic"]["rateLimit"]["conditional"]
    assert rules == [
        {"condition": 'apiKey.client == "web"', "policy": {"local": [{"requests": 60, "unit": "Minutes"}]}},
        {"condition": 'apiKey.client == "batch"', "policy": {"local": [{"requests": 10, "unit": "Minutes"}]}},
    ]


def test_client_keys_are_secrets_everywhere():
    declared = deployed("eks-production")
    secret = declared.one("kubernetes:core/v1:Secret", "eks-production-gateway-client-keys")
    assert set(secret.inputs["stringData"]) == {"web", "batch"}
    assert set(secret.inputs["stringData"].values()) == {"[secret]"}
    assert declared.plan.outputs["clientKeys"] == "[secret]"
    passwords = [r for r in declared.of_type("random:index/randomPassword:RandomPassword") if "gateway" in r.name]
    assert {r.name for r in passwords} == {"eks-production-gateway-web-key", "eks-production-gateway-batch-key"}


def test_eks_fronts_the_gateway_with_a_tls_nlb_and_redirects_http():
    declared = deployed("eks-production")
    params = declared.one("kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters").inputs["spec"]["service"]
    annotations = params["metadata"]["annotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    assert annotations[f"{prefix}scheme"] == "internet-facing" and annotations[f"{prefix}ssl-ports"] == "443"
    assert annotations[f"{prefix}nlb-target-type"] == "ip" and annotations[f"{prefix}type"] == "external"
    assert params["spec"] == {"type": "LoadBalancer", "loadBalancerSourceRanges": ["198.51.100.0/24"]}
    cert = declared.one("aws:acm/certificate:Certificate")
    assert cert.inputs["domainName"] == "chat.example.com" and cert.inputs["validationMethod"] == "DNS"
    listeners = declared.one("kubernetes:gateway.networking.k8s.io/v1:Gateway").inputs["spec"]["listeners"]
    assert [(l["name"], l["port"]) for l in listeners] == [("api", 443), ("http", 80)]
    redirect = declared.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "eks-production-gateway-https-redirect").inputs
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    assert declared.plan.outputs["gatewayEndpoint"] == "https://chat.example.com/v1"
    # The controller and the certificate exist before the proxies' Service asks for an NLB.
    controller = declared.one(HELM_RELEASE, "eks-production-gateway-agentgateway")
    assert {declared.release("aws-load-balancer-controller").urn, cert.urn} <= set(controller.depends_on)


def test_gke_terminates_tls_at_the_gateway_with_a_cert_manager_certificate():
    declared = deployed("gke-staging")
    params = declared.one("kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters").inputs["spec"]["service"]
    assert params["metadata"]["annotations"] == {"networking.gke.io/load-balancer-type": "Internal"}
    (api, http) = declared.one("kubernetes:gateway.networking.k8s.io/v1:Gateway").inputs["spec"]["listeners"]
    assert (api["name"], api["port"], api["protocol"]) == ("api", 443, "HTTPS")
    assert api["tls"] == {"mode": "Terminate", "certificateRefs": [{"name": gateway.CERTIFICATE_SECRET}]}
    assert (http["name"], http["port"], http["protocol"]) == ("http", 80, "HTTP") and "tls" not in http
    redirect = declared.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "gke-staging-gateway-https-redirect").inputs
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    assert declared.plan.outputs["gatewayEndpoint"] == "https://llm.gke.example.com/v1"
    cert = declared.one("kubernetes:cert-manager.io/v1:Certificate", "gke-staging-gateway-certificate")
    assert cert.inputs["metadata"]["namespace"] == GATEWAY_NAMESPACE
    assert cert.inputs["spec"] == {"secretName": gateway.CERTIFICATE_SECRET, "dnsNames": ["llm.gke.example.com"], "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"}}
    issuer = declared.one("kubernetes:cert-manager.io/v1:ClusterIssuer").inputs
    assert issuer["spec"]["acme"]["email"] == "oncall@example.com"
    assert issuer["spec"]["acme"]["solvers"] == [{"dns01": {"cloudDNS": {"project": "acme-llm-staging"}}}]
    for manifest in (cert.inputs, issuer, declared.one("kubernetes:gateway.networking.k8s.io/v1:Gateway").inputs):
        assert validate_any(manifest, pins.KUBERNETES_VERSION) == [], manifest["kind"]
    # The certificate waits for cert-manager (its CRDs and issuer); the Gateway waits for the certificate.
    assert {declared.one(HELM_RELEASE, "gke-staging-cert-manager").urn, declared.one("kubernetes:cert-manager.io/v1:ClusterIssuer").urn} <= set(cert.depends_on)
    assert cert.urn in declared.one("kubernetes:gateway.networking.k8s.io/v1:Gateway").depends_on


def test_gke_internet_facing_gateway_gets_an_external_passthrough_balancer():
    declared = deployed("gke-staging-public")
    params = declared.one("kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters").inputs["spec"]["service"]
    assert params["metadata"]["annotations"] == {}
    assert params["spec"] == {"type": "LoadBalancer", "loadBalancerSourceRanges": ["198.51.100.0/24"]}
    policy = declared.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gke-staging-gateway-allow-ingress").inputs
    sources = [peer["ipBlock"]["cidr"] for peer in policy["spec"]["ingress"][1]["from"]]
    assert sources == ["198.51.100.0/24", "10.60.0.0/20"]


def test_a_gateway_certificate_needs_https():
    with pytest.raises(ValueError, match="tls"):
        gateway.GatewayEdge(service={}, tls=False, certificate=object())


def test_the_gateway_namespace_admits_its_own_pods_prometheus_and_the_load_balancer_only():
    edge = gateway.GatewayEdge(service={}, tls=True, sources=["10.20.224.0/22"])
    own, balancer = gateway.namespace_allows(edge)
    assert own == {"from": [{"podSelector": {}}, {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}
    assert balancer == {"from": [{"ipBlock": {"cidr": "10.20.224.0/22"}}], "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 80}]}
    declared = deployed("eks-production")
    namespace = declared.one("kubernetes:core/v1:Namespace", "eks-production-gateway-namespace").inputs
    assert namespace["metadata"]["name"] == GATEWAY_NAMESPACE and namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_agentgateway_values_and_crds_are_pinned():
    declared = deployed("eks-production")
    assert validate_helm_values("agentgateway", declared.release("agentgateway").inputs["values"]) == []
    files = {r.inputs["file"] for r in declared.of_type("kubernetes:yaml/v2:ConfigFile")}
    assert files == {pins.GATEWAY_API_CRDS, pins.INFERENCE_POOL_CRDS}


# -- the EPP's network path through the serving namespace's default deny --------------------------------

MODELS = [
    ModelConfig(name="mistral-7b-instruct", source="hf://mistralai/Mistral-7B-Instruct-v0.3", parameters_billion=7.25, pool_group="l4"),
    ModelConfig(name="llama-3-1-8b-instruct", source="hf://meta-llama/Llama-3.1-8B-Instruct", parameters_billion=8.03, pool_group="l4"),
]


def _selects(selector: dict, labels: dict) -> bool:
    expressions = selector.get("matchExpressions", [])
    assert all(e["operator"] == "In" for e in expressions)
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(labels.get(e["key"]) in e["values"] for e in expressions)


def admitted(policies: list[dict], source: tuple[str, dict], target: tuple[str, dict], port: int) -> bool:
    """Kubernetes NetworkPolicy ingress semantics for pod-to-pod traffic: a pod selected by no policy takes
    anything; otherwise some rule of a policy selecting it must admit the source on the port."""
    (source_ns, source_labels), (target_ns, target_labels) = source, target
    selecting = [p for p in policies if p["metadata"]["namespace"] == target_ns and _selects(p["spec"]["podSelector"], target_labels)]

    def peer_matches(peer: dict, namespace: str) -> bool:
        if "ipBlock" in peer:
            return False
        in_namespace = _selects(peer["namespaceSelector"], {NAME_LABEL: source_ns}) if "namespaceSelector" in peer else source_ns == namespace
        return in_namespace and _selects(peer.get("podSelector", {}), source_labels)

    return not selecting or any(
        any(peer_matches(peer, p["metadata"]["namespace"]) for peer in rule.get("from", [])) and any(q["port"] == port for q in rule.get("ports", [{"port": port}]))
        for p in selecting
        for rule in p["spec"].get("ingress", [])
    )


def test_the_endpoint_picker_is_reached_by_the_proxies_and_prometheus_and_reaches_its_own_replicas_only():
    policies = [default_deny_ingress(SERVING_NAMESPACE)]
    for model in MODELS:
        policies += [model_server.network_policy(model), *gateway.endpoint_picker_network_policies(model)]
    mistral, llama = MODELS
    epp = (SERVING_NAMESPACE, {"llm-d-router-gateway": "mistral-7b-instruct-epp", "llm-d.ai/igw-mode": "llm-d-router-gateway"})
    proxy = (GATEWAY_NAMESPACE, {**GATEWAY_PROXY_LABELS, "gateway.networking.k8s.io/gateway-name": "llm"})
    controller = (GATEWAY_NAMESPACE, {"app.kubernetes.io/name": "agentgateway"})
    prometheus = (MONITORING_NAMESPACE, {"app.kubernetes.io/name": "prometheus"})
    replica = (SERVING_NAMESPACE, {MODEL_LABEL: mistral.name})
    other_replica = (SERVING_NAMESPACE, {MODEL_LABEL: llama.name})
    stranger = ("default", {"app": "anything"})
    # The chart's ports: ext-proc 9002, metrics 9090; vLLM on 8000.
    assert (gateway.EPP_EXT_PROC_PORT, gateway.EPP_METRICS_PORT, model_server.PORT) == (9002, 9090, 8000)
    assert admitted(policies, proxy, epp, 9002)
    assert admitted(policies, prometheus, epp, 9090)
    assert admitted(policies, epp, replica, 8000)
    # Everything else stays closed.
    assert not admitted(policies, proxy, epp, 9090)
    assert not admitted(policies, prometheus, epp, 9002)
    assert not admitted(policies, controller, epp, 9002)
    assert not admitted(policies, other_replica, epp, 9002)
    assert not admitted(policies, stranger, epp, 9002)
    assert not admitted(policies, epp, other_replica, 8000)
    assert not admitted(policies, epp, replica, 9090)
    assert not admitted(policies, other_replica, replica, 8000)
    assert not admitted(policies, stranger, replica, 8000)
    # The gateway and Prometheus reach the replicas as before.
    assert admitted(policies, proxy, replica, 8000) and admitted(policies, prometheus, replica, 8000)


@pytest.mark.parametrize("stack", ["eks-production", "gke-staging"])
def test_each_pool_declares_its_endpoint_picker_policies_and_its_own_metrics_secret(stack):
    declared = deployed(stack)
    for model in config.parse(STACKS[stack]).models:
        names = {r.inputs["metadata"]["name"] for r in declared.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["namespace"] == SERVING_NAMESPACE}
        assert {f"{model.name}-epp", f"{model.name}-from-epp"} <= names
        # The EPP's selector label as the chart renders it: the release name cut to 40, then -epp.
        assert gateway.endpoint_picker_labels(model) == {"llm-d-router-gateway": f"{model.name[:40]}-epp"}
        # Scraped by the chart's ServiceMonitor, with a token from a Secret of the pool's own.
        monitoring = declared.release(model.name).inputs["values"]["router"]["monitoring"]
        assert monitoring["provider"] == {"name": "prometheusoperator"}
        assert monitoring["prometheus"] == {"enabled": True, "auth": {"secretName": f"{model.name}-epp-metrics-reader"}}
    # The proxies by the agentgateway chart's PodMonitor (monitoring.proxy.podMonitor defaults to on).
    assert declared.release("agentgateway").inputs["values"]["monitoring"] == {"enabled": True}


def test_a_canary_gets_a_pool_of_its_own_and_a_weighted_share_of_its_models_route():
    declared = deployed("eks-production-canary")
    stable, canary = declared.release("llama-3-1-8b-instruct"), declared.release("llama-3-1-8b-instruct-canary")
    for release, selected in ((stable, "llama-3-1-8b-instruct"), (canary, "llama-3-1-8b-instruct-canary")):
        assert validate_helm_values("llm-d-router-gateway", release.inputs["values"], EPP_FREE_FORM) == []
        assert release.inputs["values"]["router"]["modelServers"]["matchLabels"] == {"llm-platform.io/model": selected}
    # The stable pool's values are the same as without a canary: only the route changes.
    assert stable.inputs["values"] == deployed("eks-production").release("llama-3-1-8b-instruct").inputs["values"]
    (route,) = [r for r in declared.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute") if r.inputs["metadata"]["name"] == "llama-3-1-8b-instruct"]
    assert validate_any(route.inputs, pins.KUBERNETES_VERSION) == []
    (rule,) = route.inputs["spec"]["rules"]
    assert rule["backendRefs"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "llama-3-1-8b-instruct", "weight": 95},
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "llama-3-1-8b-instruct-canary", "weight": 5},
    ]
    assert {stable.urn, canary.urn} <= set(route.depends_on)
    # The stable objects keep their names (and so their URNs).
    assert {r.name for r in deployed("eks-production").plan.resources} <= {r.name for r in declared.plan.resources}


def test_a_weight_outside_the_schema_is_impossible():
    # Gateway API weights are 0-1000000; the canary's 1-50 percent leave the stable 50-99.
    cfg = config.parse(STACKS["eks-production-canary"])
    for weight in (1, 50):
        model = cfg.models[0].model_copy(update={"canary": cfg.models[0].canary.model_copy(update={"weight": weight})})
        route = gateway.model_route(cfg.gateway, model)
        assert validate_any(route, pins.KUBERNETES_VERSION) == []
        assert [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]] == [100 - weight, weight]


@pytest.mark.parametrize("stack", ["eks-production", "eks-production-canary", "gke-staging"])
def test_the_gateway_sends_each_pool_its_models_key_in_place_of_the_clients(stack):
    # The gateway removes the client's Authorization header once it accepts the client's key, and vLLM
    # refuses /v1 without its own: every pool gets a backend policy adding its model's key.
    declared = deployed(stack)
    pools = {r.inputs["name"] for r in declared.of_type(HELM_RELEASE) if r.inputs["chart"].endswith("llm-d-router-gateway")}
    policies = [r for r in declared.of_type("kubernetes:agentgateway.dev/v1alpha1:AgentgatewayPolicy") if "backend" in r.inputs["spec"]]
    assert {p.inputs["spec"]["targetRefs"][0]["name"] for p in policies} == pools
    secrets = {r.inputs["metadata"]["name"]: r.inputs for r in declared.of_type("kubernetes:core/v1:Secret")}
    for policy in policies:
        assert validate_any(policy.inputs, pins.KUBERNETES_VERSION) == []
        (target,) = policy.inputs["spec"]["targetRefs"]
        assert (target["group"], target["kind"], policy.inputs["metadata"]["namespace"]) == ("inference.networking.k8s.io", "InferencePool", SERVING_NAMESPACE)
        reference = policy.inputs["spec"]["backend"]["auth"]["secretRef"]
        # The very Secret vLLM reads VLLM_API_KEY from, never the key itself.
        assert reference == {"name": f"{target['name']}-api-key", "key": "api-key"}
        assert secrets[reference["name"]]["stringData"] == {"api-key": "[secret]"}


def test_the_serving_namespace_is_baseline_where_endpoint_pickers_run_beside_the_models():
    # The llm-d router chart's EPP pods set no securityContext (routerlib _deployment.yaml at v0.10.0).
    def level(stack: str) -> str:
        namespace = next(r for r in deployed(stack).of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == SERVING_NAMESPACE)
        return namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]

    assert level("eks-production") == level("gke-staging") == "baseline"
    assert level("eks-staging") == "restricted"


def test_an_internal_gke_gateway_admits_its_vpc_clients_and_a_listed_one_only_its_list():
    declared = deployed("gke-staging")
    (allow,) = [r.inputs for r in declared.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["namespace"] == GATEWAY_NAMESPACE and r.inputs["metadata"]["name"] == "allow-ingress"]
    listener = next(rule for rule in allow["spec"]["ingress"] if "ports" in rule)
    cidrs = [peer["ipBlock"]["cidr"] for peer in listener["from"]]
    # A passthrough balancer keeps client addresses: the VPC's subnet and the cluster's pods, not only the nodes.
    assert cidrs == [STACKS["gke-staging"]["gcp"]["network"]["nodesCidr"], STACKS["gke-staging"]["gcp"]["network"]["podsCidr"]]

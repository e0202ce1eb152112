"""The inference gateway on what each cloud's base hands it: objects valid against the pinned agentgateway,
Gateway API and chart schemas; a route per model on the body's `model`; keys and limits per client."""

import pytest

from llm_platform import config, pins
from llm_platform.contract import GATEWAY_NAMESPACE, MODEL_HEADER, SERVING_NAMESPACE
from llm_platform.platform import gateway
from tests.conftest import HELM_RELEASE
from tests.k8s_schemas import validate_any, validate_helm_values
from tests.llm_platform.platform.bases import STACKS, deployed

GATEWAY_KINDS = ("Namespace", "AgentgatewayParameters", "AgentgatewayPolicy", "Gateway", "HTTPRoute", "Secret")
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


def test_gke_keeps_the_gateway_internal_without_tls():
    declared = deployed("gke-staging")
    params = declared.one("kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters").inputs["spec"]["service"]
    assert params["metadata"]["annotations"] == {"networking.gke.io/load-balancer-type": "Internal"}
    listeners = declared.one("kubernetes:gateway.networking.k8s.io/v1:Gateway").inputs["spec"]["listeners"]
    assert [(l["name"], l["port"]) for l in listeners] == [("api", 80)]
    assert declared.plan.outputs["gatewayEndpoint"] == "http://llm.gke.example.com/v1"
    bad = {**STACKS["gke-staging"], "gateway": {"hostname": "llm.example.com", "scheme": "internet-facing"}}
    with pytest.raises(config.ConfigError, match="gateway.scheme"):
        config.parse(bad)


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

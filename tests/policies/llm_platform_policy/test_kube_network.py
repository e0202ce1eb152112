"""What reaches pods: Services exposed outside the cluster, ingress rules that admit every source, and the
default-deny ingress every namespace the program creates starts from."""

import copy

import pytest

from llm_platform_policy.core import Resource
from tests.policies.llm_platform_policy import fixtures
from tests.policies.llm_platform_policy.test_pods import CONFIG, findings

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
THROUGH_GATEWAY = "models are reached from outside only through the inference gateway"
PSA = {"pod-security.kubernetes.io/enforce": "restricted"}


def resource(typ: str, name: str, props: dict) -> Resource:
    return Resource(typ, f"urn:pulumi:t::p::{typ}::{name}", name, props)


def stack() -> list[Resource]:
    """Two namespaces, each denying all ingress by default; the model server admits the gateway namespace
    and Prometheus' pods on its port; its Service (selecting by the model label) is internal."""
    deny = {"podSelector": {}, "policyTypes": ["Ingress"]}
    allow = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "model"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"namespaceSelector": {"matchLabels": {"llm-platform.io/gateway": "true"}}}], "ports": [{"port": 8000}]},
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
                "ports": [{"port": 8000}],
            },
        ],
    }
    return [
        resource(NAMESPACE, "serving", {"metadata": {"name": "serving", "labels": PSA}}),
        resource(NAMESPACE, "monitoring", {"metadata": {"name": "monitoring", "labels": PSA}}),
        resource(NETWORK_POLICY, "serving-deny", {"metadata": {"name": "default-deny-ingress", "namespace": "serving"}, "spec": deny}),
        resource(NETWORK_POLICY, "monitoring-deny", {"metadata": {"name": "default-deny-ingress", "namespace": "monitoring"}, "spec": copy.deepcopy(deny)}),
        resource(NETWORK_POLICY, "model", {"metadata": {"name": "model", "namespace": "serving"}, "spec": allow}),
        resource(
            SERVICE,
            "model",
            {"metadata": {"name": "model", "namespace": "serving"}, "spec": {"type": "ClusterIP", "selector": {"llm-platform.io/model": "model"}, "ports": [{"port": 80, "targetPort": 8000}]}},
        ),
    ]


def mutated(name: str, change, typ: str | None = None) -> list[Resource]:
    return fixtures.mutated(name, change, stack_of=stack, typ=typ)


def test_the_compliant_stack_passes():
    assert findings(*stack()) == []


@pytest.mark.parametrize(
    "change",
    [
        # policyTypes defaults to [Ingress] when no egress rules are given (networking/v1 NetworkPolicySpec).
        lambda p: p["spec"].pop("policyTypes"),
        lambda p: p["spec"].update(podSelector={"matchLabels": {}}, policyTypes=["Ingress", "Egress"], ingress=[]),
    ],
)
def test_equivalent_default_deny_spellings_pass(change):
    assert findings(*mutated("serving-deny", change)) == []


EVERY_NAMESPACE = "admits every pod of every namespace (its namespaceSelector and podSelector match everything)"
IPV4_LESS_10 = ['0.0.0.0/5', '11.0.0.0/8', '12.0.0.0/6', '128.0.0.0/1', '16.0.0.0/4', '32.0.0.0/3', '64.0.0.0/2', '8.0.0.0/7']
DENY_MISSING = ("namespace-default-deny", "namespace serving has no default-deny ingress NetworkPolicy (podSelector: {}, policyTypes: [Ingress], no ingress rules)")


@pytest.mark.parametrize(
    "resources, expected",
    [
        ([r for r in stack() if r.name != "serving-deny"], [DENY_MISSING]),
        (mutated("serving-deny", lambda p: p["spec"].update(podSelector={"matchLabels": {"app": "x"}})), [DENY_MISSING]),
        (mutated("serving-deny", lambda p: p["spec"].update(policyTypes=["Egress"])), [DENY_MISSING]),
        (mutated("serving-deny", lambda p: p["metadata"].update(namespace="monitoring")), [DENY_MISSING]),
        (
            mutated("serving-deny", lambda p: p["spec"].update(ingress=[{}])),
            [DENY_MISSING, ("network-policy-sources", "NetworkPolicy serving/default-deny-ingress ingress rule 0 admits every source (no `from`)")],
        ),
        (mutated("model", lambda p: p["spec"]["ingress"][0].pop("from"), NETWORK_POLICY), [("network-policy-sources", "NetworkPolicy serving/model ingress rule 0 admits every source (no `from`)")]),
        (mutated("model", lambda p: p["spec"]["ingress"][1].update({"from": []}), NETWORK_POLICY), [("network-policy-sources", "NetworkPolicy serving/model ingress rule 1 admits every source (no `from`)")]),
        (
            mutated("model", lambda p: p["spec"]["ingress"][0].update({"from": [{"namespaceSelector": {}}]}), NETWORK_POLICY),
            [("network-policy-sources", f"NetworkPolicy serving/model ingress rule 0 {EVERY_NAMESPACE}")],
        ),
        (
            mutated("model", lambda p: p["spec"]["ingress"][0].update({"from": [{"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "Exists"}]}}]}), NETWORK_POLICY),
            [("network-policy-sources", f"NetworkPolicy serving/model ingress rule 0 {EVERY_NAMESPACE}")],
        ),
        (
            mutated("model", lambda p: p["spec"]["ingress"][0].update({"from": [{"namespaceSelector": {"matchExpressions": [{"key": "quarantined", "operator": "DoesNotExist"}]}}]}), NETWORK_POLICY),
            [("network-policy-sources", f"NetworkPolicy serving/model ingress rule 0 {EVERY_NAMESPACE}")],
        ),
        (
            mutated("model", lambda p: p["spec"]["ingress"][0].update({"from": [{}]}), NETWORK_POLICY),
            [("network-policy-sources", "NetworkPolicy serving/model ingress rule 0 admits every source (a `from` peer without a selector or ipBlock)")],
        ),
        (
            mutated("model", lambda p: p["spec"]["ingress"][0].update({"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}), NETWORK_POLICY),
            [("network-policy-sources", f"NetworkPolicy serving/model admits ipBlocks {IPV4_LESS_10} (less their `except`), which admits the whole public IPv4 internet")],
        ),
        (
            mutated("model", lambda p: p["spec"]["ingress"][0].update({"from": [{"ipBlock": {"cidr": "::ffff:0:0/96"}}]}), NETWORK_POLICY),
            [("network-policy-sources", "NetworkPolicy serving/model admits ipBlocks ['::ffff:0:0/96'] (less their `except`), which admits the whole public IPv4 internet")],
        ),
        (
            # Split over peers of two rules, each under the threshold: judged together.
            mutated("model", lambda p: [p["spec"]["ingress"][i].update({"from": [{"ipBlock": {"cidr": f"{20 + 2 * i}.0.0.0/7"}}]}) for i in (0, 1)], NETWORK_POLICY),
            [("network-policy-sources", "NetworkPolicy serving/model admits ipBlocks ['20.0.0.0/7', '22.0.0.0/7'] (less their `except`), which admits 1.81% of the public IPv4 internet (at most 1% allowed)")],
        ),
        (
            mutated("model", lambda p: p["spec"].update(type="LoadBalancer"), SERVICE),
            [
                ("service-not-exposed", "Service serving/model is exposed outside the cluster (type: LoadBalancer) and is not a reviewed exception"),
                ("models-only-through-gateway", f"model Service serving/model is LoadBalancer, not ClusterIP: {THROUGH_GATEWAY}"),
            ],
        ),
        (
            mutated("model", lambda p: p["spec"].update(type="NodePort"), SERVICE),
            [
                ("service-not-exposed", "Service serving/model is exposed outside the cluster (type: NodePort) and is not a reviewed exception"),
                ("models-only-through-gateway", f"model Service serving/model is NodePort, not ClusterIP: {THROUGH_GATEWAY}"),
            ],
        ),
        (
            mutated("model", lambda p: p["spec"].update(externalIPs=["203.0.113.10"]), SERVICE),
            [
                ("service-not-exposed", "Service serving/model takes traffic for external IPs ['203.0.113.10'] and is not a reviewed exception"),
                ("models-only-through-gateway", f"model Service serving/model takes traffic for external IPs: {THROUGH_GATEWAY}"),
            ],
        ),
        # An ExternalName model Service is no ClusterIP either.
        (mutated("model", lambda p: p["spec"].update(type="ExternalName"), SERVICE), [("models-only-through-gateway", f"model Service serving/model is ExternalName, not ClusterIP: {THROUGH_GATEWAY}")]),
        (
            [*stack(), resource(INGRESS, "alb", {"metadata": {"name": "models", "namespace": "serving"}, "spec": {"rules": []}})],
            [("models-only-through-gateway", f"Ingress serving/models exposes the models' namespace; {THROUGH_GATEWAY}")],
        ),
        (
            [*stack(), resource(SERVICE, "side-door", {"metadata": {"name": "side-door", "namespace": "serving"}, "spec": {"type": "LoadBalancer", "selector": {"app": "x"}}})],
            [
                ("service-not-exposed", "Service serving/side-door is exposed outside the cluster (type: LoadBalancer) and is not a reviewed exception"),
                ("models-only-through-gateway", f"Service serving/side-door opens the models' namespace outside the cluster (LoadBalancer); {THROUGH_GATEWAY}"),
            ],
        ),
    ],
)
def test_each_network_violation_is_reported(resources, expected):
    assert findings(*resources) == expected


def test_narrow_ip_blocks_pass():
    narrow = [{"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.1.0/24"]}}, {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["0.0.0.0/1", "128.0.0.0/1"]}}]
    assert findings(*mutated("model", lambda p: p["spec"]["ingress"][0].update({"from": narrow}), NETWORK_POLICY)) == []


def test_a_reviewed_load_balancer_passes_outside_the_models_namespace():
    config = CONFIG | {"service-not-exposed": {"allowList": [{"name": "monitoring/grafana", "reason": "the dashboards, source ranges reviewed"}]}}
    grafana = resource(SERVICE, "grafana", {"metadata": {"name": "grafana", "namespace": "monitoring"}, "spec": {"type": "LoadBalancer", "selector": {"app": "grafana"}}})
    assert findings(*stack(), grafana, config=config) == []


def test_a_model_service_bypassing_the_gateway_is_refused_even_when_reviewed():
    config = CONFIG | {"service-not-exposed": {"allowList": [{"name": "serving/model", "reason": "a public endpoint straight to the model"}]}}
    assert findings(*mutated("model", lambda p: p["spec"].update(type="LoadBalancer"), SERVICE), config=config) == [
        ("models-only-through-gateway", f"model Service serving/model is LoadBalancer, not ClusterIP: {THROUGH_GATEWAY}")
    ]


# -- second red-team pass: default deny, model peers, routes around the pools ------------------------------

MODEL_POLICY = {
    "podSelector": {"matchLabels": {"llm-platform.io/model": "model"}},
    "policyTypes": ["Ingress"],
    "ingress": [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
                {"podSelector": {"matchLabels": {"llm-d-router-gateway": "model-epp"}}},
            ],
            "ports": [{"port": 8000}],
        }
    ],
}


def with_model_policy(change=lambda spec: None) -> list[Resource]:
    spec = copy.deepcopy(MODEL_POLICY)
    change(spec)
    return stack() + [resource(NETWORK_POLICY, "model-only", {"metadata": {"name": "model-only", "namespace": "serving"}, "spec": spec})]


def test_the_platforms_model_policy_passes():
    assert findings(*with_model_policy()) == []


@pytest.mark.parametrize(
    "peer",
    [
        {"ipBlock": {"cidr": "10.30.0.0/16"}},
        {"ipBlock": {"cidr": "10.0.0.0/8"}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}},
        {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["gateway", "default"]}]}},
        {"namespaceSelector": {"matchLabels": {"app": "x"}}, "podSelector": {"matchLabels": {"app": "x"}}},
        {"podSelector": {}},
    ],
    ids=["vpc-range", "private-8", "other-namespace", "namespace-expressions", "other-label", "every-pod-of-the-namespace"],
)
def test_model_pods_admit_only_the_gateway_prometheus_and_their_endpoint_picker(peer):
    found = findings(*with_model_policy(lambda spec: spec["ingress"][0]["from"].append(peer)))
    assert [policy for policy, _ in found] == ["models-only-through-gateway"] and "admit only ['gateway', 'monitoring']" in found[0][1]


@pytest.mark.parametrize(
    "selector",
    [{"matchExpressions": [{"key": "evade", "operator": "DoesNotExist"}]}, {"matchExpressions": [{"key": "llm-platform.io/model", "operator": "NotIn", "values": ["model"]}]}, {"matchLabels": {"app": "x"}}],
)
def test_a_default_deny_that_does_not_select_every_pod_is_none(selector):
    found = findings(*mutated("serving-deny", lambda p: p["spec"].update(podSelector=selector)))
    assert ("namespace-default-deny", "namespace serving has no default-deny ingress NetworkPolicy (podSelector: {}, policyTypes: [Ingress], no ingress rules)") in found


def test_a_route_straight_to_a_model_service_skips_its_pool():
    route = {
        "metadata": {"name": "around", "namespace": "serving"},
        "spec": {"parentRefs": [{"name": "llm", "namespace": "gateway"}], "rules": [{"backendRefs": [{"name": "model", "port": 80}]}]},
    }
    found = findings(*stack(), resource("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "around", route))
    assert found == [("models-only-through-gateway", "HTTPRoute serving/around sends requests to the model Service model: a model is routed to through its InferencePool")]
    pool = copy.deepcopy(route)
    pool["spec"]["rules"][0]["backendRefs"] = [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "model"}]
    assert findings(*stack(), resource("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "through", pool)) == []


GATEWAY_TYPE = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
AUTH_TYPE = "kubernetes:agentgateway.dev/v1alpha1:AgentgatewayPolicy"


def with_gateway(auth: dict | None = None, target: str = "llm") -> list[Resource]:
    gateway = {"metadata": {"name": "llm", "namespace": "gateway"}, "spec": {"gatewayClassName": "agentgateway", "listeners": []}}
    policy = {
        "metadata": {"name": "authenticate", "namespace": "gateway"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": target, "sectionName": "api"}],
            "traffic": {"phase": "PreRouting", "apiKeyAuthentication": auth if auth is not None else {"mode": "Strict", "secretRef": {"name": "client-keys"}}},
        },
    }
    return stack() + [resource(GATEWAY_TYPE, "llm", gateway), resource(AUTH_TYPE, "authenticate", policy)]


def test_a_gateway_with_strict_key_checks_passes():
    assert findings(*with_gateway()) == []


@pytest.mark.parametrize(
    "resources",
    [
        with_gateway(auth={"mode": "Optional", "secretRef": {"name": "client-keys"}}),
        with_gateway(target="other"),
        [r for r in with_gateway() if r.type != AUTH_TYPE],
    ],
    ids=["optional", "another-gateway", "no-policy"],
)
def test_a_gateway_that_checks_no_keys_is_refused(resources):
    assert findings(*resources) == [("gateways-check-keys", "Gateway gateway/llm checks no client keys: target it with an AgentgatewayPolicy whose traffic.apiKeyAuthentication is Strict")]

"""The inference gateway: one HTTPS endpoint per stack in front of every model.

    client -> cloud load balancer (TLS on AWS) -> agentgateway (TLS on GKE) (API key, rate limit, `model` -> route)
           -> the model's InferencePool -> its Endpoint Picker chooses a replica -> vLLM

- **agentgateway** (v1.4.1) implements the Gateway API and the Inference Extension's `InferencePool`
  backends on both clouds. It is chosen over the other implementations because it alone does all the
  gateway's jobs itself: API keys with per-key metadata, a CEL-conditional local rate limit per client,
  and a pre-routing transformation that copies the request body's `model` into a header, so no separate
  body-based router runs (Envoy Gateway needs Envoy AI Gateway for InferencePool; Istio has no API-key
  check without an external authorizer). GKE's managed gateway checks no API keys, so GKE runs the same
  gateway behind its load balancer.
- **the Endpoint Picker** of the llm-d router (v0.10.0; the Inference Extension's EPP moved there), one
  per model with its InferencePool, scores replicas by prefix-cache affinity (weight 3), queue depth (2)
  and KV-cache utilization (2): the chart's default scheduling profile.
- What differs per cloud (the load balancer in front, its annotations, where TLS ends) arrives as a
  `GatewayEdge` from the cloud's base. Where TLS ends at the proxies, cert-manager issues the hostname's
  certificate into a Secret the HTTPS listener terminates with (`llm_platform.platform.cert_manager`).

Responses stream through unbuffered: agentgateway forwards chunks as they arrive and only the request body
(for `model`) is read before routing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_random as random

from llm_platform import pins
from llm_platform.config import GatewayConfig, ModelConfig
from llm_platform.config.models import canary_name, canary_release
from llm_platform.contract import GATEWAY_NAMESPACE, GATEWAY_PROXY_LABELS, MODEL_HEADER, MODEL_LABEL, MONITORING_NAMESPACE, SERVING_NAMESPACE, SYSTEM_NODES
from llm_platform.helm import pinned_release
from llm_platform.kubernetes import SAME_NAMESPACE, KubernetesObject, from_namespace, isolate_namespace, secret_manifest, tcp
from llm_platform.platform import cert_manager
from llm_platform.platform.cert_manager import CertificateIssuing
from llm_platform.platform.model_server import API_KEY, PORT, api_key_secret
from llm_platform.resources import Kind

# pulumi-kubernetes 4.34.2's `yaml.v2.ConfigFile`: a component the provider expands into the file's objects.
CONFIG_FILE = Kind("kubernetes:yaml/v2:ConfigFile", remote=True)

GATEWAY = "llm"
GATEWAY_CLASS = "agentgateway"
PARAMETERS = "edge"
CLIENT_KEYS_SECRET = "client-keys"
# The TLS Secret cert-manager keeps the hostname's certificate in, when TLS ends at the proxies.
CERTIFICATE_SECRET = "gateway-tls"
HTTPS_LISTENER = "api"
HTTP_LISTENER = "http"
# Long generations stream for minutes: the seeds give requests 300 s.
REQUEST_TIMEOUT = "300s"
# Clients send OpenAI's `Authorization: Bearer <key>`.
API_KEY_HEADER = {"name": "Authorization", "prefix": "Bearer "}
# The proxies forward token streams and parse one JSON body per request: small requests, with room to burst.
PROXY_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
# The EPP runs on system nodes; its chart asks for 8 CPUs by default, sized for thousands of requests per second.
EPP_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
# llm-d router v0.10.0 chart (config/charts/routerlib/templates/_deployment.yaml, _service.yaml): the EPP
# container takes the proxies' ext-proc gRPC on 9002 (the InferencePool's endpointPickerRef port) and
# serves its metrics on 9090; it scrapes each model server's /metrics on the pool's target port itself.
EPP_EXT_PROC_PORT = 9002
EPP_METRICS_PORT = 9090
AGENTGATEWAY_GROUP = "agentgateway.dev"
# agentgateway's request counter (crates/agentgateway/src/telemetry/metrics.rs: `requests` under the
# `agentgateway` prefix, a counter, so `_total`), labelled with the HTTPRoute as `<namespace>/<name>` (the
# `route` field of its RouteIdentifier, as its request logs print it). It counts a request even when the
# model has no replica to send it to, which is what wakes a model idling at zero.
REQUESTS_METRIC = "agentgateway_requests_total"
# Long enough to cover a cold start: the request that woke the model keeps it awake while it starts.
WAKE_WINDOW = "10m"
INFERENCE_GROUP = "inference.networking.k8s.io"


@dataclass(frozen=True)
class GatewayEdge:
    """What a cloud's base puts in front of the gateway's proxies."""

    service: dict
    """The proxies' Service, as AgentgatewayParameters `spec.service` (`metadata.annotations`, `spec`): the
    load balancer's type, scheme, certificate and allowed source ranges."""
    tls: bool
    """Whether the endpoint is HTTPS on 443, the proxies redirecting plain HTTP on 80 to it. Without it the
    endpoint is plain HTTP on 80 (internal only)."""
    sources: list[str] = field(default_factory=list)
    """Where the load balancer's traffic reaches the proxies from (their namespace's NetworkPolicy admits
    these ranges to the listener ports and nothing else from outside the cluster)."""
    prerequisites: list[pulumi.Resource] = field(default_factory=list)
    """What the load balancer needs first (the AWS Load Balancer Controller, the certificate)."""
    certificate: CertificateIssuing | None = None
    """Where TLS ends: absent, at the load balancer (HTTPS reaches the proxies as plain HTTP on 443);
    present, at the proxies, with a certificate cert-manager issues through this (the load balancer
    passes TLS through)."""

    def __post_init__(self) -> None:
        if self.certificate is not None and not self.tls:
            raise ValueError("a gateway certificate needs the HTTPS endpoint (tls)")


@dataclass(frozen=True)
class InferenceGatewayArgs:
    config: GatewayConfig
    models: list[ModelConfig]
    edge: GatewayEdge
    issuer: pulumi.Resource | None = None
    """cert-manager with its ClusterIssuer, when the edge has TLS end at the proxies."""


def _metadata(name: str, namespace: str = GATEWAY_NAMESPACE) -> dict:
    return {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "llm-platform"}}


def recent_requests_query(model: str) -> str:
    """PromQL: requests the gateway received for `model` (its route) over the wake window."""
    return f'sum(increase({REQUESTS_METRIC}{{route="{SERVING_NAMESPACE}/{model}"}}[{WAKE_WINDOW}]))'


def listener_ports(edge: GatewayEdge) -> list[int]:
    return [443, 80] if edge.tls else [80]


def namespace_allows(edge: GatewayEdge) -> list[dict]:
    """The gateway namespace's ingress beside its default deny: its own pods (proxies and their controller's
    xDS), Prometheus, and the listener ports from where the load balancer connects."""
    return [
        {"from": [SAME_NAMESPACE, from_namespace(MONITORING_NAMESPACE)]},
        {"from": [{"ipBlock": {"cidr": cidr}} for cidr in edge.sources], "ports": tcp(*listener_ports(edge))},
    ]


def controller_values() -> dict:
    """agentgateway chart values; every key exists in its values.yaml at v1.4.1."""
    return {
        "controller": {"replicaCount": 2},
        "nodeSelector": SYSTEM_NODES,
        # Translate InferencePool backends (off by default).
        "inferenceExtension": {"enabled": True},
        # ServiceMonitor for the controller, PodMonitor for the proxies of GATEWAY_CLASS.
        "monitoring": {"enabled": True},
    }


def parameters(config: GatewayConfig, edge: GatewayEdge) -> dict:
    return {
        "apiVersion": f"{AGENTGATEWAY_GROUP}/v1alpha1",
        "kind": "AgentgatewayParameters",
        "metadata": _metadata(PARAMETERS),
        "spec": {
            "service": edge.service,
            "resources": PROXY_RESOURCES,
            "deployment": {
                "metadata": {"labels": GATEWAY_PROXY_LABELS},
                "spec": {
                    "replicas": config.replicas,
                    "template": {"metadata": {"labels": GATEWAY_PROXY_LABELS}, "spec": {"nodeSelector": SYSTEM_NODES}},
                },
            },
        },
    }


def gateway(config: GatewayConfig, edge: GatewayEdge) -> dict:
    # Routes attach from the serving namespace (models) and this one (the redirect).
    allowed = {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": [SERVING_NAMESPACE, GATEWAY_NAMESPACE]}]}}}
    https: dict = {"name": HTTPS_LISTENER, "port": listener_ports(edge)[0], "protocol": "HTTP", "hostname": config.hostname, "allowedRoutes": allowed}
    if edge.certificate is not None:
        # TLS ends here, with the certificate cert-manager keeps in the Secret.
        https |= {"protocol": "HTTPS", "tls": {"mode": "Terminate", "certificateRefs": [{"name": CERTIFICATE_SECRET}]}}
    # Otherwise TLS ends at the load balancer (or there is none): the proxies speak plain HTTP behind it.
    listeners = [https]
    if edge.tls:
        listeners.append({"name": HTTP_LISTENER, "port": 80, "protocol": "HTTP", "hostname": config.hostname, "allowedRoutes": allowed})
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _metadata(GATEWAY),
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "infrastructure": {"parametersRef": {"group": AGENTGATEWAY_GROUP, "kind": "AgentgatewayParameters", "name": PARAMETERS}},
            "listeners": listeners,
        },
    }


def _target() -> list[dict]:
    # The HTTPS listener only: the HTTP one just redirects, key or not.
    return [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY, "sectionName": HTTPS_LISTENER}]


def pre_routing_policy() -> dict:
    """Before a route is chosen: the caller's API key is checked, and the body's `model` becomes the
    header the models' routes match.

    Checked at agentgateway v1.4.1: the gateway phase runs API-key authentication before the
    transformation (crates/agentgateway/src/proxy/httpproxy.rs `apply_gateway_policies`); CEL's `json()`
    parses the body (crates/celx/src/general.rs) and referencing `request.body` makes the proxy buffer the
    request body, not the response (crates/agentgateway/src/cel/mod.rs `maybe_buffer_request_body`), up
    to 2 MiB (crates/agentgateway/src/lib.rs `max_buffer_size`; a longer body finds no route); the
    Secret's entries are `{"key", "metadata"}` JSON (controller/pkg/agentgateway/plugins/traffic_plugin.go)."""
    return {
        "apiVersion": f"{AGENTGATEWAY_GROUP}/v1alpha1",
        "kind": "AgentgatewayPolicy",
        "metadata": _metadata("authenticate-and-route"),
        "spec": {
            "targetRefs": _target(),
            "traffic": {
                "phase": "PreRouting",
                "apiKeyAuthentication": {"mode": "Strict", "secretRef": {"name": CLIENT_KEYS_SECRET}, "location": {"header": API_KEY_HEADER}},
                "transformation": {"request": {"set": [{"name": MODEL_HEADER, "value": "string(json(request.body).model)"}]}},
            },
        },
    }


def rate_limit_policy(config: GatewayConfig) -> dict:
    """One local bucket per client, found by the `client` metadata of the key it authenticated with;
    requests past the bucket are answered with 429.

    Checked at agentgateway v1.4.1: a key's metadata is flattened into the CEL `apiKey` object
    (crates/agentgateway/src/http/apikey.rs `Claims`), so `apiKey.client` is the client's name; the first
    matching conditional limit applies; `RateLimitExceeded` maps to 429 (crates/agentgateway/src/proxy/mod.rs)."""
    rules = [
        {"condition": f"apiKey.client == {json.dumps(client.name)}", "policy": {"local": [{"requests": config.limit_of(client), "unit": "Minutes"}]}}
        for client in config.clients
    ]
    return {
        "apiVersion": f"{AGENTGATEWAY_GROUP}/v1alpha1",
        "kind": "AgentgatewayPolicy",
        "metadata": _metadata("client-rate-limits"),
        "spec": {"targetRefs": _target(), "traffic": {"rateLimit": {"conditional": rules}}},
    }


def client_keys(keys: dict[str, pulumi.Input[str]]) -> dict:
    """agentgateway's API-key Secret: one entry per client, the key with the client's name as metadata."""
    entries = {name: pulumi.Output.from_input(key).apply(lambda k, n=name: json.dumps({"key": k, "metadata": {"client": n}})) for name, key in keys.items()}
    return secret_manifest(_metadata(CLIENT_KEYS_SECRET), entries)


def model_route(config: GatewayConfig, model: ModelConfig) -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _metadata(model.name, SERVING_NAMESPACE),
        "spec": {
            "parentRefs": [{"name": GATEWAY, "namespace": GATEWAY_NAMESPACE, "sectionName": HTTPS_LISTENER}],
            "hostnames": [config.hostname],
            "rules": [
                {
                    "matches": [{"headers": [{"type": "Exact", "name": MODEL_HEADER, "value": model.name}], "path": {"type": "PathPrefix", "value": "/v1/"}}],
                    "backendRefs": backend_refs(model),
                    "timeouts": {"request": REQUEST_TIMEOUT},
                }
            ],
        },
    }


def backend_refs(model: ModelConfig) -> list[dict]:
    """The model's InferencePool; with a canary, also the canary's, the two weighted in percent (Gateway API
    backend weights: each backend gets its weight's share of the rule's requests)."""
    stable = {"group": INFERENCE_GROUP, "kind": "InferencePool", "name": model.name}
    if model.canary is None:
        return [stable]
    weight = model.canary.weight
    return [stable | {"weight": 100 - weight}, {"group": INFERENCE_GROUP, "kind": "InferencePool", "name": canary_name(model.name), "weight": weight}]


def backend_key_policy(pool: ModelConfig) -> dict:
    """What the gateway sends on to the pool's vLLM: the model's own API key. vLLM refuses `/v1` without
    it (VLLM_API_KEY), and the gateway removes the client's `Authorization` header once it has accepted the
    client's key (agentgateway v1.4.1, crates/agentgateway/src/http/apikey.rs: the located header is
    removed), so it adds the model's key toward the pool (`backend.auth.secretRef`, as `Authorization:
    Bearer`, its default location). `pool` is the model or its canary: each has its pool and key Secret."""
    return {
        "apiVersion": f"{AGENTGATEWAY_GROUP}/v1alpha1",
        "kind": "AgentgatewayPolicy",
        "metadata": _metadata(f"{pool.name}-backend-key", SERVING_NAMESPACE),
        "spec": {
            "targetRefs": [{"group": INFERENCE_GROUP, "kind": "InferencePool", "name": pool.name}],
            "backend": {"auth": {"secretRef": {"name": api_key_secret(pool), "key": API_KEY}}},
        },
    }


def redirect_route(config: GatewayConfig) -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _metadata("https-redirect"),
        "spec": {
            "parentRefs": [{"name": GATEWAY, "sectionName": HTTP_LISTENER}],
            "hostnames": [config.hostname],
            "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}],
        },
    }


def endpoint_picker_name(model: ModelConfig) -> str:
    """The EPP's Deployment, Service and service account: the release (the model) cut to 40 characters,
    then `-epp` (routerlib _helpers.tpl `llm-d-router.name`)."""
    return f"{model.name[:40]}-epp"


def endpoint_picker_labels(model: ModelConfig) -> dict[str, str]:
    """The EPP pods' selector labels when the chart creates the InferencePool (routerlib _helpers.tpl
    `llm-d-router.selectorLabels`)."""
    return {"llm-d-router-gateway": endpoint_picker_name(model)}


def endpoint_picker_network_policies(model: ModelConfig) -> list[dict]:
    """The EPP's two paths through the serving namespace's default deny, and nothing more: the gateway's
    proxies call it (ext-proc) and Prometheus scrapes it; it reads its own model's pods' metrics on vLLM's
    port (a policy of its own beside the model's: NetworkPolicies add up)."""
    proxies = {"namespaceSelector": from_namespace(GATEWAY_NAMESPACE)["namespaceSelector"], "podSelector": {"matchLabels": GATEWAY_PROXY_LABELS}}
    epp = {"podSelector": {"matchLabels": endpoint_picker_labels(model)}}

    def policy(name: str, selected: dict, ingress: list[dict]) -> dict:
        spec = {"podSelector": {"matchLabels": selected}, "policyTypes": ["Ingress"], "ingress": ingress}
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _metadata(name, SERVING_NAMESPACE), "spec": spec}

    return [
        policy(
            endpoint_picker_name(model),
            endpoint_picker_labels(model),
            [{"from": [proxies], "ports": tcp(EPP_EXT_PROC_PORT)}, {"from": [from_namespace(MONITORING_NAMESPACE)], "ports": tcp(EPP_METRICS_PORT)}],
        ),
        policy(f"{model.name}-from-epp", {MODEL_LABEL: model.name}, [{"from": [epp], "ports": tcp(PORT)}]),
    ]


def endpoint_picker_values(model: ModelConfig) -> dict:
    """llm-d-router-gateway chart values for one model's InferencePool (named after the release, the
    model) and its EPP; every key exists in the chart's values at v0.10.0."""
    return {
        "router": {
            "modelServers": {"type": "vllm", "protocol": "http", "targetPorts": [{"number": PORT}], "matchLabels": {MODEL_LABEL: model.name}},
            "epp": {
                "replicas": 1,
                "resources": EPP_RESOURCES,
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in SYSTEM_NODES.items()]}]}}},
            },
            # A ServiceMonitor for the EPP's metrics (its Service's http-metrics port, with its service
            # account's token from a Secret the chart creates under this name: one per release, since every
            # pool's release shares the serving namespace and the chart's default name would collide).
            "monitoring": {"provider": {"name": "prometheusoperator"}, "prometheus": {"enabled": True, "auth": {"secretName": f"{endpoint_picker_name(model)}-metrics-reader"}}},
            # The gateway falls back to its own load balancing when the EPP is down, rather than failing.
            "inferencePool": {"create": True, "failureMode": "FailOpen"},
        },
        "provider": {"name": "none"},
    }


class InferenceGateway(pulumi.ComponentResource):
    endpoint: str
    client_keys: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: InferenceGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gateway:InferenceGateway", name, None, opts)
        config = args.config

        def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(resources))

        gateway_api = CONFIG_FILE(f"{name}-gateway-api-crds", {"file": pins.GATEWAY_API_CRDS}, after())
        pool_crds = CONFIG_FILE(f"{name}-inference-pool-crds", {"file": pins.INFERENCE_POOL_CRDS}, after())
        # Baseline, not restricted: the chart's pods set no seccomp profile or non-root user of their own.
        ns = isolate_namespace(name, GATEWAY_NAMESPACE, pod_security="baseline", allow=namespace_allows(args.edge), created_by=None, opts=after())
        crds = pinned_release(f"{name}-agentgateway-crds", "agentgateway-crds", pins.AGENTGATEWAY_CRDS_CHART, namespace=GATEWAY_NAMESPACE, opts=after(ns))
        controller = pinned_release(
            f"{name}-agentgateway",
            "agentgateway",
            pins.AGENTGATEWAY_CHART,
            namespace=GATEWAY_NAMESPACE,
            values=controller_values(),
            opts=after(ns, crds, gateway_api, pool_crds, *args.edge.prerequisites),
        )
        keys = {
            client.name: pulumi.Output.secret(random.RandomPassword(f"{name}-{client.name}-key", length=48, special=False, opts=after()).result)
            for client in config.clients
        }
        declared = [
            KubernetesObject(f"{name}-parameters", parameters(config, args.edge), after(crds)),
            KubernetesObject(f"{name}-client-keys", client_keys(keys), after(ns)),
            KubernetesObject(f"{name}-authenticate", pre_routing_policy(), after(crds)),
        ]
        if config.clients:
            KubernetesObject(f"{name}-rate-limits", rate_limit_policy(config), after(crds))
        if args.edge.certificate is not None:
            if args.issuer is None:
                raise ValueError("TLS ends at the gateway: cert-manager (the issuer) is needed")
            declared.append(KubernetesObject(f"{name}-certificate", cert_manager.certificate(GATEWAY, GATEWAY_NAMESPACE, config.hostname, CERTIFICATE_SECRET), after(ns, args.issuer)))
        gw = KubernetesObject(f"{name}-gateway", gateway(config, args.edge), after(controller, *declared))
        if args.edge.tls:
            KubernetesObject(f"{name}-https-redirect", redirect_route(config), after(gw))
        for model in args.models:
            # The model's pool and Endpoint Picker, and its canary's (selecting the canary's pods by their
            # model label, the canary's name) while one runs.
            endpoint_pickers = [model, *([canary_release(model)] if model.canary else [])]
            pools = [
                pinned_release(
                    f"{name}-{picked.name}-pool", picked.name, pins.LLM_D_ROUTER_CHART, namespace=SERVING_NAMESPACE, values=endpoint_picker_values(picked), opts=after(pool_crds)
                )
                for picked in endpoint_pickers
            ]
            KubernetesObject(f"{name}-{model.name}-route", model_route(config, model), after(gw, *pools))
            for picked in endpoint_pickers:
                for suffix, policy in zip(("epp-policy", "from-epp-policy"), endpoint_picker_network_policies(picked)):
                    KubernetesObject(f"{name}-{picked.name}-{suffix}", policy, after())
                KubernetesObject(f"{name}-{picked.name}-backend-key", backend_key_policy(picked), after(crds, *pools))

        self.endpoint = f"{'https' if args.edge.tls else 'http'}://{config.hostname}/v1"
        self.client_keys = pulumi.Output.secret(pulumi.Output.all(**keys)) if keys else pulumi.Output.secret({})
        self.register_outputs({"endpoint": self.endpoint, "client_keys": self.client_keys})

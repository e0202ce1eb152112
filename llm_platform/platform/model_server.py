"""One model behind vLLM's OpenAI-compatible server: the manifests of everything it needs in the serving
namespace, built by plain functions (validated against the Kubernetes and CRD schemas in tests) and
declared by `ModelServer`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pulumi

from llm_platform import pins
from llm_platform.config import ModelConfig
from llm_platform.contract import GPU_TOLERATION, MONITORING_NAMESPACE, POOL_GROUP_LABEL, SERVING_NAMESPACE, model_service_account
from llm_platform.kubernetes import KubernetesObject, secret_manifest
from llm_platform.platform import startup_budget
from llm_platform.platform.monitoring import RELEASE as MONITORING_RELEASE
from llm_platform_policy.kube import GPU_RESOURCE, WEIGHTS_CACHE_VOLUME

PORT = 8000
CACHE_DIR = "/models"
SCRIPT_DIR = "/opt/llm-platform"
FETCH_SCRIPT = "fetch_weights.py"
FETCH_SCRIPT_CONFIG_MAP = "fetch-weights"
_PACKAGE = Path(__file__).resolve().parent.parent
# What the `fetch-weights` ConfigMap ships, by key: the file in this repository and where it lands under
# SCRIPT_DIR. The fetcher imports `llm_platform.contract`, so the contract (and its package's __init__)
# land where that import finds them, beside the script.
POD_FILES = {
    FETCH_SCRIPT: (_PACKAGE / "platform" / "pod" / "fetch_weights.py", FETCH_SCRIPT),
    "contract.py": (_PACKAGE / "contract.py", "llm_platform/contract.py"),
    "__init__.py": (_PACKAGE / "__init__.py", "llm_platform/__init__.py"),
}
PROMETHEUS_URL = f"http://{MONITORING_RELEASE}-prometheus.{MONITORING_NAMESPACE}.svc:9090"
GATEWAY_LABEL = "llm-platform.io/gateway"
# The seeds' HPA behaviour: add at most one replica per two minutes after a minute of pressure, remove at
# most one per five minutes after five quiet minutes (a replica costs minutes of weight loading).
SCALE_BEHAVIOR = {
    "scaleUp": {"stabilizationWindowSeconds": 60, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
    "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}]},
}
# In-flight streams get this long to finish after the pod leaves the Service (120 s as in the seeds).
TERMINATION_GRACE_SECONDS = 120
PRESTOP_SLEEP_SECONDS = 10


@dataclass(frozen=True)
class ModelServerArgs:
    model: ModelConfig
    weights_uri: pulumi.Input[str]
    """`s3://bucket/prefix` or `gs://bucket/prefix` the pods read."""
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    """What lets the pods read the weights: the IRSA role annotation on EKS, nothing on GKE."""
    api_key: pulumi.Input[str]
    hugging_face_token: pulumi.Input[str] | None
    vpc_cidr: str
    require_manifest: bool = False
    """Serve only weights whose staged copy is complete (production): no fallback without a manifest."""


def labels(model: ModelConfig) -> dict[str, str]:
    return {"app.kubernetes.io/name": model.name, "app.kubernetes.io/component": "model-server", "app.kubernetes.io/part-of": "llm-platform"}


def _metadata(model: ModelConfig, name: str | None = None) -> dict:
    return {"name": name or model.name, "namespace": SERVING_NAMESPACE, "labels": labels(model)}


def service_account(model: ModelConfig, annotations: Mapping[str, pulumi.Input[str]]) -> dict:
    metadata = _metadata(model, model_service_account(model.name)) | ({"annotations": dict(annotations)} if annotations else {})
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def secret(model: ModelConfig, suffix: str, data: dict) -> dict:
    return secret_manifest(_metadata(model, f"{model.name}-{suffix}"), data)


def engine_args(model: ModelConfig) -> list[str]:
    engine = model.engine
    args = [
        f"{CACHE_DIR}/{model.name}",
        "--served-model-name", model.name,
        "--port", str(PORT),
        "--tensor-parallel-size", str(model.gpus_per_replica),
        "--max-model-len", str(engine.max_model_len),
        "--gpu-memory-utilization", f"{engine.gpu_memory_utilization:g}",
        "--max-num-seqs", str(engine.max_num_seqs),
        "--enable-prefix-caching" if engine.prefix_caching else "--no-enable-prefix-caching",
        "--enable-chunked-prefill" if engine.chunked_prefill else "--no-enable-chunked-prefill",
        "--uvicorn-log-level", "warning",
    ]
    if engine.max_num_batched_tokens:
        args += ["--max-num-batched-tokens", str(engine.max_num_batched_tokens)]
    return args + list(engine.extra_args)


def _secret_env(name: str, secret_name: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def cache_size_gib(model: ModelConfig) -> int:
    # Weights plus the Hugging Face download cache when falling back, plus room for tokenizer files.
    return math.ceil(model.weights_gib * 1.25) + 5


def fetch_env(model: ModelConfig, weights_uri: str, with_hugging_face_token: bool, require_manifest: bool) -> list[dict]:
    """The weight fetcher's environment (documented in pod/fetch_weights.py)."""
    env = [
        {"name": "WEIGHTS_URI", "value": weights_uri},
        {"name": "MODEL_SOURCE", "value": model.source},
        {"name": "TARGET_DIR", "value": f"{CACHE_DIR}/{model.name}"},
        {"name": "VERIFY_HASHES", "value": "true"},
        {"name": "REQUIRE_MANIFEST", "value": "true" if require_manifest else "false"},
        {"name": "HF_HOME", "value": f"{CACHE_DIR}/.hf"},
    ]
    if model.revision:
        env.append({"name": "MODEL_REVISION", "value": model.revision})
    if with_hugging_face_token:
        env.append(_secret_env("HF_TOKEN", f"{model.name}-hugging-face", "token"))
    return env


def startup_probe(model: ModelConfig) -> dict:
    """The window vLLM gets to load, compile and capture graphs: the start-up budget's in-container
    stages with a margin (startup_budget.py), unless the model sets `startupSeconds`."""
    return {
        "httpGet": {"path": "/health", "port": "http"},
        "initialDelaySeconds": startup_budget.PROBE_INITIAL_DELAY_SECONDS,
        "periodSeconds": startup_budget.PROBE_PERIOD_SECONDS,
        "failureThreshold": startup_budget.startup_probe_failure_threshold(model.weights_gib, model.startup_seconds),
    }


def deployment(model: ModelConfig, weights_uri: str, with_hugging_face_token: bool, require_manifest: bool = False) -> dict:
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    probe = {"httpGet": {"path": "/health", "port": "http"}}
    volume_mounts = [{"name": WEIGHTS_CACHE_VOLUME, "mountPath": CACHE_DIR}]
    gpus = str(model.gpus_per_replica)
    cache_gib = cache_size_gib(model)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(model),
        # No `replicas`: the model's ScaledObject (KEDA's HPA) owns the replica count; a count here would
        # reset it on every `pulumi up`. A new Deployment starts with one and KEDA scales it to minReplicas.
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": model.name}},
            # Never drop below the current capacity while rolling: a new replica must be ready first.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(model)},
                "spec": {
                    "serviceAccountName": model_service_account(model.name),
                    "nodeSelector": {POOL_GROUP_LABEL: model.pool_group},
                    "tolerations": [GPU_TOLERATION],
                    # Spread replicas over zones when capacity allows; GPU capacity is often in one zone only,
                    # so a skew never blocks scheduling.
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": model.name}},
                        }
                    ],
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    # The vLLM image runs as root (its non-root build target is not published), so the pod
                    # cannot require non-root; it keeps no capabilities and cannot escalate instead.
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": [
                        {
                            "name": "fetch-weights",
                            "image": pins.VLLM_IMAGE,
                            "command": ["python3", f"{SCRIPT_DIR}/{FETCH_SCRIPT}"],
                            "env": fetch_env(model, weights_uri, with_hugging_face_token, require_manifest),
                            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                            "securityContext": security,
                            "volumeMounts": volume_mounts + [{"name": "fetch-script", "mountPath": SCRIPT_DIR, "readOnly": True}],
                        }
                    ],
                    "containers": [
                        {
                            "name": "vllm",
                            "image": pins.VLLM_IMAGE,
                            "args": engine_args(model),
                            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                            "env": [_secret_env("VLLM_API_KEY", f"{model.name}-api-key", "api-key"), {"name": "HF_HUB_OFFLINE", "value": "1"}],
                            "resources": {
                                "requests": {"cpu": f"{model.resources.cpu:g}", "memory": f"{model.resources.memory_gib}Gi", GPU_RESOURCE: gpus},
                                "limits": {"memory": f"{model.resources.memory_gib}Gi", GPU_RESOURCE: gpus},
                            },
                            "startupProbe": startup_probe(model),
                            "readinessProbe": probe | {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
                            "livenessProbe": probe | {"periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 3},
                            # Leave the Service's endpoints before vLLM stops taking requests.
                            "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SLEEP_SECONDS)]}}},
                            "securityContext": security,
                            "volumeMounts": volume_mounts + [{"name": "shm", "mountPath": "/dev/shm"}],
                        }
                    ],
                    "volumes": [
                        {"name": WEIGHTS_CACHE_VOLUME, "emptyDir": {"sizeLimit": f"{cache_gib}Gi"}},
                        # NCCL and PyTorch workers share tensors through /dev/shm; the container default is 64 MiB.
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
                        {
                            "name": "fetch-script",
                            "configMap": {"name": FETCH_SCRIPT_CONFIG_MAP, "items": [{"key": key, "path": path} for key, (_, path) in POD_FILES.items()]},
                        },
                    ],
                },
            },
        },
    }


def service(model: ModelConfig) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(model),
        "spec": {"selector": {"app.kubernetes.io/name": model.name}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    }


def service_monitor(model: ModelConfig) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(model),
        "spec": {"selector": {"matchLabels": labels(model)}, "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}]},
    }


def scaled_object(model: ModelConfig) -> dict:
    query = f'sum(vllm:num_requests_waiting{{namespace="{SERVING_NAMESPACE}", model_name="{model.name}"}})'
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _metadata(model),
        "spec": {
            "scaleTargetRef": {"name": model.name},
            "minReplicaCount": model.min_replicas,
            "maxReplicaCount": model.max_replicas,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": SCALE_BEHAVIOR}},
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "AverageValue",
                    # KEDA divides the query by the replica count: waiting requests per replica.
                    "metadata": {"serverAddress": PROMETHEUS_URL, "query": query, "threshold": str(model.target_waiting_per_replica)},
                }
            ],
        },
    }


def disruption_budget(model: ModelConfig) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(model),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": model.name}}},
    }


def network_policy(model: ModelConfig, vpc_cidr: str) -> dict:
    port = [{"protocol": "TCP", "port": PORT}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(model),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": model.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                # Prometheus scrapes /metrics.
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}], "ports": port},
                # In-cluster clients and gateways opt in with a namespace label.
                {"from": [{"namespaceSelector": {"matchLabels": {GATEWAY_LABEL: "true"}}}], "ports": port},
                # The load balancer reaches pods directly (target type ip) from its addresses in the VPC.
                {"from": [{"ipBlock": {"cidr": vpc_cidr}}], "ports": port},
            ],
        },
    }


class ModelServer(pulumi.ComponentResource):

    def __init__(self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:model_server:ModelServer", name, None, opts)
        model = args.model
        child = pulumi.ResourceOptions(parent=self)

        def declare(suffix: str, manifest: dict, depends_on: list | None = None) -> KubernetesObject:
            return KubernetesObject(f"{name}-{suffix}", manifest, pulumi.ResourceOptions(parent=self, depends_on=depends_on or []))

        account = KubernetesObject(f"{name}-sa", service_account(model, args.service_account_annotations), child)
        secrets = [declare("api-key", secret(model, "api-key", {"api-key": pulumi.Output.secret(args.api_key)}))]
        if args.hugging_face_token is not None:
            secrets.append(declare("hugging-face", secret(model, "hugging-face", {"token": pulumi.Output.secret(args.hugging_face_token)})))
        workload = declare("deployment", deployment(model, args.weights_uri, args.hugging_face_token is not None, args.require_manifest), [account, *secrets])
        declare("service", service(model))
        declare("monitor", service_monitor(model))
        declare("scaler", scaled_object(model), [workload])
        declare("pdb", disruption_budget(model))
        declare("network-policy", network_policy(model, args.vpc_cidr))

        self.register_outputs({})

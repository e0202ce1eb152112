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
from llm_platform.config.models import vllm_args
from llm_platform.contract import GATEWAY_NAMESPACE, GPU_TOLERATION, MODEL_LABEL, MONITORING_NAMESPACE, POOL_GROUP_LABEL, SERVING_NAMESPACE, model_service_account
from llm_platform.kubernetes import KubernetesObject, from_namespace, secret_manifest, tcp
from llm_platform.platform import startup_budget
from llm_platform.platform.monitoring import RELEASE as MONITORING_RELEASE
from llm_platform_policy.kube import GPU_RESOURCE, WEIGHTS_CACHE_VOLUME
from llm_platform_policy.schedule import QUEUE_TRIGGER, cron_trigger, gated_formula

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
class CapacityPlacement:
    """How a cloud's nodes say whether they are on-demand or spot, as node selector requirements: the
    base knows its labels (Karpenter's capacity type on EKS, GKE's spot label), the platform places by them."""

    on_demand: dict
    """Matches on-demand nodes only."""
    spot: dict
    """Matches spot nodes only."""


@dataclass(frozen=True)
class Tier:
    """One Deployment of a model's replicas: the floor (named after the model) or its burst."""

    name: str
    pool_group: str
    affinity: dict | None


def tiers(model: ModelConfig, placement: CapacityPlacement) -> list[Tier]:
    """Without `burst`, one Deployment on the model's pool group, wherever the group has capacity. With it,
    the floor requires on-demand nodes and the burst prefers spot ones (and takes on-demand ones of its
    pool group when spot is short or reclaimed)."""
    if model.burst is None:
        return [Tier(model.name, model.pool_group, None)]
    floor = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [placement.on_demand]}]}}}
    burst = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {"matchExpressions": [placement.spot]}}]}}
    return [Tier(model.name, model.pool_group, floor), Tier(burst_name(model.name), model.burst.pool_group, burst)]


def burst_name(model: str) -> str:
    return f"{model}-burst"


@dataclass(frozen=True)
class ModelServerArgs:
    model: ModelConfig
    weights_uri: pulumi.Input[str]
    """`s3://bucket/prefix` or `gs://bucket/prefix` the pods read."""
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    """What lets the pods read the weights: the IRSA role annotation on EKS, nothing on GKE."""
    api_key: pulumi.Input[str]
    hugging_face_token: pulumi.Input[str] | None
    placement: CapacityPlacement
    image: str
    """The pinned vLLM image as the pods pull it: from the cloud's registry in the region when the base
    offers one (`pins.mirrored`)."""
    require_manifest: bool = False
    """Serve only weights whose staged copy is complete (production): no fallback without a manifest."""
    wake_query: str | None = None
    """PromQL counting recent requests for the model at the gateway: what wakes a model idling at zero."""


def labels(model: ModelConfig, workload: str | None = None) -> dict[str, str]:
    """Labels of the model's objects; `workload` names the Deployment (floor or burst) of pod labels."""
    return {
        "app.kubernetes.io/name": workload or model.name,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": "llm-platform",
        MODEL_LABEL: model.name,
    }


def _metadata(model: ModelConfig, name: str | None = None) -> dict:
    return {"name": name or model.name, "namespace": SERVING_NAMESPACE, "labels": labels(model)}


def service_account(model: ModelConfig, annotations: Mapping[str, pulumi.Input[str]]) -> dict:
    metadata = _metadata(model, model_service_account(model.name)) | ({"annotations": dict(annotations)} if annotations else {})
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def secret_name(model: ModelConfig, suffix: str) -> str:
    """A model's Secrets: `<model>-api-key`, `<model>-hugging-face`."""
    return f"{model.name}-{suffix}"


def secret(model: ModelConfig, suffix: str, data: dict) -> dict:
    return secret_manifest(_metadata(model, secret_name(model, suffix)), data)


# The key of the model's API key in its Secret, and the Secret: vLLM reads it (VLLM_API_KEY), and the
# gateway sends it on to the model's pool.
API_KEY = "api-key"
# The Secret of the Hugging Face token, for the fetcher's fallback to the hub.
HUGGING_FACE = "hugging-face"


def api_key_secret(model: ModelConfig) -> str:
    return secret_name(model, API_KEY)


def image(model: ModelConfig, pinned: str) -> str:
    """The vLLM image the model's pods run (fetcher and server): its own when it sets one (pulled as
    written: name a registry in the region to keep it close), else `pinned`, the pin as the cloud's
    registry serves it."""
    return model.image or pinned


def engine_args(model: ModelConfig) -> list[str]:
    return vllm_args(model, model_dir=f"{CACHE_DIR}/{model.name}", port=PORT)


def _secret_env(name: str, secret_name: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def cache_size_gib(model: ModelConfig) -> int:
    # Weights plus the Hugging Face download cache when falling back, plus room for tokenizer files.
    return math.ceil(model.weights_gib * 1.25) + 5


# -- running without root -------------------------------------------------------------------------------
#
# What the pinned image (pins.VLLM_IMAGE, the `vllm-openai` target of vllm-project/vllm docker/Dockerfile)
# allows: its default user is still root (no USER instruction; the `vllm-openai-nonroot` target that sets
# one is not what the tag publishes), but since vllm-project/vllm PR #40275 (merged 2026-04, before
# v0.31.0) its `vllm-base` stage creates a `vllm` user, UID 2000 with primary group 0 and home /home/vllm,
# and installs Python, torch and vLLM world-readable. So the pods run as that UID: getpass.getuser(), which
# torch's compile cache calls at import, resolves it through /etc/passwd (USER is set too, should a later
# image drop the entry). With a read-only root filesystem vLLM can write only where it is given an
# emptyDir; it writes (vllm/envs.py and the libraries' own defaults):
#   $HOME: ~/.cache (XDG_CACHE_HOME) holding VLLM_CACHE_ROOT (torch.compile artefacts, assets), FlashInfer's
#     JIT kernels, Hugging Face and Numba caches; ~/.config (XDG_CONFIG_HOME, VLLM_CONFIG_ROOT);
#     ~/.triton/cache (TRITON_CACHE_DIR)
#   /tmp: VLLM_RPC_BASE_PATH (tempfile.gettempdir(), the engine's IPC sockets), torch inductor's default
#     /tmp/torchinductor_<user>, multiprocessing
#   /dev/shm: NCCL and the workers' shared tensors
#   CACHE_DIR: the weights, written by the init container
# The weight fetcher runs in the same image with the same user and directories.
RUN_AS_USER = 2000
RUN_AS_GROUP = 2000
HOME_DIR = "/home/vllm"
TMP_DIR = "/tmp"
HOME_VOLUME = "home"
TMP_VOLUME = "tmp"
SHM_VOLUME = "shm"
# Compiled kernels and compile caches of one model: a few GiB at most; the rest is headroom.
HOME_SIZE = "10Gi"
TMP_SIZE = "2Gi"
# NCCL and PyTorch workers share tensors through /dev/shm; the container default is 64 MiB.
SHM_SIZE = "2Gi"


def pod_security_context() -> dict:
    """Meets the `restricted` Pod Security Standard the serving namespace enforces."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_GROUP,
        # emptyDirs are group-owned by fsGroup, so whichever UID a later image runs as can write them.
        "fsGroup": RUN_AS_GROUP,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict:
    return {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def writable_env() -> list[dict]:
    """Every cache and config directory inside the writable emptyDirs (see above), vLLM's usage
    reporting to stats.vllm.ai off (VLLM_NO_USAGE_STATS in vllm/envs.py)."""
    cache = f"{HOME_DIR}/.cache"
    values = {
        "HOME": HOME_DIR,
        "USER": "vllm",
        "XDG_CACHE_HOME": cache,
        "XDG_CONFIG_HOME": f"{HOME_DIR}/.config",
        "VLLM_CACHE_ROOT": f"{cache}/vllm",
        "VLLM_CONFIG_ROOT": f"{HOME_DIR}/.config/vllm",
        "TRITON_CACHE_DIR": f"{HOME_DIR}/.triton/cache",
        "NUMBA_CACHE_DIR": f"{cache}/numba",
        "TMPDIR": TMP_DIR,
        "VLLM_NO_USAGE_STATS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return [{"name": name, "value": value} for name, value in values.items()]


def writable_mounts() -> list[dict]:
    return [{"name": HOME_VOLUME, "mountPath": HOME_DIR}, {"name": TMP_VOLUME, "mountPath": TMP_DIR}]


def writable_volumes() -> list[dict]:
    return [
        {"name": HOME_VOLUME, "emptyDir": {"sizeLimit": HOME_SIZE}},
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": TMP_SIZE}},
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}},
    ]


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
        env.append(_secret_env("HF_TOKEN", secret_name(model, HUGGING_FACE), "token"))
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


def deployment(model: ModelConfig, weights_uri: str, with_hugging_face_token: bool, tier: Tier, require_manifest: bool = False, image: str = pins.VLLM_IMAGE) -> dict:
    security = container_security_context()
    probe = {"httpGet": {"path": "/health", "port": "http"}}
    volume_mounts = [{"name": WEIGHTS_CACHE_VOLUME, "mountPath": CACHE_DIR}, *writable_mounts()]
    gpus = str(model.gpus_per_replica)
    cache_gib = cache_size_gib(model)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(model, tier.name),
        # No `replicas`: the model's ScaledObject (KEDA's HPA) owns the replica count; a count here would
        # reset it on every `pulumi up`. A new Deployment starts with one and KEDA scales it to minReplicas.
        "spec": {
            # The selector is immutable: the floor keeps the one it was created with (its name).
            "selector": {"matchLabels": {"app.kubernetes.io/name": tier.name}},
            # Never drop below the current capacity while rolling: a new replica must be ready first.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(model, tier.name)},
                "spec": {
                    "serviceAccountName": model_service_account(model.name),
                    "nodeSelector": {POOL_GROUP_LABEL: tier.pool_group},
                    **({"affinity": tier.affinity} if tier.affinity else {}),
                    "tolerations": [GPU_TOLERATION],
                    # Spread replicas over zones when capacity allows; GPU capacity is often in one zone only,
                    # so a skew never blocks scheduling.
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": tier.name}},
                        }
                    ],
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    "securityContext": pod_security_context(),
                    # Nothing in the pod calls the Kubernetes API. The weights are read with the cloud's
                    # identity, which needs no service-account token mount: IRSA's token is a projected
                    # volume of its own that EKS's pod identity webhook adds whatever this says
                    # (aws/amazon-eks-pod-identity-webhook pkg/handler/handler.go @3bf80a34), and GKE's
                    # Workload Identity answers on the metadata server.
                    "automountServiceAccountToken": False,
                    "initContainers": [
                        {
                            "name": "fetch-weights",
                            "image": image,
                            "command": ["python3", f"{SCRIPT_DIR}/{FETCH_SCRIPT}"],
                            "env": fetch_env(model, weights_uri, with_hugging_face_token, require_manifest) + writable_env(),
                            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                            "securityContext": security,
                            "volumeMounts": volume_mounts + [{"name": "fetch-script", "mountPath": SCRIPT_DIR, "readOnly": True}],
                        }
                    ],
                    "containers": [
                        {
                            "name": "vllm",
                            "image": image,
                            "args": engine_args(model),
                            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                            "env": [_secret_env("VLLM_API_KEY", api_key_secret(model), API_KEY), {"name": "HF_HUB_OFFLINE", "value": "1"}, *writable_env()],
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
                            "volumeMounts": volume_mounts + [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}],
                        }
                    ],
                    "volumes": [
                        {"name": WEIGHTS_CACHE_VOLUME, "emptyDir": {"sizeLimit": f"{cache_gib}Gi"}},
                        *writable_volumes(),
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
        "spec": {"selector": {MODEL_LABEL: model.name}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    }


def service_monitor(model: ModelConfig) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(model),
        "spec": {"selector": {"matchLabels": labels(model)}, "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}]},
    }


def _queue_query(model: ModelConfig) -> str:
    # vLLM labels its metrics with the served model name, the same for the floor's and the burst's pods.
    return f'sum(vllm:num_requests_waiting{{namespace="{SERVING_NAMESPACE}", model_name="{model.name}"}})'


def _queue_trigger(model: ModelConfig, **extra: str) -> dict:
    return {
        "type": "prometheus",
        "name": QUEUE_TRIGGER,
        "metricType": "AverageValue",
        # KEDA divides the query by the replica count: waiting requests per replica.
        "metadata": {"serverAddress": PROMETHEUS_URL, "query": _queue_query(model), "threshold": str(model.target_waiting_per_replica), **extra},
    }


# A model idling at zero has no vLLM to report a queue: it wakes on the requests the gateway counted for it,
# and goes back to zero after this long without any (KEDA's cooldownPeriod; its default is 300 s, shorter
# than one cold start, so a waking replica would be sent back to sleep before it served).
IDLE_SECONDS_BEFORE_ZERO = 900
# The wake trigger only activates (any request counted: above 0); its per-replica target is set so high that
# the queue trigger alone decides how many replicas run once awake.
WAKE_ONLY_TARGET = "1000000"


def scaled_object(model: ModelConfig, wake_query: str | None = None) -> dict:
    """The floor: `minReplicas` to `maxReplicas` on the queue; from zero, woken by `wake_query` (the
    gateway's recent requests for the model)."""
    spec = {
        "scaleTargetRef": {"name": model.name},
        "minReplicaCount": model.min_replicas,
        "maxReplicaCount": model.max_replicas,
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": SCALE_BEHAVIOR}},
        "triggers": [_queue_trigger(model)],
    }
    if model.min_replicas == 0 and wake_query:
        wake = {"serverAddress": PROMETHEUS_URL, "query": wake_query, "threshold": WAKE_ONLY_TARGET, "activationThreshold": "0"}
        spec["triggers"].append({"type": "prometheus", "name": "requests", "metricType": "AverageValue", "metadata": wake})
        spec["cooldownPeriod"] = IDLE_SECONDS_BEFORE_ZERO
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": _metadata(model), "spec": spec}


def burst_scaled_object(model: ModelConfig) -> dict:
    """The burst: from none up to `burst.maxReplicas`, when the floor's queue runs long. With a schedule,
    only inside its window (KEDA's scaling modifiers gate the queue by the cron trigger)."""
    burst = model.burst
    assert burst is not None
    name = burst_name(model.name)
    # Woken only when the queue per floor replica passes the target: a queue the floor drains does not start GPUs.
    queue = _queue_trigger(model, activationThreshold=str(model.target_waiting_per_replica))
    spec: dict = {
        "scaleTargetRef": {"name": name},
        "minReplicaCount": 0,
        "maxReplicaCount": burst.max_replicas,
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": SCALE_BEHAVIOR}},
        "triggers": [queue],
    }
    if burst.schedule:
        spec["triggers"] = [cron_trigger(burst.schedule.window, burst.schedule.replicas), queue]
        # The formula yields the replicas wanted; a target of one per replica makes it the replica count.
        spec["advanced"]["scalingModifiers"] = {"formula": gated_formula(model.target_waiting_per_replica), "target": "1", "metricType": "AverageValue"}
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": _metadata(model, name), "spec": spec}


def disruption_budget(model: ModelConfig) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(model),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {MODEL_LABEL: model.name}}},
    }


def network_policy(model: ModelConfig) -> dict:
    """The model's only sources besides the serving namespace's default deny: Prometheus (scraping
    /metrics) and the inference gateway's namespace (its Endpoint Picker adds its own policy)."""
    sources = [from_namespace(MONITORING_NAMESPACE), from_namespace(GATEWAY_NAMESPACE)]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(model),
        "spec": {
            "podSelector": {"matchLabels": {MODEL_LABEL: model.name}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": sources, "ports": tcp(PORT)}],
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
        secrets = [declare(API_KEY, secret(model, API_KEY, {API_KEY: pulumi.Output.secret(args.api_key)}))]
        if args.hugging_face_token is not None:
            secrets.append(declare(HUGGING_FACE, secret(model, HUGGING_FACE, {"token": pulumi.Output.secret(args.hugging_face_token)})))
        floor, *burst = tiers(model, args.placement)
        with_token = args.hugging_face_token is not None
        workload = declare("deployment", deployment(model, args.weights_uri, with_token, floor, args.require_manifest, image(model, args.image)), [account, *secrets])
        declare("service", service(model))
        declare("monitor", service_monitor(model))
        declare("scaler", scaled_object(model, args.wake_query), [workload])
        for tier in burst:
            burst_workload = declare("burst-deployment", deployment(model, args.weights_uri, with_token, tier, args.require_manifest, image(model, args.image)), [account, *secrets])
            declare("burst-scaler", burst_scaled_object(model), [burst_workload])
        declare("pdb", disruption_budget(model))
        declare("network-policy", network_policy(model))

        self.register_outputs({})

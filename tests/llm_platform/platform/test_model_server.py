"""The per-model objects: strict Kubernetes schemas, the seeds' probes, scaling and rollout settings."""

import json

import pytest

from llm_platform import pins
from llm_platform.config import ModelConfig
from llm_platform.config.models import BurstConfig, BurstSchedule
from llm_platform.platform import model_server
from llm_platform_policy import schedule
from tests.k8s_schemas import validate_core_object, validate_custom_resource
from tests.llm_platform.platform.bases import HUGGING_FACE_TOKEN, deployed

MODEL = ModelConfig(name="mistral-7b-instruct", source="hf://mistralai/Mistral-7B-Instruct-v0.3", parameters_billion=7.25, pool_group="l4", max_replicas=2)
PLACEMENT = model_server.CapacityPlacement(on_demand={"key": "capacity", "operator": "In", "values": ["on-demand"]}, spot={"key": "capacity", "operator": "In", "values": ["spot"]})
(TIER,) = model_server.tiers(MODEL, PLACEMENT)
DEPLOYMENT = model_server.deployment(MODEL, "s3://bucket/models/mistral-7b-instruct", True, TIER)
# The seeds' production shape: two on-demand replicas always, one or two spot replicas on weekday business hours.
BURST_MODEL = MODEL.model_copy(
    update={
        "max_replicas": 2,
        "min_replicas": 2,
        "burst": BurstConfig(pool_group="l4-burst", max_replicas=2, schedule=BurstSchedule(time_zone="Asia/Seoul", replicas=1)),
    }
)
FLOOR, BURST = model_server.tiers(BURST_MODEL, PLACEMENT)
POD = DEPLOYMENT["spec"]["template"]["spec"]
(VLLM,) = POD["containers"]
(FETCH,) = POD["initContainers"]


@pytest.mark.parametrize(
    "manifest",
    [
        DEPLOYMENT,
        model_server.service(MODEL),
        model_server.disruption_budget(MODEL),
        model_server.network_policy(MODEL),
        model_server.service_account(MODEL, {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/r"}),
        model_server.service_account(MODEL, {}),
        model_server.secret(MODEL, "api-key", {"api-key": "x"}),
    ],
    ids=lambda m: m["kind"],
)
def test_core_objects_pass_strict_schema_validation(manifest):
    assert validate_core_object(manifest, pins.KUBERNETES_VERSION) == []


@pytest.mark.parametrize(
    "manifest",
    [model_server.scaled_object(MODEL), model_server.service_monitor(MODEL), model_server.burst_scaled_object(BURST_MODEL)],
    ids=["ScaledObject", "ServiceMonitor", "ScaledObject-burst"],
)
def test_custom_resources_validate_against_upstream_crds(manifest):
    assert validate_custom_resource(manifest) == []


def test_gpu_request_pool_selection_and_toleration():
    assert VLLM["resources"]["limits"]["nvidia.com/gpu"] == VLLM["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert POD["nodeSelector"] == {"llm-platform.io/pool-group": "l4"}
    assert POD["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert VLLM["image"] == FETCH["image"] == pins.VLLM_IMAGE and "@sha256:" in pins.VLLM_IMAGE


def test_the_seeds_probes_drain_and_rollout():
    # 13.5 GiB from a 125 MiB/s disk (110 s), torch.compile (60 s) and CUDA graphs (20 s), doubled: 39 periods of 10 s.
    assert VLLM["startupProbe"] == {"httpGet": {"path": "/health", "port": "http"}, "initialDelaySeconds": 30, "periodSeconds": 10, "failureThreshold": 39}
    assert VLLM["readinessProbe"] == {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    assert VLLM["livenessProbe"] == {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 3}
    assert VLLM["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    assert POD["terminationGracePeriodSeconds"] == 120
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    volumes = {v["name"]: v for v in POD["volumes"]}
    assert volumes["model-cache"]["emptyDir"]["sizeLimit"] == f"{model_server.cache_size_gib(MODEL)}Gi"
    assert POD["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_runs_as_the_image_s_non_root_user_under_the_restricted_standard():
    assert POD["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 2000,
        "runAsGroup": 2000,
        "fsGroup": 2000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in (VLLM, FETCH):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True and context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "runAsUser" not in context, "one user for the pod, set once"
    # Volume types the restricted standard allows; nothing from the host.
    assert {next(key for key in volume if key != "name") for volume in POD["volumes"]} <= {"emptyDir", "configMap", "secret", "projected"}
    # Neither container calls the Kubernetes API: no token is mounted.
    assert POD["automountServiceAccountToken"] is False


def _mounted_dirs(container: dict) -> list[str]:
    return [mount["mountPath"] for mount in container["volumeMounts"] if not mount.get("readOnly")]


@pytest.mark.parametrize("container", [VLLM, FETCH], ids=["vllm", "fetch-weights"])
def test_every_cache_and_home_directory_is_on_a_writable_volume(container):
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    writable = _mounted_dirs(container)
    directories = ["HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "VLLM_CACHE_ROOT", "VLLM_CONFIG_ROOT", "TRITON_CACHE_DIR", "NUMBA_CACHE_DIR", "TMPDIR"]
    for name in directories:
        assert any(env[name] == mount or env[name].startswith(mount + "/") for mount in writable), f"{name}={env[name]} is on the read-only root filesystem"
    assert "/tmp" in writable, "tempfile.gettempdir() (vLLM's IPC sockets, torch inductor) needs /tmp"
    # getpass.getuser() never needs a passwd entry; vLLM reports no usage statistics.
    assert env["USER"] == "vllm" and env["VLLM_NO_USAGE_STATS"] == "1"
    volumes = {volume["name"]: volume for volume in POD["volumes"]}
    for mount in container["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]] or mount.get("readOnly"), f"{mount['mountPath']} is writable but not scratch space"


def test_shared_memory_is_a_memory_backed_volume():
    (shm,) = [m for m in VLLM["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    assert next(v for v in POD["volumes"] if v["name"] == shm["name"])["emptyDir"]["medium"] == "Memory"


def test_engine_args_and_secrets():
    args = VLLM["args"]
    assert args[0] == "/models/mistral-7b-instruct"
    assert args[args.index("--served-model-name") + 1] == "mistral-7b-instruct"
    assert args[args.index("--max-model-len") + 1] == "8192"
    assert "--enable-prefix-caching" in args and "--enable-chunked-prefill" in args
    # vLLM reads the API key from VLLM_API_KEY: it never appears in the args or the manifest.
    assert {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "mistral-7b-instruct-api-key", "key": "api-key"}}} in VLLM["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "mistral-7b-instruct-hugging-face", "key": "token"}}} in FETCH["env"]
    assert {"name": "WEIGHTS_URI", "value": "s3://bucket/models/mistral-7b-instruct"} in FETCH["env"]


def test_scaling_on_waiting_requests_with_the_seeds_behaviour():
    scaled = model_server.scaled_object(MODEL)["spec"]
    (trigger,) = scaled["triggers"]
    assert trigger["name"] == "queue" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["query"] == 'sum(vllm:num_requests_waiting{namespace="serving", model_name="mistral-7b-instruct"})'
    assert trigger["metadata"]["threshold"] == "5"
    assert trigger["metadata"]["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"] == {"stabilizationWindowSeconds": 60, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]}
    assert behavior["scaleDown"] == {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}]}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 2)


def test_floor_runs_on_demand_and_burst_prefers_spot_on_its_own_pool_group():
    floor = model_server.deployment(BURST_MODEL, "s3://b/models/m", False, FLOOR)
    burst = model_server.deployment(BURST_MODEL, "s3://b/models/m", False, BURST)
    assert validate_core_object(burst, pins.KUBERNETES_VERSION) == []
    floor_pod, burst_pod = floor["spec"]["template"]["spec"], burst["spec"]["template"]["spec"]
    assert floor["metadata"]["name"] == "mistral-7b-instruct" and burst["metadata"]["name"] == "mistral-7b-instruct-burst"
    assert floor_pod["nodeSelector"] == {"llm-platform.io/pool-group": "l4"} and burst_pod["nodeSelector"] == {"llm-platform.io/pool-group": "l4-burst"}
    required = floor_pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert required == [{"matchExpressions": [PLACEMENT.on_demand]}]
    # Spot is preferred, not required: when spot is short or reclaimed, the burst takes on-demand nodes of its pool group.
    (preferred,) = burst_pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["preference"] == {"matchExpressions": [PLACEMENT.spot]} and "requiredDuringSchedulingIgnoredDuringExecution" not in burst_pod["affinity"]["nodeAffinity"]
    # Selectors never overlap (each Deployment owns its pods); the Service, PDB and NetworkPolicy select both by model.
    assert floor["spec"]["selector"] != burst["spec"]["selector"]
    for pod in (floor, burst):
        assert pod["spec"]["template"]["metadata"]["labels"]["llm-platform.io/model"] == "mistral-7b-instruct"
    assert model_server.service(BURST_MODEL)["spec"]["selector"] == {"llm-platform.io/model": "mistral-7b-instruct"}
    assert model_server.disruption_budget(BURST_MODEL)["spec"]["selector"] == {"matchLabels": {"llm-platform.io/model": "mistral-7b-instruct"}}


def test_business_hours_burst_is_gated_by_the_cron_window():
    spec = model_server.burst_scaled_object(BURST_MODEL)["spec"]
    assert spec["scaleTargetRef"] == {"name": "mistral-7b-instruct-burst"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 2)
    cron, queue = spec["triggers"]
    assert cron == {
        "type": "cron",
        "name": "business_hours",
        "metadata": {"timezone": "Asia/Seoul", "start": "0 9 * * 1,2,3,4,5", "end": "0 18 * * 1,2,3,4,5", "desiredReplicas": "2"},
    }
    assert queue["name"] == "queue" and queue["metadata"]["activationThreshold"] == "5"
    assert spec["advanced"]["scalingModifiers"] == {
        "formula": "business_hours > 1 ? max(business_hours - 1, ceil(queue / 5)) : 0",
        "target": "1",
        "metricType": "AverageValue",
    }
    window = schedule.gated_window({"spec": spec})
    # 9 h and KEDA's default 5-minute cooldown, 5 days a week: (540 + 5) / 60 x 5 x 365.25 / 7 / 12.
    assert window is not None and (window.tail_minutes, window.hours_per_month) == (5, 197.5)


def test_burst_without_schedule_follows_the_queue_at_any_hour():
    model = BURST_MODEL.model_copy(update={"burst": BurstConfig(pool_group="l4-burst", max_replicas=2)})
    spec = model_server.burst_scaled_object(model)["spec"]
    assert [t["name"] for t in spec["triggers"]] == ["queue"] and "scalingModifiers" not in spec["advanced"]
    assert schedule.gated_window({"spec": spec}) is None


def test_network_policy_admits_prometheus_and_the_gateway_only():
    (rule,) = model_server.network_policy(MODEL)["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    # No address range: no load balancer reaches the models but through the gateway.
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}},
    ]


@pytest.mark.parametrize(
    "stack, name, replicas",
    [("eks-staging", "mistral-7b-instruct", 1), ("eks-production", "llama-3-1-8b-instruct", 2), ("gke-staging", "mistral-7b-instruct", 1)],
)
def test_stacks_declare_their_models(stack, name, replicas):
    declared = deployed(stack)
    deployment = declared.one("kubernetes:apps/v1:Deployment").inputs
    # KEDA owns the replica count: the Deployment leaves it alone, the ScaledObject keeps the floor.
    assert deployment["metadata"]["name"] == name and "replicas" not in deployment["spec"]
    assert declared.one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs["spec"]["minReplicaCount"] == replicas
    secret = declared.one("kubernetes:core/v1:Secret", f"{stack}-serving-{name}-api-key")
    assert secret.inputs["stringData"] == {"api-key": "[secret]"}
    assert declared.plan.outputs["modelApiKeys"] == "[secret]"


def test_hugging_face_token_becomes_a_secret_only_when_configured(declare):
    # eks-staging configures no token; gke-staging does, and only ever shows it as a secret.
    eks = deployed("eks-staging")
    assert not [r for r in eks.of_type("kubernetes:core/v1:Secret") if r.name.endswith("hugging-face")]
    assert "HF_TOKEN" not in {e["name"] for e in eks.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["initContainers"][0]["env"]}
    gke = deployed("gke-staging")
    token = gke.one("kubernetes:core/v1:Secret", "gke-staging-serving-mistral-7b-instruct-hugging-face")
    assert token.inputs["stringData"] == {"token": "[secret]"}
    assert HUGGING_FACE_TOKEN not in json.dumps([r.inputs for r in gke.plan.resources])
    fetch_env = gke.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["initContainers"][0]["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "mistral-7b-instruct-hugging-face", "key": "token"}}} in fetch_env

    def program():
        model_server.ModelServer(
            "m",
            model_server.ModelServerArgs(
                model=MODEL,
                weights_uri="s3://b/models/m",
                service_account_annotations={"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/r"},
                api_key="k", hugging_face_token="hf_plaintext", placement=PLACEMENT, image=pins.VLLM_IMAGE,
            ),
        )

    declared = declare(program)
    token = declared.one("kubernetes:core/v1:Secret", "m-hugging-face")
    assert token.inputs["stringData"] == {"token": "[secret]"}
    assert "hf_plaintext" not in str([r.inputs for r in declared.plan.resources])


@pytest.mark.parametrize("stack, required", [("eks-staging", "false"), ("eks-production", "true"), ("gke-staging", "false")])
def test_production_pods_serve_only_a_complete_staged_copy_of_the_pinned_commit(stack, required):
    declared = deployed(stack)
    env = {e["name"]: e.get("value") for e in declared.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["initContainers"][0]["env"]}
    assert env["REQUIRE_MANIFEST"] == required
    if required == "true":
        assert env["MODEL_REVISION"] == "0e9e39f249a16976918f6564b8830bc894c89659"



def test_a_model_may_set_its_own_startup_window():
    probe = model_server.startup_probe(MODEL.model_copy(update={"startup_seconds": 600}))
    assert (probe["initialDelaySeconds"], probe["periodSeconds"], probe["failureThreshold"]) == (30, 10, 60)


def test_a_model_idling_at_zero_wakes_on_the_gateways_requests_and_sleeps_after_a_cold_start():
    from llm_platform.platform.gateway import recent_requests_query

    idle = MODEL.model_copy(update={"min_replicas": 0})
    scaled = model_server.scaled_object(idle, recent_requests_query(idle.name))
    assert validate_custom_resource(scaled) == []
    spec = scaled["spec"]
    queue, wake = spec["triggers"]
    assert queue["name"] == "queue" and wake["name"] == "requests"
    assert wake["metadata"]["query"] == 'sum(increase(agentgateway_requests_total{route="serving/mistral-7b-instruct"}[10m]))'
    # Any request counted wakes it; the queue alone sizes it once awake.
    assert wake["metadata"]["activationThreshold"] == "0" and int(wake["metadata"]["threshold"]) >= 10**6
    # Longer than a cold start, so the replica a request woke serves before it may be sent back to sleep.
    assert spec["cooldownPeriod"] == 900 and (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 2)
    # A model that keeps a replica has nothing to wake.
    assert [t["name"] for t in model_server.scaled_object(MODEL, recent_requests_query(MODEL.name))["spec"]["triggers"]] == ["queue"]


def test_a_model_may_run_its_own_vllm_image_by_digest():
    assert VLLM["image"] == FETCH["image"] == pins.VLLM_IMAGE
    mirrored = "registry.example/docker-hub/vllm/vllm-openai:v0.31.0@sha256:" + "a" * 64
    # Without its own image a model runs the pin as the cloud's registry serves it; with one, that image as written.
    assert model_server.image(MODEL, mirrored) == mirrored
    image = "docker.io/vllm/vllm-openai:v0.32.0@sha256:" + "b" * 64
    model = MODEL.model_copy(update={"image": image})
    assert model_server.image(model, mirrored) == image
    pod = model_server.deployment(model, "s3://bucket/models/m", False, TIER, image=model_server.image(model, mirrored))["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == pod["initContainers"][0]["image"] == image
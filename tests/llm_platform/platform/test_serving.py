"""The serving namespace, the weight fetcher shipped to pods, and who reaches the models."""

import ipaddress
import json

import pytest

from llm_platform import pins
from llm_platform.platform import serving
from tests.k8s_schemas import validate_core_object
from tests.llm_platform.platform.bases import ACCOUNT, CANARY_REVISION, PRODUCTION_HUGGING_FACE_TOKEN, deployed

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def test_fetch_script_ships_as_a_config_map():
    config_map = serving.fetch_script_config_map()
    assert validate_core_object(config_map, pins.KUBERNETES_VERSION) == []
    assert "def main()" in config_map["data"]["fetch_weights.py"]


def test_models_answer_in_the_cluster_only_and_from_outside_through_the_gateway():
    for stack in ("eks-staging", "eks-production"):
        declared = deployed(stack)
        assert declared.of_type(INGRESS) == []
        assert all(s.inputs["spec"].get("type", "ClusterIP") == "ClusterIP" for s in declared.of_type("kubernetes:core/v1:Service") if s.inputs["metadata"]["namespace"] == "serving")
    assert deployed("eks-staging").plan.outputs["modelEndpoints"] == {"mistral-7b-instruct": "http://mistral-7b-instruct.serving.svc/v1"}
    assert deployed("eks-production").plan.outputs["gatewayEndpoint"] == "https://chat.example.com/v1"


def test_model_servers_wait_for_gpus_monitoring_and_keda():
    declared = deployed("eks-production")
    component = declared.one("llm-platform:serving:Serving")
    waits_for = set(component.depends_on)
    assert declared.one("kubernetes:karpenter.sh/v1:NodePool", "eks-production-pools-gpu-a10g").urn in waits_for
    # Prometheus (ServiceMonitor CRD, the scaling queries) and KEDA (ScaledObject CRD).
    assert {declared.release("kube-prometheus-stack").urn, declared.release("keda").urn} <= waits_for
    gke = deployed("gke-staging")
    gke_waits_for = set(gke.one("llm-platform:serving:Serving").depends_on)
    assert {gke.one("gcp:container/nodePool:NodePool", "gke-staging-pools-l4").urn, gke.release("kube-prometheus-stack").urn, gke.release("keda").urn} <= gke_waits_for


@pytest.mark.parametrize(
    "stack, weights_uri, annotations",
    [
        # EKS: the staged copy in the stack's S3 bucket, read with the model's IRSA role.
        (
            "eks-staging",
            f"s3://eks-staging-weights-{ACCOUNT}/models/mistral-7b-instruct",
            {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/eks-staging-model-mistral-7b-instruct"},
        ),
        # GKE: the stack's Cloud Storage bucket, which grants the Kubernetes service account itself.
        ("gke-staging", "gs://gke-staging-weights-acme-llm-staging/models/mistral-7b-instruct", None),
    ],
)
def test_pods_read_the_weights_as_the_base_says(stack, weights_uri, annotations):
    declared = deployed(stack)
    account = declared.one("kubernetes:core/v1:ServiceAccount", f"{stack}-serving-mistral-7b-instruct-sa").inputs
    assert account["metadata"].get("annotations") == annotations
    pod = declared.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in pod["initContainers"][0]["env"]}
    assert env["WEIGHTS_URI"] == weights_uri


def _model_policy_sources(declared) -> list[dict]:
    # The model server's own policy (the gateway adds its Endpoint Picker's beside it).
    (policy,) = [r for r in declared.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.name.endswith("-network-policy")]
    (rule,) = policy.inputs["spec"]["ingress"]
    return rule["from"]


@pytest.mark.parametrize("stack", ["eks-staging", "eks-production", "gke-staging"])
def test_only_prometheus_and_the_gateway_reach_the_models(stack):
    assert _model_policy_sources(deployed(stack)) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}},
    ]


def test_the_gateway_s_nlb_reaches_its_proxies_from_its_subnets_never_from_the_pods_ranges():
    # eks-production (VPC 10.30.0.0/16, three zones) puts the gateway's NLB in front: its subnets are the
    # public ones, the last eighth of the VPC; the pods' private subnets are the first eighths.
    declared = deployed("eks-production")
    allow = declared.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "eks-production-gateway-allow-ingress").inputs
    cidrs = [peer["ipBlock"]["cidr"] for rule in allow["spec"]["ingress"] for peer in rule["from"] if "ipBlock" in peer]
    assert cidrs == ["10.30.224.0/22", "10.30.228.0/22", "10.30.232.0/22"]
    subnets = {tier: [s.inputs for s in declared.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["tier"] == tier] for tier in ("public", "private")}
    # Both load balancer schemes are placed in the public subnets by the controller's role tags.
    # (Resources register concurrently: compare the subnets as a set, not in registration order.)
    assert sorted(s["cidrBlock"] for s in subnets["public"]) == cidrs
    assert all(s["tags"]["kubernetes.io/role/elb"] == s["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in subnets["public"])
    assert not any(key.startswith("kubernetes.io/role/") for s in subnets["private"] for key in s["tags"])
    private = [ipaddress.ip_network(s["cidrBlock"]) for s in subnets["private"]]
    assert len(private) == 3 and not any(ipaddress.ip_network(cidr).overlaps(subnet) for cidr in cidrs for subnet in private)


@pytest.mark.parametrize(
    "stack, registry",
    [
        # EKS: the ECR pull-through cache of Docker Hub in the stack's account and region.
        ("eks-staging", f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/docker-hub"),
        # GKE: the Artifact Registry remote repository of Docker Hub in the stack's project and region.
        ("gke-staging", "us-central1-docker.pkg.dev/acme-llm-staging/docker-hub"),
    ],
)
def test_pods_pull_the_pinned_image_from_the_cloud_s_registry_in_the_region(stack, registry):
    pod = deployed(stack).one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    expected = registry + "/" + pins.VLLM_IMAGE.removeprefix("docker.io/")
    assert [c["image"] for c in pod["initContainers"] + pod["containers"]] == [expected, expected]
    assert "@sha256:" in expected


def test_on_eks_the_models_wait_for_the_cache_to_hold_the_pinned_tag():
    declared = deployed("eks-staging")
    job = declared.one("kubernetes:batch/v1:Job")
    assert job.urn in declared.one("llm-platform:serving:Serving").depends_on
    # It pulls once the rule, the template and the node role's grant exist, on a system node.
    cache = {r.urn for kind in ("aws:ecr/pullThroughCacheRule:PullThroughCacheRule", "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "aws:iam/rolePolicy:RolePolicy") for r in declared.of_type(kind) if "images" in r.name}
    assert len(cache) == 3 and cache <= set(job.depends_on)
    assert declared.one("kubernetes:karpenter.sh/v1:NodePool", "eks-staging-pools-system").urn in job.depends_on


def test_production_pods_neither_read_nor_receive_the_hugging_face_token():
    # eks-production sets a token, but its pods require the staged copy and never fall back to the hub.
    declared = deployed("eks-production")
    assert not [r for r in declared.of_type("kubernetes:core/v1:Secret") if r.name.endswith("hugging-face")]
    for deployment in declared.of_type("kubernetes:apps/v1:Deployment"):
        if deployment.inputs["metadata"]["namespace"] == "serving":
            env = {e["name"]: e.get("value") for e in deployment.inputs["spec"]["template"]["spec"]["initContainers"][0]["env"]}
            assert env["REQUIRE_MANIFEST"] == "true" and "HF_TOKEN" not in env
    assert PRODUCTION_HUGGING_FACE_TOKEN not in json.dumps([r.inputs for r in declared.plan.resources])


def test_a_canary_is_a_model_server_of_its_own_answering_to_its_models_name_with_its_key():
    declared = deployed("eks-production-canary")
    stable = declared.one("kubernetes:apps/v1:Deployment", "eks-production-serving-llama-3-1-8b-instruct-deployment").inputs
    canary = declared.one("kubernetes:apps/v1:Deployment", "eks-production-serving-llama-3-1-8b-instruct-canary-deployment").inputs
    for manifest in (stable, canary):
        assert validate_core_object(manifest, pins.KUBERNETES_VERSION) == []
    # The stable Deployment is the one a stack without a canary declares.
    assert stable == deployed("eks-production").one("kubernetes:apps/v1:Deployment", "eks-production-serving-llama-3-1-8b-instruct-deployment").inputs
    pod = canary["spec"]["template"]["spec"]
    assert canary["spec"]["template"]["metadata"]["labels"]["llm-platform.io/model"] == "llama-3-1-8b-instruct-canary"
    args = pod["containers"][0]["args"]
    assert args[args.index("--served-model-name") + 1] == "llama-3-1-8b-instruct" and args[args.index("--max-num-seqs") + 1] == "96"
    env = {e["name"]: e.get("value") for e in pod["initContainers"][0]["env"]}
    # Other weights: staged beside the model's, read with the canary's own role.
    assert (env["WEIGHTS_URI"], env["MODEL_REVISION"], env["REQUIRE_MANIFEST"]) == (
        f"s3://eks-production-weights-{ACCOUNT}/models/llama-3-1-8b-instruct-canary",
        CANARY_REVISION,
        "true",
    )
    account = declared.one("kubernetes:core/v1:ServiceAccount", "eks-production-serving-llama-3-1-8b-instruct-canary-sa").inputs
    assert pod["serviceAccountName"] == "llama-3-1-8b-instruct-canary"
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/eks-production-model-llama-3-1-8b-instruct-canary"}
    # Its scaler holds the canary's fixed replica count; the production availability rule counts it.
    scaler = declared.one("kubernetes:keda.sh/v1alpha1:ScaledObject", "eks-production-serving-llama-3-1-8b-instruct-canary-scaler").inputs["spec"]
    assert (scaler["minReplicaCount"], scaler["maxReplicaCount"]) == (2, 2)
    # One API key for both: the canary's Secret holds the model's key.
    secrets = [r for r in declared.of_type("kubernetes:core/v1:Secret") if "llama-3-1-8b-instruct" in r.name and r.name.endswith("api-key")]
    assert sorted(s.inputs["metadata"]["name"] for s in secrets) == ["llama-3-1-8b-instruct-api-key", "llama-3-1-8b-instruct-canary-api-key"]
    assert len(declared.of_type("random:index/randomPassword:RandomPassword")) == len(deployed("eks-production").of_type("random:index/randomPassword:RandomPassword"))
    # The in-cluster endpoints and keys are the models', not the canary's.
    assert set(declared.plan.outputs["modelEndpoints"]) == {"llama-3-1-8b-instruct"}


def test_each_model_requires_its_own_staged_copy_whatever_the_others_source(declare):
    # Production with a Hugging Face model and a model already in the bucket: the first is served only from
    # its complete staged copy (no token), the second from the user's own copy, which has no manifest.
    from llm_platform.config import ModelConfig
    from llm_platform.platform.model_server import CapacityPlacement

    hub = ModelConfig(name="hub", source="hf://org/hub", revision="0" * 40, parameters_billion=7, pool_group="l4")
    own = ModelConfig(name="own", source="s3://bucket/imports/own", parameters_billion=7, pool_group="l4")
    placement = CapacityPlacement(on_demand={"key": "c", "operator": "In", "values": ["on-demand"]}, spot={"key": "c", "operator": "In", "values": ["spot"]})
    for models in ([hub, own], [own, hub]):
        args = serving.ServingArgs(
            models=models, bucket="bucket", object_store="s3", service_account_annotations={}, hugging_face_token="hf_token",
            placement=placement, image=pins.VLLM_IMAGE, require_staged=True,
        )  # fmt: skip
        declared = declare(lambda: serving.Serving("s", args))
        env = {
            d.inputs["metadata"]["name"]: {e["name"]: e.get("value") for e in d.inputs["spec"]["template"]["spec"]["initContainers"][0]["env"]}
            for d in declared.of_type("kubernetes:apps/v1:Deployment")
        }
        assert env["hub"]["REQUIRE_MANIFEST"] == "true" and "HF_TOKEN" not in env["hub"]
        assert env["own"]["REQUIRE_MANIFEST"] == "false"

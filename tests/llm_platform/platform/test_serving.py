"""The serving namespace, the weight fetcher shipped to pods, and the endpoint a base hands in."""

import ipaddress

import pytest

from llm_platform import pins
from llm_platform.platform import serving
from tests.k8s_schemas import validate_core_object
from tests.llm_platform.platform.bases import ACCOUNT, CANARY_REVISION, deployed

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def test_fetch_script_ships_as_a_config_map():
    config_map = serving.fetch_script_config_map()
    assert validate_core_object(config_map, pins.KUBERNETES_VERSION) == []
    assert "def main()" in config_map["data"]["fetch_weights.py"]


def test_ingress_only_when_configured():
    # No endpoint from the base (eks-staging configures no `aws.ingress`): in-cluster addresses only.
    assert deployed("eks-staging").of_type(INGRESS) == []
    assert deployed("eks-staging").plan.outputs["modelEndpoints"] == {"mistral-7b-instruct": "http://mistral-7b-instruct.serving.svc/v1"}
    # eks-production's base hands the ALB Ingress of `aws.ingress.host: llm.example.com`.
    declared = deployed("eks-production")
    (ingress,) = declared.of_type(INGRESS)
    assert validate_core_object(ingress.inputs, pins.KUBERNETES_VERSION) == []
    assert ingress.inputs["metadata"]["namespace"] == "serving"
    assert [rule["host"] for rule in ingress.inputs["spec"]["rules"]] == ["llama-3-1-8b-instruct.llm.example.com"]
    assert declared.plan.outputs["modelEndpoints"] == {"llama-3-1-8b-instruct": "https://llama-3-1-8b-instruct.llm.example.com/v1"}
    assert declared.one("kubernetes:core/v1:Namespace", "eks-production-serving-namespace").urn in ingress.depends_on


def test_model_servers_wait_for_gpus_monitoring_keda_and_the_endpoint_s_controller():
    declared = deployed("eks-production")
    component = declared.one("llm-platform:serving:Serving")
    waits_for = set(component.depends_on)
    assert declared.one("kubernetes:karpenter.sh/v1:NodePool", "eks-production-pools-gpu-a10g").urn in waits_for
    # Prometheus (ServiceMonitor CRD, the scaling queries) and KEDA (ScaledObject CRD).
    assert {declared.release("kube-prometheus-stack").urn, declared.release("keda").urn} <= waits_for
    # The base's serving prerequisite: the load balancer controller that turns the Ingress into an ALB.
    assert declared.release("aws-load-balancer-controller").urn in waits_for
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
    (policy,) = [r for r in declared.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["namespace"] == "serving" and r.inputs["spec"]["podSelector"]]
    (rule,) = policy.inputs["spec"]["ingress"]
    return rule["from"]


@pytest.mark.parametrize("stack", ["eks-staging", "gke-staging"])
def test_without_a_load_balancer_only_prometheus_and_the_gateway_reach_the_models(stack):
    assert [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in _model_policy_sources(deployed(stack))] == ["monitoring", "gateway"]


def test_the_alb_reaches_the_models_from_its_subnets_never_from_the_pods_ranges():
    # eks-production (VPC 10.30.0.0/16, three zones) puts an ALB in front: its subnets are the public
    # ones, the last eighth of the VPC; the pods' private subnets are the first eighths.
    declared = deployed("eks-production")
    cidrs = [peer["ipBlock"]["cidr"] for peer in _model_policy_sources(declared) if "ipBlock" in peer]
    assert cidrs == ["10.30.224.0/22", "10.30.228.0/22", "10.30.232.0/22"]
    subnets = {tier: [s.inputs for s in declared.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["tier"] == tier] for tier in ("public", "private")}
    # Both load balancer schemes are placed in the public subnets by the controller's role tags.
    # (Resources register concurrently: compare the subnets as a set, not in registration order.)
    assert sorted(s["cidrBlock"] for s in subnets["public"]) == cidrs
    assert all(s["tags"]["kubernetes.io/role/elb"] == s["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in subnets["public"])
    assert not any(key.startswith("kubernetes.io/role/") for s in subnets["private"] for key in s["tags"])
    private = [ipaddress.ip_network(s["cidrBlock"]) for s in subnets["private"]]
    assert len(private) == 3 and not any(ipaddress.ip_network(cidr).overlaps(subnet) for cidr in cidrs for subnet in private)


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

"""The serving namespace, the weight fetcher shipped to pods, and who reaches the models."""

import ipaddress

import pytest

from llm_platform import pins
from llm_platform.platform import serving
from tests.k8s_schemas import validate_core_object
from tests.llm_platform.platform.bases import ACCOUNT, deployed

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

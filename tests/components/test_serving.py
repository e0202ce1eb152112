"""The serving namespace, the weight fetcher shipped to pods, and the optional HTTPS endpoint."""

import ipaddress

from components import serving
from llm_platform import pins
from llm_platform.config import IngressConfig, ModelConfig
from tests.k8s_schemas import validate_core_object

MODELS = [ModelConfig(name="mistral-7b-instruct", source="hf://mistralai/Mistral-7B-Instruct-v0.3", parameters_billion=7.25, pool_group="l4")]
INGRESS = IngressConfig(
    scheme="internet-facing",
    host="llm.example.com",
    certificate_arn="arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f",
    allowed_cidrs=[ipaddress.IPv4Network("198.51.100.0/24")],
)


def test_ingress_streams_over_tls_with_long_timeouts():
    manifest = serving.ingress(INGRESS, MODELS)
    assert validate_core_object(manifest, pins.KUBERNETES_VERSION) == []
    annotations = manifest["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/load-balancer-attributes"] == "idle_timeout.timeout_seconds=300"
    assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS": 443}]'
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == INGRESS.certificate_arn
    assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "198.51.100.0/24"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    (rule,) = manifest["spec"]["rules"]
    assert rule["host"] == "mistral-7b-instruct.llm.example.com"
    assert manifest["spec"]["ingressClassName"] == "alb"


def test_fetch_script_ships_as_a_config_map():
    config_map = serving.fetch_script_config_map()
    assert validate_core_object(config_map, pins.KUBERNETES_VERSION) == []
    assert "def main()" in config_map["data"]["fetch_weights.py"]


def test_ingress_only_when_configured(stack_plan):
    assert stack_plan("staging").of_type("kubernetes:networking.k8s.io/v1:Ingress") == []
    assert stack_plan("staging").plan.outputs["modelEndpoints"] == {"mistral-7b-instruct": "http://mistral-7b-instruct.serving.svc/v1"}

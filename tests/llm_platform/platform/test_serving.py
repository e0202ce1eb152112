"""The serving namespace, the weight fetcher shipped to pods, and the endpoint a base hands in."""

from llm_platform import pins
from llm_platform.config import ModelConfig
from llm_platform.platform import serving
from tests.k8s_schemas import validate_core_object

MODELS = [ModelConfig(name="mistral-7b-instruct", source="hf://mistralai/Mistral-7B-Instruct-v0.3", parameters_billion=7.25, pool_group="l4")]
def test_fetch_script_ships_as_a_config_map():
    config_map = serving.fetch_script_config_map()
    assert validate_core_object(config_map, pins.KUBERNETES_VERSION) == []
    assert "def main()" in config_map["data"]["fetch_weights.py"]


def test_ingress_only_when_configured(stack_plan):
    assert stack_plan("staging").of_type("kubernetes:networking.k8s.io/v1:Ingress") == []
    assert stack_plan("staging").plan.outputs["modelEndpoints"] == {"mistral-7b-instruct": "http://mistral-7b-instruct.serving.svc/v1"}

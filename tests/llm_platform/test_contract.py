"""The contract: bounded cloud names, bucket and prefix naming, and one model-source grammar that the
configuration, the pods' weight fetcher and `make stage-model` all apply the same way."""

from __future__ import annotations

import pytest

from llm_platform import contract
from llm_platform.config import ConfigError, ModelConfig
from llm_platform.platform.pod import fetch_weights
from tools import stage_model

# -- bounded names -------------------------------------------------------------------------------------


def test_a_name_that_fits_is_kept_as_it_is():
    # Every name deployed before names were bounded fit, so none of them changes.
    assert contract.bounded_name("llm-staging-model-mistral-7b-instruct", 64) == "llm-staging-model-mistral-7b-instruct"
    assert contract.bounded_name("x" * 64, 64) == "x" * 64


def test_names_too_long_are_cut_to_the_limit_and_stay_distinct():
    cluster = "a" * contract.NAME_MAX_LENGTH
    first = contract.bounded_name(f"{cluster}-model-llama-3-1-8b-instruct-v1", 64)
    second = contract.bounded_name(f"{cluster}-model-llama-3-1-8b-instruct-v2", 64)
    assert len(first) <= 64 and len(second) <= 64
    assert first != second
    assert first.startswith(f"{cluster}-model-llama")
    # The same on every run: a name is an input, and a new one would replace the resource.
    assert first == contract.bounded_name(f"{cluster}-model-llama-3-1-8b-instruct-v1", 64)


def test_a_cut_never_leaves_a_doubled_hyphen():
    name = contract.bounded_name("a" * 54 + "-" + "b" * 20, 64)
    assert "--" not in name and len(name) <= 64


# -- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, valid", [("a", True), ("llm-staging", True), ("a" * 40, True), ("a" * 41, False), ("1abc", False), ("abc-", False), ("Abc", False), ("a_b", False)])
def test_the_name_rule(name, valid):
    assert contract.is_valid_name(name) is valid


def test_the_weights_bucket_of_the_longest_cluster_name_is_a_valid_bucket():
    # An AWS account id is 12 digits: the longest cluster name still gives a valid S3 bucket name.
    bucket = contract.weights_bucket_name("a" * contract.NAME_MAX_LENGTH, "123456789012")
    assert contract.S3Location.bucket_problem(bucket) is None


def test_weights_of_a_hugging_face_model_are_read_from_the_staged_copy():
    location = contract.weights_location("mistral", "hf://mistralai/Mistral-7B-Instruct-v0.3", "llm-weights-1", "s3")
    assert location == contract.S3Location("llm-weights-1", "models/mistral")
    assert location.uri("config.json") == "s3://llm-weights-1/models/mistral/config.json"


def test_weights_of_a_bucket_source_are_read_where_they_are():
    location = contract.weights_location("mistral", "gs://team-weights/mistral/v3", "llm-weights-1", "gs")
    assert location == contract.GCSLocation("team-weights", "mistral/v3")


# -- one grammar, three readers --------------------------------------------------------------------------

SOURCES = [
    "hf://mistralai/Mistral-7B-Instruct-v0.3",
    "hf://org/model_name.v2",
    "hf://org/-model",
    "hf://org/model-",
    "hf://org/model--x",
    "hf://org/model..x",
    "hf://org/model.git",
    "hf://just-a-name",
    "hf://a/b/c",
    "hf://" + "o" * 97 + "/m",
    "huggingface.co/org/model",
    "s3://weights-bucket/models/mistral",
    "s3://weights-bucket",
    "s3://UPPER/prefix",
    "s3://192.168.1.1/models",
    "s3://weights-bucket/a/../b",
    "s3://weights-bucket/models/*",
    "gs://weights_bucket/models/mistral",
    "gs://goog-weights/models",
    "gs://my-google-weights/models",
    "ftp://host/file",
]


def accepted_by_contract(source: str) -> bool:
    try:
        contract.parse_model_source(source)
    except ValueError:
        return False
    return True


def accepted_by_config(source: str) -> bool:
    try:
        ModelConfig.model_validate({"name": "m", "source": source, "parametersBillion": 7, "poolGroup": "g", "maxReplicas": 1})
    except (ValueError, ConfigError):
        return False
    return True


def accepted_by_fetcher(source: str) -> bool:
    env = {"WEIGHTS_URI": "s3://llm-weights-1/models/m", "MODEL_SOURCE": source, "TARGET_DIR": "/models/m"}
    try:
        fetch_weights.settings_from_env(env)
    except fetch_weights.ConfigError:
        return False
    return True


def accepted_by_stage_model(source: str) -> bool:
    try:
        stage_model.check_model_and_source("m", source)
    except stage_model.StageError:
        return False
    return True


@pytest.mark.parametrize("source", SOURCES)
def test_config_fetcher_and_stage_model_apply_one_grammar(source):
    expected = accepted_by_contract(source)
    assert accepted_by_config(source) is expected
    assert accepted_by_fetcher(source) is expected
    # stage-model stages Hugging Face repositories only; a bucket source is already where it is read.
    assert accepted_by_stage_model(source) is (expected and not contract.is_bucket_source(source))


def test_the_battery_holds_both_verdicts():
    verdicts = {accepted_by_contract(source) for source in SOURCES}
    assert verdicts == {True, False}

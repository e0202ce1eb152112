"""The configuration reference and the stack-file JSON Schema are generated from the model and current."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from pydantic import Field

from llm_platform.config.base import ConfigModel
from tools import config_reference
from tools.preview import ROOT


def test_readme_and_schema_are_what_the_model_generates():
    assert config_reference.main(["--check"]) == 0, "run `make docs`"


def test_every_field_of_every_model_is_documented():
    documented = [(model, name) for model in config_reference.models() for name in model.model_fields]
    assert len(documented) > 100
    for model, name in documented:
        assert len(config_reference.field_doc(model, name)) > 10, f"{model.__name__}.{name}"


def test_an_undocumented_field_is_refused():
    class Undocumented(ConfigModel):
        """A section."""

        size: int = Field(default=1)

    with pytest.raises(config_reference.UndocumentedField, match="Undocumented.size has no docstring"):
        config_reference.field_doc(Undocumented, "size")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(config_reference.SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("stack_file", sorted(ROOT.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_the_committed_stack_files_satisfy_the_schema(validator, stack_file):
    assert list(validator.iter_errors(yaml.safe_load(stack_file.read_text()))) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.update({"llm-platform:clusterNmae": "x"}),
        lambda c: c.update({"llm-platform:cloud": "azure"}),
        lambda c: c["llm-platform:aws"]["network"].update(azCount=9),
        lambda c: c.pop("llm-platform:budget"),
        lambda c: c.update({"llm-platform:huggingFaceToken": {"secure": 1}}),
    ],
)
def test_the_schema_refuses_what_the_model_refuses(validator, change):
    document = yaml.safe_load((ROOT / "Pulumi.production.yaml").read_text())
    change(document["config"])
    assert list(validator.iter_errors(document))


def test_secrets_may_be_given_encrypted_and_other_namespaces_are_left_alone(validator):
    document = yaml.safe_load((ROOT / "Pulumi.production.yaml").read_text())
    document["config"] |= {"llm-platform:huggingFaceToken": {"secure": "v1:AAAA"}, "aws:region": "us-west-2"}
    assert list(validator.iter_errors(document)) == []

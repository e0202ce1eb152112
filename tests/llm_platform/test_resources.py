"""`llm_platform.resources`: a resource declared from a `Kind` reaches the engine exactly as the provider
SDK's typed class would send it. Every stack is run twice under the mock engine, once as the program runs
and once with every Kind replaced by its typed class (its inputs handed over as the class's keyword
arguments, nested objects built as the SDK's own input classes, which add the schema's defaults), and the two runs must register the
same resources with the same inputs and options. An input key the typed class or its nested input types
do not define fails here, so a misspelt or invented key cannot reach a real deployment."""

from __future__ import annotations

import importlib
import typing
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi import _types

from llm_platform import resources
from llm_platform.resources import CloudResource, Kind
from tests.conftest import STACKS
from tools.preview import run_program

# What differs between two runs of the same program for reasons of no interest: where in the source a
# resource was declared.
IGNORED_REQUEST_FIELDS = ("sourcePosition", "stackTrace")


def typed_class(token: str) -> type[pulumi.CustomResource]:
    package, module, name = token.split(":")
    if package == "kubernetes":
        group_version = module.replace(".sh", "").replace("/", ".")
        return getattr(importlib.import_module(f"pulumi_kubernetes.{group_version}"), name)
    module = module.split("/")[0]
    return getattr(importlib.import_module(f"pulumi_{package}" if module == "index" else f"pulumi_{package}.{module}"), name)


def _input_type(annotation: Any) -> type | None:
    """The input type class an argument annotation admits (`Input[Optional[Union[XArgs, XArgsDict]]]`)."""
    annotation = _types.unwrap_type(annotation)
    members = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else (annotation,)
    return next((m for m in members if isinstance(m, type) and _types.is_input_type(m)), None)


def _element(annotation: Any) -> Any:
    annotation = _types.unwrap_type(annotation)
    args = typing.get_args(annotation)
    return args[0] if typing.get_origin(annotation) in (list, typing.Sequence, __import__("collections.abc").abc.Sequence) and args else None


def to_python_names(value: Any, input_type: type, where: str) -> dict[str, Any]:
    """`value` (camelCase keys, as the engine receives them) as keyword arguments of `input_type`."""
    pulumi_to_py = {pulumi_name: py for py, pulumi_name in _types.input_type_py_to_pulumi_names(input_type).items()}
    # Annotations by engine (camelCase) name, as `input_type_types` keys them.
    annotations = _types.input_type_types(input_type)
    converted = {}
    for key, item in value.items():
        assert key in pulumi_to_py, f"{where}: {input_type.__name__} has no input {key!r} (it has {sorted(pulumi_to_py)})"
        converted[pulumi_to_py[key]] = _convert(item, annotations[key], f"{where}.{key}")
    return converted


def _convert(item: Any, annotation: Any, where: str) -> Any:
    nested = _input_type(annotation)
    if nested is not None and isinstance(item, dict):
        # The nested input class itself, as a typed program writes it: its constructor adds the defaults
        # the SDK's schema declares, which a Kind's plain dict must then state as well.
        return nested(**to_python_names(item, nested, where))
    element = _element(annotation)
    if element is not None and isinstance(item, list):
        return [_convert(entry, element, f"{where}[{index}]") for index, entry in enumerate(item)]
    return item


def _plain(value: Any) -> Any:
    return _types.output_type_to_dict(value) if _types.is_output_type(type(value)) else value


def as_typed_class(kind: Kind, name: str, inputs: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> pulumi.CustomResource:
    cls = typed_class(kind.token)
    module = importlib.import_module(cls.__module__)
    # The SDK names a resource's arguments `<Name>InitArgs` where `<Name>Args` is taken by a nested type.
    args_class = getattr(module, f"{cls.__name__}InitArgs", None) or getattr(module, f"{cls.__name__}Args")
    given = {key: value for key, value in inputs.items() if value is not None}
    # The program reads a nested output the way the engine sends it (a dict of camelCase keys), where the
    # typed class would hand it an output-type object: the same program code gets the same value. The
    # subclass changes nothing the engine sees (the type token is the class's own).
    readers = {
        attribute: property(lambda self, getter=getattr(cls, attribute).fget: getter(self).apply(_plain))
        for attribute in map(resources.snake_case, kind.outputs)
    }
    return type(cls.__name__, (cls,), readers)(name, opts=opts, **to_python_names(given, args_class, f"{kind.token} {name}"))


def registrations(stack: str) -> dict[str, dict[str, Any]]:
    requests: dict[str, dict[str, Any]] = {}

    def record(request) -> None:
        if request.type != "pulumi:pulumi:Stack":
            message = json_format.MessageToDict(request)
            for field in IGNORED_REQUEST_FIELDS:
                message.pop(field, None)
            # Registration runs concurrently, so dependency lists come in any order; their sets count.
            message["dependencies"] = sorted(message.get("dependencies", []))
            for property_dependencies in message.get("propertyDependencies", {}).values():
                property_dependencies["urns"] = sorted(property_dependencies.get("urns", []))
            requests[f"{request.parent}${request.type}::{request.name}"] = message

    run_program(stack, on_register=record)
    return requests


@pytest.mark.parametrize("stack", STACKS)
def test_every_kind_registers_what_its_typed_class_registers(stack, monkeypatch):
    declared = registrations(stack)
    kinds = {message["type"] for message in declared.values() if message["type"].split(":")[0] in ("aws", "gcp")}
    assert kinds, "the stack declares cloud resources from Kinds"
    monkeypatch.setattr(Kind, "__call__", as_typed_class)
    typed = registrations(stack)
    assert declared.keys() == typed.keys()
    for key in declared:
        assert declared[key] == typed[key], key


def test_outputs_read_in_snake_case_as_on_the_typed_class(declare):
    def program():
        address = Kind("gcp:compute/address:Address", outputs=("address", "selfLink"))("a", {"name": "nat"})
        pulumi.export("selfLink", address.self_link)
        pulumi.export("address", address.address)

    outputs = declare(program, region="us-central1").plan.outputs
    assert outputs["selfLink"].endswith("/regions/us-central1/addresses/nat") and outputs["address"].startswith("198.51.100.")


def test_an_output_the_kind_does_not_declare_is_an_error():
    resource = object.__new__(CloudResource)
    with pytest.raises(AttributeError, match="no output 'self_link'"):
        resource.self_link


def test_the_sdk_version_goes_with_every_declaration():
    assert resources.sdk_version("aws") == importlib.import_module("pulumi_aws._utilities").get_version()
    assert Kind("gcp:compute/network:Network").options(None).version == importlib.import_module("pulumi_gcp._utilities").get_version()

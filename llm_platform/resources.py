"""Declare cloud resources from their inputs, the way Kubernetes objects are declared from manifests.

A `Kind` says what the provider SDK's typed class registers for one resource type: its type token, the
options the class adds by itself (the SDK version, aliases of renamed types, outputs it marks secret)
and the outputs the program reads. `Kind(name, inputs, opts)` registers the resource with exactly those
options and with `inputs` as the engine receives them (camelCase, nested objects as dicts), so a real
`pulumi up`, the provider and the policy pack see what the typed class would have sent. Outputs are read
as attributes in snake_case (`network.self_link`), as on the typed class.

Why not the typed classes: importing their generated modules dominates the offline preview that runs on
every pull request (`pulumi_aws.ec2` alone ~0.3 s, `pulumi_gcp.compute` ~0.6 s, for a handful of
resources; pulumi-eks' typed `Cluster` loads `pulumi_aws.ec2` and `.iam` just to read its own type
hints, and a typed Helm `Release` loads `requests`). Typed classes stay where a declaration would gain
nothing: providers (in the SDKs' root modules, loaded anyway) and `random.RandomPassword`.
`tests/llm_platform/test_resources.py` runs every stack once more with each Kind swapped for its typed
class and requires the engine to receive the same registrations: same type, name, parent, inputs and
options; an input the typed class does not know fails that test.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any, Mapping

import pulumi

# Provider packages by the first segment of a type token.
_SDK_PACKAGES = {"aws": "pulumi_aws", "eks": "pulumi_eks", "gcp": "pulumi_gcp", "kubernetes": "pulumi_kubernetes"}


@cache
def sdk_version(package: str) -> str:
    """The version of the provider SDK installed for `package` (`aws`, `gcp`, ...): what its typed classes
    ask the engine for, so the same provider plugin serves both."""
    return importlib.import_module(f"{_SDK_PACKAGES[package]}._utilities").get_version()


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


@dataclass(frozen=True)
class Kind:
    """One resource type of a provider, as its typed SDK class registers it."""

    token: str
    """The type token, e.g. `aws:ec2/vpc:Vpc`."""
    outputs: tuple[str, ...] = ()
    """Outputs the program reads that are not inputs (camelCase, as the provider names them)."""
    aliases: tuple[str, ...] = ()
    """Earlier type tokens the typed class declares as aliases (e.g. `aws:s3/bucketV2:BucketV2`)."""
    secret_outputs: tuple[str, ...] = ()
    """Outputs the typed class always marks secret."""
    fixed_inputs: tuple[tuple[str, Any], ...] = ()
    """Inputs the typed class always sends (e.g. a Helm release's `compat`)."""
    remote: bool = False
    """A multi-language component (pulumi-eks' `Cluster`) rather than a provider resource."""

    @property
    def package(self) -> str:
        return self.token.split(":", 1)[0]

    def __call__(self, name: str, inputs: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None) -> pulumi.Resource:
        return (RemoteComponent if self.remote else CloudResource)(self, name, inputs, opts)

    def props(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        # Unset inputs are left out, as the typed classes leave them out; outputs are registered empty so
        # that the engine's answer fills them.
        props: dict[str, Any] = {key: value for key, value in inputs.items() if value is not None}
        props.update(self.fixed_inputs)
        props.update({output: None for output in self.outputs if output not in props})
        return props

    def options(self, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
        """`opts` with what the typed class adds, merged in the same order it merges them."""
        merged = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=sdk_version(self.package)), opts)
        if self.aliases:
            merged = pulumi.ResourceOptions.merge(merged, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=token) for token in self.aliases]))
        if self.secret_outputs:
            merged = pulumi.ResourceOptions.merge(merged, pulumi.ResourceOptions(additional_secret_outputs=list(self.secret_outputs)))
        return merged


class _Outputs:
    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found otherwise: `self_link` reads the `selfLink` output.
        camel = camel_case(name)
        if camel != name and camel in self.__dict__:
            return self.__dict__[camel]
        raise AttributeError(f"{type(self).__name__} has no output {name!r}")


class CloudResource(_Outputs, pulumi.CustomResource):
    """A provider resource of a `Kind`, declared from its inputs."""

    def __init__(self, kind: Kind, name: str, inputs: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(kind.token, name, kind.props(inputs), kind.options(opts))


class RemoteComponent(_Outputs, pulumi.ComponentResource):
    """A multi-language component of a `Kind`, declared from its inputs; its provider builds its children."""

    def __init__(self, kind: Kind, name: str, inputs: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(kind.token, name, kind.props(inputs), kind.options(opts), remote=True)


def invoke(
    token: str, args: Mapping[str, Any], parent: pulumi.Resource | None = None, provider: pulumi.ProviderResource | None = None
) -> dict[str, Any]:
    """A provider function (data source) called as its typed SDK function calls it, through `parent`'s
    provider or `provider`; its result as a dict of camelCase keys."""
    opts = pulumi.InvokeOptions(parent=parent, provider=provider, version=sdk_version(token.split(":", 1)[0]))
    return dict(pulumi.runtime.invoke(token, {key: value for key, value in args.items() if value is not None}, opts).value)

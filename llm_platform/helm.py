"""Helm releases of the charts pinned in `llm_platform.pins`: chart, version and repository always come
together from one `HelmChart`, so no release can name a chart without its pinned version."""

from __future__ import annotations

from typing import Any

import pulumi

from llm_platform.pins import HelmChart
from llm_platform.resources import Kind
from llm_platform_policy.kube import HELM_RELEASE

# pulumi-kubernetes 4.34.2's `helm.v3.Release`, which always sends `compat: "true"`.
RELEASE = Kind(HELM_RELEASE, outputs=("status",), fixed_inputs=(("compat", "true"),))


def pinned_release(
    resource_name: str,
    release_name: str,
    chart: HelmChart,
    *,
    namespace: str,
    opts: pulumi.ResourceOptions,
    values: pulumi.Input[dict[str, Any]] | None = None,
    create_namespace: bool = False,
    skip_crds: bool = False,
    take_ownership: bool = False,
) -> pulumi.Resource:
    # Only options that differ from Helm's defaults are passed, so a release's inputs show what it changes.
    inputs: dict[str, Any] = {"chart": chart.chart, "name": release_name, "namespace": namespace, "version": chart.version}
    if chart.repo:
        inputs["repositoryOpts"] = {"repo": chart.repo}
    if values is not None:
        inputs["values"] = values
    if create_namespace:
        inputs["createNamespace"] = True
    if skip_crds:
        inputs["skipCrds"] = True
    if take_ownership:
        inputs["takeOwnership"] = True
    return RELEASE(resource_name, inputs, opts)

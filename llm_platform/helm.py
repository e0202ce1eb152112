"""Helm releases of the charts pinned in `llm_platform.pins`: chart, version and repository always come
together from one `HelmChart`, so no release can name a chart without its pinned version."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from llm_platform.pins import HelmChart


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
) -> k8s.helm.v3.Release:
    # Only options that differ from Helm's defaults are passed, so a release's inputs show what it changes.
    optional: dict[str, Any] = {}
    if chart.repo:
        optional["repository_opts"] = k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo)
    if values is not None:
        optional["values"] = values
    if create_namespace:
        optional["create_namespace"] = True
    if skip_crds:
        optional["skip_crds"] = True
    return k8s.helm.v3.Release(resource_name, name=release_name, chart=chart.chart, version=chart.version, namespace=namespace, opts=opts, **optional)

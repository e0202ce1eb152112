"""Declare Kubernetes objects from their manifests.

Components build every in-cluster object as a plain manifest (a dict the tests validate against the
upstream schemas) and declare it through `KubernetesObject`. It registers the same type token as the
typed pulumi-kubernetes class of that kind (`kubernetes:core/v1:ConfigMap`,
`kubernetes:karpenter.sh/v1:NodePool`, ...), with the manifest as inputs, so the provider handles it
exactly as it would the typed resource. The typed classes are avoided because importing their generated
modules dominates the offline preview (`pulumi_kubernetes.core.v1` alone takes 0.25 s).

Objects must be given the cluster's Kubernetes provider (through a parent's `providers`): no default
provider, whose plugin version would be unpinned, is ever used.
"""

from __future__ import annotations

from typing import Any

import pulumi


def type_token(api_version: str, kind: str) -> str:
    # Core objects have no API group in their apiVersion ("v1"); the provider names that group "core".
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    def __init__(self, resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(manifest["apiVersion"], manifest["kind"]), resource_name, dict(manifest), opts)


def namespace_manifest(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def secret_manifest(metadata: dict[str, Any], string_data: dict[str, Any]) -> dict[str, Any]:
    """An Opaque Secret; values go in as `stringData`, which the API server encodes."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "stringData": string_data}


def exec_kubeconfig(cluster_name: str, server: str, ca_data: str, exec_user: dict[str, Any]) -> dict[str, Any]:
    """A kubeconfig whose user gets its token from a command (`aws eks get-token`, gke-gcloud-auth-plugin)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", **exec_user}}}],
    }

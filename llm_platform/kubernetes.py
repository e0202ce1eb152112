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

from typing import Any, Literal

import pulumi

from llm_platform import pins


def type_token(api_version: str, kind: str) -> str:
    # Core objects have no API group in their apiVersion ("v1"); the provider names that group "core".
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    def __init__(self, resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(manifest["apiVersion"], manifest["kind"]), resource_name, dict(manifest), opts)


class KubernetesPatch(pulumi.CustomResource):
    """A server-side apply patch of fields of an object that exists already (the provider's `<Kind>Patch`
    types): only the fields in `manifest` are managed, and deleting the patch removes only those."""

    def __init__(self, resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(manifest["apiVersion"], manifest["kind"]) + "Patch", resource_name, dict(manifest), opts)


# -- namespaces ----------------------------------------------------------------------------------------

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace to its name; nobody can relabel a namespace with it."""


def pod_security_labels(level: PodSecurityLevel) -> dict[str, str]:
    """Pod Security Admission: reject (enforce), audit-log and warn about pods above `level`, judged by
    the standards of the pinned version so a cluster upgrade never tightens them unannounced."""
    return {f"pod-security.kubernetes.io/{mode}{suffix}": value for mode in ("enforce", "audit", "warn") for suffix, value in (("", level), ("-version", pins.POD_SECURITY_VERSION))}


def namespace_manifest(name: str, pod_security: PodSecurityLevel) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": pod_security_labels(pod_security)}}


# -- network policies ----------------------------------------------------------------------------------

DEFAULT_DENY = "default-deny-ingress"


def from_namespace(name: str) -> dict[str, Any]:
    """A NetworkPolicy peer: every pod of namespace `name`."""
    return {"namespaceSelector": {"matchLabels": {NAME_LABEL: name}}}


def from_cidrs(cidrs: list[str]) -> list[dict[str, Any]]:
    """NetworkPolicy peers: the address ranges `cidrs` (for sources that are not pods, such as the API server)."""
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


SAME_NAMESPACE: dict[str, Any] = {"podSelector": {}}
"""A NetworkPolicy peer: every pod of the policy's own namespace."""


def tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def default_deny_ingress(namespace: str) -> dict[str, Any]:
    """Selects every pod of `namespace` and admits nothing: what other policies there do not allow is
    refused. (Policies add up; a pod selected by none of them would accept anything.)"""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": DEFAULT_DENY, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def allow_ingress(namespace: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """What every pod of `namespace` accepts beside the default deny: `rules` are NetworkPolicy ingress
    rules (the API server, not a pod, is admitted by its addresses: `from_cidrs`)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-ingress", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": rules},
    }


def isolate_namespace(
    resource_name: str,
    namespace: str,
    *,
    pod_security: PodSecurityLevel,
    allow: list[dict[str, Any]],
    created_by: pulumi.Resource | None,
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource:
    """The Pod Security level and the default-deny ingress of a namespace the program creates; `allow`
    as in `allow_ingress` (none: nothing reaches its pods over the pod network).

    `created_by` is the Helm release that creates the namespace (`createNamespace`), whose labels are
    then patched in: declaring the Namespace itself would fail with AlreadyExists on every cluster
    installed before (pulumi-kubernetes >= 4.29 creates without upserting). Without it the Namespace is
    declared here. Returns the namespace's resource; the policies depend on it."""
    if created_by is None:
        owner = KubernetesObject(f"{resource_name}-namespace", namespace_manifest(namespace, pod_security), opts)
    else:
        patch = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": pod_security_labels(pod_security)}}
        owner = KubernetesPatch(f"{resource_name}-namespace-labels", patch, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[created_by])))
    in_namespace = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[owner]))
    KubernetesObject(f"{resource_name}-default-deny", default_deny_ingress(namespace), in_namespace)
    if allow:
        KubernetesObject(f"{resource_name}-allow-ingress", allow_ingress(namespace, allow), in_namespace)
    return owner


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

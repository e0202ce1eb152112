"""KubernetesObject registers exactly the type token of the typed pulumi-kubernetes class; every namespace
the program creates gets Pod Security labels and a default-deny ingress policy."""

import pytest

from llm_platform import pins
from llm_platform.kubernetes import (
    DEFAULT_DENY,
    SAME_NAMESPACE,
    allow_ingress,
    default_deny_ingress,
    from_namespace,
    namespace_manifest,
    pod_security_labels,
    tcp,
    type_token,
)
from tests.conftest import HELM_RELEASE
from tests.k8s_schemas import validate_core_object
from tests.llm_platform.platform.bases import deployed


@pytest.mark.parametrize(
    "api_version,kind,token",
    [
        ("v1", "ConfigMap", "kubernetes:core/v1:ConfigMap"),
        ("apps/v1", "Deployment", "kubernetes:apps/v1:Deployment"),
        ("storage.k8s.io/v1", "StorageClass", "kubernetes:storage.k8s.io/v1:StorageClass"),
        ("karpenter.sh/v1", "NodePool", "kubernetes:karpenter.sh/v1:NodePool"),
    ],
)
def test_type_token_matches_the_typed_sdk(api_version, kind, token):
    assert type_token(api_version, kind) == token


def test_tokens_agree_with_the_sdk_classes():
    """The provider dispatches on the token: it must be the one the typed class declares."""
    from pulumi.type_token import get_type_token
    from pulumi_kubernetes.core.v1 import ConfigMap, NamespacePatch
    from pulumi_kubernetes.storage.v1 import StorageClass

    assert type_token("v1", "ConfigMap") == get_type_token(ConfigMap)
    assert type_token("storage.k8s.io/v1", "StorageClass") == get_type_token(StorageClass)
    assert type_token("v1", "Namespace") + "Patch" == get_type_token(NamespacePatch)


# -- namespaces: Pod Security Admission and default-deny ingress ----------------------------------------

NAMESPACE = "kubernetes:core/v1:Namespace"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@pytest.mark.parametrize("level", ["restricted", "baseline", "privileged"])
def test_pod_security_labels_enforce_audit_and_warn_at_the_pinned_version(level):
    manifest = namespace_manifest("serving", level)
    assert validate_core_object(manifest, pins.KUBERNETES_VERSION) == []
    assert manifest["metadata"]["labels"] == {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "v1.36",
        "pod-security.kubernetes.io/audit": level,
        "pod-security.kubernetes.io/audit-version": "v1.36",
        "pod-security.kubernetes.io/warn": level,
        "pod-security.kubernetes.io/warn-version": "v1.36",
    }


def test_default_deny_selects_every_pod_and_admits_nothing():
    policy = default_deny_ingress("keda")
    assert validate_core_object(policy, pins.KUBERNETES_VERSION) == []
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_allow_rules_name_their_sources_or_only_ports_for_the_api_server():
    policy = allow_ingress("monitoring", [{"from": [SAME_NAMESPACE]}, {"from": [from_namespace("keda")], "ports": tcp(9090)}, {"ports": tcp(10250)}])
    assert validate_core_object(policy, pins.KUBERNETES_VERSION) == []
    assert policy["spec"]["ingress"][1] == {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}], "ports": [{"protocol": "TCP", "port": 9090}]}


def _namespaces(declared) -> dict[str, dict]:
    """Every namespace the program creates, itself or through a Helm release's createNamespace, with the
    labels it gives it."""
    labelled = {r.inputs["metadata"]["name"]: r.inputs["metadata"].get("labels", {}) for r in declared.of_type(NAMESPACE) + declared.of_type(NAMESPACE_PATCH)}
    created_by_helm = {r.inputs["namespace"] for r in declared.of_type(HELM_RELEASE) if r.inputs.get("createNamespace")}
    return {name: labelled.get(name, {}) for name in set(labelled) | created_by_helm}


EXPECTED_LEVELS = {
    # With a gateway the Endpoint Pickers run in `serving`, and their chart sets no securityContext.
    "eks-production": {"serving": "baseline", "monitoring": "privileged", "keda": "restricted", "karpenter": "restricted", "nvidia-device-plugin": "privileged", "gateway": "baseline"},
    "eks-staging": {"serving": "restricted", "monitoring": "privileged", "keda": "restricted", "karpenter": "restricted", "nvidia-device-plugin": "privileged"},
    "gke-staging": {"serving": "baseline", "monitoring": "privileged", "keda": "restricted", "gateway": "baseline", "cert-manager": "restricted"},
}


@pytest.mark.parametrize("stack", sorted(EXPECTED_LEVELS))
def test_every_namespace_the_program_creates_has_pod_security_and_a_default_deny(stack):
    declared = deployed(stack)
    namespaces = _namespaces(declared)
    assert {name: labels.get("pod-security.kubernetes.io/enforce") for name, labels in namespaces.items()} == EXPECTED_LEVELS[stack]
    for name, labels in namespaces.items():
        assert labels == pod_security_labels(labels["pod-security.kubernetes.io/enforce"]), name
    policies = [r.inputs for r in declared.of_type(NETWORK_POLICY)]
    for policy in policies:
        assert validate_core_object(policy, pins.KUBERNETES_VERSION) == []
    denying = {p["metadata"]["namespace"] for p in policies if p["metadata"]["name"] == DEFAULT_DENY and p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert denying == set(namespaces)
    # Nothing admits the whole network: every address range a policy admits is a load balancer subnet.
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                assert "ipBlock" not in peer or not peer["ipBlock"]["cidr"].endswith(("/0", "/8", "/16")), policy["metadata"]


@pytest.mark.parametrize("stack", sorted(EXPECTED_LEVELS))
def test_policies_and_labels_wait_for_their_namespace(stack):
    declared = deployed(stack)
    owners = {r.inputs["metadata"]["name"]: r.urn for r in declared.of_type(NAMESPACE) + declared.of_type(NAMESPACE_PATCH)}
    namespace_wide = [p for p in declared.of_type(NETWORK_POLICY) if p.inputs["metadata"]["name"] in (DEFAULT_DENY, "allow-ingress")]
    assert namespace_wide
    for policy in namespace_wide:
        assert owners[policy.inputs["metadata"]["namespace"]] in policy.depends_on, policy.name
    # Labels patched onto a namespace a Helm release creates wait for that release.
    for patch in declared.of_type(NAMESPACE_PATCH):
        releases = {r.urn for r in declared.of_type(HELM_RELEASE) if r.inputs["namespace"] == patch.inputs["metadata"]["name"] and r.inputs.get("createNamespace")}
        assert releases & set(patch.depends_on), patch.name

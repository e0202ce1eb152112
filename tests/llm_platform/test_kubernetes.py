"""KubernetesObject registers exactly the type token of the typed pulumi-kubernetes class."""

import pytest

from llm_platform.kubernetes import type_token


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
    from pulumi_kubernetes.core.v1 import ConfigMap
    from pulumi_kubernetes.storage.v1 import StorageClass

    assert type_token("v1", "ConfigMap") == get_type_token(ConfigMap)
    assert type_token("storage.k8s.io/v1", "StorageClass") == get_type_token(StorageClass)

"""The default StorageClass: encrypted gp3, zonal binding, valid for the pinned Kubernetes version."""

from llm_platform import pins
from llm_platform.aws.storage import StorageArgs, default_storage_class
from tests.k8s_schemas import validate_core_object


def test_default_class_is_encrypted_gp3():
    manifest = default_storage_class(StorageArgs())
    assert validate_core_object(manifest, pins.KUBERNETES_VERSION) == []
    assert manifest["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert manifest["parameters"]["type"] == "gp3" and manifest["parameters"]["encrypted"] == "true"
    assert manifest["volumeBindingMode"] == "WaitForFirstConsumer"

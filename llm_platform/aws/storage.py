"""Cluster storage defaults: an encrypted gp3 StorageClass as the default, replacing EKS's gp2."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.kubernetes import KubernetesObject

DEFAULT_STORAGE_CLASS = "gp3-encrypted"


@dataclass(frozen=True)
class StorageArgs:
    provisioner: str = "ebs.csi.aws.com"
    parameters: dict[str, str] | None = None


def default_storage_class(args: StorageArgs) -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": DEFAULT_STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": args.provisioner,
        "parameters": args.parameters or {"type": "gp3", "encrypted": "true", "fsType": "ext4"},
        # Bind where the pod lands: an EBS volume is zonal.
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
        "reclaimPolicy": "Delete",
    }


class Storage(pulumi.ComponentResource):
    default_storage_class: str

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:storage:Storage", name, None, opts)
        KubernetesObject(f"{name}-{DEFAULT_STORAGE_CLASS}", default_storage_class(args), pulumi.ResourceOptions(parent=self))
        self.default_storage_class = DEFAULT_STORAGE_CLASS
        self.register_outputs({"default_storage_class": self.default_storage_class})

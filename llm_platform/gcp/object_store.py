"""Model weights on Google Cloud: one Cloud Storage bucket per stack in the cluster's region (CMEK,
versioned, uniform access, public access prevented, protected in production), and per model a
read-only grant to that model's Kubernetes service account alone, through Workload Identity Federation
for GKE (no Google service account, no key, no annotation)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.config import ModelConfig
from llm_platform.contract import (
    INCOMPLETE_UPLOAD_DAYS,
    NONCURRENT_WEIGHTS_DAYS,
    SERVING_NAMESPACE,
    GCSLocation,
    model_service_account,
    weights_bucket_name,
    weights_location,
)
from llm_platform.gcp import kinds
from llm_platform.gcp.cluster import workload_pool
from llm_platform.gcp.kms import agent_key
from llm_platform.resources import invoke


@dataclass(frozen=True)
class GcsModelStoreArgs:
    cluster_name: str
    project: str
    project_number: str
    region: str
    key_ring_id: pulumi.Input[str]
    models: list[ModelConfig]
    protect: bool
    labels: dict[str, str]


def workload_principal(project: str, project_number: str, namespace: str, service_account: str) -> str:
    """The IAM principal of one Kubernetes service account under Workload Identity Federation for GKE."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
        f"{workload_pool(project)}/subject/ns/{namespace}/sa/{service_account}"
    )


def read_condition(bucket: str, prefix: str) -> dict:
    """Objects under the prefix, and listings of it, only (IAM Conditions for Cloud Storage)."""
    return {
        "title": "weights-prefix-only",
        "description": f"read gs://{bucket}/{prefix}/ only",
        "expression": (
            f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}/") || '
            f'(resource.type == "storage.googleapis.com/Bucket" && '
            f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}/"))'
        ),
    }


class GcsModelStore(pulumi.ComponentResource):
    bucket: pulumi.Output[str]

    def __init__(self, name: str, args: GcsModelStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gcs_model_store:GcsModelStore", name, None, opts)
        # Asking for Cloud Storage's service agent also creates it, which the key grant below needs.
        storage_agent = invoke("gcp:storage/getProjectServiceAccount:getProjectServiceAccount", {"project": args.project}, parent=self)["emailAddress"]

        # Cloud Storage's own service agent encrypts and decrypts objects with the key; readers need no KMS role.
        key, key_grant = agent_key(f"{name}-key", key_ring_id=args.key_ring_id, agent_email=storage_agent, labels=args.labels, parent=self)
        bucket_name = weights_bucket_name(args.cluster_name, args.project)
        bucket = kinds.BUCKET(
            f"{name}-bucket",
            {
                "encryption": {"defaultKmsKeyName": key.id},
                "forceDestroy": False,
                "labels": args.labels,
                "lifecycleRules": [
                    {"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": NONCURRENT_WEIGHTS_DAYS, "withState": "ARCHIVED"}},
                    {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": INCOMPLETE_UPLOAD_DAYS}},
                ],
                # Same region as the GPUs: no inter-region transfer charge, and the fastest reads.
                "location": args.region.upper(),
                "name": bucket_name,
                "publicAccessPrevention": "enforced",
                "storageClass": "STANDARD",
                "uniformBucketLevelAccess": True,
                "versioning": {"enabled": True},
            },
            pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[key_grant]),
        )

        for model in args.models:
            location = weights_location(model.weights_name, model.source, bucket_name, GCSLocation.SCHEME)
            kinds.BUCKET_IAM_MEMBER(
                f"{name}-{model.name}-read",
                {
                    "bucket": location.bucket,
                    "condition": read_condition(location.bucket, location.prefix),
                    "member": workload_principal(args.project, args.project_number, SERVING_NAMESPACE, model_service_account(model.name)),
                    "role": "roles/storage.objectViewer",
                },
                pulumi.ResourceOptions(parent=self, depends_on=[bucket]),
            )

        self.bucket = bucket.name
        self.register_outputs({"bucket": self.bucket})

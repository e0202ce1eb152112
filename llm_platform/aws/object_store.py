"""Model weights close to the GPUs: one S3 bucket per stack (KMS-encrypted, versioned, private, protected
in production) reached through the VPC's S3 gateway endpoint, and per model an IRSA role that can read
only that model's weights."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.aws import kinds
from llm_platform.aws.account import AwsAccount
from llm_platform.aws.iam.documents import policy_json
from llm_platform.aws.irsa import irsa_role
from llm_platform.config import ModelConfig
from llm_platform.contract import (
    INCOMPLETE_UPLOAD_DAYS,
    MODELS_PREFIX,
    NONCURRENT_WEIGHTS_DAYS,
    SERVING_NAMESPACE,
    S3Location,
    model_role_name,
    model_service_account,
    weights_bucket_name,
    weights_location,
)


@dataclass(frozen=True)
class ModelStoreArgs:
    cluster_name: str
    account: AwsAccount
    models: list[ModelConfig]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    protect: bool
    tags: dict[str, str]


def read_policy(bucket: str, prefix: str, key_arn: str, partition: str) -> str:
    return policy_json(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}/*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:{partition}:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
        },
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
    )


class ModelStore(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:model_store:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = args.account.partition
        bucket_name = weights_bucket_name(args.cluster_name, args.account.account_id)

        key = kinds.KMS_KEY(
            f"{name}-key",
            {"deletionWindowInDays": 30, "description": f"{args.cluster_name} model weights", "enableKeyRotation": True, "tags": args.tags},
            child,
        )
        bucket = kinds.S3_BUCKET(
            f"{name}-bucket",
            {"bucket": bucket_name, "tags": args.tags},
            pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        kinds.S3_PUBLIC_ACCESS_BLOCK(
            f"{name}-public-access",
            {"blockPublicAcls": True, "blockPublicPolicy": True, "bucket": bucket.id, "ignorePublicAcls": True, "restrictPublicBuckets": True},
            child,
        )
        kinds.S3_OWNERSHIP_CONTROLS(f"{name}-ownership", {"bucket": bucket.id, "rule": {"objectOwnership": "BucketOwnerEnforced"}}, child)
        kinds.S3_ENCRYPTION(
            f"{name}-encryption",
            {
                "bucket": bucket.id,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"kmsMasterKeyId": key.arn, "sseAlgorithm": "aws:kms"},
                        # One KMS call per object rather than per request: model files are read in many ranges.
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            child,
        )
        versioning = kinds.S3_VERSIONING(f"{name}-versioning", {"bucket": bucket.id, "versioningConfiguration": {"status": "Enabled"}}, child)
        kinds.S3_LIFECYCLE(
            f"{name}-lifecycle",
            {
                "bucket": bucket.id,
                "rules": [
                    {
                        "abortIncompleteMultipartUpload": {"daysAfterInitiation": INCOMPLETE_UPLOAD_DAYS},
                        "filter": {"prefix": f"{MODELS_PREFIX}/"},
                        "id": "expire-old-weights",
                        "noncurrentVersionExpiration": {"noncurrentDays": NONCURRENT_WEIGHTS_DAYS},
                        "status": "Enabled",
                    }
                ],
            },
            pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        kinds.S3_BUCKET_POLICY(
            f"{name}-tls-only",
            {
                "bucket": bucket.id,
                "policy": bucket.arn.apply(
                    lambda arn: policy_json(
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [arn, f"{arn}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    )
                ),
            },
            child,
        )

        self.role_arns = {}
        for model in args.models:
            role = irsa_role(
                f"{name}-{model.name}",
                role_name=model_role_name(args.cluster_name, model.name),
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=args.oidc_issuer,
                namespace=SERVING_NAMESPACE,
                service_account=model_service_account(model.name),
                tags=args.tags,
                opts=child,
            )
            location = weights_location(model.weights_name, model.source, bucket_name, S3Location.SCHEME)
            kinds.ROLE_POLICY(
                f"{name}-{model.name}-read",
                {"policy": key.arn.apply(lambda key_arn, where=location: read_policy(where.bucket, where.prefix, key_arn, partition)), "role": role.name},
                child,
            )
            self.role_arns[model.name] = role.arn

        self.bucket = bucket.bucket
        self.register_outputs({"bucket": self.bucket, "role_arns": self.role_arns})

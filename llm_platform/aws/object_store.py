"""Model weights close to the GPUs: one S3 bucket per stack (KMS-encrypted, versioned, private, protected
in production) reached through the VPC's S3 gateway endpoint, and per model an IRSA role that can read
only that model's weights."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from llm_platform.aws.iam.documents import policy_json
from llm_platform.aws.irsa import irsa_trust_policy
from llm_platform.config import ModelConfig
from llm_platform.contract import (
    INCOMPLETE_UPLOAD_DAYS,
    MODELS_PREFIX,
    NONCURRENT_WEIGHTS_DAYS,
    SERVING_NAMESPACE,
    S3Location,
    model_service_account,
    weights_bucket_name,
    weights_location,
)


@dataclass(frozen=True)
class ModelStoreArgs:
    cluster_name: str
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
        invoke = pulumi.InvokeOptions(parent=self)
        account_id = aws.get_caller_identity(opts=invoke).account_id
        partition = aws.get_partition(opts=invoke).partition

        key = aws.kms.Key(
            f"{name}-key", description=f"{args.cluster_name} model weights", enable_key_rotation=True, deletion_window_in_days=30, tags=args.tags, opts=child
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=weights_bucket_name(args.cluster_name, account_id),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id, rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    # One KMS call per object rather than per request: model files are read in many ranges.
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=child
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-old-weights",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{MODELS_PREFIX}/"),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=NONCURRENT_WEIGHTS_DAYS),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=INCOMPLETE_UPLOAD_DAYS),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(
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
            opts=child,
        )

        self.role_arns = {}
        for model in args.models:
            role = aws.iam.Role(
                f"{name}-{model.name}",
                name=f"{args.cluster_name}-model-{model.name}"[:64],
                assume_role_policy=irsa_trust_policy(self, args.oidc_provider_arn, args.oidc_issuer, SERVING_NAMESPACE, model_service_account(model.name)),
                tags=args.tags,
                opts=child,
            )
            location = weights_location(model.name, model.source, weights_bucket_name(args.cluster_name, account_id), S3Location.SCHEME)
            aws.iam.RolePolicy(
                f"{name}-{model.name}-read",
                role=role.name,
                policy=key.arn.apply(lambda key_arn, where=location: read_policy(where.bucket, where.prefix, key_arn, partition)),
                opts=child,
            )
            self.role_arns[model.name] = role.arn

        self.bucket = bucket.bucket
        self.register_outputs({"bucket": self.bucket, "role_arns": self.role_arns})

"""Keys, buckets and the other resource policies: nothing granted to the public, keys rotated, buckets
reached over TLS only."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy import iam
from llm_platform_policy.core import Config, Resource, is_true
from llm_platform_policy.guardrails import bucket_companions

KMS_KEY = "aws:kms/key:Key"
# Resource types whose `policy` is a resource policy (who, outside the account's IAM, may act on it).
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
RESOURCE_POLICY_TYPES = (
    KMS_KEY,
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:kms/keyPolicy:KeyPolicy",
    S3_BUCKET_POLICY,
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy",
)
# Resources that take a canned `acl` (a bucket's own, deprecated in pulumi-aws 6, or the ACL resources).
BUCKET_ACL_TYPES = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
# Canned ACLs that grant to everyone or to every AWS account (S3 User Guide, "Canned ACL").
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
# A symmetric key is the only kind KMS rotates (KMS Developer Guide, "Rotating AWS KMS keys").
SYMMETRIC = "SYMMETRIC_DEFAULT"


def _public_grants(raw: Any) -> Iterator[str]:
    doc = iam.document(raw)
    if raw and doc is None:
        yield "the policy is not a JSON object; it cannot be reviewed"
        return
    for statement in iam.statements(doc):
        if not iam.allows(statement):
            continue
        where = f"statement {statement['Sid']!r}" if statement.get("Sid") else "an Allow statement"
        if "NotPrincipal" in statement:
            yield f"{where} allows every principal but some (NotPrincipal)"
        elif iam.public_principal(statement.get("Principal")) and not iam.restricted(statement):
            yield f"{where} allows {iam.as_list(statement.get('Action'))} to any principal without a condition confining it to an account, organisation or source ({', '.join(iam.RESTRICTING_KEYS)})"


def resource_policies_not_public(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type in RESOURCE_POLICY_TYPES:
        yield from _public_grants(props.get("policy"))
    if resource_type in BUCKET_ACL_TYPES:
        if str(props.get("acl") or "").strip().lower() in PUBLIC_ACLS:
            yield f"the bucket ACL {props['acl']!r} grants access to everyone"
        grants = (props.get("accessControlPolicy") or {}).get("grants") or []
        for grant in grants:
            uri = (grant.get("grantee") or {}).get("uri")
            if str(uri or "").strip() in PUBLIC_GRANTEES:
                yield f"the bucket ACL grants {grant.get('permission')} to {uri}"


def kms_key_rotation(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type != KMS_KEY:
        return
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or SYMMETRIC
    if str(spec).strip().upper() == SYMMETRIC and not is_true(props.get("enableKeyRotation")):
        yield "the KMS key does not rotate its key material (enableKeyRotation: true)"


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    if str(statement.get("Effect", "")).lower() != "deny" or not iam.public_principal(statement.get("Principal")):
        return False
    if not any(str(a).lower() in ("s3:*", "*") for a in iam.as_list(statement.get("Action"))):
        return False
    # The bucket and its objects both (a deny on the bucket's ARN alone leaves every object readable over
    # plain HTTP), and no condition but the transport's (another one could keep the deny from ever applying).
    arns = [str(arn) for arn in iam.as_list(statement.get("Resource"))]
    if not (any(arn == "*" or "/" not in arn.partition(":::")[2] for arn in arns) and any(arn == "*" or arn.endswith("/*") for arn in arns)):
        return False
    conditions = iam.conditions(statement)
    if len(conditions) != 1 or sum(len(block) for block in conditions.values()) != 1:
        return False
    for operator, block in conditions.items():
        if operator in ("bool", "boolifexists") and [v.lower() for v in block.get("aws:securetransport", [])] == ["false"]:
            return True
    return False


def s3_tls_only(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    for bucket, own in bucket_companions(resources, S3_BUCKET_POLICY):
        if not any(_denies_insecure_transport(s) for p in own for s in iam.statements(iam.document(p.props.get("policy")))):
            yield bucket.urn, f"S3 bucket {bucket.name} has no bucket policy statement denying s3:* to everyone when aws:SecureTransport is false"

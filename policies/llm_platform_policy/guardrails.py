"""Security guardrails: each a check over one resource's type and props (or, where a rule relates two
resources, over the stack)."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy import kube
from llm_platform_policy.core import Config, Resource, allow_list_property, allow_listed, is_false, is_true

# S3 buckets by either resource type pulumi-aws declares them with (BucketV2 is the newer one).
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
PUBLIC_ACCESS_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
REQUIRED_TAGS = ["environment", "project", "managed-by"]
# AWS resource types of this platform that take tags. A taggable type missing here would escape the
# tag rule, so a test checks the list against every AWS type the stacks declare.
TAGGABLE_TYPES = frozenset(
    {
        "aws:acm/certificate:Certificate",
        "aws:budgets/budget:Budget",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/addon:Addon",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
        "eks:index:Cluster",
    }
)
ALLOW_LIST_PROPERTY = allow_list_property("`<namespace>/<workload name>` of a system agent that needs the privilege", kube.WORKLOAD_PATTERN)
TAG_PROPERTY = {"requiredTags": {"type": "array", "items": {"type": "string"}, "default": REQUIRED_TAGS, "description": "Tag keys every taggable AWS resource must carry."}}


def imdsv2_required(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type == kube.EC2_NODE_CLASS:
        # The EC2NodeClass CRD defaults httpTokens to "required", so only an explicit opt-out is a violation.
        tokens = kube.dig(props, "spec", "metadataOptions", "httpTokens") or "required"
    elif resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        tokens = kube.dig(props, "metadataOptions", "httpTokens") or "optional"
    else:
        return
    if str(tokens).strip().lower() != "required":
        yield f"instance metadata allows IMDSv1 (httpTokens: {tokens}); nodes must require IMDSv2 tokens"


def encrypted_at_rest(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type == kube.EC2_NODE_CLASS:
        for mapping in kube.dig(props, "spec", "blockDeviceMappings") or []:
            if not is_true(kube.dig(mapping, "ebs", "encrypted")):
                yield f"EBS volume {mapping.get('deviceName')} of the node class is not encrypted"
    elif resource_type == "kubernetes:storage.k8s.io/v1:StorageClass" and props.get("provisioner") == "ebs.csi.aws.com":
        if (props.get("parameters") or {}).get("encrypted") != "true":
            yield "EBS StorageClass does not set parameters.encrypted: \"true\""
    elif resource_type == "aws:ec2/volume:Volume" and not is_true(props.get("encrypted")):
        yield "EBS volume is not encrypted"
    elif resource_type == "eks:index:Cluster" and not props.get("encryptionConfigKeyArn"):
        yield "Kubernetes Secrets are not envelope-encrypted with a KMS key (encryptionConfigKeyArn)"
    elif resource_type == "aws:eks/cluster:Cluster" and not props.get("encryptionConfig"):
        yield "Kubernetes Secrets are not envelope-encrypted with a KMS key (encryptionConfig)"


def bucket_companions(resources: list[Resource], companion_type: str) -> Iterator[tuple[Resource, list[Resource]]]:
    companions = [r for r in resources if r.type == companion_type]
    for bucket in (r for r in resources if r.type in S3_BUCKETS):
        yield bucket, [c for c in companions if bucket.urn in c.dependencies]


def s3_encrypted(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    for bucket, configs in bucket_companions(resources, S3_ENCRYPTION):
        algorithms = [kube.dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") for c in configs for rule in c.props.get("rules") or []]
        if not any(algorithm in ("aws:kms", "aws:kms:dsse") for algorithm in algorithms):
            yield bucket.urn, f"S3 bucket {bucket.name} has no default KMS encryption (found: {algorithms or 'none'})"


def s3_public_access_blocked(resources: list[Resource], config: Config) -> Iterator[tuple[str, str]]:
    for bucket, blocks in bucket_companions(resources, S3_PUBLIC_ACCESS_BLOCK):
        if not any(all(is_true(block.props.get(flag)) for flag in PUBLIC_ACCESS_BLOCK_FLAGS) for block in blocks):
            yield bucket.urn, f"S3 bucket {bucket.name} has no public access block with all of {', '.join(PUBLIC_ACCESS_BLOCK_FLAGS)}"


def no_privilege_escalation(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    spec = kube.pod_spec(resource_type, props)
    if spec is None or allow_listed(kube.workload_id(props), config):
        return
    for container in kube.containers(spec):
        context = container.get("securityContext") or {}
        if context.get("privileged") and not is_false(context.get("privileged")):
            yield f"container {container.get('name')} is privileged"
        if not is_false(context.get("allowPrivilegeEscalation")):
            yield f"container {container.get('name')} does not set allowPrivilegeEscalation: false"


def images_pinned(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type == kube.HELM_RELEASE and not props.get("version"):
        yield f"Helm release of chart {props.get('chart')} has no pinned chart version"
    spec = kube.pod_spec(resource_type, props)
    for container in kube.containers(spec or {}):
        if not kube.image_pinned(container.get("image")):
            yield f"container {container.get('name')} uses image {container.get('image')!r} without a pinned tag or digest"


def _wants_gpu_nodes(spec: Mapping[str, Any]) -> bool:
    tolerations = spec.get("tolerations") or []
    return any(t.get("key") == kube.GPU_RESOURCE for t in tolerations) or any(
        kube.GPU_RESOURCE in ((c.get("resources") or {}).get("requests") or {}) for c in kube.containers(spec)
    )


def gpu_limits_set(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    spec = kube.pod_spec(resource_type, props)
    if spec is None or not _wants_gpu_nodes(spec) or allow_listed(kube.workload_id(props), config):
        return
    if not any(kube.GPU_RESOURCE in ((c.get("resources") or {}).get("limits") or {}) for c in spec.get("containers") or []):
        yield f"pods of {kube.workload_id(props)} run on GPU nodes but no container sets a {kube.GPU_RESOURCE} limit"


def required_tags(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type not in TAGGABLE_TYPES:
        return
    missing = [key for key in config["requiredTags"] if key not in (props.get("tags") or {})]
    if missing:
        yield f"missing required tags {missing}"


def ami_pinned(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type != kube.EC2_NODE_CLASS:
        return
    for term in kube.dig(props, "spec", "amiSelectorTerms") or []:
        if str(term.get("alias", "")).endswith("@latest"):
            yield f"AMI alias {term['alias']} follows the newest release: nodes change image without a review"

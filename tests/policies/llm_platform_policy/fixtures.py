"""A small stack that passes every policy, built by hand so each test can break exactly one thing."""

from __future__ import annotations

import copy

from llm_platform_policy.core import Resource

TAGS = {"environment": "staging", "project": "llm-platform", "managed-by": "pulumi"}
BUCKET_URN = "urn:pulumi:t::p::aws:s3/bucket:Bucket::weights"


def _urn(typ: str, name: str) -> str:
    return f"urn:pulumi:t::p::{typ}::{name}"


def resource(typ: str, name: str, props: dict, dependencies: tuple[str, ...] = ()) -> Resource:
    return Resource(typ, _urn(typ, name), name, props, dependencies)


def node_pool(name: str, types: list[str], capacity: list[str], limits: dict, gpu: bool) -> dict:
    template = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
        "requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity},
        ],
    }
    if gpu:
        template["taints"] = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name}, "spec": {"template": {"spec": template}, "limits": limits}}


def node_class(name: str, gib: int) -> dict:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": name},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@v20260903"}],
            "metadataOptions": {"httpTokens": "required"},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": f"{gib}Gi", "encrypted": True}}],
        },
    }


def model_server() -> dict:
    container = {
        "name": "vllm",
        "image": "vllm/vllm-openai:v0.31.0@sha256:" + "0" * 64,
        "resources": {"requests": {"cpu": "3", "memory": "12Gi", "nvidia.com/gpu": "1"}, "limits": {"memory": "12Gi", "nvidia.com/gpu": "1"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "mistral", "namespace": "serving"},
        "spec": {"template": {"spec": {"containers": [container], "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}}},
    }


def compliant_stack() -> list[Resource]:
    return [
        resource("pulumi:providers:aws", "aws", {"region": "us-west-2"}),
        resource("eks:index:Cluster", "c", {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"], "encryptionConfigKeyArn": "arn:aws:kms:k", "fargate": True, "tags": TAGS}),
        resource("aws:ec2/natGateway:NatGateway", "nat", {"tags": TAGS}),
        resource("aws:kms/key:Key", "key", {"tags": TAGS}),
        resource("aws:budgets/budget:Budget", "budget", {"limitAmount": "3000.00", "tags": TAGS}),
        resource("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "system-class", node_class("system", 50)),
        resource("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "gpu-class", node_class("gpu-l4", 200)),
        resource("kubernetes:karpenter.sh/v1:NodePool", "system", node_pool("system", ["m7i.large", "m7i.xlarge"], ["on-demand"], {"cpu": "8", "memory": "32Gi"}, gpu=False)),
        resource(
            "kubernetes:karpenter.sh/v1:NodePool",
            "gpu-l4",
            node_pool("gpu-l4", ["g6.xlarge", "g6.2xlarge"], ["spot", "on-demand"], {"nvidia.com/gpu": "2", "cpu": "16", "memory": "64Gi"}, gpu=True),
        ),
        resource("kubernetes:storage.k8s.io/v1:StorageClass", "gp3", {"provisioner": "ebs.csi.aws.com", "parameters": {"encrypted": "true"}}),
        Resource("aws:s3/bucket:Bucket", BUCKET_URN, "weights", {"tags": TAGS}),
        resource(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "weights-sse",
            {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
            (BUCKET_URN,),
        ),
        resource(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "weights-pab",
            {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
            (BUCKET_URN,),
        ),
        resource("kubernetes:apps/v1:Deployment", "mistral", model_server()),
        resource("kubernetes:helm.sh/v3:Release", "karpenter", {"chart": "oci://public.ecr.aws/karpenter/karpenter", "version": "1.14.1", "values": {"replicas": 1, "controller": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}}}),
    ]


LABELS = {"environment": "staging", "project": "llm-platform", "managed-by": "pulumi"}


def gke_node_pool(machine_type: str, total_max: int, spot: bool, accelerators: list[dict] | None = None, disk_gib: int = 100) -> dict:
    node_config = {"machineType": machine_type, "spot": spot, "diskSizeGb": disk_gib, "diskType": "pd-balanced"}
    if accelerators:
        node_config["guestAccelerators"] = accelerators
        node_config["taints"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    return {"autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": total_max}, "nodeConfig": node_config}


def compliant_gke_stack() -> list[Resource]:
    """A Google Cloud stack: regional GKE cluster, system pool of up to 3 e2-standard-4, an L4 spot pool of
    up to 2 g2-standard-8, Cloud NAT on one address, two KMS keys, a Cloud Billing budget of $3,000."""
    return [
        resource("pulumi:providers:gcp", "gcp", {"project": "p-test-1", "region": "us-central1"}),
        resource("gcp:container/cluster:Cluster", "cluster", {"location": "us-central1", "resourceLabels": LABELS}),
        resource("gcp:container/nodePool:NodePool", "system", {"name": "system", **gke_node_pool("e2-standard-4", 3, spot=False)}),
        resource(
            "gcp:container/nodePool:NodePool",
            "gpu-l4",
            {"name": "gpu-l4", **gke_node_pool("g2-standard-8", 2, spot=True, accelerators=[{"type": "nvidia-l4", "count": 1}], disk_gib=200)},
        ),
        resource("gcp:compute/routerNat:RouterNat", "nat", {"natIpAllocateOption": "MANUAL_ONLY"}),
        resource("gcp:compute/address:Address", "nat-0", {"addressType": "EXTERNAL"}),
        resource("gcp:kms/cryptoKey:CryptoKey", "secrets", {"rotationPeriod": "7776000s"}),
        resource("gcp:kms/cryptoKey:CryptoKey", "weights", {"rotationPeriod": "7776000s"}),
        resource("gcp:billing/budget:Budget", "budget", {"amount": {"specifiedAmount": {"currencyCode": "USD", "units": "3000", "nanos": 0}}}),
        resource("kubernetes:apps/v1:Deployment", "mistral", model_server()),
    ]


def mutated(name: str, change, stack_of=compliant_stack) -> list[Resource]:
    """The compliant stack (`stack_of()`) with `change(props)` applied to the resource called `name`."""
    stack = []
    for r in stack_of():
        if r.name == name:
            props = copy.deepcopy(dict(r.props))
            change(props)
            r = Resource(r.type, r.urn, r.name, props, r.dependencies)
        stack.append(r)
    return stack


def without(name: str) -> list[Resource]:
    return [r for r in compliant_stack() if r.name != name]

"""A small stack that passes every policy, built by hand so each test can break exactly one thing."""

from __future__ import annotations

import copy
import dataclasses
import json

from llm_platform_policy.core import Resource

TAGS = {"environment": "staging", "project": "llm-platform", "managed-by": "pulumi"}
BUCKET_URN = "urn:pulumi:t::p::aws:s3/bucket:Bucket::weights"
TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::weights", "arn:aws:s3:::weights/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


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
        resource("eks:index:Cluster", "c", {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"], "encryptionConfigKeyArn": "arn:aws:kms:k", "fargate": True, "enabledClusterLogTypes": ["api", "audit", "authenticator"], "tags": TAGS}),
        resource("aws:ec2/natGateway:NatGateway", "nat", {"tags": TAGS}),
        resource("aws:kms/key:Key", "key", {"enableKeyRotation": True, "tags": TAGS}),
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
        resource("aws:s3/bucketPolicy:BucketPolicy", "weights-tls-only", {"policy": json.dumps(TLS_ONLY)}, (BUCKET_URN,)),
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


def mutated(name: str, change, stack_of=compliant_stack, typ: str | None = None) -> list[Resource]:
    """`stack_of()` with `change(props)` applied to the resource called `name` (of type `typ`, when given)."""
    stack = []
    for r in stack_of():
        if r.name == name and (typ is None or r.type == typ):
            props = copy.deepcopy(dict(r.props))
            change(props)
            r = dataclasses.replace(r, props=props)
        stack.append(r)
    return stack


def without(name: str, stack_of=compliant_stack) -> list[Resource]:
    return [r for r in stack_of() if r.name != name]


PRODUCTION_TAGS = {**TAGS, "environment": "production"}
OIDC_HOST = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"
OIDC_PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{OIDC_HOST}"


def irsa_trust(subject: str = "system:serviceaccount:serving:mistral") -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": OIDC_PROVIDER},
                "Condition": {"StringEquals": {f"{OIDC_HOST}:sub": subject, f"{OIDC_HOST}:aud": "sts.amazonaws.com"}},
            }
        ],
    }


def grant(*actions: str, resource: str = "arn:aws:s3:::weights/*") -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": list(actions), "Resource": resource}]}


KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
        # The pattern AWS-managed key policies use: any principal, but only through S3 and from this account.
        {
            "Sid": "ViaS3",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012", "kms:ViaService": "s3.us-west-2.amazonaws.com"}},
        },
    ],
}


def security_group(name: str, ingress: list[dict]) -> Resource:
    return resource("aws:ec2/securityGroup:SecurityGroup", name, {"ingress": ingress, "tags": PRODUCTION_TAGS})


def compliant_security_stack() -> list[Resource]:
    """A production AWS stack (two zones) that keeps every security and production rule, plus a GKE
    cluster for the control-plane rule: each test breaks one thing in it."""
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": PRODUCTION_TAGS})
    subnets = [
        resource("aws:ec2/subnet:Subnet", f"{kind}-{zone}", {"availabilityZone": f"us-west-2{zone}", "tags": PRODUCTION_TAGS}, (vpc.urn,))
        for kind in ("private", "public")
        for zone in ("a", "b")
    ]
    nats = [resource("aws:ec2/natGateway:NatGateway", f"nat-{zone}", {"connectivityType": "public", "tags": PRODUCTION_TAGS}, (_urn("aws:ec2/subnet:Subnet", f"public-{zone}"),)) for zone in ("a", "b")]
    group = resource("aws:cloudwatch/logGroup:LogGroup", "flow-logs", {"name": "/vpc/flow-logs", "retentionInDays": 365, "tags": PRODUCTION_TAGS})
    scaled_server = copy.deepcopy(model_server())
    return [
        vpc,
        *subnets,
        *nats,
        group,
        resource("aws:ec2/flowLog:FlowLog", "flow-log", {"trafficType": "REJECT", "logDestinationType": "cloud-watch-logs", "tags": PRODUCTION_TAGS}, (vpc.urn, group.urn)),
        security_group("nodes", [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/16"]}, {"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]),
        resource("aws:ec2/securityGroupRule:SecurityGroupRule", "https-from-office", {"type": "ingress", "securityGroupId": "sg-1", "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["203.0.113.0/24"]}),
        resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "api-from-partner", {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 8443, "toPort": 8443, "cidrIpv4": "198.51.100.0/24"}),
        resource(
            "eks:index:Cluster",
            "cluster",
            {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"], "enabledClusterLogTypes": ["api", "audit", "authenticator"], "tags": PRODUCTION_TAGS},
        ),
        resource(
            "aws:eks/cluster:Cluster",
            "eks",
            {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]}, "enabledClusterLogTypes": ["api", "audit", "authenticator", "scheduler"]},
        ),
        resource(
            "gcp:container/cluster:Cluster",
            "gke",
            {"privateClusterConfig": {"enablePrivateNodes": True}, "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "office"}]}},
        ),
        resource(
            "kubernetes:core/v1:Service",
            "gateway",
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gateway", "namespace": "serving"}, "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["198.51.100.0/24"]}},
        ),
        # The inference gateway's proxies: agentgateway creates their LoadBalancer Service from spec.service.
        resource(
            "kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters",
            "edge",
            {
                "apiVersion": "agentgateway.dev/v1alpha1",
                "kind": "AgentgatewayParameters",
                "metadata": {"name": "edge", "namespace": "gateway"},
                "spec": {"service": {"metadata": {"annotations": {}}, "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24"]}}},
            },
        ),
        resource(
            "kubernetes:networking.k8s.io/v1:Ingress",
            "models",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": "models",
                    "namespace": "serving",
                    "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing", "alb.ingress.kubernetes.io/inbound-cidrs": "198.51.100.0/24, 2001:db8::/32"},
                },
                "spec": {"ingressClassName": "alb"},
            },
        ),
        resource("aws:iam/role:Role", "irsa", {"assumeRolePolicy": json.dumps(irsa_trust()), "tags": PRODUCTION_TAGS}),
        resource(
            "aws:iam/role:Role",
            "node",
            {
                "assumeRolePolicy": json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
                "inlinePolicies": [{"name": "describe", "policy": json.dumps(grant("ec2:DescribeInstances", resource="*"))}],
                "tags": PRODUCTION_TAGS,
            },
        ),
        resource("aws:iam/policy:Policy", "read-weights", {"name": "read-weights", "policy": json.dumps(grant("s3:GetObject", "s3:GetObjectVersion")), "tags": PRODUCTION_TAGS}),
        resource("aws:iam/rolePolicy:RolePolicy", "publish", {"name": "publish", "role": "irsa", "policy": grant("sns:Publish", resource="arn:aws:sns:us-west-2:123456789012:alerts")}),
        resource("aws:kms/key:Key", "key", {"enableKeyRotation": True, "policy": json.dumps(KEY_POLICY), "tags": PRODUCTION_TAGS}),
        resource("aws:kms/key:Key", "signing", {"keySpec": "ECC_NIST_P256", "tags": PRODUCTION_TAGS}),  # asymmetric: KMS cannot rotate it
        Resource("aws:s3/bucket:Bucket", BUCKET_URN, "weights", {"tags": PRODUCTION_TAGS}, (), protect=True),
        resource("aws:s3/bucketPolicy:BucketPolicy", "weights-tls-only", {"policy": json.dumps(TLS_ONLY)}, (BUCKET_URN,)),
        resource(
            "aws:sqs/queuePolicy:QueuePolicy",
            "interruptions",
            {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com"]}, "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-west-2:1:q"}]})},
        ),
        resource("aws:ec2/launchTemplate:LaunchTemplate", "nodes-lt", {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}, "tags": PRODUCTION_TAGS}),
        resource("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "gpu-class", {**node_class("gpu", 200), "spec": {**node_class("gpu", 200)["spec"], "tags": PRODUCTION_TAGS}}),
        resource("kubernetes:karpenter.sh/v1:NodePool", "system", node_pool("system", ["m7i.large"], ["on-demand"], {"cpu": "8"}, gpu=False)),
        resource("kubernetes:apps/v1:Deployment", "mistral", scaled_server),
        resource(
            "kubernetes:keda.sh/v1alpha1:ScaledObject",
            "mistral-scaler",
            {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "mistral", "namespace": "serving"}, "spec": {"scaleTargetRef": {"name": "mistral"}, "minReplicaCount": 2}},
        ),
        resource(
            "kubernetes:apps/v1:Deployment",
            "router",
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "router", "namespace": "serving"}, "spec": {"replicas": 2, "template": {"spec": {"containers": []}}}},
        ),
        resource("kubernetes:helm.sh/v3:Release", "karpenter", {"chart": "oci://public.ecr.aws/karpenter/karpenter", "version": "1.14.1", "values": {}}),
    ]

"""Karpenter node classes and pools: a small system pool, and one bounded, tainted pool per GPU pool in
the stack config. The manifests are built by plain functions so that tests can check them directly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi

from llm_platform.aws.karpenter import DISCOVERY_TAG
from llm_platform.config import AwsGpuPool, DisruptionWindow, SystemPoolConfig
from llm_platform.contract import GPU_ROLE, GPU_TAINT_KEY, NODE_ROLE_LABEL, POOL_GROUP_LABEL, POOL_LABEL, SYSTEM_POOL, SYSTEM_ROLE, gpu_node_pool_name
from llm_platform.kubernetes import KubernetesObject
from llm_platform.platform.model_server import CapacityPlacement
from llm_platform_policy import catalog
from llm_platform_policy.kube import CAPACITY_TYPE_LABEL, GPU_RESOURCE, INSTANCE_TYPE_LABEL

GPU_TAINT = {"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}
# Longer than any pod's termination grace period (model servers drain in-flight requests for up to
# 120 s), so Karpenter never cuts a drain short; bounded so a stuck pod cannot pin a node forever.
TERMINATION_GRACE_PERIOD = "1h"
# AL2023's root device.
ROOT_DEVICE = "/dev/xvda"


@dataclass(frozen=True)
class NodePoolsArgs:
    cluster_name: str
    node_role_name: pulumi.Input[str]
    ami_alias: str
    system_pool: SystemPoolConfig
    gpu_pools: list[AwsGpuPool]
    gpu_quiet_hours: DisruptionWindow | None
    tags: dict[str, str]


def ec2_node_class(
    name: str, *, cluster_name: str, node_role_name: pulumi.Input[str], ami_alias: str, root_volume_gib: int, tags: dict[str, str], instance_store: bool = False
) -> dict:
    """With `instance_store`, kubelet's ephemeral storage (emptyDirs: the weights cache) and containerd's
    images live on the instance's NVMe instance store as RAID0 (Karpenter `instanceStorePolicy`) rather
    than on the gp3 root volume, whose 125 MiB/s baseline made writing the weights and unpacking the
    vLLM image the slowest stages of a GPU node's first start (platform/startup_budget.py). Instance
    types without instance store ignore it."""
    discovery = [{"tags": {DISCOVERY_TAG: cluster_name}}]
    storage = {"instanceStorePolicy": "RAID0"} if instance_store else {}
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": name},
        "spec": {
            "amiSelectorTerms": [{"alias": ami_alias}],
            "role": node_role_name,
            "subnetSelectorTerms": discovery,
            "securityGroupSelectorTerms": discovery,
            # IMDSv2 only, and a hop limit of 1 keeps pods (which use IRSA) away from the node's credentials.
            "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"},
            "blockDeviceMappings": [
                {
                    "deviceName": ROOT_DEVICE,
                    "ebs": {"volumeSize": f"{root_volume_gib}Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True},
                }
            ],
            **storage,
            "tags": {**tags, "Name": f"{cluster_name}-{name}"},
        },
    }


def _requirements(instance_types: list[str], capacity_types: list[str]) -> list[dict]:
    return [
        {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": list(instance_types)},
        {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": list(capacity_types)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]


def _node_class_ref(name: str) -> dict:
    return {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}


def system_node_pool(pool: SystemPoolConfig) -> dict:
    sizes = [catalog.aws_instance_type(name) for name in pool.instance_types]
    memory_per_cpu = max(size.memory_gib / size.vcpus for size in sizes)
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": SYSTEM_POOL},
        "spec": {
            "template": {
                "metadata": {"labels": {NODE_ROLE_LABEL: SYSTEM_ROLE}},
                "spec": {
                    "nodeClassRef": _node_class_ref(SYSTEM_POOL),
                    "requirements": _requirements(pool.instance_types, pool.capacity_types),
                    "expireAfter": "720h",
                    "terminationGracePeriod": TERMINATION_GRACE_PERIOD,
                },
            },
            "limits": {"cpu": pool.max_cpu, "memory": f"{math.ceil(pool.max_cpu * memory_per_cpu)}Gi"},
            # Add-ons tolerate being moved, so the system pool bin-packs.
            "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5m", "budgets": [{"nodes": "10%"}]},
            "weight": 10,
        },
    }


def gpu_limits(pool: AwsGpuPool) -> dict[str, int | str]:
    """The pool's limits: its GPU bound, and the CPU and memory that many GPUs bring with them on the
    allowed instance type with the most CPU and memory per GPU. Counts are numbers (the NodePool CRD takes
    an integer or a quantity string), so the policy rules read them as written."""
    sizes = pool.sizes()
    cpu_per_gpu = max(size.vcpus / size.gpus for size in sizes)
    memory_per_gpu = max(size.memory_gib / size.gpus for size in sizes)
    return {
        GPU_RESOURCE: pool.max_gpus,
        "cpu": math.ceil(pool.max_gpus * cpu_per_gpu),
        "memory": f"{math.ceil(pool.max_gpus * memory_per_gpu)}Gi",
    }


def gpu_node_pool(pool: AwsGpuPool, quiet_hours: DisruptionWindow | None) -> dict:
    # At most one GPU node is voluntarily disrupted at a time: each one carries a whole model replica.
    budgets: list[dict] = [{"nodes": "1"}]
    if quiet_hours is not None:
        budgets.append({"nodes": "0", "schedule": quiet_hours.schedule, "duration": quiet_hours.duration})
    name = gpu_node_pool_name(pool.name)
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {NODE_ROLE_LABEL: GPU_ROLE, POOL_LABEL: pool.name, POOL_GROUP_LABEL: pool.pool_group}},
                "spec": {
                    "nodeClassRef": _node_class_ref(name),
                    "requirements": _requirements(pool.instance_types, pool.capacity_types),
                    "taints": [GPU_TAINT],
                    "expireAfter": pool.expire_after,
                    "terminationGracePeriod": TERMINATION_GRACE_PERIOD,
                },
            },
            "limits": gpu_limits(pool),
            # Only empty GPU nodes are consolidated: moving a running model server costs minutes of
            # weight loading for a small saving.
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": pool.consolidate_after, "budgets": budgets},
            "weight": pool.weight,
        },
    }


class NodePools(pulumi.ComponentResource):
    node_pool_names: list[str]

    def __init__(self, name: str, args: NodePoolsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:node_pools:NodePools", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def node_class(class_name: str, root_volume_gib: int, instance_store: bool = False) -> KubernetesObject:
            manifest = ec2_node_class(
                class_name,
                cluster_name=args.cluster_name,
                node_role_name=args.node_role_name,
                ami_alias=args.ami_alias,
                root_volume_gib=root_volume_gib,
                tags=args.tags,
                instance_store=instance_store,
            )
            return KubernetesObject(f"{name}-{class_name}-class", manifest, child)

        system_class = node_class(SYSTEM_POOL, root_volume_gib=50)
        KubernetesObject(f"{name}-{SYSTEM_POOL}", system_node_pool(args.system_pool), pulumi.ResourceOptions(parent=self, depends_on=[system_class]))
        for pool in args.gpu_pools:
            pool_name = gpu_node_pool_name(pool.name)
            gpu_class = node_class(pool_name, root_volume_gib=pool.root_volume_gib, instance_store=True)
            KubernetesObject(f"{name}-{pool_name}", gpu_node_pool(pool, args.gpu_quiet_hours), pulumi.ResourceOptions(parent=self, depends_on=[gpu_class]))

        self.node_pool_names = [SYSTEM_POOL] + [gpu_node_pool_name(pool.name) for pool in args.gpu_pools]
        self.register_outputs({"node_pool_names": self.node_pool_names})


# Karpenter labels every node it launches with the capacity type it bought.
PLACEMENT = CapacityPlacement(
    on_demand={"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["on-demand"]},
    spot={"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["spot"]},
)

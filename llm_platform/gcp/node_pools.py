"""One GKE node pool per configured GPU pool: the pool's accelerator machine type with GKE-installed
NVIDIA drivers, spot or on-demand, scaling between zero and the nodes its `maxGpus` allows, tainted so
that only GPU workloads land there, and labelled like the AWS pools so the same workloads select it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.config import GkeGpuPool
from llm_platform.contract import GPU_ROLE, GPU_TAINT_KEY, NODE_ROLE_LABEL, POOL_GROUP_LABEL, POOL_LABEL, gpu_node_pool_name
from llm_platform.gcp import kinds
from llm_platform.gcp.cluster import node_config
from llm_platform.platform.model_server import CapacityPlacement
from llm_platform_policy import catalog

# GKE taints GPU nodes with exactly this itself; declaring the same taint keeps the node pool's spec
# honest about it (and the workloads' `Exists` toleration matches either way).
GKE_GPU_TAINT = {"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}


@dataclass(frozen=True)
class GkeGpuNodePoolsArgs:
    cluster_id: pulumi.Input[str]
    region: str
    gpu_pools: list[GkeGpuPool]
    gpu_driver_version: str
    """`DEFAULT` or `LATEST` (GKE's driver installation modes)."""
    service_account: pulumi.Input[str]
    labels: dict[str, str]


def max_nodes(pool: GkeGpuPool) -> int:
    return pool.max_gpus // catalog.gcp_machine_type(pool.machine_type).gpus


def gpu_node_config(pool: GkeGpuPool, *, driver_version: str, service_account: pulumi.Input[str], labels: dict[str, str]) -> dict:
    return node_config(
        machine_type=pool.machine_type,
        disk_size_gib=pool.root_volume_gib,
        spot=pool.spot,
        labels={NODE_ROLE_LABEL: GPU_ROLE, POOL_LABEL: pool.name, POOL_GROUP_LABEL: pool.pool_group},
        resource_labels=labels,
        service_account=service_account,
    ) | {
        "guestAccelerators": [
            {"count": pool.accelerator_count, "gpuDriverInstallationConfig": {"gpuDriverVersion": driver_version}, "type": pool.accelerator_type}
        ],
        "taints": [GKE_GPU_TAINT],
        # Image streaming: the vLLM image (from the Artifact Registry remote repository) starts from the
        # files it reads while the rest arrives in the background (llm_platform/gcp/registry.py).
        "gcfsConfig": {"enabled": True},
    }


class GkeGpuNodePools(pulumi.ComponentResource):
    node_pool_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: GkeGpuNodePoolsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gke_node_pools:GkeGpuNodePools", name, None, opts)
        self.node_pool_names = {}
        for pool in args.gpu_pools:
            node_pool = kinds.NODE_POOL(
                f"{name}-{pool.name}",
                {
                    "autoscaling": {
                        # ANY takes capacity wherever a zone has it, which for spot GPUs also lowers
                        # preemptions; on-demand pools balance over zones.
                        "locationPolicy": "ANY" if pool.spot else "BALANCED",
                        # Zero when nothing asks for GPUs; the total bounds the pool over all its zones.
                        "totalMaxNodeCount": max_nodes(pool),
                        "totalMinNodeCount": 0,
                    },
                    "cluster": args.cluster_id,
                    "location": args.region,
                    "management": {"autoRepair": True, "autoUpgrade": True},
                    "name": gpu_node_pool_name(pool.name),
                    "nodeConfig": gpu_node_config(pool, driver_version=args.gpu_driver_version, service_account=args.service_account, labels=args.labels),
                    "nodeLocations": pool.zones,
                    # A surge node first, so that an upgrade never takes a serving GPU away before its
                    # replacement is up (it needs one node of GPU quota headroom).
                    "upgradeSettings": {"maxSurge": 1, "maxUnavailable": 0},
                },
                pulumi.ResourceOptions(parent=self),
            )
            self.node_pool_names[pool.name] = node_pool.name
        self.register_outputs({"node_pool_names": self.node_pool_names})


# GKE labels the nodes of spot node pools `cloud.google.com/gke-spot: "true"` and leaves the label off
# on-demand nodes (https://cloud.google.com/kubernetes-engine/docs/concepts/spot-vms).
SPOT_LABEL = "cloud.google.com/gke-spot"
PLACEMENT = CapacityPlacement(
    on_demand={"key": SPOT_LABEL, "operator": "DoesNotExist"},
    spot={"key": SPOT_LABEL, "operator": "In", "values": ["true"]},
)

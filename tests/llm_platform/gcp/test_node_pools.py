"""GKE GPU node pools: bounded by maxGpus, GKE-installed drivers, tainted and labelled like the AWS pools."""

import pulumi
import pytest

from llm_platform.config import GkeGpuPool
from llm_platform.gcp.node_pools import GkeGpuNodePools, GkeGpuNodePoolsArgs, gpu_node_config, max_nodes
from tests.llm_platform.gcp.gke import LABELS, REGION, declare_once, on_gcp

NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER_ID = "projects/acme-llm-test/locations/us-central1/clusters/gke-test"
SERVICE_ACCOUNT = "gke-test-nodes@acme-llm-test.iam.gserviceaccount.com"
L4 = GkeGpuPool(name="l4", machine_type="g2-standard-8", accelerator_type="nvidia-l4", accelerator_count=1, capacity_types=["spot"], max_gpus=2)
# Two pools of one group: on-demand A100s in the zones that offer them.
A100 = GkeGpuPool(
    name="a100",
    group="big",
    machine_type="a2-highgpu-2g",
    accelerator_type="nvidia-tesla-a100",
    accelerator_count=2,
    capacity_types=["on-demand"],
    max_gpus=4,
    root_volume_gib=300,
    zones=["us-central1-a", "us-central1-c"],
)


@pytest.fixture(scope="module")
def declared():
    def program():
        pools = GkeGpuNodePools(
            "gke-test-pools",
            GkeGpuNodePoolsArgs(
                cluster_id=CLUSTER_ID, region=REGION, gpu_pools=[L4, A100], gpu_driver_version="DEFAULT", service_account=SERVICE_ACCOUNT, labels=LABELS
            ),
            opts=on_gcp(),
        )
        pulumi.export("nodePools", pools.node_pool_names)

    return declare_once(program)


def test_spot_l4_pool(declared):
    pool = declared.one(NODE_POOL, "gke-test-pools-l4").inputs
    assert pool["name"] == "gpu-l4"
    assert pool["cluster"] == CLUSTER_ID and pool["location"] == REGION
    assert pool["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 2, "locationPolicy": "ANY"}
    assert "nodeLocations" not in pool, "the cluster's zones unless the pool names its own"
    config = pool["nodeConfig"]
    assert config["machineType"] == "g2-standard-8" and config["spot"] is True
    assert config["guestAccelerators"] == [{"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}]
    assert config["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert config["labels"] == {"llm-platform.io/node-role": "gpu", "llm-platform.io/pool": "l4", "llm-platform.io/pool-group": "l4"}
    assert config["diskSizeGb"] == 200 and config["diskType"] == "pd-balanced"
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["serviceAccount"] == SERVICE_ACCOUNT and config["resourceLabels"] == LABELS
    assert pool["upgradeSettings"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_on_demand_multi_gpu_pool_in_its_own_zones(declared):
    pool = declared.one(NODE_POOL, "gke-test-pools-a100").inputs
    assert pool["name"] == "gpu-a100"
    # Four GPUs at two per node: two nodes; on-demand capacity is balanced over the zones.
    assert pool["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 2, "locationPolicy": "BALANCED"}
    assert pool["nodeLocations"] == ["us-central1-a", "us-central1-c"]
    config = pool["nodeConfig"]
    assert config["machineType"] == "a2-highgpu-2g" and config["spot"] is False and config["diskSizeGb"] == 300
    assert config["guestAccelerators"] == [{"type": "nvidia-tesla-a100", "count": 2, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}]
    assert config["labels"] == {"llm-platform.io/node-role": "gpu", "llm-platform.io/pool": "a100", "llm-platform.io/pool-group": "big"}
    assert declared.plan.outputs["nodePools"] == {"l4": "gpu-l4", "a100": "gpu-a100"}


def test_multi_gpu_machines_scale_by_nodes_not_gpus():
    pool = GkeGpuPool(
        name="a100", machine_type="a2-highgpu-4g", accelerator_type="nvidia-tesla-a100", accelerator_count=4, capacity_types=["on-demand"], max_gpus=8
    )
    assert max_nodes(pool) == 2
    config = gpu_node_config(pool, driver_version="LATEST", service_account="sa", labels={})
    assert config["spot"] is False
    assert config["guestAccelerators"][0]["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}


def test_the_workloads_toleration_matches_gke_gpu_taint():
    from llm_platform.contract import GPU_TOLERATION
    from llm_platform.gcp.node_pools import GKE_GPU_TAINT

    assert GPU_TOLERATION["operator"] == "Exists" and GPU_TOLERATION["key"] == GKE_GPU_TAINT["key"]
    assert GPU_TOLERATION["effect"] == "NoSchedule" and GKE_GPU_TAINT["effect"] == "NO_SCHEDULE"

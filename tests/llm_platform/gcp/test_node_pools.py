"""GKE GPU node pools: bounded by maxGpus, GKE-installed drivers, tainted and labelled like the AWS pools."""

from llm_platform.config import GkeGpuPool
from llm_platform.gcp.node_pools import gpu_node_config, max_nodes


def test_staging_l4_pool(stack_plan):
    pool = stack_plan("staging-gcp").one("gcp:container/nodePool:NodePool", "llm-staging-pools-l4").inputs
    assert pool["name"] == "gpu-l4"
    assert pool["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 2, "locationPolicy": "ANY"}
    config = pool["nodeConfig"]
    assert config["machineType"] == "g2-standard-8" and config["spot"] is True
    assert config["guestAccelerators"] == [{"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}]
    assert config["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert config["labels"] == {"llm-platform.io/node-role": "gpu", "llm-platform.io/pool": "l4", "llm-platform.io/pool-group": "l4"}
    assert config["diskSizeGb"] == 200 and config["diskType"] == "pd-balanced"
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


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

from llm_platform_policy import quota
from tests.policies.llm_platform_policy.fixtures import compliant_gke_stack, compliant_stack, mutated

CONFIG = {"maxGpus": 2, "vcpuQuotas": {"L-DB2E81BA": 16, "L-3819A6DF": 16}}


def test_compliant_stack_passes():
    assert list(quota.gpus_within_quota(compliant_stack(), CONFIG)) == []


def test_vcpu_ceilings_count_both_capacity_types():
    # Two g6.2xlarge (8 vCPU each) at most; spot and on-demand pools may each end up holding all of them.
    assert quota.vcpu_ceilings(compliant_stack()) == {"L-DB2E81BA": 16, "L-3819A6DF": 16}


def test_p_instances_use_the_p_quota():
    def p5(props):
        props["spec"]["template"]["spec"]["requirements"][0]["values"] = ["p5.48xlarge"]
        props["spec"]["template"]["spec"]["requirements"][1]["values"] = ["on-demand"]
        props["spec"]["limits"] = {"nvidia.com/gpu": "8"}

    assert quota.vcpu_ceilings(mutated("gpu-l4", p5)) == {"L-417A185B": 192}


def test_more_gpus_than_the_environment_allows():
    [(urn, message)] = quota.gpus_within_quota(compliant_stack(), {**CONFIG, "maxGpus": 1})
    assert urn == ""
    assert message == "GPU node pools can reach 2 GPUs (gpu-l4=2), above the environment's maxGpus 1"


def test_gpu_pool_without_gpu_limit():
    found = list(quota.gpus_within_quota(mutated("gpu-l4", lambda p: p["spec"]["limits"].pop("nvidia.com/gpu")), CONFIG))
    assert any(m == "GPU NodePool gpu-l4 has no nvidia.com/gpu limit: it could launch GPUs without bound" for _, m in found)


def test_vcpu_quota_exceeded():
    [(_, message)] = quota.gpus_within_quota(compliant_stack(), {**CONFIG, "vcpuQuotas": {"L-3819A6DF": 8}})
    assert message == "GPU node pools can launch 16 vCPUs under EC2 quota L-3819A6DF, above the account's quota of 8"


# -- Google Cloud ---------------------------------------------------------------------------------

GKE_CONFIG = {"maxGpus": 2, "gpuQuotas": {"PREEMPTIBLE_NVIDIA_L4_GPUS": 4, "NVIDIA_L4_GPUS": 4}}


def test_compliant_gke_stack_passes():
    assert list(quota.gpus_within_quota(compliant_gke_stack(), GKE_CONFIG)) == []


def test_gke_gpus_count_against_the_spot_or_on_demand_quota_of_their_model():
    assert quota.gpu_quota_ceilings(compliant_gke_stack()) == {"PREEMPTIBLE_NVIDIA_L4_GPUS": 2}
    on_demand = mutated("gpu-l4", lambda p: p["nodeConfig"].update(spot=False), compliant_gke_stack)
    assert quota.gpu_quota_ceilings(on_demand) == {"NVIDIA_L4_GPUS": 2}


def test_gke_multi_gpu_nodes_count_every_gpu():
    def a100(props):
        props["nodeConfig"].update(machineType="a2-highgpu-4g", guestAccelerators=[{"type": "nvidia-tesla-a100", "count": 4}], spot=False)
        props["autoscaling"]["totalMaxNodeCount"] = 2

    assert quota.gpu_quota_ceilings(mutated("gpu-l4", a100, compliant_gke_stack)) == {"NVIDIA_A100_GPUS": 8}


def test_gke_more_gpus_than_the_environment_allows():
    [(urn, message)] = quota.gpus_within_quota(compliant_gke_stack(), {**GKE_CONFIG, "maxGpus": 1})
    assert urn == ""
    assert message == "GPU node pools can reach 2 GPUs (gpu-l4=2), above the environment's maxGpus 1"


def test_gke_regional_gpu_quota_exceeded():
    [(_, message)] = quota.gpus_within_quota(compliant_gke_stack(), {**GKE_CONFIG, "gpuQuotas": {"PREEMPTIBLE_NVIDIA_L4_GPUS": 1}})
    assert message == "GKE GPU node pools can reach 2 GPUs under Compute Engine quota PREEMPTIBLE_NVIDIA_L4_GPUS, above the project's regional quota of 1"


def test_gke_gpu_pool_without_total_maximum():
    unbounded = mutated("gpu-l4", lambda p: p["autoscaling"].pop("totalMaxNodeCount"), compliant_gke_stack)
    found = list(quota.gpus_within_quota(unbounded, GKE_CONFIG))
    assert (found[0][1]) == "GKE GPU node pool gpu-l4 has no total maximum node count: it could launch GPUs without bound"

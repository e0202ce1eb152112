"""Karpenter node classes and pools: valid against the upstream v1.14.1 CRDs (unknown fields rejected),
GPU pools tainted and bounded, spot with on-demand fallback, IMDSv2 and encrypted volumes."""

from __future__ import annotations

import copy

import pytest

from llm_platform.aws.node_pools import (
    GPU_TAINT,
    ec2_node_class,
    gpu_limits,
    gpu_node_pool,
    system_node_pool,
)
from llm_platform.config import AwsGpuPool, DisruptionWindow, SystemPoolConfig
from llm_platform.contract import NODE_ROLE_LABEL, POOL_GROUP_LABEL, POOL_LABEL
from tests.k8s_schemas import validate_custom_resource

POOL = AwsGpuPool(name="l4", instanceTypes=["g6.xlarge", "g6.2xlarge"], capacityTypes=["spot", "on-demand"], maxGpus=2)
QUIET = DisruptionWindow(schedule="0 0 * * mon-fri", duration="9h")
NODE_CLASS = ec2_node_class("gpu-l4", cluster_name="c", node_role_name="c-karpenter-node", ami_alias="al2023@v20260903", root_volume_gib=200, tags={"project": "x"})


def requirement(pool: dict, key: str) -> list[str]:
    (found,) = [r for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
    assert found["operator"] == "In"
    return found["values"]


@pytest.mark.parametrize(
    "manifest",
    [gpu_node_pool(POOL, None), gpu_node_pool(POOL, QUIET), system_node_pool(SystemPoolConfig()), NODE_CLASS],
    ids=["gpu", "gpu-quiet-hours", "system", "node-class"],
)
def test_manifests_validate_against_upstream_crds(manifest):
    assert validate_custom_resource(manifest) == []


def test_the_validator_catches_a_misspelt_field():
    broken = copy.deepcopy(gpu_node_pool(POOL, None))
    broken["spec"]["template"]["spec"]["taint"] = broken["spec"]["template"]["spec"].pop("taints")
    assert validate_custom_resource(broken)


def test_gpu_pool_is_tainted_labelled_and_bounded():
    pool = gpu_node_pool(POOL, None)
    template = pool["spec"]["template"]
    assert template["spec"]["taints"] == [GPU_TAINT] and GPU_TAINT["effect"] == "NoSchedule"
    assert template["metadata"]["labels"] == {NODE_ROLE_LABEL: "gpu", POOL_LABEL: "l4", POOL_GROUP_LABEL: "l4"}
    # g6.2xlarge brings 8 vCPUs and 32 GiB per GPU: two GPUs bound the pool at 16 vCPUs, 64 GiB.
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": 2, "cpu": 16, "memory": "64Gi"}
    assert requirement(pool, "node.kubernetes.io/instance-type") == ["g6.xlarge", "g6.2xlarge"]
    assert requirement(pool, "kubernetes.io/arch") == ["amd64"]


def test_limits_follow_the_widest_instance_per_gpu():
    pool = AwsGpuPool(name="a100", instanceTypes=["p4d.24xlarge"], capacityTypes=["on-demand"], maxGpus=8)
    assert gpu_limits(pool) == {"nvidia.com/gpu": 8, "cpu": 96, "memory": "1152Gi"}


def test_spot_pool_falls_back_to_on_demand():
    assert requirement(gpu_node_pool(POOL, None), "karpenter.sh/capacity-type") == ["spot", "on-demand"]


def test_gpu_nodes_are_consolidated_only_when_empty_one_at_a_time():
    disruption = gpu_node_pool(POOL, None)["spec"]["disruption"]
    assert disruption["consolidationPolicy"] == "WhenEmpty"
    assert disruption["consolidateAfter"] == "10m"
    assert disruption["budgets"] == [{"nodes": "1"}]


def test_quiet_hours_forbid_voluntary_disruption():
    budgets = gpu_node_pool(POOL, QUIET)["spec"]["disruption"]["budgets"]
    assert {"nodes": "0", "schedule": "0 0 * * mon-fri", "duration": "9h"} in budgets


def test_node_class_requires_imdsv2_and_encrypts_volumes():
    spec = NODE_CLASS["spec"]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (volume,) = spec["blockDeviceMappings"]
    assert volume["ebs"] == {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
    assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "c"}}]


def test_production_baseline_before_spot_burst(stack_plan):
    pools = {r.inputs["metadata"]["name"]: r.inputs for r in stack_plan("production").of_type("kubernetes:karpenter.sh/v1:NodePool")}
    baseline, burst = pools["gpu-a10g-baseline"], pools["gpu-a10g-burst"]
    assert baseline["spec"]["weight"] > burst["spec"]["weight"]
    assert requirement(baseline, "karpenter.sh/capacity-type") == ["on-demand"]
    assert requirement(burst, "karpenter.sh/capacity-type") == ["spot", "on-demand"]
    for pool in (baseline, burst):
        assert pool["spec"]["template"]["metadata"]["labels"][POOL_GROUP_LABEL] == "a10g"
        assert pool["spec"]["limits"]["nvidia.com/gpu"] == 2
        assert {"nodes": "0", "schedule": "0 0 * * mon-fri", "duration": "9h"} in pool["spec"]["disruption"]["budgets"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_node_class_in_a_stack_is_hardened(stack_plan, stack):
    declared = stack_plan(stack)
    classes = declared.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    pools = declared.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert len(classes) == len(pools)
    for node_class in classes:
        spec = node_class.inputs["spec"]
        assert spec["amiSelectorTerms"] == [{"alias": "al2023@v20260903"}]
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert all(b["ebs"]["encrypted"] for b in spec["blockDeviceMappings"])
        assert spec["role"] == f"llm-{stack}-karpenter-node"
    for pool in pools:
        if pool.inputs["metadata"]["name"] != "system":
            assert "nvidia.com/gpu" in pool.inputs["spec"]["limits"]
            assert GPU_TAINT in pool.inputs["spec"]["template"]["spec"]["taints"]

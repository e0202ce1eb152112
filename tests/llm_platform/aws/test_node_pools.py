"""Karpenter node classes and pools: valid against the upstream v1.14.1 CRDs (unknown fields rejected),
GPU pools tainted and bounded, spot with on-demand fallback, IMDSv2 and encrypted volumes."""

from __future__ import annotations

import copy

import pytest

from llm_platform.aws.karpenter import KarpenterInfra, KarpenterInfraArgs
from llm_platform.aws.node_pools import (
    GPU_TAINT,
    NodePools,
    NodePoolsArgs,
    ec2_node_class,
    gpu_limits,
    gpu_node_pool,
    system_node_pool,
)
from llm_platform.config import AwsGpuPool, ClusterConfig, DisruptionWindow, SystemPoolConfig
from llm_platform.contract import NODE_ROLE_LABEL, POOL_GROUP_LABEL, POOL_LABEL
from tests.k8s_schemas import validate_custom_resource
from tests.llm_platform.aws.stack import ISSUER, OIDC_PROVIDER_ARN, TAGS, account, base_plan, declare_once, in_cluster, on_aws, stack_config

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS_KIND = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"

POOL = AwsGpuPool(name="l4", instanceTypes=["g6.xlarge", "g6.2xlarge"], capacityTypes=["spot", "on-demand"], maxGpus=2)
QUIET = DisruptionWindow(schedule="0 0 * * mon-fri", duration="9h")
NODE_CLASS = ec2_node_class("gpu-l4", cluster_name="c", node_role_name="c-karpenter-node", ami_alias="al2023@v20260903", root_volume_gib=200, tags={"project": "x"}, instance_store=True)


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


def node_pools_program(environment: str):
    """The node pools of a staging- or production-like stack, on the node role Karpenter's AWS side creates
    (wired as the base wires them)."""
    cluster_name = f"llm-{environment}-test"

    def program() -> None:
        infra = KarpenterInfra(
            f"{cluster_name}-karpenter",
            KarpenterInfraArgs(cluster_name=cluster_name, account=account(), oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=ISSUER, tags=TAGS),
            opts=on_aws(),
        )
        NodePools(
            f"{cluster_name}-pools",
            NodePoolsArgs(
                cluster_name=cluster_name,
                node_role_name=infra.node_role_name,
                ami_alias=ClusterConfig().ami_alias,
                tags=TAGS,
                **STACK_POOLS[environment],
            ),
            opts=in_cluster(),
        )

    return program


STACK_POOLS = {
    "staging": {"system_pool": SystemPoolConfig(capacityTypes=["spot", "on-demand"]), "gpu_pools": [POOL], "gpu_quiet_hours": None},
    "production": {
        "system_pool": SystemPoolConfig(instanceTypes=["m7i.large", "m7i.xlarge", "m7i.2xlarge"], capacityTypes=["on-demand"]),
        "gpu_pools": [
            AwsGpuPool(name="a10g-baseline", group="a10g", instanceTypes=["g5.2xlarge"], capacityTypes=["on-demand"], maxGpus=2, weight=100),
            AwsGpuPool(name="a10g-burst", group="a10g", instanceTypes=["g5.2xlarge"], capacityTypes=["spot", "on-demand"], maxGpus=2, weight=10),
        ],
        "gpu_quiet_hours": QUIET,
    },
}


@pytest.fixture(scope="module")
def plans():
    return {environment: declare_once(node_pools_program(environment)) for environment in STACK_POOLS}


def test_production_baseline_before_spot_burst(plans):
    pools = {r.inputs["metadata"]["name"]: r.inputs for r in plans["production"].of_type(NODE_POOL)}
    assert sorted(pools) == ["gpu-a10g-baseline", "gpu-a10g-burst", "system"]
    baseline, burst = pools["gpu-a10g-baseline"], pools["gpu-a10g-burst"]
    assert baseline["spec"]["weight"] > burst["spec"]["weight"]
    assert (baseline["spec"]["weight"], burst["spec"]["weight"]) == (100, 10)
    assert requirement(baseline, "karpenter.sh/capacity-type") == ["on-demand"]
    assert requirement(burst, "karpenter.sh/capacity-type") == ["spot", "on-demand"]
    for pool in (baseline, burst):
        assert pool["spec"]["template"]["metadata"]["labels"][POOL_GROUP_LABEL] == "a10g"
        assert pool["spec"]["limits"]["nvidia.com/gpu"] == 2
        assert {"nodes": "0", "schedule": "0 0 * * mon-fri", "duration": "9h"} in pool["spec"]["disruption"]["budgets"]
    assert requirement(pools["system"], "karpenter.sh/capacity-type") == ["on-demand"]


def test_staging_gpu_pools_have_no_quiet_hours(plans):
    pools = {r.inputs["metadata"]["name"]: r.inputs for r in plans["staging"].of_type(NODE_POOL)}
    assert sorted(pools) == ["gpu-l4", "system"]
    assert pools["gpu-l4"]["spec"]["disruption"]["budgets"] == [{"nodes": "1"}]
    assert requirement(pools["system"], "karpenter.sh/capacity-type") == ["spot", "on-demand"]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_every_node_class_in_a_stack_is_hardened(plans, environment):
    declared = plans[environment]
    classes = declared.of_type(NODE_CLASS_KIND)
    pools = declared.of_type(NODE_POOL)
    assert len(classes) == len(pools) == 1 + len(STACK_POOLS[environment]["gpu_pools"])
    node_role = declared.one("aws:iam/role:Role", f"llm-{environment}-test-karpenter-node").inputs["name"]
    assert node_role == f"llm-{environment}-test-karpenter-node"
    class_urns = {c.inputs["metadata"]["name"]: c.urn for c in classes}
    for node_class in classes:
        spec = node_class.inputs["spec"]
        assert validate_custom_resource(node_class.inputs) == []
        assert spec["amiSelectorTerms"] == [{"alias": "al2023@v20260903"}]
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert all(b["ebs"]["encrypted"] for b in spec["blockDeviceMappings"])
        assert spec["role"] == node_role
    for pool in pools:
        assert validate_custom_resource(pool.inputs) == []
        # Each pool waits for the node class it references.
        assert class_urns[pool.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"]] in pool.depends_on
        if pool.inputs["metadata"]["name"] != "system":
            assert "nvidia.com/gpu" in pool.inputs["spec"]["limits"]
            assert GPU_TAINT in pool.inputs["spec"]["template"]["spec"]["taints"]

    # GPU nodes keep images and emptyDirs (the weights cache) on instance-store NVMe; the system pool's
    # instance types have none.
    stores = {c.inputs["metadata"]["name"]: c.inputs["spec"].get("instanceStorePolicy") for c in classes}
    assert stores == {name: (None if name == "system" else "RAID0") for name in stores}


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_base_creates_the_pools_after_karpenter_from_the_stack_config(environment):
    declared = base_plan(environment)
    cfg = stack_config(environment)
    component = declared.one("llm-platform:node_pools:NodePools", f"base-{environment}-pools")
    karpenter_releases = {declared.release(name).urn for name in ("karpenter", "karpenter-crd")}
    assert len(karpenter_releases) == 2 and karpenter_releases <= set(component.depends_on)
    pools = {r.inputs["metadata"]["name"]: r.inputs for r in declared.of_type(NODE_POOL)}
    assert sorted(pools) == sorted(["system"] + [f"gpu-{pool.name}" for pool in cfg.gpu_pools])
    for pool in cfg.gpu_pools:
        assert pools[f"gpu-{pool.name}"]["spec"]["limits"]["nvidia.com/gpu"] == pool.max_gpus
    for node_class in declared.of_type(NODE_CLASS_KIND):
        assert node_class.inputs["spec"]["role"] == f"base-{environment}-karpenter-node"

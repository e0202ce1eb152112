"""What a GPU pool is on either cloud (`pools.GpuPoolBase`): a name, an optional group (the pool name by
default), capacity types, a required `maxGpus` bound and a boot disk size. Each rule holds for both
clouds' pool types, `AwsGpuPool` (test_aws.py) and `GkeGpuPool` (test_gcp.py)."""

from __future__ import annotations

import pytest

from llm_platform.config import AwsGpuPool, GkeGpuPool, GpuPoolBase, parse
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config.stacks import AWS, AWS_POOL, DELETE, GCP, GKE_POOL, changed, edited, only, refused

# Each cloud's minimal stack with one L4 pool (spot only on both), and the pool type it parses to.
STACKS = {
    "aws": (changed(AWS, {"gpuPools": [{**AWS_POOL, "capacityTypes": ["spot"]}]}), AwsGpuPool),
    "gcp": (changed(GCP, {"gpuPools": [GKE_POOL]}), GkeGpuPool),
}
CLOUDS = ["aws", "gcp"]


def with_pool(cloud: str, **changes) -> dict:
    return edited(STACKS[cloud][0], "gpuPools.0", **changes)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_pool_type_follows_the_cloud(cloud):
    (pool,) = parse(STACKS[cloud][0]).gpu_pools
    assert type(pool) is STACKS[cloud][1] and isinstance(pool, GpuPoolBase)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_shared_pool_defaults(cloud):
    (pool,) = parse(STACKS[cloud][0]).gpu_pools
    assert (pool.name, pool.group, pool.pool_group, pool.root_volume_gib, pool.max_gpus) == ("l4", None, "l4", 200, 2)
    (size,) = pool.sizes()
    assert size.gpus == 1


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_group_names_the_pool_group(cloud):
    (pool,) = parse(with_pool(cloud, group="l4-serving")).gpu_pools
    assert pool.pool_group == "l4-serving"


SHARED_POOL_RULES = [
    ({"name": "L4_Pool"}, "gpuPools[0].name", "L4_Pool", "must be a DNS label (lowercase letters, digits, '-'; starting with a letter) of at most 40 characters"),
    ({"name": "p" * 41}, "gpuPools[0].name", "p" * 41, "of at most 40 characters"),
    ({"name": DELETE}, "gpuPools[0].name", NOT_SET, "Field required"),
    # The group is a node label value and the models' selector: the same rule as a name.
    ({"group": "L4 Serving"}, "gpuPools[0].group", "L4 Serving", "must be a DNS label (lowercase letters, digits, '-'; starting with a letter) of at most 40 characters"),
    ({"group": "g" * 41}, "gpuPools[0].group", "g" * 41, "of at most 40 characters"),
    ({"maxGpus": DELETE}, "gpuPools[0].maxGpus", NOT_SET, "Field required"),
    ({"maxGpus": 0}, "gpuPools[0].maxGpus", 0, "Input should be greater than or equal to 1"),
    ({"maxGpus": 513}, "gpuPools[0].maxGpus", 513, "Input should be less than or equal to 512"),
    ({"capacityTypes": DELETE}, "gpuPools[0].capacityTypes", NOT_SET, "Field required"),
    ({"capacityTypes": []}, "gpuPools[0].capacityTypes", [], "List should have at least 1 item after validation, not 0"),
    ({"capacityTypes": ["reserved"]}, "gpuPools[0].capacityTypes[0]", "reserved", "Input should be 'spot' or 'on-demand'"),
    ({"rootVolumeGib": 99}, "gpuPools[0].rootVolumeGib", 99, "Input should be greater than or equal to 100"),
    ({"rootVolumeGib": 2001}, "gpuPools[0].rootVolumeGib", 2001, "Input should be less than or equal to 2000"),
]


@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("change, key, value, rule", SHARED_POOL_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in SHARED_POOL_RULES])
def test_shared_pool_rules(cloud, change, key, value, rule):
    parse(STACKS[cloud][0])
    violation = only(refused(with_pool(cloud, **change)))
    assert (violation.key, violation.value, violation.unknown_key) == (key, value, False)
    assert rule in violation.rule, violation.rule


@pytest.mark.parametrize(
    "cloud, rule",
    [
        ("aws", "must not repeat an entry"),  # a Karpenter NodePool may take both, once each
        ("gcp", "List should have at most 1 item after validation, not 2"),  # a GKE node pool is one or the other
    ],
)
def test_repeated_capacity_types(cloud, rule):
    (violation,) = refused(with_pool(cloud, capacityTypes=["spot", "spot"])).violations
    assert (violation.key, violation.value, violation.rule) == ("gpuPools[0].capacityTypes", ["spot", "spot"], rule)


@pytest.mark.parametrize("cloud, accepted", [("aws", True), ("gcp", False)])
def test_both_capacity_types_in_one_pool(cloud, accepted):
    raw = with_pool(cloud, capacityTypes=["spot", "on-demand"])
    if accepted:
        assert parse(raw).gpu_pools[0].capacity_types == ["spot", "on-demand"]
    else:
        assert [v.key for v in refused(raw).violations] == ["gpuPools[0].capacityTypes"]


# -- capacity ---------------------------------------------------------------------------------------------


def test_a_pool_launches_some_instance_type_within_its_max_gpus():
    # g6.12xlarge carries 4 L4s: with maxGpus 2 it could never launch, with a 1-GPU size next to it it can.
    parse(with_pool("aws", instanceTypes=["g6.xlarge", "g6.12xlarge"], maxGpus=2))
    violation = only(refused(with_pool("aws", instanceTypes=["g6.12xlarge"], maxGpus=2)))
    assert (violation.key, violation.value) == ("gpuPools[0].maxGpus", 2)
    assert violation.rule == "no instance type of the pool fits: the smallest, g6.12xlarge, has 4 GPUs, so no node could ever be launched"


def test_a_gke_pool_launches_its_machine_type_within_its_max_gpus():
    raw = with_pool("gcp", machineType="g2-standard-48", acceleratorCount=4, maxGpus=2)
    assert "gpuPools[0].maxGpus" in [v.key for v in refused(raw).violations]
    assert any("the smallest, g2-standard-48, has 4 GPUs" in v.rule for v in refused(raw).violations)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_spot_only_pools_are_fine_outside_production(cloud):
    assert parse(STACKS[cloud][0]).gpu_pools[0].capacity_types == ["spot"]

"""The instance catalog: the one place that says which AWS instance types and Google Cloud machine types
the platform supports, what GPUs they carry and what they cost. Config validation, node pools, the
budget policy and the quota policy all read it from `data/gpu_catalog.yaml`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

CATALOG_FILE = Path(__file__).parent / "data" / "gpu_catalog.yaml"
# libyaml's loader where PyYAML was built with it (its wheels are): the catalog is read on every preview.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PRICES_FILE = Path(__file__).parent / "data" / "prices.yaml"


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    vcpus: int
    memory_gib: float
    gpus: int
    gpu_memory_mib: int
    """Per GPU, as the driver reports it (what vLLM can actually use), not the marketing figure."""
    prices: dict[str, float]
    """On-demand USD per hour by region."""
    spot_prices: dict[str, float] = field(default_factory=dict)
    """Spot USD per hour by region, where the catalog records it (Google Cloud: spot prices change at
    most once a month). The cost ceiling never uses them: see `policy.cost`."""

    def offered_in(self, region: str) -> bool:
        """Whether the catalog prices this type in `region`; its sources offer every type it prices there and
        no other (Seoul offers no p5 on AWS, for one)."""
        return region in self.prices

    def on_demand_usd_per_hour(self, region: str) -> float:
        try:
            return self.prices[region]
        except KeyError:
            raise KeyError(f"the catalog has no {region} price for {self.name}") from None


@dataclass(frozen=True)
class GpuFamily:
    name: str
    gpu_model: str
    gpu_memory_mib: int
    sizes: tuple[InstanceType, ...]
    quota_bucket: str = ""
    """AWS: EC2 vCPU quota bucket, `G` (G and VT instances) or `P` (P instances)."""
    gpu_name: str = ""
    """AWS: value of the Karpenter label `karpenter.k8s.aws/instance-gpu-name`."""
    accelerator_type: str = ""
    """Google Cloud: the Compute Engine accelerator type, e.g. `nvidia-l4`."""
    zones: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Google Cloud: the zones of each region that offer this family, e.g. `{"us-central1": ("us-central1-a", ...)}`."""


@cache
def _raw() -> dict:
    with CATALOG_FILE.open() as handle:
        return yaml.load(handle, Loader=_LOADER)


def _regions(cloud: str) -> tuple[str, ...]:
    # A region need not offer every type; the config refuses a pool that may launch a type without a price in
    # its region (`InstanceType.offered_in`), so every cost stays bounded.
    return tuple(_raw()[cloud]["regions"])


def _region_zones(cloud: str, region: str) -> tuple[str, ...]:
    return tuple(_raw()[cloud]["regions"][region]["zones"])


def _instance(name: str, family: str, spec: dict, gpu_memory_mib: int = 0) -> InstanceType:
    return InstanceType(
        name=name,
        family=family,
        vcpus=spec["vcpus"],
        memory_gib=spec["memoryGiB"],
        gpus=spec.get("gpus", 0),
        gpu_memory_mib=gpu_memory_mib,
        prices=dict(spec["onDemandUsdPerHour"]),
        spot_prices=dict(spec.get("spotUsdPerHour") or {}),
    )


@cache
def _gpu_families(cloud: str) -> dict[str, GpuFamily]:
    # Each cloud's families carry the fields that cloud has (quotaBucket/gpuName on AWS, acceleratorType on
    # Google Cloud); the rest default to empty.
    return {
        name: GpuFamily(
            name=name,
            quota_bucket=family.get("quotaBucket", ""),
            gpu_name=family.get("gpuName", ""),
            accelerator_type=family.get("acceleratorType", ""),
            # Zone letters of the region (`us-central1: [a, b]`), spelt out as Compute Engine names them.
            zones={region: tuple(f"{region}-{letter}" for letter in letters) for region, letters in family.get("zones", {}).items()},
            gpu_model=family["gpuModel"],
            gpu_memory_mib=family["gpuMemoryMiB"],
            sizes=tuple(_instance(size, name, spec, family["gpuMemoryMiB"]) for size, spec in family["sizes"].items()),
        )
        for name, family in _raw()[cloud]["gpuFamilies"].items()
    }


@cache
def _general_families(cloud: str) -> dict[str, tuple[InstanceType, ...]]:
    return {name: tuple(_instance(size, name, spec) for size, spec in family["sizes"].items()) for name, family in _raw()[cloud]["generalFamilies"].items()}


@cache
def _instance_types(cloud: str) -> dict[str, InstanceType]:
    sizes = [size for family in _gpu_families(cloud).values() for size in family.sizes]
    sizes += [size for family in _general_families(cloud).values() for size in family]
    return {size.name: size for size in sizes}


# -- AWS -----------------------------------------------------------------------------------------


def aws_regions() -> tuple[str, ...]:
    return _regions("aws")


def aws_region_zones(region: str) -> tuple[str, ...]:
    """The Availability Zone IDs of `region`, e.g. `use1-az1`; a stack uses the first `azCount` of them."""
    return _region_zones("aws", region)


def aws_gpu_families() -> dict[str, GpuFamily]:
    return _gpu_families("aws")


def aws_general_families() -> dict[str, tuple[InstanceType, ...]]:
    return _general_families("aws")


def aws_vcpu_quota_code(quota_bucket: str, capacity_type: str) -> str:
    """The Service Quotas code that bounds the vCPUs of `quota_bucket` instances of `capacity_type`."""
    return _raw()["aws"]["vcpuQuotas"][quota_bucket][capacity_type]


def aws_vcpu_quota_codes() -> list[str]:
    return [code for bucket in _raw()["aws"]["vcpuQuotas"].values() for code in bucket.values()]


def aws_gpu_family_of(instance_type: str) -> GpuFamily | None:
    return aws_gpu_families().get(instance_type.split(".")[0])


def aws_instance_type(name: str) -> InstanceType:
    return _instance_types("aws")[name]


def find_aws_instance_type(name: str) -> InstanceType | None:
    return _instance_types("aws").get(name)


@cache
def service_prices() -> dict:
    """Prices of everything that is not an instance, by cloud, and the usage assumptions of the cost ceiling."""
    with PRICES_FILE.open() as handle:
        return yaml.load(handle, Loader=_LOADER)


# -- Google Cloud ----------------------------------------------------------------------------------


def gcp_regions() -> tuple[str, ...]:
    return _regions("gcp")


def gcp_region_zones(region: str) -> tuple[str, ...]:
    """The zones of `region`, e.g. `us-central1-a`."""
    return _region_zones("gcp", region)


def gcp_gpu_families() -> dict[str, GpuFamily]:
    return _gpu_families("gcp")


def gcp_general_families() -> dict[str, tuple[InstanceType, ...]]:
    return _general_families("gcp")


def gcp_gpu_quota_metric(accelerator_type: str, spot: bool) -> str:
    """The regional Compute Engine quota metric that bounds GPUs of `accelerator_type` (spot GPUs have their own)."""
    return _raw()["gcp"]["gpuQuotas"][accelerator_type]["spot" if spot else "on-demand"]


def gcp_gpu_accelerator_types() -> tuple[str, ...]:
    return tuple(_raw()["gcp"]["gpuQuotas"])


def gcp_gpu_quota_metrics() -> list[str]:
    return [metric for quotas in _raw()["gcp"]["gpuQuotas"].values() for metric in quotas.values()]


@cache
def _gcp_family_by_machine_type() -> dict[str, GpuFamily]:
    # Not by name prefix as on AWS: a2-highgpu and a2-ultragpu carry different GPUs.
    return {size.name: family for family in gcp_gpu_families().values() for size in family.sizes}


def gcp_gpu_family_of(machine_type: str) -> GpuFamily | None:
    return _gcp_family_by_machine_type().get(machine_type)


def gcp_machine_type(name: str) -> InstanceType:
    return _instance_types("gcp")[name]


def find_gcp_machine_type(name: str) -> InstanceType | None:
    return _instance_types("gcp").get(name)

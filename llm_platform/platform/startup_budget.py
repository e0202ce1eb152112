"""Where a new replica's start-up time goes, stage by stage, and the startup probe window that follows.

Nothing here can be measured without a cloud account, so every figure is a planning figure with its
source; `make bench-weights` measures what can be measured on one machine (tools/bench_weights.py).
The README's start-up budget table is `budget_table()` of the stacks' models.

The stages run one after the other: a node is launched (when none has room), the vLLM image is pulled,
the `fetch-weights` init container copies and hashes the weights, then vLLM loads them into GPU memory,
compiles (torch.compile) and captures CUDA graphs, and the startup probe sees /health answer. Only the
last three run inside the vLLM container, so only they count against the startup probe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llm_platform.contract import FETCH_CONNECTIONS, HASH_THREADS
from llm_platform_policy import catalog

# -- sourced figures ---------------------------------------------------------------------------------

GB = 1e9


@dataclass(frozen=True)
class Figure:
    value: float
    source: str


# Network bandwidth of the stacks' GPU instances, bits per second. Single transfers of a few tens of GB
# last well under the minutes an instance may burst for, so the "up to" figure applies.
NETWORK_BITS_PER_SECOND = {
    # Amazon EC2 User Guide, "Network specifications - accelerated computing": g5.2xlarge and g6.xlarge
    # "Up to 10 Gigabit" (baseline below it; bursts last "typically from 5 to 60 minutes").
    "g5.2xlarge": Figure(10e9, "EC2 network specifications: g5.2xlarge up to 10 Gbps"),
    "g6.xlarge": Figure(10e9, "EC2 network specifications: g6.xlarge up to 10 Gbps"),
    # Compute Engine "GPU machine types", G2: g2-standard-8 default egress bandwidth 16 Gbps.
    "g2-standard-8": Figure(16e9, "Compute Engine G2 machine types: g2-standard-8 16 Gbps"),
}
# Amazon S3 "Performance design patterns": one concurrent request per 85-90 MB/s of desired throughput
# (about 15 to saturate 10 Gb/s). Cloud Storage publishes no per-connection figure; the same is assumed.
OBJECT_STORE_BYTES_PER_CONNECTION = Figure(85e6, "S3 performance design patterns: 85-90 MB/s per request")
# Where the weights and the image land before this issue: the node's root volume. EBS gp3 baseline
# throughput 125 MiB/s (EBS volume types); GKE's pd-balanced boot disk of 200 GiB: 140 MiB/s + 0.28 MiB/s
# per GiB = 196 MiB/s (Compute Engine persistent disk performance).
ROOT_DISK_BYTES_PER_SECOND = {
    "aws": Figure(125 * 2**20, "EBS gp3 baseline 125 MiB/s"),
    "gcp": Figure(196 * 2**20, "pd-balanced 200 GiB: 140 + 0.28/GiB MiB/s"),
}
# After: Karpenter's instanceStorePolicy RAID0 puts kubelet's ephemeral storage (emptyDirs) and
# containerd's images on the instance's NVMe (g5.2xlarge 1 x 450 GB, g6.xlarge 1 x 250 GB NVMe SSD, EC2
# instance store volumes); GKE G2 nodes use the pd-balanced boot disk unless local SSD is configured.
LOCAL_NVME_BYTES_PER_SECOND = Figure(1.5e9, "EC2 instance store NVMe, sequential writes of the order of GB/s (planning figure)")
# The pinned vLLM image (pins.VLLM_IMAGE), compressed layers for linux/amd64: the cost ceiling's
# `containerImageGb` (policies/llm_platform_policy/data/prices.yaml, from Docker Hub's tag sizes); unpacked
# roughly twice that. Confirm with `docker buildx imagetools inspect --raw` before relying on it.
VLLM_IMAGE_COMPRESSED_BYTES = Figure(catalog.service_prices()["assumptions"]["containerImageGb"] * GB, "Docker Hub vllm/vllm-openai tag size (planning figure)")
VLLM_IMAGE_UNPACKED_BYTES = Figure(2 * VLLM_IMAGE_COMPRESSED_BYTES.value, "about twice the compressed size (planning figure)")
# Before this issue: pulling from Docker Hub across the internet through the NAT gateway. Unpacking (gzip,
# one core per layer) is bounded by the disk it writes to.
REMOTE_REGISTRY_BYTES_PER_SECOND = Figure(100e6, "Docker Hub over the internet (planning figure)")
# After, on EKS: from the ECR pull-through cache in the region (llm_platform/aws/registry.py), whose layers
# are S3 objects fetched through the VPC's S3 gateway endpoint, one connection per layer and at most
# containerd's `max_concurrent_downloads` (default 3, containerd docs/cri/config.md) at once; the
# instance's network caps it.
CONTAINERD_CONCURRENT_DOWNLOADS = Figure(3, "containerd CRI max_concurrent_downloads default")
# After, on GKE: image streaming from the Artifact Registry remote repository (llm_platform/gcp/registry.py):
# ImagePulling to Running "in a couple of seconds (regardless of container size)" (Google Cloud blog,
# "Introducing GKE image streaming", 2021-11-03), then the files a start reads (Python, torch, the CUDA
# libraries: a few GB of the image) stream while it runs, the rest in the background.
IMAGE_STREAMING_SECONDS = Figure(30, "GKE image streaming: mount in seconds, then the few GB a vLLM start reads (planning figure)")
# sha256 on one core, as `make bench-weights` measures it (hashlib, OpenSSL with SHA extensions); the
# fetcher hashes files on several threads after this issue.
SHA256_BYTES_PER_SECOND_PER_CORE = Figure(1.0e9, "measured here: make bench-weights (order of magnitude)")
# Node launch to Ready with the EKS-optimized AL2023 NVIDIA AMI (EC2 launch, boot, nodeadm join, device
# plugin) and a GKE G2 node: public Karpenter and GKE reports put both at 1-2 minutes.
NODE_LAUNCH_SECONDS = {"aws": Figure(90, "Karpenter GPU node launch to Ready (planning figure)"), "gcp": Figure(120, "GKE GPU node (planning figure)")}
# vLLM V1 engine start for a 7-8B model on one GPU once the weights are on local disk: torch.compile
# (Dynamo + Inductor, no warm cache in a new pod) and CUDA graph capture for the default batch sizes.
TORCH_COMPILE_SECONDS = Figure(60, "vLLM V1 torch.compile of an 8B model, cold cache (planning figure)")
CUDA_GRAPH_SECONDS = Figure(20, "vLLM V1 CUDA graph capture (planning figure)")
# The startup probe: a first look after INITIAL_DELAY, then every PERIOD; the window is the budget of
# the stages inside the container times this margin (a slow disk, a busy node, a model a bit larger).
PROBE_INITIAL_DELAY_SECONDS = 30
PROBE_PERIOD_SECONDS = 10
PROBE_MARGIN = 2.0


# -- the budget --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str
    before_seconds: float
    after_seconds: float
    how: str
    """What the seconds are made of, after this issue."""


def _seconds(size: float, rate: float) -> float:
    return size / rate


def weight_transfer_seconds(weights_bytes: float, instance_type: str) -> float:
    """Object store to the node: the instance's network or the fetcher's connections, whichever is slower."""
    network = NETWORK_BITS_PER_SECOND[instance_type].value / 8
    return _seconds(weights_bytes, min(network, FETCH_CONNECTIONS * OBJECT_STORE_BYTES_PER_CONNECTION.value))


def in_region_pull_bytes_per_second(instance_type: str) -> float:
    """Layers from the registry in the region: containerd's parallel downloads at the object store's
    per-connection rate, or the instance's network, whichever is slower."""
    network = NETWORK_BITS_PER_SECOND[instance_type].value / 8
    return min(network, CONTAINERD_CONCURRENT_DOWNLOADS.value * OBJECT_STORE_BYTES_PER_CONNECTION.value)


def engine_seconds(weights_bytes: float, disk_bytes_per_second: float) -> float:
    """Inside the vLLM container: weights from local disk into GPU memory, compilation, CUDA graphs."""
    return _seconds(weights_bytes, disk_bytes_per_second) + TORCH_COMPILE_SECONDS.value + CUDA_GRAPH_SECONDS.value


def startup_probe_failure_threshold(weights_gib: float, override_seconds: int | None = None) -> int:
    """Probe periods after the initial delay before vLLM is restarted: the in-container stages at the
    slowest local disk of any stack (a pd-balanced or gp3 root volume), with PROBE_MARGIN; or
    `override_seconds` (a model's `startupSeconds`) when given."""
    if override_seconds is not None:
        return math.ceil(override_seconds / PROBE_PERIOD_SECONDS)
    slowest_disk = min(figure.value for figure in ROOT_DISK_BYTES_PER_SECOND.values())
    window = engine_seconds(weights_gib * 2**30, slowest_disk) * PROBE_MARGIN
    return math.ceil(window / PROBE_PERIOD_SECONDS)


def budget(weights_gib: float, instance_type: str, cloud: str) -> list[Stage]:
    """A cold start on a new node, before and after this issue, for a model of `weights_gib`."""
    weights = weights_gib * 2**30
    root = ROOT_DISK_BYTES_PER_SECOND[cloud].value
    # AWS GPU nodes now keep images and emptyDirs on instance-store NVMe; GKE keeps its boot disk.
    local = LOCAL_NVME_BYTES_PER_SECOND.value if cloud == "aws" else root
    compressed, unpacked = VLLM_IMAGE_COMPRESSED_BYTES.value, VLLM_IMAGE_UNPACKED_BYTES.value
    pull_before = _seconds(compressed, REMOTE_REGISTRY_BYTES_PER_SECOND.value) + _seconds(unpacked, root)
    pull_after = IMAGE_STREAMING_SECONDS.value if cloud == "gcp" else _seconds(compressed, in_region_pull_bytes_per_second(instance_type)) + _seconds(unpacked, local)
    transfer = weight_transfer_seconds(weights, instance_type)
    hash_before = _seconds(weights, SHA256_BYTES_PER_SECOND_PER_CORE.value)
    return [
        Stage("node launch", NODE_LAUNCH_SECONDS[cloud].value, NODE_LAUNCH_SECONDS[cloud].value, "unchanged: Karpenter / GKE node start"),
        Stage("image pull", pull_before, pull_after, "ECR pull-through cache in the region, unpacked onto NVMe (AWS); Artifact Registry, streamed (GKE)"),
        Stage(
            "weight transfer",
            max(transfer, _seconds(weights, root)) + hash_before,
            max(transfer, _seconds(weights, local)) + hash_before / HASH_THREADS,
            f"{FETCH_CONNECTIONS} connections at NIC speed onto NVMe (AWS); sha256 on {HASH_THREADS} threads",
        ),
        Stage("engine start", engine_seconds(weights, root), engine_seconds(weights, local), "load from local disk, torch.compile, CUDA graphs"),
        Stage("readiness", PROBE_PERIOD_SECONDS, PROBE_PERIOD_SECONDS, "first successful startup probe (period)"),
    ]



@dataclass(frozen=True)
class Placement:
    """A model of a stack and the instance type its replicas start on."""

    stack: str
    model: str
    weights_gib: float
    instance_type: str
    cloud: str


def budget_table(placements: list[Placement]) -> str:
    """The README's start-up budget: seconds per stage before -> after, per stack's model."""
    rows = [(placement, budget(placement.weights_gib, placement.instance_type, placement.cloud)) for placement in placements]
    header = " | ".join(f"{p.stack}: {p.model} on {p.instance_type}" for p, _ in rows)
    lines = [f"| stage (seconds) | {header} | what the seconds are now |", "|---" * (len(rows) + 2) + "|"]
    for index, stage in enumerate(rows[0][1]):
        cells = " | ".join(f"{stages[index].before_seconds:.0f} → {stages[index].after_seconds:.0f}" for _, stages in rows)
        lines.append(f"| {stage.name} | {cells} | {stage.how} |")
    totals = " | ".join(f"**{sum(s.before_seconds for s in stages):.0f} → {sum(s.after_seconds for s in stages):.0f}**" for _, stages in rows)
    lines.append(f"| total | {totals} | |")
    return "\n".join(lines)

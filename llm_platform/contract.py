"""The names both cloud bases and the in-cluster platform must agree on, in one place.

A cloud base labels and taints its nodes, names buckets and service accounts, and grants access by these
names; the platform selects, tolerates and reads by the same names. The stack configuration, the weight
fetcher in the model pods and `make stage-model` parse model sources with the one grammar below.

Standard library only: this module is shipped into the model pods beside the weight fetcher
(`llm_platform/platform/pod/fetch_weights.py`), which imports it as `llm_platform.contract` there too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import ClassVar

# -- nodes ---------------------------------------------------------------------------------------------

# Every node carries its role; GPU nodes also their pool and the pool's group, which model servers select.
NODE_ROLE_LABEL = "llm-platform.io/node-role"
POOL_LABEL = "llm-platform.io/pool"
POOL_GROUP_LABEL = "llm-platform.io/pool-group"
SYSTEM_ROLE = "system"
GPU_ROLE = "gpu"
SYSTEM_NODES = {NODE_ROLE_LABEL: SYSTEM_ROLE}
GPU_NODES = {NODE_ROLE_LABEL: GPU_ROLE}
# The system node pool's name on both clouds.
SYSTEM_POOL = "system"

# GPU nodes are tainted NoSchedule under this key (GKE sets it on its GPU nodes itself, with the value
# `present`; Karpenter's pools here use `true`); GPU workloads tolerate the key whatever its value.
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}


def gpu_node_pool_name(pool: str) -> str:
    """The node pool (a Karpenter NodePool, a GKE node pool) of the configured GPU pool `pool`."""
    return f"gpu-{pool}"


# -- namespaces and service accounts -------------------------------------------------------------------

MONITORING_NAMESPACE = "monitoring"
SERVING_NAMESPACE = "serving"
# The inference gateway's namespace: with the cloud's load balancer (where a base puts one in front of
# the models) and Prometheus, the only source the model servers' NetworkPolicy admits. It is matched by
# the `kubernetes.io/metadata.name` label, which the API server sets to the namespace's name and nobody
# can change, so no other namespace can claim to be the gateway by labelling itself.
GATEWAY_NAMESPACE = "gateway"
# The proxies of the gateway carry these labels (the chart's pods are selected by them).
GATEWAY_PROXY_LABELS = {"app.kubernetes.io/component": "inference-gateway"}
# The header the gateway copies an OpenAI request's `model` into before routing; each model's route
# matches it (the name the Inference Extension's body-based router uses).
MODEL_HEADER = "X-Gateway-Model-Name"
# Alertmanager's service account in MONITORING_NAMESPACE: a cloud base may give it an identity (the IRSA
# role that publishes to SNS on AWS).
ALERTMANAGER_SERVICE_ACCOUNT = "alertmanager"


# Every pod serving a model carries this label with the model's name, whichever Deployment (floor or
# burst) it belongs to: the model's Service, disruption budget and network policy select by it.
MODEL_LABEL = "llm-platform.io/model"


def model_service_account(model: str) -> str:
    """The Kubernetes service account of a model's pods in SERVING_NAMESPACE; a cloud base grants it read
    access to that model's weights and nothing else."""
    return model


# -- names ---------------------------------------------------------------------------------------------


# Cluster, pool and model names become Kubernetes object names, node-pool names and parts of cloud names
# (IAM roles, buckets). 40 characters leave a cluster name room for the bases' suffixes within a bucket's
# 63; a cloud name built from two of them is bounded with `bounded_name`.
NAME_MAX_LENGTH = 40
NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
NAME_RULE = f"a DNS label (lowercase letters, digits, '-'; starting with a letter) of at most {NAME_MAX_LENGTH} characters"


def is_valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX_LENGTH and bool(NAME_PATTERN.fullmatch(name))


def bounded_name(name: str, limit: int) -> str:
    """`name` if it fits a cloud's length limit, else its first characters and a hash of the whole name:
    still unique, the same on every run, and unchanged for every name that already fit. Cloud names built
    from a cluster and a model (40 characters each) can exceed e.g. IAM's 64-character role names;
    cutting them short alone would give two models one role."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


# IAM role names are 1-64 characters (botocore 1.44.5 iam CreateRole `RoleName`).
IAM_ROLE_NAME_LIMIT = 64


def model_role_name(cluster_name: str, model: str) -> str:
    """The IAM role a model's pods assume on EKS (read access to its weights), bounded to IAM's limit."""
    return bounded_name(f"{cluster_name}-model-{model}", IAM_ROLE_NAME_LIMIT)


def weights_bucket_name(cluster_name: str, owner: str) -> str:
    """The stack's weights bucket: `<cluster>-weights-<owner>`, the owner being the AWS account id or the
    Google Cloud project id, which makes it globally unique. Deterministic, so `make stage-model` finds it
    from the stack file and the caller's account alone."""
    return f"{cluster_name}-weights-{owner}"


# Weights staged from Hugging Face live under `models/<model>/` of the stack's bucket.
MODELS_PREFIX = "models"


def staged_weights_prefix(model: str) -> str:
    return f"{MODELS_PREFIX}/{model}"


# How the weight fetcher in the pods uses the node: parallel connections per object, and threads that
# hash files. The start-up budget (platform/startup_budget.py) counts with the same numbers. Shards are
# several GB and GPU nodes have 10-100+ Gbps while one connection to S3 carries 85-90 MB/s, so boto3's
# default of 10 leaves bandwidth unused; hashlib releases the GIL, so threads hash files side by side.
FETCH_CONNECTIONS = 16
HASH_THREADS = 4

# Both weights buckets are versioned: a replaced weight file stays restorable for this many days, then
# stops costing storage; an upload abandoned halfway is cleaned up after INCOMPLETE_UPLOAD_DAYS.
NONCURRENT_WEIGHTS_DAYS = 30
INCOMPLETE_UPLOAD_DAYS = 7


# -- model sources -------------------------------------------------------------------------------------
#
# A model's `source` is one of
#   hf://<org>/<model>            a Hugging Face repository, staged into the stack's bucket
#   s3://<bucket>/<prefix>        weights already in S3 (AWS stacks)
#   gs://<bucket>/<prefix>        weights already in Cloud Storage (Google Cloud stacks)
# and the weight fetcher reads `s3://<bucket>/<prefix>` or `gs://<bucket>/<prefix>`.

# Hugging Face repository ids (huggingface_hub 2.4.0 utils/_validators.py `validate_repo_id`): 1-96
# characters of letters, digits, '-', '_' and '.', not starting or ending with '-' or '.', without '--'
# or '..', not ending in '.git'. The platform asks for the `<org>/<model>` form.
_HF_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_HF_SOURCE = re.compile(rf"^hf://({_HF_PART}/{_HF_PART})$")
# Prefixes end up in IAM resource ARNs and IAM condition expressions, so they keep to a plain character
# set ('*' would widen a grant, quotes would break a condition): '/'-separated segments of letters,
# digits, '.', '_' and '-', none of them '.' or '..'.
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
PREFIX_RULE = "'/'-separated segments of letters, digits, '.', '_' and '-' (no '.' or '..' segments)"


def _prefix_problem(prefix: str) -> str | None:
    segments = prefix.split("/")
    if any(not _PREFIX_SEGMENT.fullmatch(s) or s in (".", "..") for s in segments):
        return f"the prefix {prefix!r} must be {PREFIX_RULE}"
    return None


@dataclass(frozen=True)
class Location:
    """A prefix in a bucket of one of the object stores; `S3Location` and `GCSLocation` say which."""

    bucket: str
    prefix: str
    """Without leading or trailing '/'; empty for the whole bucket."""

    SCHEME: ClassVar[str]
    STORE: ClassVar[str]
    """The store's name in log lines."""
    BUCKET_RULE: ClassVar[str]

    @classmethod
    def parse(cls, uri: str) -> Location:
        scheme = f"{cls.SCHEME}://"
        if not uri.startswith(scheme):
            raise ValueError(f"{uri!r} must be {scheme}<bucket>[/<prefix>]")
        bucket, _, prefix = uri[len(scheme) :].partition("/")
        prefix = prefix.strip("/")
        problem = cls.bucket_problem(bucket) or (_prefix_problem(prefix) if prefix else None)
        if problem:
            raise ValueError(f"{uri!r}: {problem}")
        return cls(bucket, prefix)

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def uri(self, relative: str = "") -> str:
        return f"{self.SCHEME}://{self.bucket}/{self.key(relative) if relative else self.prefix}"


class S3Location(Location):
    SCHEME = "s3"
    STORE = "S3"
    # General purpose bucket naming rules (Amazon S3 user guide, "Bucket naming rules").
    BUCKET_RULE = "3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit, without '..', not an IP address"
    _NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

    @classmethod
    def bucket_problem(cls, bucket: str) -> str | None:
        if not cls._NAME.fullmatch(bucket) or ".." in bucket or _is_ip_address(bucket):
            return f"the S3 bucket {bucket!r} must be {cls.BUCKET_RULE}"
        return None


class GCSLocation(Location):
    SCHEME = "gs"
    STORE = "GCS"
    # Cloud Storage bucket names (docs "Bucket naming requirements"); dotted names longer than 63
    # characters need domain verification and are not accepted here.
    BUCKET_RULE = "3-63 lowercase letters, digits, '_', '.' and '-', starting and ending with a letter or digit, not starting with 'goog' or containing 'google'"
    _NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")

    @classmethod
    def bucket_problem(cls, bucket: str) -> str | None:
        if not cls._NAME.fullmatch(bucket) or bucket.startswith("goog") or "google" in bucket or _is_ip_address(bucket):
            return f"the Cloud Storage bucket {bucket!r} must be {cls.BUCKET_RULE}"
        return None


LOCATIONS: dict[str, type[Location]] = {kind.SCHEME: kind for kind in (S3Location, GCSLocation)}


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def parse_location(uri: str) -> Location:
    """`s3://<bucket>[/<prefix>]` or `gs://<bucket>[/<prefix>]`."""
    scheme, separator, _ = uri.partition("://")
    if not separator or scheme not in LOCATIONS:
        raise ValueError(f"{uri!r} must be s3://<bucket>[/<prefix>] or gs://<bucket>[/<prefix>]")
    return LOCATIONS[scheme].parse(uri)


def parse_hf_source(source: str) -> str:
    """The repository id of an `hf://<org>/<model>` source."""
    match = _HF_SOURCE.fullmatch(source)
    repo = match.group(1) if match else ""
    if not match or "--" in repo or ".." in repo or repo.endswith(".git"):
        raise ValueError(
            f"{source!r} must be hf://<org>/<model>, a Hugging Face repository id: letters, digits, '-', '_' and '.', "
            "each part starting and ending with a letter, digit or '_', without '--' or '..'"
        )
    return repo


def is_bucket_source(source: str) -> bool:
    """Whether a model source names a bucket prefix (copied as it is) rather than a Hugging Face repository."""
    return source.partition("://")[0] in LOCATIONS


# A full Git commit id: the only Hugging Face revision that pins what is served (a branch or tag moves).
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")

SOURCE_RULE = "hf://<org>/<model>, s3://<bucket>/<prefix> (AWS) or gs://<bucket>/<prefix> (Google Cloud)"


def parse_model_source(source: str) -> str:
    """Check a model's `source` against the grammar; returns its scheme (`hf`, `s3` or `gs`)."""
    scheme = source.partition("://")[0]
    if scheme == "hf":
        parse_hf_source(source)
    elif scheme in LOCATIONS:
        if not parse_location(source).prefix:
            raise ValueError(f"{source!r} must name the prefix the weights are under: {scheme}://<bucket>/<prefix>")
    else:
        raise ValueError(f"{source!r} must be {SOURCE_RULE}")
    return scheme


def weights_location(model: str, source: str, stack_bucket: str, scheme: str) -> Location:
    """Where a model's pods read their weights: its staged copy under `models/<model>` of the stack's
    bucket (of store `scheme`) for an `hf://` source, the source itself for a bucket source."""
    if is_bucket_source(source):
        return parse_location(source)
    return LOCATIONS[scheme](stack_bucket, staged_weights_prefix(model))

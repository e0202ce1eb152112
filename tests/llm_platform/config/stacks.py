"""The minimal valid raw stacks the configuration tests start from (the dicts `parse` takes, as a stack file
gives them) and the helpers they share to change a stack and to read what `parse` refused."""

from __future__ import annotations

import copy

import pytest

from llm_platform.config import ConfigError, Violation, parse

# A minimal valid AWS staging stack: no GPU pools, no models.
AWS = {
    "environment": "staging",
    "cloud": "aws",
    "region": "us-west-2",
    "clusterName": "llm-test",
    "aws": {"network": {"cidr": "10.0.0.0/16"}},
    "budget": {"monthlyLimitUsd": 1000, "alertEmails": ["team@example.com"]},
    "observability": {"alertEmails": ["oncall@example.com"]},
}

# A minimal valid Google Cloud staging stack: no GPU pools, no models.
GCP = {
    "environment": "staging",
    "cloud": "gcp",
    "region": "us-central1",
    "clusterName": "llm-test",
    "gcp": {
        "project": "llm-test-project",
        "billingAccount": "012345-6789AB-CDEF01",
        "smtp": {"smarthost": "smtp-relay.gmail.com:587", "from": "alerts@example.com"},
    },
    "budget": {"monthlyLimitUsd": 1000, "alertEmails": ["team@example.com"]},
    "observability": {"alertEmails": ["oncall@example.com"]},
}

# A valid AWS GPU pool (a Karpenter NodePool) of one-L4 instances: pool group `l4`, 2 GPUs at most.
AWS_POOL = {"name": "l4", "instanceTypes": ["g6.xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 2}

# A valid Google Cloud GPU pool (a GKE node pool) of one-L4 machines: pool group `l4`, 2 GPUs at most.
GKE_POOL = {"name": "l4", "machineType": "g2-standard-8", "acceleratorType": "nvidia-l4", "acceleratorCount": 1, "capacityTypes": ["spot"], "maxGpus": 2}

# The top-level keys each cloud's stack allows, in the order an unknown-key rule lists them.
AWS_STACK_KEYS = "environment, cloud, region, clusterName, tags, budget, observability, gpuPools, models, gateway, huggingFaceToken, aws"
GCP_STACK_KEYS = "environment, cloud, region, clusterName, tags, budget, observability, gpuPools, models, gateway, huggingFaceToken, gcp, alertSmtpPassword"

# The keys each cloud's GPU pool allows, in the order an unknown-key rule lists them.
AWS_POOL_KEYS = "name, group, capacityTypes, maxGpus, rootVolumeGib, instanceTypes, weight, consolidateAfter, expireAfter"
GKE_POOL_KEYS = "name, group, capacityTypes, maxGpus, rootVolumeGib, machineType, acceleratorType, acceleratorCount, zones"


class _Delete:
    """The type of DELETE; its repr keeps parametrized test ids the same from run to run."""

    def __repr__(self) -> str:
        return "DELETE"


# The value of a `changed`/`edited` path that removes the key instead of setting it.
DELETE = _Delete()


def changed(base: dict, changes: dict) -> dict:
    """A deep copy of `base` with each dotted path (digits index lists) set to a copy of its value, or removed with DELETE."""
    raw = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = copy.deepcopy(value)
    return raw


def edited(base: dict, section: str, **fields) -> dict:
    """`changed` within one section: a deep copy of `base` with the given keys of the dotted `section` set, or removed with DELETE."""
    return changed(base, {f"{section}.{key}": value for key, value in fields.items()})


def refused(raw: dict) -> ConfigError:
    """The ConfigError `parse` raises for `raw`, failing the test if it accepts it."""
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    return caught.value


def only(error: ConfigError) -> Violation:
    """The single violation of `error`, failing the test (with the rendered lines) if there are more or none."""
    assert len(error.violations) == 1, error.problems
    return error.violations[0]


def problems(raw: dict) -> str:
    """Every line a user reads for `raw`, one per problem, as one text."""
    return "\n".join(refused(raw).problems)

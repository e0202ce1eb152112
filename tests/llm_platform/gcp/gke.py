"""A small Google Cloud configuration of our own for the component tests in this directory, and the explicit
provider `llm_platform/gcp/base.py` gives every Google Cloud component.

Nothing here reads a committed `Pulumi.<stack>.yaml`: each test declares the component it is about with its
own Args; only the tests of how the base wires its components together (and what it hands the in-cluster
platform) run `base.build` on the small stack config below."""

from __future__ import annotations

import functools
from typing import Any

import pulumi
import pulumi_gcp as gcp

from llm_platform import config
from llm_platform.config import GcpStackConfig
from tests import conftest
from tools import mock_cloud

PROJECT = "acme-llm-test"
# What the mock engine answers for any project's number (tools/mock_cloud.py), as GKE and Cloud Storage
# name their service agents after it.
PROJECT_NUMBER = mock_cloud.GCP_PROJECT_NUMBER
REGION = "us-central1"
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]
CLUSTER = "gke-test"
LABELS = {"environment": "staging", "project": "llm-platform", "managed-by": "pulumi", "owner": "ml-infra"}

MISTRAL = {
    "name": "mistral-7b-instruct",
    "source": "hf://mistralai/Mistral-7B-Instruct-v0.3",
    "parametersBillion": 7.25,
    "poolGroup": "l4",
    "minReplicas": 1,
    "maxReplicas": 2,
}

STACK: dict[str, Any] = {
    "cloud": "gcp",
    "environment": "staging",
    "region": REGION,
    "clusterName": CLUSTER,
    "tags": {"owner": "ml-infra"},
    "gcp": {
        "project": PROJECT,
        "billingAccount": "0A1B2C-3D4E5F-6A7B8C",
        "network": {"nodesCidr": "10.60.0.0/20", "podsCidr": "10.64.0.0/14", "servicesCidr": "10.68.0.0/20", "controlPlaneCidr": "172.16.0.32/28"},
        "cluster": {"nodeZones": ZONES},
        "systemPool": {"minNodes": 1, "maxNodes": 3, "spot": True},
        "smtp": {"smarthost": "smtp-relay.gmail.com:587", "from": "alerts@example.com"},
    },
    "budget": {"monthlyLimitUsd": 1500, "alertEmails": ["budget@example.com"]},
    "observability": {"alertEmails": ["oncall@example.com"]},
    "gpuPools": [
        {"name": "l4", "machineType": "g2-standard-8", "acceleratorType": "nvidia-l4", "acceleratorCount": 1, "capacityTypes": ["spot"], "maxGpus": 2}
    ],
    "models": [MISTRAL],
}


def stack_config(**overrides: Any) -> GcpStackConfig:
    return config.parse({**STACK, **overrides})


def on_gcp(**options: Any) -> pulumi.ResourceOptions:
    """Options with an explicit Google Cloud provider for the test project, as the base passes to every Google
    Cloud component (call once inside a program: the provider is a resource)."""
    return pulumi.ResourceOptions(providers={"gcp": gcp.Provider("gcp", project=PROJECT, region=REGION)}, **options)


# The shared `declare_once` (tests/conftest.py), declaring in the test project's region unless told otherwise.
declare_once = functools.partial(conftest.declare_once, region=REGION)

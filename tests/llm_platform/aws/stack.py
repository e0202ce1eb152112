"""Small, self-contained AWS configurations for the component tests in this directory, and the providers
and OIDC identity the components are given, the way `llm_platform/aws/base.py` wires them.

Nothing here reads a committed `Pulumi.<stack>.yaml`: each test declares the component it is about with
its own Args, and only tests about how the base wires components together run `base.build` on one of the
two small stack configs below (a staging-like and a production-like one)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from llm_platform import config
from llm_platform.aws.account import AwsAccount
from llm_platform.config import AwsStackConfig
from tests.conftest import Declared, declare_once
from tools import mock_cloud

# The mock engine's account (tools/mock_cloud.py) and the region the tests declare in.
ACCOUNT = mock_cloud.ACCOUNT_ID
REGION = "us-west-2"
CLUSTER = "llm-test"
TAGS = {"environment": "staging", "project": "llm-platform", "managed-by": "pulumi", "owner": "ml-infra"}
# The EKS cluster's OIDC identity as a component receives it (in the base, from `EksCluster`).
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
OIDC_PROVIDER_ARN = f"arn:{mock_cloud.PARTITION}:iam::{ACCOUNT}:oidc-provider/{ISSUER}"


def account(region: str = REGION) -> AwsAccount:
    """The mock engine's account in `region`, as the base resolves it for its components."""
    return AwsAccount(account_id=ACCOUNT, partition=mock_cloud.PARTITION, region=region)


def on_aws(region: str = REGION, **options: Any) -> pulumi.ResourceOptions:
    """Options with an explicit AWS provider, as the base passes to every AWS component (call inside a program)."""
    return pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region=region)}, **options)


def in_cluster(**options: Any) -> pulumi.ResourceOptions:
    """Options with an explicit Kubernetes provider, as the base passes to in-cluster components."""
    return pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider("k8s", kubeconfig="{}")}, **options)


# -- two small stacks for the tests of the base's wiring -------------------------------------------------

MODEL = {
    "name": "llama-3-1-8b-instruct",
    "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
    "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
    "parametersBillion": 8.03,
    "poolGroup": "a10g",
}

STACKS: dict[str, dict[str, Any]] = {
    "staging": {
        "cloud": "aws",
        "environment": "staging",
        "region": REGION,
        "clusterName": "base-staging",
        "budget": {"monthlyLimitUsd": 1000, "alertEmails": ["budget@example.com"]},
        "observability": {"alertEmails": ["oncall@example.com"]},
        "aws": {"network": {"cidr": "10.20.0.0/16", "azCount": 2}, "cluster": {"karpenterReplicas": 1}},
        "gpuPools": [{"name": "a10g", "instanceTypes": ["g5.xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 1}],
        "models": [{**MODEL, "maxReplicas": 1}],
    },
    "production": {
        "cloud": "aws",
        "environment": "production",
        "region": REGION,
        "clusterName": "base-production",
        "budget": {"monthlyLimitUsd": 4000, "alertEmails": ["budget@example.com"]},
        "observability": {"alertEmails": ["oncall@example.com"], "prometheusStorageGib": 20},
        "aws": {
            "network": {"cidr": "10.30.0.0/16", "azCount": 2, "natGateways": "perAz", "flowLogs": {}},
            "cluster": {"publicAccessCidrs": ["203.0.113.0/24"], "karpenterReplicas": 2},
        },
        "gpuPools": [
            {"name": "a10g-baseline", "group": "a10g", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["on-demand"], "maxGpus": 2, "weight": 100},
            {"name": "a10g-burst", "group": "a10g", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 2},
        ],
        "models": [{**MODEL, "minReplicas": 2, "maxReplicas": 4}],
    },
}


def stack_config(environment: str) -> AwsStackConfig:
    return config.parse(STACKS[environment])


@cache
def base_plan(environment: str) -> Declared:
    """The AWS base (`base.build`, no in-cluster platform) of the small `environment` stack, declared once."""
    from llm_platform.aws.base import build

    cfg = stack_config(environment)
    return declare_once(lambda: build(cfg), region=cfg.region)

"""The in-cluster platform on what either cloud hands it, for the component tests in this directory.

`deploy(cfg, base)` takes the `ClusterBase` a cloud's base builds; here each small stack below is built
by its cloud's real base, so the platform is tested on exactly what it gets in a stack:

- EKS: Karpenter NodePools and the encrypted gp3 StorageClass to wait for, alerts through SNS topics that
  Alertmanager publishes to with its IRSA role, Karpenter's ServiceMonitor and capacity alerts, an IRSA
  role per model, weights in S3 and, when configured, the gateway's NLB behind the load balancer controller;
- GKE: GKE GPU node pools to wait for, alerts mailed through an SMTP relay, no ServiceMonitor and no
  capacity alert of its own, GKE's pd-balanced storage class and DCGM values, weights in Cloud Storage
  read without any service account annotation.

Each stack config is a small one of our own, parsed and validated like a stack file; nothing here reads a
committed `Pulumi.<stack>.yaml`."""

from __future__ import annotations

from functools import cache
from typing import Any

import pulumi

from llm_platform import config
from llm_platform.config import StackConfig
from llm_platform.platform.deploy import ClusterBase, deploy
from tests.conftest import Declared, declare_once
from tools import mock_cloud

# The AWS account the mock engine answers (tools/mock_cloud.py).
ACCOUNT = mock_cloud.ACCOUNT_ID
HUGGING_FACE_TOKEN = "hf_gke_staging_plaintext_token"
PRODUCTION_HUGGING_FACE_TOKEN = "hf_eks_production_plaintext_token"

MISTRAL = {"name": "mistral-7b-instruct", "source": "hf://mistralai/Mistral-7B-Instruct-v0.3", "parametersBillion": 7.25, "poolGroup": "l4"}
# Production pins the Hugging Face commit it stages (config rule `weights_violations`).
LLAMA = {
    "name": "llama-3-1-8b-instruct",
    "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
    "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
    "parametersBillion": 8.03,
    "poolGroup": "a10g",
}

STACKS: dict[str, dict[str, Any]] = {
    "eks-staging": {
        "cloud": "aws",
        "environment": "staging",
        "region": "us-west-2",
        "clusterName": "eks-staging",
        "budget": {"monthlyLimitUsd": 1500, "alertEmails": ["budget@example.com"]},
        "observability": {"retentionDays": 7, "alertEmails": ["oncall@example.com"]},
        "aws": {"network": {"cidr": "10.20.0.0/16"}},
        "gpuPools": [{"name": "l4", "instanceTypes": ["g6.xlarge", "g6.2xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 2}],
        "models": [{**MISTRAL, "minReplicas": 1, "maxReplicas": 2}],
    },
    "eks-production": {
        "cloud": "aws",
        "environment": "production",
        "region": "us-west-2",
        "clusterName": "eks-production",
        "budget": {"monthlyLimitUsd": 4000, "alertEmails": ["budget@example.com"]},
        "observability": {
            "retentionDays": 30,
            "prometheusStorageGib": 100,
            "prometheusReplicas": 2,
            "alertEmails": ["oncall@example.com", "ml-leads@example.com"],
            "thresholds": {"latencyP99Seconds": 4, "spotInterruptionsPerHour": 5},
            "runbookBaseUrl": "https://git.example.com/ml/llm-platform/blob/main/docs/runbooks.md",
        },
        "aws": {
            "network": {"cidr": "10.30.0.0/16", "natGateways": "perAz", "flowLogs": {}},
            "cluster": {"publicAccessCidrs": ["203.0.113.0/24"], "karpenterReplicas": 2},
        },
        "gpuPools": [{"name": "a10g", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["on-demand"], "maxGpus": 4}],
        "models": [{**LLAMA, "minReplicas": 2, "maxReplicas": 4}],
        "gateway": {
            "hostname": "chat.example.com",
            "scheme": "internet-facing",
            "allowedSourceRanges": ["198.51.100.0/24"],
            "clients": [{"name": "web"}, {"name": "batch", "requestsPerMinute": 10}],
        },
        # Set, though production's pods serve only the staged copy and never read it.
        "huggingFaceToken": PRODUCTION_HUGGING_FACE_TOKEN,
    },
    "gke-staging": {
        "cloud": "gcp",
        "environment": "staging",
        "region": "us-central1",
        "clusterName": "gke-staging",
        "gcp": {
            "project": "acme-llm-staging",
            "billingAccount": "0A1B2C-3D4E5F-6A7B8C",
            "network": {"nodesCidr": "10.60.0.0/20", "podsCidr": "10.64.0.0/14", "servicesCidr": "10.68.0.0/20"},
            # An unauthenticated relay (Workspace's, admitting the NAT address): no password, no Secret.
            "smtp": {"smarthost": "smtp-relay.gmail.com:587", "from": "alerts@example.com"},
        },
        "budget": {"monthlyLimitUsd": 1500, "alertEmails": ["budget@example.com"]},
        "observability": {"retentionDays": 7, "prometheusStorageGib": 50, "alertEmails": ["oncall@example.com"]},
        "gpuPools": [
            {"name": "l4", "machineType": "g2-standard-8", "acceleratorType": "nvidia-l4", "acceleratorCount": 1, "capacityTypes": ["spot"], "maxGpus": 2}
        ],
        "models": [{**MISTRAL, "minReplicas": 1, "maxReplicas": 2}],
        "gateway": {"hostname": "llm.gke.example.com", "acmeEmail": "oncall@example.com", "clients": [{"name": "loadtest"}]},
        "huggingFaceToken": HUGGING_FACE_TOKEN,
    },
}

# eks-production in the middle of a release: a new revision and engine setting of its model as a canary
# beside it, on 5 % of its requests.
CANARY_REVISION = "1" * 40
STACKS["eks-production-canary"] = {
    **STACKS["eks-production"],
    "models": [{**LLAMA, "minReplicas": 2, "maxReplicas": 2, "canary": {"revision": CANARY_REVISION, "engine": {"maxNumSeqs": 96}, "weight": 5}}],
}
# The GKE stack with its gateway public: an external passthrough balancer, TLS at the gateway.
STACKS["gke-staging-public"] = {
    **STACKS["gke-staging"],
    "gateway": {**STACKS["gke-staging"]["gateway"], "scheme": "internet-facing", "allowedSourceRanges": ["198.51.100.0/24"]},
}


def stack_config(stack: str) -> StackConfig:
    return config.parse(STACKS[stack])


def base_of(cfg: StackConfig) -> ClusterBase:
    """What the stack's cloud base hands the platform: the real `build(cfg)` of that cloud."""
    if cfg.cloud == "aws":
        from llm_platform.aws.base import build
    else:
        from llm_platform.gcp.base import build
    return build(cfg)


@cache
def deployed(stack: str) -> Declared:
    """The platform deployed on the hand-made base of `stack`'s cloud, with the outputs `__main__.py` exports
    from it. Declared once per test session: tests only read the plan."""
    cfg = stack_config(stack)

    def program() -> None:
        platform = deploy(cfg, base_of(cfg))
        pulumi.export("grafanaAdminPassword", platform.monitoring.grafana_admin_password)
        pulumi.export("modelEndpoints", platform.serving.endpoints)
        pulumi.export("modelApiKeys", platform.serving.api_keys)
        if platform.gateway:
            pulumi.export("gatewayEndpoint", platform.gateway.endpoint)
            pulumi.export("clientKeys", platform.gateway.client_keys)

    return declare_once(program, cfg.region)

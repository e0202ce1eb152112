"""The in-cluster platform on what either cloud hands it, for the component tests in this directory.

`deploy(cfg, base)` takes a `ClusterBase` from a cloud's base. Here the two bases are made by hand from
the pieces `llm_platform/aws/base.py` and `llm_platform/gcp/base.py` hand over, around a cluster that is
not declared (its outputs are plain strings):

- EKS: Karpenter NodePools and the encrypted gp3 StorageClass to wait for, alerts through SNS topics that
  Alertmanager publishes to with its IRSA role, Karpenter's ServiceMonitor and capacity alerts, an IRSA
  role per model, weights in S3 and, when configured, the ALB Ingress behind the load balancer controller;
- GKE: GKE GPU node pools to wait for, alerts mailed through an SMTP relay, no ServiceMonitor and no
  capacity alert of its own, GKE's pd-balanced storage class and DCGM values, weights in Cloud Storage
  read without any service account annotation.

Each stack config is a small one of our own, parsed and validated like a stack file; nothing here reads a
committed `Pulumi.<stack>.yaml`."""

from __future__ import annotations

from functools import cache
from typing import Any, Callable

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from llm_platform import config
from llm_platform.aws import karpenter
from llm_platform.aws.alerts import AlertTopics, AlertTopicsArgs
from llm_platform.aws.ingress import LoadBalancerController, LoadBalancerControllerArgs, ingress
from llm_platform.aws.irsa import IRSA_ANNOTATION
from llm_platform.aws.node_pools import NodePools, NodePoolsArgs
from llm_platform.aws.storage import Storage, StorageArgs
from llm_platform.config import AwsStackConfig, GcpStackConfig, StackConfig
from llm_platform.contract import SYSTEM_NODES, GCSLocation, S3Location, weights_bucket_name
from llm_platform.gcp.alerts import smtp_delivery
from llm_platform.gcp.cluster import GKE_DCGM_VALUES, GKE_STORAGE_CLASS
from llm_platform.gcp.node_pools import GkeGpuNodePools, GkeGpuNodePoolsArgs
from llm_platform.platform.deploy import ClusterBase, deploy
from llm_platform.platform.serving import ModelIngress
from tests.conftest import Declared
from tools.preview import run_under_mocks

# What the mock engine answers (tools/mock_cloud.py): the AWS account and the Google Cloud project number.
ACCOUNT = "123456789012"
PROJECT_NUMBER = "210987654321"
# The EKS cluster's OIDC identity as the base's components receive it from `EksCluster`.
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
OIDC_PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
HUGGING_FACE_TOKEN = "hf_gke_staging_plaintext_token"
HELM = "kubernetes:helm.sh/v3:Release"

MISTRAL = {"name": "mistral-7b-instruct", "source": "hf://mistralai/Mistral-7B-Instruct-v0.3", "parametersBillion": 7.25, "poolGroup": "l4"}
LLAMA = {"name": "llama-3-1-8b-instruct", "source": "hf://meta-llama/Llama-3.1-8B-Instruct", "parametersBillion": 8.03, "poolGroup": "a10g"}

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
            "ingress": {"host": "llm.example.com", "certificateArn": f"arn:aws:acm:us-west-2:{ACCOUNT}:certificate/0123abcd-0123-4567-89ab-0123456789ab"},
        },
        "gpuPools": [{"name": "a10g", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["on-demand"], "maxGpus": 4}],
        "models": [{**LLAMA, "minReplicas": 2, "maxReplicas": 4}],
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
        "huggingFaceToken": HUGGING_FACE_TOKEN,
    },
}


def stack_config(stack: str) -> StackConfig:
    return config.parse(STACKS[stack])


def weights_role_arn(cluster_name: str, model: str) -> str:
    """The IRSA role the AWS base's model store creates for a model's pods (a plain string here)."""
    return f"arn:aws:iam::{ACCOUNT}:role/{cluster_name}-{model}-weights"


def eks_base(cfg: AwsStackConfig) -> ClusterBase:
    """What the AWS base hands the platform, from the AWS pieces that need no cluster (call inside a program)."""
    name, tags = cfg.cluster_name, cfg.common_tags()
    aws_provider = aws.Provider("aws", region=cfg.region)
    k8s_provider = k8s.Provider("k8s", kubeconfig="{}")
    in_cluster = pulumi.ResourceOptions(providers={"kubernetes": k8s_provider})
    node_pools = NodePools(
        f"{name}-pools",
        NodePoolsArgs(
            cluster_name=name,
            node_role_name=f"{name}-karpenter-node",
            ami_alias=cfg.aws.cluster.ami_alias,
            system_pool=cfg.aws.system_pool,
            gpu_pools=cfg.gpu_pools,
            gpu_quiet_hours=cfg.aws.gpu_quiet_hours,
            tags=tags,
        ),
        opts=in_cluster,
    )
    storage = Storage(f"{name}-storage", StorageArgs(), opts=in_cluster)
    alert_topics = AlertTopics(
        f"{name}-alerts",
        AlertTopicsArgs(
            cluster_name=name, region=cfg.region, emails=cfg.observability.alert_emails, oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=ISSUER, tags=tags
        ),
        opts=pulumi.ResourceOptions(providers={"aws": aws_provider}),
    )
    prerequisites: list[pulumi.Resource] = []
    model_ingress = None
    if cfg.aws.ingress is not None:
        prerequisites.append(
            LoadBalancerController(
                f"{name}-lb-controller",
                LoadBalancerControllerArgs(
                    cluster_name=name,
                    vpc_id="vpc-0123456789abcdef0",
                    region=cfg.region,
                    oidc_provider_arn=OIDC_PROVIDER_ARN,
                    oidc_issuer=ISSUER,
                    replicas=2,
                    system_node_selector=SYSTEM_NODES,
                    tags=tags,
                ),
                opts=pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": k8s_provider}),
            )
        )
        model_ingress = ModelIngress(manifest=ingress(cfg.aws.ingress, cfg.models), host=cfg.aws.ingress.host)
    return ClusterBase(
        k8s_provider=k8s_provider,
        capacity=[node_pools, storage],
        storage_class=storage.default_storage_class,
        alert_delivery=alert_topics.delivery,
        network_cidr=str(cfg.aws.network.cidr),
        bucket=weights_bucket_name(name, ACCOUNT),
        object_store=S3Location.SCHEME,
        service_account_annotations={model.name: {IRSA_ANNOTATION: weights_role_arn(name, model.name)} for model in cfg.models},
        cluster_monitors=[karpenter.service_monitor()],
        capacity_alerts=karpenter.capacity_alerts(cfg.observability.thresholds),
        ingress=model_ingress,
        serving_prerequisites=prerequisites,
    )


def gke_base(cfg: GcpStackConfig) -> ClusterBase:
    """What the GCP base hands the platform, from the GCP pieces that need no cluster (call inside a program)."""
    name = cfg.cluster_name
    gcp_provider = gcp.Provider("gcp", project=cfg.gcp.project, region=cfg.region)
    k8s_provider = k8s.Provider("k8s", kubeconfig="{}")
    gpu_pools = GkeGpuNodePools(
        f"{name}-pools",
        GkeGpuNodePoolsArgs(
            cluster_id=f"projects/{cfg.gcp.project}/locations/{cfg.region}/clusters/{name}",
            region=cfg.region,
            gpu_pools=cfg.gpu_pools,
            gpu_driver_version=cfg.gcp.cluster.gpu_driver_version,
            service_account=f"{name}-nodes@{cfg.gcp.project}.iam.gserviceaccount.com",
            labels=cfg.common_tags(),
        ),
        opts=pulumi.ResourceOptions(providers={"gcp": gcp_provider}),
    )
    password = pulumi.Output.secret(cfg.alert_smtp_password) if cfg.alert_smtp_password else None
    return ClusterBase(
        k8s_provider=k8s_provider,
        capacity=[gpu_pools],
        storage_class=GKE_STORAGE_CLASS,
        alert_delivery=smtp_delivery(cfg.gcp.smtp, cfg.observability.alert_emails, password),
        network_cidr=str(cfg.gcp.network.nodes_cidr),
        bucket=weights_bucket_name(name, cfg.gcp.project),
        object_store=GCSLocation.SCHEME,
        service_account_annotations={},
        dcgm_overrides=GKE_DCGM_VALUES,
    )


BASES: dict[str, Callable[[Any], ClusterBase]] = {"aws": eks_base, "gcp": gke_base}


def declare_once(program: Callable[[], None], region: str) -> Declared:
    """What the `declare` fixture (tests/conftest.py) does, for a plan several tests share."""
    return Declared(run_under_mocks(program, stack="test", config={"llm-platform:region": region}))


@cache
def deployed(stack: str) -> Declared:
    """The platform deployed on the hand-made base of `stack`'s cloud, with the outputs `__main__.py` exports
    from it. Declared once per test session: tests only read the plan."""
    cfg = stack_config(stack)

    def program() -> None:
        platform = deploy(cfg, BASES[cfg.cloud](cfg))
        pulumi.export("grafanaAdminPassword", platform.monitoring.grafana_admin_password)
        pulumi.export("modelEndpoints", platform.serving.endpoints)
        pulumi.export("modelApiKeys", platform.serving.api_keys)

    return declare_once(program, cfg.region)


def release(declared: Declared, name: str):
    """The Helm release of that release name."""
    (found,) = [r for r in declared.of_type(HELM) if r.inputs["name"] == name]
    return found

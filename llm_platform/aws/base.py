"""The AWS base of a stack: the VPC, the EKS cluster, Karpenter and its node pools, the NVIDIA device
plugin, EBS volumes, the weights bucket, the budget, alert delivery through SNS and, when configured, an
HTTPS endpoint. It hands the in-cluster platform what differs from Google Cloud as a `ClusterBase`."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from llm_platform import pins
from llm_platform.aws.account import AwsAccount
from llm_platform.aws.alerts import AlertTopics, AlertTopicsArgs
from llm_platform.aws.budget import CostBudget, CostBudgetArgs
from llm_platform.aws.cluster import EksCluster, EksClusterArgs
from llm_platform.aws.ebs_csi import EbsCsiDriver, EbsCsiDriverArgs
from llm_platform.aws.ingress import LoadBalancerController, LoadBalancerControllerArgs, gateway_certificate, gateway_edge
from llm_platform.aws.irsa import IRSA_ANNOTATION
from llm_platform.aws.karpenter import Karpenter, KarpenterArgs, KarpenterInfra, KarpenterInfraArgs, capacity_alerts, service_monitor
from llm_platform.aws.network import Network, NetworkArgs
from llm_platform.aws.node_pools import PLACEMENT, NodePools, NodePoolsArgs
from llm_platform.aws.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from llm_platform.aws.object_store import ModelStore, ModelStoreArgs
from llm_platform.aws.registry import ImageCache, ImageCacheArgs, cache_warmer
from llm_platform.aws.storage import Storage, StorageArgs
from llm_platform.config import AwsStackConfig
from llm_platform.config.models import releases
from llm_platform.contract import SYSTEM_NODES
from llm_platform.platform.deploy import ClusterBase


def build(cfg: AwsStackConfig) -> ClusterBase:
    tags = cfg.common_tags()
    name = cfg.cluster_name
    # An explicit provider: the region comes from the validated stack config, never from ambient settings.
    aws_provider = aws.Provider("aws", region=cfg.region)
    on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})
    account = AwsAccount.resolve(aws_provider, cfg.region)

    CostBudget(name, CostBudgetArgs(config=cfg.budget, tags=tags), opts=on_aws)
    network = Network(name, NetworkArgs(config=cfg.aws.network, cluster_name=name, account=account, tags=tags), opts=on_aws)
    cluster = EksCluster(
        name,
        EksClusterArgs(
            config=cfg.aws.cluster,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            public_subnet_ids=network.public_subnet_ids,
            tags=tags,
        ),
        opts=on_aws,
    )
    karpenter_infra = KarpenterInfra(
        f"{name}-karpenter",
        KarpenterInfraArgs(cluster_name=name, account=account, oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer, tags=tags),
        opts=pulumi.ResourceOptions(providers={"aws": aws_provider}, depends_on=[cluster]),
    )
    in_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.k8s_provider})
    karpenter = Karpenter(
        f"{name}-karpenter",
        KarpenterArgs(
            cluster_name=name,
            controller_role_arn=karpenter_infra.controller_role_arn,
            interruption_queue_name=karpenter_infra.interruption_queue_name,
            replicas=cfg.aws.cluster.karpenter_replicas,
        ),
        opts=in_cluster,
    )
    node_pools = NodePools(
        f"{name}-pools",
        NodePoolsArgs(
            cluster_name=name,
            node_role_name=karpenter_infra.node_role_name,
            ami_alias=cfg.aws.cluster.ami_alias,
            system_pool=cfg.aws.system_pool,
            gpu_pools=cfg.gpu_pools,
            gpu_quiet_hours=cfg.aws.gpu_quiet_hours,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(providers={"kubernetes": cluster.k8s_provider}, depends_on=[karpenter]),
    )
    # The vLLM image from ECR in the region rather than from Docker Hub.
    image_cache = ImageCache(
        f"{name}-images",
        ImageCacheArgs(account=account, docker_hub_secret=cfg.aws.docker_hub_secret, node_role_name=karpenter_infra.node_role_name),
        opts=on_aws,
    )
    # AL2023's NVIDIA AMI brings the driver but not the device plugin (GKE runs its own).
    NvidiaDevicePlugin(f"{name}-nvidia", NvidiaDevicePluginArgs(), opts=in_cluster)
    EbsCsiDriver(
        f"{name}-ebs-csi",
        EbsCsiDriverArgs(
            cluster_name=name,
            account=account,
            kubernetes_version=cfg.aws.cluster.kubernetes_version,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(providers={"aws": aws_provider}, depends_on=[node_pools]),
    )
    storage = Storage(f"{name}-storage", StorageArgs(), opts=in_cluster)
    alert_topics = AlertTopics(
        f"{name}-alerts",
        AlertTopicsArgs(
            cluster_name=name,
            region=cfg.region,
            emails=cfg.observability.alert_emails,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            tags=tags,
        ),
        opts=on_aws,
    )
    model_store = ModelStore(
        f"{name}-models",
        ModelStoreArgs(
            cluster_name=name,
            account=account,
            # Every model and every canary: each reads its weights with an identity of its own.
            models=releases(cfg.models),
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            protect=cfg.environment == "production",
            tags=tags,
        ),
        opts=on_aws,
    )
    # The model pods pull by digest, which the cache serves only once a pull by tag has filled it.
    serving_prerequisites: list[pulumi.Resource] = [
        cache_warmer(
            f"{name}-images",
            pins.mirrored(pins.VLLM_IMAGE, image_cache.mirror),
            pulumi.ResourceOptions(providers={"kubernetes": cluster.k8s_provider}, depends_on=[image_cache, node_pools]),
        )
    ]
    edge = None
    exports = {}
    if cfg.gateway is not None:
        controller = LoadBalancerController(
            f"{name}-lb-controller",
            LoadBalancerControllerArgs(
                cluster_name=name,
                vpc_id=network.vpc_id,
                account=account,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                replicas=2,
                system_node_selector=SYSTEM_NODES,
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.k8s_provider}, depends_on=[node_pools]),
        )
        certificate = gateway_certificate(f"{name}-gateway", cfg.gateway, tags, on_aws)
        edge = gateway_edge(cfg.gateway, certificate.arn, network.load_balancer_cidrs, [controller, certificate])
        exports["gatewayCertificateValidation"] = certificate.domain_validation_options
    return ClusterBase(
        k8s_provider=cluster.k8s_provider,
        capacity=[node_pools, storage],
        storage_class=storage.default_storage_class,
        alert_delivery=alert_topics.delivery,
        bucket=model_store.bucket,
        service_account_annotations={model: {IRSA_ANNOTATION: arn} for model, arn in model_store.role_arns.items()},
        capacity_placement=PLACEMENT,
        control_plane_cidrs=network.control_plane_cidrs,
        cluster_monitors=[service_monitor()],
        capacity_alerts=capacity_alerts(cfg.observability.thresholds),
        gateway_edge=edge,
        serving_prerequisites=serving_prerequisites,
        image_registry=image_cache.mirror,
        exports={
            **exports,
            "vpcId": network.vpc_id,
            "publicSubnetIds": network.public_subnet_ids,
            "privateSubnetIds": network.private_subnet_ids,
            "availabilityZones": network.availability_zones,
            "clusterName": cluster.cluster_name,
            "kubeconfig": cluster.kubeconfig,
            "karpenterInterruptionQueue": karpenter_infra.interruption_queue_name,
            "nodePools": node_pools.node_pool_names,
            "alertTopics": alert_topics.topic_arns,
        },
    )

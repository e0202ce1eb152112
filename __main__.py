"""llm-platform: loads the stack configuration and composes the components. Nothing else lives here.

The stack's cloud builds the base (network, cluster, GPU pools, object store, alert delivery); the
in-cluster platform on top of it (monitoring, dashboards and alerts, KEDA, model serving) is the same
components on either cloud, given what differs as arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from components.alert_topics import AlertTopics, AlertTopicsArgs
from components.budget import CostBudget, CostBudgetArgs
from components.ebs_csi import EbsCsiDriver, EbsCsiDriverArgs
from components.eks_cluster import IRSA_ANNOTATION, EksCluster, EksClusterArgs
from components.gcp_budget import GcpBudget, GcpBudgetArgs
from components.gcp_network import GcpNetwork, GcpNetworkArgs
from components.gcp_services import GcpServices, GcpServicesArgs
from components.gcs_model_store import GcsModelStore, GcsModelStoreArgs
from components.gke_cluster import GKE_DCGM_VALUES, GKE_STORAGE_CLASS, GkeCluster, GkeClusterArgs
from components.gke_node_pools import GkeGpuNodePools, GkeGpuNodePoolsArgs
from components.karpenter import Karpenter, KarpenterArgs
from components.karpenter_infra import KarpenterInfra, KarpenterInfraArgs
from components.keda import Keda, KedaArgs
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.model_store import ModelStore, ModelStoreArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.node_pools import SYSTEM_NODES, NodePools, NodePoolsArgs
from components.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from components.observability import ServingObservability, ServingObservabilityArgs
from components.serving import Serving, ServingArgs
from components.storage import Storage, StorageArgs
from llm_platform import config as stack_config
from llm_platform.config import StackConfig
from llm_platform.observability.delivery import AlertDelivery, smtp_delivery


@dataclass
class ClusterBase:
    """What a cloud's base gives the in-cluster platform."""

    k8s_provider: pulumi.ProviderResource
    gpu_capacity: list[pulumi.Resource]
    """What model servers wait for: GPU pools (and, on EKS, the device plugin's prerequisites)."""
    storage_class: pulumi.Input[str]
    alert_delivery: AlertDelivery
    scrape_karpenter: bool
    """Karpenter runs the nodes: scrape it and alert on its signals."""
    dcgm_overrides: dict
    network_cidr: str
    """Where the cloud's load balancers reach pods from (the model servers' NetworkPolicy admits it)."""
    bucket: pulumi.Input[str]
    object_store: str
    service_account_annotations: dict[str, Mapping[str, pulumi.Input[str]]]
    serving_prerequisites: list[pulumi.Resource] = field(default_factory=list)
    exports: dict[str, pulumi.Input] = field(default_factory=dict)


def aws_base(cfg: StackConfig) -> ClusterBase:
    tags = cfg.common_tags()
    name = cfg.cluster_name
    # An explicit provider: the region comes from the validated stack config, never from ambient settings.
    aws_provider = aws.Provider("aws", region=cfg.region)
    on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})

    CostBudget(name, CostBudgetArgs(config=cfg.budget, tags=tags), opts=on_aws)
    network = Network(name, NetworkArgs(config=cfg.network, cluster_name=name, tags=tags), opts=on_aws)
    cluster = EksCluster(
        name,
        EksClusterArgs(
            config=cfg.cluster,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            public_subnet_ids=network.public_subnet_ids,
            tags=tags,
        ),
        opts=on_aws,
    )
    karpenter_infra = KarpenterInfra(
        f"{name}-karpenter",
        KarpenterInfraArgs(cluster_name=name, oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer, tags=tags),
        opts=pulumi.ResourceOptions(providers={"aws": aws_provider}, depends_on=[cluster]),
    )
    in_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.k8s_provider})
    karpenter = Karpenter(
        f"{name}-karpenter",
        KarpenterArgs(
            cluster_name=name,
            controller_role_arn=karpenter_infra.controller_role_arn,
            interruption_queue_name=karpenter_infra.interruption_queue_name,
            replicas=cfg.cluster.karpenter_replicas,
        ),
        opts=in_cluster,
    )
    node_pools = NodePools(
        f"{name}-pools",
        NodePoolsArgs(
            cluster_name=name,
            node_role_name=karpenter_infra.node_role_name,
            ami_alias=cfg.cluster.ami_alias,
            system_pool=cfg.system_pool,
            gpu_pools=cfg.gpu_pools,
            gpu_quiet_hours=cfg.gpu_quiet_hours,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(providers={"kubernetes": cluster.k8s_provider}, depends_on=[karpenter]),
    )
    # AL2023's NVIDIA AMI brings the driver but not the device plugin; GKE runs its own.
    NvidiaDevicePlugin(f"{name}-nvidia", NvidiaDevicePluginArgs(), opts=in_cluster)
    EbsCsiDriver(
        f"{name}-ebs-csi",
        EbsCsiDriverArgs(
            cluster_name=name,
            kubernetes_version=cfg.cluster.kubernetes_version,
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
            models=cfg.models,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            protect=cfg.environment == "production",
            tags=tags,
        ),
        opts=on_aws,
    )
    serving_prerequisites: list[pulumi.Resource] = []
    if cfg.ingress is not None:
        serving_prerequisites.append(
            LoadBalancerController(
                f"{name}-lb-controller",
                LoadBalancerControllerArgs(
                    cluster_name=name,
                    vpc_id=network.vpc_id,
                    region=cfg.region,
                    oidc_provider_arn=cluster.oidc_provider_arn,
                    oidc_issuer=cluster.oidc_issuer,
                    replicas=2,
                    system_node_selector=SYSTEM_NODES,
                    tags=tags,
                ),
                opts=pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.k8s_provider}, depends_on=[node_pools]),
            )
        )
    return ClusterBase(
        k8s_provider=cluster.k8s_provider,
        gpu_capacity=[node_pools, storage],
        storage_class=storage.default_storage_class,
        alert_delivery=alert_topics.delivery,
        scrape_karpenter=True,
        dcgm_overrides={},
        network_cidr=str(cfg.network.cidr),
        bucket=model_store.bucket,
        object_store="s3",
        service_account_annotations={model: {IRSA_ANNOTATION: arn} for model, arn in model_store.role_arns.items()},
        serving_prerequisites=serving_prerequisites,
        exports={
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


def gcp_base(cfg: StackConfig) -> ClusterBase:
    gcp_cfg = cfg.gcp
    labels = cfg.common_tags()
    name = cfg.cluster_name
    # An explicit provider: project and region come from the validated stack config, never from gcloud's.
    # Quota and billing of API calls go to the stack's project, not to whatever project the caller's
    # credentials default to: the Billing Budgets API refuses user credentials without a quota project.
    gcp_provider = gcp.Provider(
        "gcp", project=gcp_cfg.project, region=cfg.region, default_labels=labels, user_project_override=True, billing_project=gcp_cfg.project
    )
    services = GcpServices(name, GcpServicesArgs(project=gcp_cfg.project), opts=pulumi.ResourceOptions(providers={"gcp": gcp_provider}))
    on_gcp = pulumi.ResourceOptions(providers={"gcp": gcp_provider}, depends_on=services.services)

    network = GcpNetwork(name, GcpNetworkArgs(config=gcp_cfg.network, region=cfg.region, labels=labels), opts=on_gcp)
    cluster = GkeCluster(
        name,
        GkeClusterArgs(
            cluster_name=name,
            project=gcp_cfg.project,
            region=cfg.region,
            config=gcp_cfg.cluster,
            system_pool=gcp_cfg.system_pool,
            network=network.network_id,
            subnetwork=network.subnetwork_self_link,
            pods_range_name=network.pods_range_name,
            services_range_name=network.services_range_name,
            control_plane_cidr=str(gcp_cfg.network.control_plane_cidr),
            labels=labels,
        ),
        opts=on_gcp,
    )
    GcpBudget(name, GcpBudgetArgs(config=cfg.budget, project=gcp_cfg.project, project_number=cluster.project_number), opts=on_gcp)
    gpu_pools = GkeGpuNodePools(
        f"{name}-pools",
        GkeGpuNodePoolsArgs(
            cluster_id=cluster.cluster_id,
            region=cfg.region,
            gpu_pools=cfg.gpu_pools,
            gpu_driver_version=gcp_cfg.cluster.gpu_driver_version,
            service_account=cluster.node_service_account,
            labels=labels,
        ),
        opts=on_gcp,
    )
    model_store = GcsModelStore(
        f"{name}-models",
        GcsModelStoreArgs(
            cluster_name=name,
            project=gcp_cfg.project,
            project_number=cluster.project_number,
            region=cfg.region,
            key_ring_id=cluster.key_ring_id,
            models=cfg.models,
            protect=cfg.environment == "production",
            labels=labels,
        ),
        opts=on_gcp,
    )
    return ClusterBase(
        k8s_provider=cluster.k8s_provider,
        gpu_capacity=[gpu_pools],
        storage_class=GKE_STORAGE_CLASS,
        alert_delivery=smtp_delivery(
            cfg.observability.smtp,
            cfg.observability.alert_emails,
            pulumi.Output.secret(cfg.alert_smtp_password) if cfg.alert_smtp_password else None,
        ),
        scrape_karpenter=False,
        dcgm_overrides=GKE_DCGM_VALUES,
        network_cidr=str(gcp_cfg.network.nodes_cidr),
        bucket=model_store.bucket,
        object_store="gs",
        # Workload Identity Federation: the bucket grants each model's service account itself.
        service_account_annotations={},
        exports={
            "project": gcp_cfg.project,
            "network": network.network_self_link,
            "natAddresses": network.nat_addresses,
            "clusterName": cluster.cluster_name,
            "kubeconfig": cluster.kubeconfig,
            "nodePools": gpu_pools.node_pool_names,
        },
    )


cfg = stack_config.load()
name = cfg.cluster_name
base = aws_base(cfg) if cfg.cloud == "aws" else gcp_base(cfg)


def in_cluster_after(*prerequisites: pulumi.Resource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers={"kubernetes": base.k8s_provider}, depends_on=list(prerequisites))


# Monitoring runs on the system pool and keeps Prometheus data on the storage class: both must exist first.
monitoring = Monitoring(
    f"{name}-monitoring",
    MonitoringArgs(
        config=cfg.observability,
        storage_class=base.storage_class,
        alert_delivery=base.alert_delivery,
        scrape_karpenter=base.scrape_karpenter,
        dcgm_overrides=base.dcgm_overrides,
    ),
    opts=in_cluster_after(*base.gpu_capacity),
)
ServingObservability(f"{name}-observability", ServingObservabilityArgs(config=cfg.observability, karpenter=base.scrape_karpenter), opts=in_cluster_after(monitoring))
keda = Keda(f"{name}-keda", KedaArgs(replicas=cfg.observability.prometheus_replicas), opts=in_cluster_after(*base.gpu_capacity))
# Model servers need the GPU pools, Prometheus (ServiceMonitor CRD, scaling queries) and KEDA
# (ScaledObject CRD) in place.
serving = Serving(
    f"{name}-serving",
    ServingArgs(
        models=cfg.models,
        bucket=base.bucket,
        object_store=base.object_store,
        service_account_annotations=base.service_account_annotations,
        vpc_cidr=base.network_cidr,
        ingress=cfg.ingress,
        hugging_face_token=pulumi.Output.secret(cfg.hugging_face_token) if cfg.hugging_face_token else None,
    ),
    opts=in_cluster_after(*base.gpu_capacity, monitoring, keda, *base.serving_prerequisites),
)

pulumi.export("cloud", cfg.cloud)
pulumi.export("region", cfg.region)
for key, value in base.exports.items():
    pulumi.export(key, value)
pulumi.export("monitoringNamespace", monitoring.namespace)
pulumi.export("defaultStorageClass", base.storage_class)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)
pulumi.export("modelBucket", base.bucket)
pulumi.export("modelEndpoints", serving.endpoints)
pulumi.export("modelApiKeys", serving.api_keys)

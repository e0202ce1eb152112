"""llm-platform: loads the stack configuration and composes the components. Nothing else lives here."""

import pulumi
import pulumi_aws as aws

from components.alert_topics import AlertTopics, AlertTopicsArgs
from components.budget import CostBudget, CostBudgetArgs
from components.ebs_csi import EbsCsiDriver, EbsCsiDriverArgs
from components.eks_cluster import EksCluster, EksClusterArgs
from components.karpenter import Karpenter, KarpenterArgs
from components.keda import Keda, KedaArgs
from components.karpenter_infra import KarpenterInfra, KarpenterInfraArgs
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

cfg = stack_config.load()
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


def in_cluster_after(*prerequisites: pulumi.Resource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers={"kubernetes": cluster.k8s_provider}, depends_on=list(prerequisites))


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
    opts=in_cluster_after(karpenter),
)
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
        cluster_name=name, emails=cfg.observability.alert_emails, oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer, tags=tags
    ),
    opts=on_aws,
)
# Monitoring runs on the system pool and keeps Prometheus data on the gp3 class: both must exist first.
monitoring = Monitoring(
    f"{name}-monitoring",
    MonitoringArgs(
        config=cfg.observability,
        region=cfg.region,
        storage_class=storage.default_storage_class,
        alert_topic_arns=alert_topics.topic_arns,
        alertmanager_role_arn=alert_topics.alertmanager_role_arn,
    ),
    opts=in_cluster_after(node_pools, storage),
)
ServingObservability(f"{name}-observability", ServingObservabilityArgs(config=cfg.observability), opts=in_cluster_after(monitoring))
keda = Keda(
    f"{name}-keda",
    KedaArgs(replicas=cfg.observability.prometheus_replicas),
    opts=in_cluster_after(node_pools),
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
serving_prerequisites = [node_pools, monitoring, keda]
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
# Model servers need the GPU pools, the device plugin, Prometheus (ServiceMonitor CRD, scaling queries)
# and KEDA (ScaledObject CRD) in place.
serving = Serving(
    f"{name}-serving",
    ServingArgs(
        models=cfg.models,
        bucket=model_store.bucket,
        role_arns=model_store.role_arns,
        vpc_cidr=str(cfg.network.cidr),
        ingress=cfg.ingress,
        hugging_face_token=pulumi.Output.secret(cfg.hugging_face_token) if cfg.hugging_face_token else None,
    ),
    opts=in_cluster_after(*serving_prerequisites),
)

pulumi.export("region", cfg.region)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("availabilityZones", network.availability_zones)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("karpenterInterruptionQueue", karpenter_infra.interruption_queue_name)
pulumi.export("nodePools", node_pools.node_pool_names)
pulumi.export("defaultStorageClass", storage.default_storage_class)
pulumi.export("monitoringNamespace", monitoring.namespace)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)
pulumi.export("alertTopics", alert_topics.topic_arns)
pulumi.export("modelBucket", model_store.bucket)
pulumi.export("modelEndpoints", serving.endpoints)
pulumi.export("modelApiKeys", serving.api_keys)

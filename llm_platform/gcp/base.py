"""The Google Cloud base of a stack: the project's APIs, the VPC with Cloud NAT, a private GKE cluster
with its system pool, GPU node pools, the weights bucket, the Cloud Billing budget, and alert delivery by
mail. It hands the in-cluster platform what differs from AWS as a `ClusterBase`."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from llm_platform.config import GcpStackConfig
from llm_platform.config.models import releases
from llm_platform.gcp.alerts import smtp_delivery
from llm_platform.gcp.budget import GcpBudget, GcpBudgetArgs
from llm_platform.gcp.certificates import CloudDnsIssuing, CloudDnsIssuingArgs
from llm_platform.gcp.cluster import GKE_DCGM_VALUES, GKE_STORAGE_CLASS, GkeCluster, GkeClusterArgs
from llm_platform.gcp.network import GcpNetwork, GcpNetworkArgs
from llm_platform.gcp.node_pools import PLACEMENT, GkeGpuNodePools, GkeGpuNodePoolsArgs
from llm_platform.gcp.object_store import GcsModelStore, GcsModelStoreArgs
from llm_platform.gcp.registry import RemoteImageRepository, RemoteImageRepositoryArgs
from llm_platform.gcp.services import GcpServices, GcpServicesArgs
from llm_platform.platform.deploy import ClusterBase
from llm_platform.platform.gateway import GatewayEdge


def build(cfg: GcpStackConfig) -> ClusterBase:
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
    GcpBudget(
        name,
        GcpBudgetArgs(config=cfg.budget, billing_account=gcp_cfg.billing_account, project=gcp_cfg.project, project_number=cluster.project_number),
        opts=on_gcp,
    )
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
    # The vLLM image from Artifact Registry in the region rather than from Docker Hub.
    images = RemoteImageRepository(
        f"{name}-images", RemoteImageRepositoryArgs(project=gcp_cfg.project, region=cfg.region, node_service_account=cluster.node_service_account), opts=on_gcp
    )
    model_store = GcsModelStore(
        f"{name}-models",
        GcsModelStoreArgs(
            cluster_name=name,
            project=gcp_cfg.project,
            project_number=cluster.project_number,
            region=cfg.region,
            key_ring_id=cluster.key_ring_id,
            # Every model and every canary: each reads its weights with an identity of its own.
            models=releases(cfg.models),
            protect=cfg.environment == "production",
            labels=labels,
        ),
        opts=on_gcp,
    )
    edge = None
    if cfg.gateway is not None:
        # A passthrough Network Load Balancer in front of the proxies (GKE's Service controller), external
        # without the Internal annotation. It passes TLS through: the proxies terminate it with the
        # certificate cert-manager issues, proving the hostname in Cloud DNS.
        issuing = CloudDnsIssuing(
            f"{name}-certificates", CloudDnsIssuingArgs(cluster_name=name, project=gcp_cfg.project, dns_project=gcp_cfg.dns_project or gcp_cfg.project), opts=on_gcp
        )
        annotations = {"networking.gke.io/load-balancer-type": "Internal"} if cfg.gateway.scheme == "internal" else {}
        spec: dict = {"type": "LoadBalancer"}
        if cfg.gateway.allowed_source_ranges:
            spec["loadBalancerSourceRanges"] = [str(cidr) for cidr in cfg.gateway.allowed_source_ranges]
        # A passthrough balancer keeps the client's address, so the proxies admit the clients themselves: the
        # ranges the stack lists; without a list, an internal balancer's clients in the VPC (its subnet and the
        # cluster's pods) and an internet-facing one's anywhere (its firewall then admits anyone, which only
        # staging allows). The nodes always: traffic forwarded between nodes carries a node's address.
        listed = spec.get("loadBalancerSourceRanges") or (
            [str(gcp_cfg.network.nodes_cidr), str(gcp_cfg.network.pods_cidr)] if cfg.gateway.scheme == "internal" else ["0.0.0.0/0"]
        )
        sources = [*listed, str(gcp_cfg.network.nodes_cidr)]
        edge = GatewayEdge(
            service={"metadata": {"annotations": annotations}, "spec": spec}, tls=True, sources=list(dict.fromkeys(sources)), certificate=issuing.issuing
        )
    return ClusterBase(
        k8s_provider=cluster.k8s_provider,
        capacity=[gpu_pools],
        storage_class=GKE_STORAGE_CLASS,
        alert_delivery=smtp_delivery(
            gcp_cfg.smtp,
            cfg.observability.alert_emails,
            pulumi.Output.secret(cfg.alert_smtp_password) if cfg.alert_smtp_password else None,
        ),
        bucket=model_store.bucket,
        # Workload Identity Federation: the bucket grants each model's service account itself.
        service_account_annotations={},
        capacity_placement=PLACEMENT,
        control_plane_cidrs=[str(gcp_cfg.network.control_plane_cidr)],
        dcgm_overrides=GKE_DCGM_VALUES,
        gateway_edge=edge,
        image_registry=images.mirror,
        exports={
            "project": gcp_cfg.project,
            "network": network.network_self_link,
            "natAddresses": network.nat_addresses,
            "clusterName": cluster.cluster_name,
            "kubeconfig": cluster.kubeconfig,
            "nodePools": gpu_pools.node_pool_names,
        },
    )

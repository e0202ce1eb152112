"""The in-cluster platform on a cluster of either cloud: monitoring, dashboards and alerts, KEDA, and the
model servers. A cloud base builds the cluster and hands over a `ClusterBase`: everything the platform
needs that differs between clouds. Nothing here knows which cloud it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi

from llm_platform import pins
from llm_platform.config import StackConfig
from llm_platform.platform.alerts import Alert
from llm_platform.platform.cert_manager import CertManager, CertManagerArgs
from llm_platform.platform.delivery import AlertDelivery
from llm_platform.platform.gateway import GATEWAY, GatewayEdge, InferenceGateway, InferenceGatewayArgs, recent_requests_query
from llm_platform.platform.keda import Keda, KedaArgs
from llm_platform.platform.model_server import CapacityPlacement
from llm_platform.platform.monitoring import Monitoring, MonitoringArgs
from llm_platform.platform.observability import ServingObservability, ServingObservabilityArgs
from llm_platform.platform.serving import Serving, ServingArgs


@dataclass
class ClusterBase:
    """What a cloud's base gives the in-cluster platform."""

    k8s_provider: pulumi.ProviderResource
    capacity: list[pulumi.Resource]
    """What the platform's workloads wait for: the nodes they run on and the storage class Prometheus's
    volumes use. On EKS the Karpenter NodePools (system and GPU) and the gp3 class; on GKE the GPU node
    pools (the Kubernetes provider itself already waits for the system pool, and the class is built in)."""
    storage_class: pulumi.Input[str]
    alert_delivery: AlertDelivery
    bucket: pulumi.Input[str]
    service_account_annotations: dict[str, Mapping[str, pulumi.Input[str]]]
    """By model: what its Kubernetes service account carries so that its pods can read the weights."""
    control_plane_cidrs: list[str]
    """Where the Kubernetes API server calls admission webhooks and aggregated APIs from (it is not a pod,
    so only its addresses can admit it): the cluster's subnets on EKS, the control plane's range on GKE."""
    capacity_placement: CapacityPlacement
    """How the cloud's nodes tell on-demand from spot (a model's floor and burst place by it)."""
    cluster_monitors: list[dict] = field(default_factory=list)
    """ServiceMonitors for what the base runs in the cluster (Karpenter on EKS)."""
    capacity_alerts: list[Alert] = field(default_factory=list)
    """The base's own GPU-capacity alerts (Karpenter's signals on EKS)."""
    dcgm_overrides: dict = field(default_factory=dict)
    """DCGM exporter values the cloud's GPU nodes need (GKE's driver location)."""
    gateway_edge: GatewayEdge | None = None
    """What the cloud puts in front of the inference gateway, when the stack configures one: the models'
    only way in from outside the cluster."""
    serving_prerequisites: list[pulumi.Resource] = field(default_factory=list)
    """What the model servers need before they are declared (the image cache's warm-up on EKS)."""
    image_registry: str | None = None
    """A registry in the cluster's region that serves Docker Hub's repositories (`<host>/<path>`): an ECR
    pull-through cache on EKS, an Artifact Registry remote repository on GKE. The model servers pull the
    pinned vLLM image through it (`pins.mirrored`); without one, from Docker Hub."""
    exports: dict[str, pulumi.Input] = field(default_factory=dict)
    """Stack outputs of the base."""


@dataclass
class Platform:
    monitoring: Monitoring
    serving: Serving
    gateway: InferenceGateway | None


def deploy(cfg: StackConfig, base: ClusterBase) -> Platform:
    name = cfg.cluster_name

    def in_cluster_after(*prerequisites: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers={"kubernetes": base.k8s_provider}, depends_on=list(prerequisites))

    # The models are fronted by the inference gateway when the stack configures one (its base then hands
    # over what stands in front of it).
    fronted = cfg.gateway is not None and base.gateway_edge is not None

    # Monitoring runs on the system pool and keeps Prometheus data on the storage class: the base's capacity first.
    monitoring = Monitoring(
        f"{name}-monitoring",
        MonitoringArgs(
            config=cfg.observability,
            storage_class=base.storage_class,
            alert_delivery=base.alert_delivery,
            cluster_monitors=base.cluster_monitors,
            dcgm_overrides=base.dcgm_overrides,
            control_plane_cidrs=base.control_plane_cidrs,
        ),
        opts=in_cluster_after(*base.capacity),
    )
    ServingObservability(
        f"{name}-observability",
        ServingObservabilityArgs(
            config=cfg.observability,
            cluster_capacity_alerts=base.capacity_alerts,
            # agentgateway's deployer names the proxies' Deployment after the Gateway.
            gateway_proxies=GATEWAY if fronted else None,
        ),
        opts=in_cluster_after(monitoring),
    )
    keda = Keda(f"{name}-keda", KedaArgs(control_plane_cidrs=base.control_plane_cidrs, replicas=cfg.observability.prometheus_replicas), opts=in_cluster_after(*base.capacity))
    # Model servers need the GPU pools, Prometheus (ServiceMonitor CRD, scaling queries) and KEDA
    # (ScaledObject CRD) in place.
    serving = Serving(
        f"{name}-serving",
        ServingArgs(
            models=cfg.models,
            bucket=base.bucket,
            object_store=cfg.OBJECT_STORE,
            service_account_annotations=base.service_account_annotations,
            hugging_face_token=pulumi.Output.secret(cfg.hugging_face_token) if cfg.hugging_face_token else None,
            placement=base.capacity_placement,
            image=pins.mirrored(pins.VLLM_IMAGE, base.image_registry),
            require_staged=cfg.environment == "production",
            wake_query=recent_requests_query if fronted else None,
            pod_security="baseline" if fronted else "restricted",
        ),
        opts=in_cluster_after(*base.capacity, monitoring, keda, *base.serving_prerequisites),
    )
    gateway = None
    if fronted:
        issuer = None
        if base.gateway_edge.certificate is not None:
            # The configuration requires acmeEmail wherever TLS ends at the gateway (Google Cloud).
            assert cfg.gateway.acme_email is not None
            issuer = CertManager(
                f"{name}-cert-manager",
                CertManagerArgs(issuing=base.gateway_edge.certificate, acme_email=cfg.gateway.acme_email, control_plane_cidrs=base.control_plane_cidrs),
                opts=in_cluster_after(*base.capacity),
            )
        # The pools select the model servers' pods in the serving namespace; the PodMonitor and
        # ServiceMonitors need Prometheus's CRDs.
        gateway = InferenceGateway(
            f"{name}-gateway",
            InferenceGatewayArgs(config=cfg.gateway, models=cfg.models, edge=base.gateway_edge, issuer=issuer),
            opts=in_cluster_after(*base.capacity, monitoring, serving),
        )
    return Platform(monitoring=monitoring, serving=serving, gateway=gateway)

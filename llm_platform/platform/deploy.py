"""The in-cluster platform on a cluster of either cloud: monitoring, dashboards and alerts, KEDA, and the
model servers. A cloud base builds the cluster and hands over a `ClusterBase`: everything the platform
needs that differs between clouds. Nothing here knows which cloud it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi

from llm_platform.config import StackConfig
from llm_platform.platform.alerts import Alert
from llm_platform.platform.delivery import AlertDelivery
from llm_platform.platform.keda import Keda, KedaArgs
from llm_platform.platform.monitoring import Monitoring, MonitoringArgs
from llm_platform.platform.observability import ServingObservability, ServingObservabilityArgs
from llm_platform.platform.serving import ModelIngress, Serving, ServingArgs


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
    network_cidr: str
    """Where the cloud's load balancers reach pods from (the model servers' NetworkPolicy admits it)."""
    bucket: pulumi.Input[str]
    service_account_annotations: dict[str, Mapping[str, pulumi.Input[str]]]
    """By model: what its Kubernetes service account carries so that its pods can read the weights."""
    cluster_monitors: list[dict] = field(default_factory=list)
    """ServiceMonitors for what the base runs in the cluster (Karpenter on EKS)."""
    capacity_alerts: list[Alert] = field(default_factory=list)
    """The base's own GPU-capacity alerts (Karpenter's signals on EKS)."""
    dcgm_overrides: dict = field(default_factory=dict)
    """DCGM exporter values the cloud's GPU nodes need (GKE's driver location)."""
    ingress: ModelIngress | None = None
    serving_prerequisites: list[pulumi.Resource] = field(default_factory=list)
    """What the endpoint needs before the models are declared (the load balancer controller on EKS)."""
    exports: dict[str, pulumi.Input] = field(default_factory=dict)
    """Stack outputs of the base."""


@dataclass
class Platform:
    monitoring: Monitoring
    serving: Serving


def deploy(cfg: StackConfig, base: ClusterBase) -> Platform:
    name = cfg.cluster_name

    def in_cluster_after(*prerequisites: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers={"kubernetes": base.k8s_provider}, depends_on=list(prerequisites))

    # Monitoring runs on the system pool and keeps Prometheus data on the storage class: the base's capacity first.
    monitoring = Monitoring(
        f"{name}-monitoring",
        MonitoringArgs(
            config=cfg.observability,
            storage_class=base.storage_class,
            alert_delivery=base.alert_delivery,
            cluster_monitors=base.cluster_monitors,
            dcgm_overrides=base.dcgm_overrides,
        ),
        opts=in_cluster_after(*base.capacity),
    )
    ServingObservability(
        f"{name}-observability",
        ServingObservabilityArgs(config=cfg.observability, cluster_capacity_alerts=base.capacity_alerts),
        opts=in_cluster_after(monitoring),
    )
    keda = Keda(f"{name}-keda", KedaArgs(replicas=cfg.observability.prometheus_replicas), opts=in_cluster_after(*base.capacity))
    # Model servers need the GPU pools, Prometheus (ServiceMonitor CRD, scaling queries) and KEDA
    # (ScaledObject CRD) in place.
    serving = Serving(
        f"{name}-serving",
        ServingArgs(
            models=cfg.models,
            bucket=base.bucket,
            object_store=cfg.OBJECT_STORE,
            service_account_annotations=base.service_account_annotations,
            vpc_cidr=base.network_cidr,
            ingress=base.ingress,
            hugging_face_token=pulumi.Output.secret(cfg.hugging_face_token) if cfg.hugging_face_token else None,
            require_staged=cfg.environment == "production",
        ),
        opts=in_cluster_after(*base.capacity, monitoring, keda, *base.serving_prerequisites),
    )
    return Platform(monitoring=monitoring, serving=serving)

"""In-cluster monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, kube-state-metrics,
node exporter) on the system pool, the DCGM exporter on GPU nodes, and ServiceMonitors for what the
cloud base runs in the cluster (Karpenter on EKS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_random as random

from llm_platform import pins
from llm_platform.config import ObservabilityConfig
from llm_platform.contract import ALERTMANAGER_SERVICE_ACCOUNT, GPU_NODES, GPU_TOLERATION, MONITORING_NAMESPACE, SYSTEM_NODES
from llm_platform.helm import pinned_release
from llm_platform.kubernetes import SAME_NAMESPACE, KubernetesObject, from_cidrs, from_namespace, isolate_namespace, secret_manifest, tcp
from llm_platform.platform.delivery import DELIVERY_SECRET, SEVERITIES, AlertDelivery
from llm_platform.platform.keda import NAMESPACE as KEDA_NAMESPACE

RELEASE = "kube-prometheus-stack"
GRAFANA_ADMIN_SECRET = "grafana-admin"
DASHBOARD_LABEL = ("grafana_dashboard", "1")
# Ports of kube-prometheus-stack 88.5.3's pods (chart values.yaml): Prometheus serves queries on 9090
# (`prometheus.service.targetPort`); the operator serves its admission webhook over TLS on 10250
# (`prometheusOperator.tls.internalPort`).
PROMETHEUS_PORT = 9090
OPERATOR_WEBHOOK_PORT = 10250
# The node exporter needs the host's network, PID namespace and filesystem (hostNetwork, hostPID, hostPath
# in the prometheus-node-exporter subchart's DaemonSet) and the DCGM exporter runs as root with SYS_ADMIN
# and the kubelet's pod-resources socket by hostPath (dcgm-exporter 4.8.2 deployment/values.yaml,
# templates/daemonset.yaml): only the `privileged` standard admits them.
POD_SECURITY = "privileged"


def ingress_allowed(control_plane_cidrs: list[str]) -> list[dict]:
    """What reaches the monitoring pods: one another (Prometheus scraping the exporters and Alertmanager,
    Grafana querying Prometheus, Alertmanager peers gossiping), KEDA querying Prometheus for the scaling
    metric, and the API server calling the operator's webhook from the control plane's addresses. The
    node exporter runs on the host network, where NetworkPolicy does not reach."""
    return [
        {"from": [SAME_NAMESPACE]},
        {"from": [from_namespace(KEDA_NAMESPACE)], "ports": tcp(PROMETHEUS_PORT)},
        {"from": from_cidrs(control_plane_cidrs), "ports": tcp(OPERATOR_WEBHOOK_PORT)},
    ]


@dataclass(frozen=True)
class MonitoringArgs:
    config: ObservabilityConfig
    storage_class: pulumi.Input[str]
    """Class of Prometheus's volumes: the stack's encrypted gp3 class on EKS, GKE's pd-balanced one."""
    alert_delivery: AlertDelivery
    cluster_monitors: list[dict] = field(default_factory=list)
    """ServiceMonitors for what the cloud base runs in the cluster (Karpenter on EKS), declared once the
    monitoring CRDs exist."""
    dcgm_overrides: dict = field(default_factory=dict)
    """DCGM exporter values the cloud's GPU nodes need on top of the common ones (GKE's driver location)."""
    control_plane_cidrs: list[str] = field(default_factory=list)
    """Where the API server calls the operator's webhook from."""


def alertmanager_config(receivers: Mapping[str, dict]) -> dict:
    """Critical and warning alerts each to their receiver; Watchdog, InfoInhibitor and info alerts nowhere;
    an alert without a known severity to the warning receiver rather than lost. A critical alert silences
    the warnings of the same alert name and target.

    This config replaces the chart's. Its default rules (kube-prometheus-stack 88.5.3,
    templates/prometheus/rules-1.14/general.rules.yaml) fire `Watchdog` always and `InfoInhibitor`, with
    `severity: none`, whenever an info alert fires without a warning or critical one in its namespace: the
    rule's own description asks for a null receiver, as the chart's default config routes them. Routed by
    the default here, InfoInhibitor would page through the warning receiver on every info alert."""
    return {
        "route": {
            "receiver": "warning",
            "group_by": ["alertname", "namespace", "model_name"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "null", "matchers": ['alertname =~ "Watchdog|InfoInhibitor"']},
                {"receiver": "null", "matchers": ['severity =~ "info|none"']},
                {"receiver": "critical", "matchers": ['severity = "critical"'], "repeat_interval": "1h"},
                {"receiver": "warning", "matchers": ['severity = "warning"']},
            ],
        },
        "receivers": [{"name": "null"}] + [{"name": severity, **receivers[severity]} for severity in SEVERITIES],
        "inhibit_rules": [{"source_matchers": ['severity = "critical"'], "target_matchers": ['severity = "warning"'], "equal": ["alertname", "namespace"]}],
    }


def stack_values(
    config: ObservabilityConfig, *, storage_class: str, receivers: Mapping[str, dict], service_account_annotations: Mapping[str, str], secrets: list[str]
) -> dict:
    prometheus_spec: dict = {
        # Discover ServiceMonitors, PodMonitors and rules from every namespace, not only this release's.
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "retention": f"{config.retention_days}d",
        "replicas": config.prometheus_replicas,
        "nodeSelector": SYSTEM_NODES,
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    }
    if config.prometheus_storage_gib:
        prometheus_spec["storageSpec"] = {
            "volumeClaimTemplate": {
                "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{config.prometheus_storage_gib}Gi"}}}
            }
        }
    return {
        # The CRDs come from their own release (`crd_values`), which upgrades them with the chart.
        "crds": {"enabled": False},
        "prometheus": {"prometheusSpec": prometheus_spec},
        "alertmanager": {
            "serviceAccount": {"create": True, "name": ALERTMANAGER_SERVICE_ACCOUNT, "annotations": dict(service_account_annotations)},
            "config": alertmanager_config(receivers),
            "alertmanagerSpec": {"replicas": config.prometheus_replicas, "nodeSelector": SYSTEM_NODES} | ({"secrets": secrets} if secrets else {}),
        },
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL[0], "labelValue": DASHBOARD_LABEL[1]}},
            # Subchart keys (grafana chart): dashboards come from ConfigMaps, so Grafana keeps no state.
            "nodeSelector": SYSTEM_NODES,
            "persistence": {"enabled": False},
        },
        "prometheusOperator": {"nodeSelector": SYSTEM_NODES},
        # Subchart keys (kube-state-metrics, prometheus-node-exporter charts). The node exporter runs on
        # every node, GPU nodes included.
        "kube-state-metrics": {"nodeSelector": SYSTEM_NODES},
        "prometheus-node-exporter": {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]},
    }


def crd_values() -> dict:
    # Uninstalling the CRDs would delete every ServiceMonitor, PodMonitor and PrometheusRule with them.
    return {"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}


def dcgm_values(overrides: Mapping | None = None) -> dict:
    return {
        "nodeSelector": GPU_NODES,
        "tolerations": [GPU_TOLERATION],
        # honorLabels keeps the exporter's pod/namespace/container labels (the workload using the GPU)
        # instead of renaming them exported_* under the exporter's own pod labels.
        "serviceMonitor": {"enabled": True, "interval": "15s", "honorLabels": True},
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    } | dict(overrides or {})


def delivery_secret(data: Mapping[str, pulumi.Input[str]]) -> dict:
    return secret_manifest({"name": DELIVERY_SECRET, "namespace": MONITORING_NAMESPACE}, dict(data))


def grafana_admin_secret(password: pulumi.Input[str]) -> dict:
    return secret_manifest({"name": GRAFANA_ADMIN_SECRET, "namespace": MONITORING_NAMESPACE}, {"admin-user": "admin", "admin-password": password})


class Monitoring(pulumi.ComponentResource):
    namespace: str
    grafana_admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = isolate_namespace(name, MONITORING_NAMESPACE, pod_security=POD_SECURITY, allow=ingress_allowed(args.control_plane_cidrs), created_by=None, opts=child)
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=child)
        # The provider marks `result` secret; wrapping it again keeps that true whatever reads it.
        admin_password = pulumi.Output.secret(password.result)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        prerequisites = [namespace, KubernetesObject(f"{name}-grafana-admin", grafana_admin_secret(admin_password), in_namespace)]
        delivery = args.alert_delivery
        if delivery.secret_data:
            prerequisites.append(KubernetesObject(f"{name}-alert-delivery", delivery_secret(delivery.secret_data), in_namespace))
        secrets = [DELIVERY_SECRET] if delivery.secret_data else []
        values = pulumi.Output.all(args.storage_class, delivery.receivers, delivery.service_account_annotations).apply(
            lambda resolved: stack_values(
                args.config, storage_class=resolved[0], receivers=resolved[1], service_account_annotations=resolved[2], secrets=secrets
            )
        )
        # The CRDs as templates of their own release, so that each chart upgrade upgrades them too.
        # take_ownership adopts the CRDs an earlier kube-prometheus-stack installed from its crds/
        # directory, which carry no Helm ownership; on a new cluster it changes nothing.
        crds = pinned_release(
            f"{name}-crds",
            "prometheus-operator-crds",
            pins.PROMETHEUS_OPERATOR_CRDS_CHART,
            namespace=MONITORING_NAMESPACE,
            values=crd_values(),
            take_ownership=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        release = pinned_release(
            name,
            RELEASE,
            pins.KUBE_PROMETHEUS_STACK_CHART,
            namespace=MONITORING_NAMESPACE,
            values=values,
            skip_crds=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*prerequisites, crds]),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        pinned_release(
            f"{name}-dcgm", "dcgm-exporter", pins.DCGM_EXPORTER_CHART, namespace=MONITORING_NAMESPACE, values=dcgm_values(args.dcgm_overrides), opts=after_crds
        )
        for monitor in args.cluster_monitors:
            KubernetesObject(f"{name}-{monitor['metadata']['name']}-monitor", monitor, after_crds)

        self.namespace = MONITORING_NAMESPACE
        self.grafana_admin_password = admin_password
        self.register_outputs({"namespace": self.namespace, "grafana_admin_password": self.grafana_admin_password})

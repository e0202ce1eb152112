"""In-cluster monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, kube-state-metrics,
node exporter) on the system pool, the DCGM exporter on GPU nodes, and a ServiceMonitor for Karpenter."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.alert_topics import ALERTMANAGER_SERVICE_ACCOUNT, SEVERITIES
from components.eks_cluster import KARPENTER_NAMESPACE
from components.helm import pinned_release
from components.node_pools import GPU_TOLERATION, NODE_ROLE_LABEL, SYSTEM_NODES
from llm_platform import pins
from llm_platform.config import ObservabilityConfig
from llm_platform.kubernetes import MONITORING_NAMESPACE, KubernetesObject

RELEASE = "kube-prometheus-stack"
GRAFANA_ADMIN_SECRET = "grafana-admin"
DASHBOARD_LABEL = ("grafana_dashboard", "1")


@dataclass(frozen=True)
class MonitoringArgs:
    config: ObservabilityConfig
    region: str
    storage_class: pulumi.Input[str]
    alert_topic_arns: pulumi.Input[dict[str, str]]
    alertmanager_role_arn: pulumi.Input[str]


def alertmanager_config(topic_arns: dict[str, str], region: str) -> dict:
    """Critical and warning alerts each to their SNS topic; Watchdog and info alerts nowhere. A critical
    alert silences the warnings of the same alert name and target."""

    def sns_receiver(severity: str) -> dict:
        return {
            "name": severity,
            "sns_configs": [
                {
                    "topic_arn": topic_arns[severity],
                    "sigv4": {"region": region},
                    "subject": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                    "send_resolved": True,
                }
            ],
        }

    return {
        "route": {
            "receiver": "warning",
            "group_by": ["alertname", "namespace", "model_name"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "null", "matchers": ['alertname = "Watchdog"']},
                {"receiver": "null", "matchers": ['severity = "info"']},
                {"receiver": "critical", "matchers": ['severity = "critical"'], "repeat_interval": "1h"},
                {"receiver": "warning", "matchers": ['severity = "warning"']},
            ],
        },
        "receivers": [{"name": "null"}] + [sns_receiver(severity) for severity in SEVERITIES],
        "inhibit_rules": [{"source_matchers": ['severity = "critical"'], "target_matchers": ['severity = "warning"'], "equal": ["alertname", "namespace"]}],
    }


def stack_values(config: ObservabilityConfig, *, region: str, storage_class: str, topic_arns: dict[str, str], alertmanager_role_arn: str) -> dict:
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
        "prometheus": {"prometheusSpec": prometheus_spec},
        "alertmanager": {
            "serviceAccount": {"create": True, "name": ALERTMANAGER_SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": alertmanager_role_arn}},
            "config": alertmanager_config(topic_arns, region),
            "alertmanagerSpec": {"replicas": config.prometheus_replicas, "nodeSelector": SYSTEM_NODES},
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


def dcgm_values() -> dict:
    return {
        "nodeSelector": {NODE_ROLE_LABEL: "gpu"},
        "tolerations": [GPU_TOLERATION],
        # honorLabels keeps the exporter's pod/namespace/container labels (the workload using the GPU)
        # instead of renaming them exported_* under the exporter's own pod labels.
        "serviceMonitor": {"enabled": True, "interval": "15s", "honorLabels": True},
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    }


def karpenter_service_monitor() -> dict:
    # The Karpenter chart renders its own ServiceMonitor only if the CRD existed when it was installed,
    # which it does not: Karpenter is installed before any node, let alone Prometheus.
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "karpenter", "namespace": MONITORING_NAMESPACE},
        "spec": {
            "namespaceSelector": {"matchNames": [KARPENTER_NAMESPACE]},
            "selector": {"matchLabels": {"app.kubernetes.io/name": "karpenter"}},
            "endpoints": [{"port": "http-metrics", "interval": "30s"}],
        },
    }


def grafana_admin_secret(password: pulumi.Input[str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": GRAFANA_ADMIN_SECRET, "namespace": MONITORING_NAMESPACE},
        "type": "Opaque",
        "stringData": {"admin-user": "admin", "admin-password": password},
    }


class Monitoring(pulumi.ComponentResource):
    namespace: str
    grafana_admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = KubernetesObject(f"{name}-namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MONITORING_NAMESPACE}}, child)
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=child)
        # The provider marks `result` secret; wrapping it again keeps that true whatever reads it.
        admin_password = pulumi.Output.secret(password.result)
        admin = KubernetesObject(f"{name}-grafana-admin", grafana_admin_secret(admin_password), pulumi.ResourceOptions(parent=self, depends_on=[namespace]))

        values = pulumi.Output.all(args.storage_class, args.alert_topic_arns, args.alertmanager_role_arn).apply(
            lambda resolved: stack_values(args.config, region=args.region, storage_class=resolved[0], topic_arns=resolved[1], alertmanager_role_arn=resolved[2])
        )
        release = pinned_release(
            name,
            RELEASE,
            pins.KUBE_PROMETHEUS_STACK_CHART,
            namespace=MONITORING_NAMESPACE,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, admin]),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        pinned_release(f"{name}-dcgm", "dcgm-exporter", pins.DCGM_EXPORTER_CHART, namespace=MONITORING_NAMESPACE, values=dcgm_values(), opts=after_crds)
        KubernetesObject(f"{name}-karpenter-monitor", karpenter_service_monitor(), after_crds)

        self.namespace = MONITORING_NAMESPACE
        self.grafana_admin_password = admin_password
        self.register_outputs({"namespace": self.namespace, "grafana_admin_password": self.grafana_admin_password})

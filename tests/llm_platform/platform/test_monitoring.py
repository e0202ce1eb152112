"""kube-prometheus-stack, the DCGM exporter, the ServiceMonitors a base asks for and alert delivery, as the
platform declares them on what either cloud hands it (an EKS-like and a GKE-like `ClusterBase`, see
`bases.py`)."""

import json
import re

import pytest

from llm_platform import pins
from llm_platform.platform.monitoring import alertmanager_config
from tests.conftest import HELM_RELEASE
from tests.k8s_schemas import CHART_OF_RELEASE, validate_custom_resource, validate_helm_values
from tests.llm_platform.platform.bases import ACCOUNT, deployed

# Alertmanager's sns_config fields (prometheus/alertmanager docs/configuration.md, <sns_config>).
SNS_CONFIG_KEYS = {"api_url", "sigv4", "topic_arn", "phone_number", "target_arn", "subject", "message", "attributes", "send_resolved", "http_config"}
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"


def test_prometheus_discovers_everything_and_keeps_data_per_environment():
    production = deployed("eks-production").release("kube-prometheus-stack").inputs
    assert (production["chart"], production["version"]) == ("kube-prometheus-stack", "88.5.3")
    spec = production["values"]["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
    # retentionDays 30, prometheusReplicas 2, prometheusStorageGib 100 on the base's encrypted gp3 class.
    assert spec["retention"] == "30d" and spec["replicas"] == 2
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3-encrypted" and claim["resources"]["requests"]["storage"] == "100Gi"
    assert spec["nodeSelector"] == {"llm-platform.io/node-role": "system"}
    staging = deployed("eks-staging").release("kube-prometheus-stack").inputs["values"]["prometheus"]["prometheusSpec"]
    assert "storageSpec" not in staging and staging["retention"] == "7d" and staging["replicas"] == 1


def test_monitoring_waits_for_what_the_base_says_the_cluster_needs_first():
    # On EKS the Karpenter NodePools and the gp3 StorageClass Prometheus's volumes use ...
    eks = deployed("eks-production")
    gpu_pool = eks.one("kubernetes:karpenter.sh/v1:NodePool", "eks-production-pools-gpu-a10g")
    storage_class = eks.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert {gpu_pool.urn, storage_class.urn} <= set(eks.one("llm-platform:monitoring:Monitoring").depends_on)
    # ... on GKE its GPU node pools.
    gke = deployed("gke-staging")
    node_pool = gke.one("gcp:container/nodePool:NodePool", "gke-staging-pools-l4")
    assert node_pool.urn in gke.one("llm-platform:monitoring:Monitoring").depends_on


def test_grafana_password_comes_from_a_generated_secret():
    declared = deployed("eks-staging")
    grafana = declared.release("kube-prometheus-stack").inputs["values"]["grafana"]
    assert "adminPassword" not in grafana
    assert grafana["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
    assert grafana["sidecar"]["dashboards"] == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}
    secret = declared.one("kubernetes:core/v1:Secret", "eks-staging-monitoring-grafana-admin")
    assert secret.inputs["stringData"]["admin-password"] == "[secret]"
    password = declared.one("random:index/randomPassword:RandomPassword", "eks-staging-monitoring-grafana-admin")
    assert password.inputs["length"] == 32
    assert declared.plan.outputs["grafanaAdminPassword"] == "[secret]"


def test_alertmanager_routes_by_severity_to_sns_through_irsa():
    values = deployed("eks-production").release("kube-prometheus-stack").inputs["values"]["alertmanager"]
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::{ACCOUNT}:role/eks-production-alertmanager"
    config = values["config"]
    assert receivers_for(config["route"], {"alertname": "GpuXid", "severity": "critical"}) == ["critical"]
    assert receivers_for(config["route"], {"alertname": "HighLatency", "severity": "warning"}) == ["warning"]
    receivers = {r["name"]: r for r in config["receivers"]}
    for severity in ("critical", "warning"):
        (sns,) = receivers[severity]["sns_configs"]
        assert set(sns) <= SNS_CONFIG_KEYS
        assert sns["topic_arn"] == f"arn:aws:sns:us-west-2:{ACCOUNT}:eks-production-alerts-{severity}"
        assert sns["sigv4"] == {"region": "us-west-2"}
    assert "secrets" not in values["alertmanagerSpec"], "SNS through IRSA needs no secret"


_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    """One Alertmanager matcher (`name op "value"`, prometheus/alertmanager pkg/labels/parse.go): regexes are
    anchored at both ends, a missing label is the empty string."""
    found = _MATCHER.match(matcher)
    assert found, f"not a matcher: {matcher}"
    name, op, value = found.groups()
    actual = labels.get(name, "")
    if op in ("=~", "!~"):
        hit = re.fullmatch(f"(?:{value})", actual) is not None
        return hit if op == "=~" else not hit
    return (actual == value) if op == "=" else (actual != value)


def receivers_for(route: dict, labels: dict[str, str]) -> list[str]:
    """Where Alertmanager delivers an alert with `labels` (dispatch/route.go `Match`, what
    `amtool config routes test` prints): the first matching child route, depth first, and the following
    ones too while a matched route says `continue`; the route itself when no child matches."""
    found: list[str] = []
    for child in route.get("routes", []):
        if all(_matches(m, labels) for m in child.get("matchers", [])):
            found += receivers_for(child, labels)
            if not child.get("continue"):
                break
    return found or [route["receiver"]]


@pytest.mark.parametrize(
    "labels, receiver",
    [
        ({"alertname": "HighErrorRate", "severity": "critical"}, "critical"),
        ({"alertname": "KvCachePressure", "severity": "warning"}, "warning"),
        # The chart's default rules: Watchdog always fires; InfoInhibitor (severity none) fires with every
        # info alert. Neither may page.
        ({"alertname": "Watchdog", "severity": "none"}, "null"),
        ({"alertname": "InfoInhibitor", "severity": "none", "namespace": "serving"}, "null"),
        ({"alertname": "InfoInhibitor", "namespace": "serving"}, "null"),
        ({"alertname": "CPUThrottlingHigh", "severity": "info"}, "null"),
        ({"alertname": "Anything", "severity": "none"}, "null"),
        # An alert whose rule forgot its severity still reaches someone.
        ({"alertname": "Unlabelled"}, "warning"),
        ({"alertname": "Odd", "severity": "page"}, "warning"),
    ],
)
def test_alertmanager_routes_each_kind_of_alert_like_alertmanager_would(labels, receiver):
    config = alertmanager_config({"critical": {"email_configs": []}, "warning": {"email_configs": []}})
    assert receivers_for(config["route"], labels) == [receiver]
    assert receiver in {r["name"] for r in config["receivers"]}


def test_the_router_follows_alertmanager_semantics():
    route = {"receiver": "root", "routes": [{"receiver": "a", "matchers": ['x =~ "1|2"'], "continue": True}, {"receiver": "b", "matchers": ['y != "z"']}, {"receiver": "c"}]}
    assert receivers_for(route, {"x": "1"}) == ["a", "b"]
    assert receivers_for(route, {"x": "12", "y": "z"}) == ["c"], "regexes are anchored"
    assert receivers_for({"receiver": "root", "routes": [{"receiver": "a", "matchers": ['x = "1"']}]}, {}) == ["root"]


def test_dcgm_exporter_runs_on_gpu_nodes_only_and_keeps_workload_labels():
    declared = deployed("eks-staging")
    dcgm = declared.release("dcgm-exporter")
    assert dcgm.inputs["version"] == "4.8.2"
    assert dcgm.inputs["values"]["nodeSelector"] == {"llm-platform.io/node-role": "gpu"}
    assert dcgm.inputs["values"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert dcgm.inputs["values"]["serviceMonitor"]["honorLabels"] is True
    kps = declared.release("kube-prometheus-stack")
    assert kps.urn in dcgm.depends_on, "the exporter's ServiceMonitor needs the stack's CRDs"
    assert declared.by_urn(kps.parent).type == "llm-platform:monitoring:Monitoring"


def test_karpenter_is_scraped_on_eks_only():
    declared = deployed("eks-staging")
    monitor = declared.one(SERVICE_MONITOR, "eks-staging-monitoring-karpenter-monitor")
    assert validate_custom_resource(monitor.inputs) == []
    assert monitor.inputs["spec"]["namespaceSelector"] == {"matchNames": ["karpenter"]}
    assert monitor.inputs["spec"]["endpoints"][0]["port"] == "http-metrics"
    assert declared.release("kube-prometheus-stack").urn in monitor.depends_on, "declared once the ServiceMonitor CRD exists"
    # GKE's base runs nothing in the cluster to scrape: the only ServiceMonitors are the model servers'.
    gke = deployed("gke-staging")
    assert [m.name for m in gke.of_type(SERVICE_MONITOR)] == ["gke-staging-serving-mistral-7b-instruct-monitor"]


def test_alert_topics_are_encrypted_and_only_alertmanager_may_publish():
    declared = deployed("eks-production")
    topics = declared.of_type("aws:sns/topic:Topic")
    assert {t.inputs["name"] for t in topics} == {"eks-production-alerts-critical", "eks-production-alerts-warning"}
    assert all(t.inputs["kmsMasterKeyId"] == "alias/aws/sns" for t in topics)
    subscriptions = declared.of_type("aws:sns/topicSubscription:TopicSubscription")
    # Every alert address on each severity's topic.
    assert len(subscriptions) == 4
    assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions} == {("email", "oncall@example.com"), ("email", "ml-leads@example.com")}
    role = declared.one("aws:iam/role:Role", "eks-production-alerts-alertmanager")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:monitoring:alertmanager" in statement["Condition"]["StringEquals"].values()
    policy = json.loads(declared.one("aws:iam/rolePolicy:RolePolicy", "eks-production-alerts-alertmanager-publish").inputs["policy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": [t.inputs.get("arn") or f"arn:aws:sns:us-west-2:{ACCOUNT}:{t.inputs['name']}" for t in sorted(topics, key=lambda t: t.name)],
        }
    ]


# -- the same monitoring on GKE ---------------------------------------------------------------------

# Alertmanager's email_config fields (prometheus/alertmanager docs/configuration.md, <email_config>;
# auth_password_file since v0.25.0; kube-prometheus-stack 88.5.3 deploys v0.34.0).
EMAIL_CONFIG_KEYS = {
    "to", "from", "hello", "smarthost", "auth_username", "auth_password", "auth_password_file", "auth_secret", "auth_identity",
    "require_tls", "tls_config", "html", "text", "headers", "send_resolved",
}


def test_on_gke_alerts_are_mailed_through_the_relay_with_the_same_routes():
    declared = deployed("gke-staging")
    values = declared.release("kube-prometheus-stack").inputs["values"]["alertmanager"]
    assert values["serviceAccount"]["annotations"] == {}, "no cloud identity is needed to send mail"
    config = values["config"]
    eks_routes = deployed("eks-staging").release("kube-prometheus-stack").inputs["values"]["alertmanager"]["config"]["route"]
    assert config["route"] == eks_routes
    receivers = {r["name"]: r for r in config["receivers"]}
    for severity in ("critical", "warning"):
        (email,) = receivers[severity]["email_configs"]
        assert set(email) <= EMAIL_CONFIG_KEYS
        assert email["to"] == "oncall@example.com" and email["smarthost"] == "smtp-relay.gmail.com:587"
        assert email["from"] == "alerts@example.com"
        assert email["require_tls"] is True and "auth_password" not in email and "auth_password_file" not in email
    assert "secrets" not in values["alertmanagerSpec"], "an unauthenticated relay needs no secret"
    assert not [s for s in declared.of_type("kubernetes:core/v1:Secret") if s.name.endswith("alert-delivery")]


def test_an_smtp_password_reaches_alertmanager_only_as_a_mounted_secret(declare):
    from llm_platform.config import ObservabilityConfig, SmtpConfig
    from llm_platform.gcp.alerts import smtp_delivery
    from llm_platform.platform.monitoring import Monitoring, MonitoringArgs

    smtp = SmtpConfig.model_validate({"smarthost": "smtp.sendgrid.net:587", "from": "alerts@example.com", "username": "apikey"})
    config = ObservabilityConfig(alert_emails=["oncall@example.com"])

    def program():
        Monitoring(
            "m",
            MonitoringArgs(config=config, storage_class="standard-rwo", alert_delivery=smtp_delivery(smtp, ["oncall@example.com"], "hunter2-plaintext")),
        )

    declared = declare(program, region="us-central1")
    values = declared.one(HELM_RELEASE, "m").inputs["values"]["alertmanager"]
    (email,) = next(r for r in values["config"]["receivers"] if r["name"] == "critical")["email_configs"]
    assert email["auth_username"] == "apikey"
    assert email["auth_password_file"] == "/etc/alertmanager/secrets/alertmanager-delivery/smtp-password"
    assert values["alertmanagerSpec"]["secrets"] == ["alertmanager-delivery"]
    secret = declared.one("kubernetes:core/v1:Secret", "m-alert-delivery")
    assert secret.inputs["stringData"] == {"smtp-password": "[secret]"}
    assert "hunter2-plaintext" not in json.dumps([r.inputs for r in declared.plan.resources])
    assert not declared.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"), "nothing of the base to scrape unless it says so"


def test_dcgm_on_gke_reads_the_driver_gke_installed():
    from tests.k8s_schemas import validate_core_object

    values = deployed("gke-staging").release("dcgm-exporter").inputs["values"]
    assert values["nodeSelector"] == {"llm-platform.io/node-role": "gpu"}
    assert {"name": "nvidia-install-dir-host", "hostPath": "/home/kubernetes/bin/nvidia"} in values["extraHostVolumes"]
    mounts = {m["name"]: m for m in values["extraVolumeMounts"]}
    assert mounts["nvidia-install-dir-host"]["mountPath"] == "/usr/local/nvidia"
    assert "exporter-metrics-volume" in mounts, "Helm replaces lists: the chart's own counters mount must stay"
    assert {"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"} in values["extraEnv"]
    # The security context is a Kubernetes SecurityContext: the API server must accept it on a container.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "dcgm"},
        "spec": {
            "containers": [
                {
                    "name": "exporter",
                    "image": "nvcr.io/nvidia/k8s/dcgm-exporter",
                    "securityContext": values["securityContext"],
                    "volumeMounts": values["extraVolumeMounts"],
                }
            ],
            "volumes": [{"name": "exporter-metrics-volume", "configMap": {"name": "exporter-metrics-config-map"}}]
            + [{"name": v["name"], "hostPath": {"path": v["hostPath"]}} for v in values["extraHostVolumes"]],
        },
    }
    assert validate_core_object(pod, pins.KUBERNETES_VERSION) == []
    assert values["securityContext"]["privileged"] is True and values["securityContext"]["allowPrivilegeEscalation"] is True
    # The common values stay; EKS's NVIDIA AMI and device plugin need none of GKE's.
    assert values["serviceMonitor"]["honorLabels"] is True and values["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    aws = deployed("eks-staging").release("dcgm-exporter").inputs["values"]
    assert "extraHostVolumes" not in aws and "securityContext" not in aws


def test_prometheus_on_gke_uses_the_pd_balanced_class():
    from llm_platform.gcp.cluster import GKE_STORAGE_CLASS

    spec = deployed("gke-staging").release("kube-prometheus-stack").inputs["values"]["prometheus"]["prometheusSpec"]
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert GKE_STORAGE_CLASS == "standard-rwo"
    assert claim["storageClassName"] == "standard-rwo" and claim["resources"]["requests"]["storage"] == "50Gi"


def test_the_operator_crds_upgrade_with_the_chart():
    declared = deployed("eks-staging")
    crds = declared.release("prometheus-operator-crds")
    stack = declared.release("kube-prometheus-stack")
    # Templates of their own release, so `helm upgrade` upgrades them; the stack's own crds/ is skipped.
    assert (crds.inputs["chart"], crds.inputs["version"]) == ("prometheus-operator-crds", pins.PROMETHEUS_OPERATOR_CRDS_CHART.version)
    assert crds.inputs["takeOwnership"] is True, "adopts the CRDs an earlier kube-prometheus-stack installed"
    assert crds.inputs["values"] == {"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}
    assert validate_helm_values("prometheus-operator-crds", crds.inputs["values"]) == []
    assert stack.inputs["skipCrds"] is True and stack.inputs["values"]["crds"] == {"enabled": False}
    assert crds.urn in stack.depends_on


# The key paths the charts' default values cannot check (CHART_OF_RELEASE, tests/k8s_schemas.py) are the
# ones checked above: Alertmanager's own file, and the DCGM exporter's Kubernetes types in a Pod.
@pytest.mark.parametrize("stack", ["eks-staging", "eks-production", "gke-staging"])
@pytest.mark.parametrize("name", ["dcgm-exporter", "kube-prometheus-stack"])
def test_values_use_chart_keys_whatever_the_base_hands_over(stack, name):
    values = deployed(stack).release(name).inputs["values"]
    chart, free_form = CHART_OF_RELEASE[name]
    assert validate_helm_values(chart, values, free_form) == []

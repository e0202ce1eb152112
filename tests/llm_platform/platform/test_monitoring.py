"""kube-prometheus-stack, DCGM exporter and the Karpenter ServiceMonitor, as the stacks declare them."""

import json

from tests.k8s_schemas import validate_custom_resource

HELM = "kubernetes:helm.sh/v3:Release"
# Alertmanager's sns_config fields (prometheus/alertmanager docs/configuration.md, <sns_config>).
SNS_CONFIG_KEYS = {"api_url", "sigv4", "topic_arn", "phone_number", "target_arn", "subject", "message", "attributes", "send_resolved", "http_config"}


def release(stack_plan, stack, name):
    return next(r for r in stack_plan(stack).of_type(HELM) if r.inputs["name"] == name)


def test_prometheus_discovers_everything_and_keeps_data_per_environment(stack_plan):
    production = release(stack_plan, "production", "kube-prometheus-stack").inputs
    assert (production["chart"], production["version"]) == ("kube-prometheus-stack", "88.5.3")
    spec = production["values"]["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
    assert spec["retention"] == "30d" and spec["replicas"] == 2
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3-encrypted" and claim["resources"]["requests"]["storage"] == "100Gi"
    assert spec["nodeSelector"] == {"llm-platform.io/node-role": "system"}
    staging = release(stack_plan, "staging", "kube-prometheus-stack").inputs["values"]["prometheus"]["prometheusSpec"]
    assert "storageSpec" not in staging and staging["retention"] == "7d"


def test_grafana_password_comes_from_a_generated_secret(stack_plan):
    declared = stack_plan("staging")
    grafana = release(stack_plan, "staging", "kube-prometheus-stack").inputs["values"]["grafana"]
    assert "adminPassword" not in grafana
    assert grafana["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
    assert grafana["sidecar"]["dashboards"] == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}
    secret = declared.one("kubernetes:core/v1:Secret", "llm-staging-monitoring-grafana-admin")
    assert secret.inputs["stringData"]["admin-password"] == "[secret]"
    password = declared.one("random:index/randomPassword:RandomPassword", "llm-staging-monitoring-grafana-admin")
    assert password.inputs["length"] == 32
    assert declared.plan.outputs["grafanaAdminPassword"] == "[secret]"


def test_alertmanager_routes_by_severity_to_sns_through_irsa(stack_plan):
    values = release(stack_plan, "production", "kube-prometheus-stack").inputs["values"]["alertmanager"]
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/llm-production-alertmanager")
    config = values["config"]
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes[('severity = "critical"',)] == "critical" and routes[('severity = "warning"',)] == "warning"
    assert routes[('alertname = "Watchdog"',)] == "null"
    receivers = {r["name"]: r for r in config["receivers"]}
    for severity in ("critical", "warning"):
        (sns,) = receivers[severity]["sns_configs"]
        assert set(sns) <= SNS_CONFIG_KEYS
        assert sns["topic_arn"] == f"arn:aws:sns:us-west-2:123456789012:llm-production-alerts-{severity}"
        assert sns["sigv4"] == {"region": "us-west-2"}


def test_dcgm_exporter_runs_on_gpu_nodes_only_and_keeps_workload_labels(stack_plan):
    dcgm = release(stack_plan, "staging", "dcgm-exporter").inputs
    assert dcgm["version"] == "4.8.2"
    assert dcgm["values"]["nodeSelector"] == {"llm-platform.io/node-role": "gpu"}
    assert dcgm["values"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert dcgm["values"]["serviceMonitor"]["honorLabels"] is True
    kps = release(stack_plan, "staging", "kube-prometheus-stack")
    component = stack_plan("staging").by_urn(kps.parent)
    dcgm_resource = release(stack_plan, "staging", "dcgm-exporter")
    assert kps.urn in dcgm_resource.depends_on, "the exporter's ServiceMonitor needs the stack's CRDs"
    assert component.type == "llm-platform:monitoring:Monitoring"


def test_karpenter_is_scraped(stack_plan):
    monitor = stack_plan("staging").one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "llm-staging-monitoring-karpenter-monitor")
    assert validate_custom_resource(monitor.inputs) == []
    assert monitor.inputs["spec"]["namespaceSelector"] == {"matchNames": ["karpenter"]}
    assert monitor.inputs["spec"]["endpoints"][0]["port"] == "http-metrics"


def test_alert_topics_are_encrypted_and_only_alertmanager_may_publish(stack_plan):
    declared = stack_plan("production")
    topics = declared.of_type("aws:sns/topic:Topic")
    assert {t.inputs["name"] for t in topics} == {"llm-production-alerts-critical", "llm-production-alerts-warning"}
    assert all(t.inputs["kmsMasterKeyId"] == "alias/aws/sns" for t in topics)
    subscriptions = declared.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions} == {("email", "ml-infra-oncall@example.com")}
    role = declared.one("aws:iam/role:Role", "llm-production-alerts-alertmanager")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:monitoring:alertmanager" in statement["Condition"]["StringEquals"].values()
    policy = json.loads(declared.one("aws:iam/rolePolicy:RolePolicy", "llm-production-alerts-alertmanager-publish").inputs["policy"])
    assert policy["Statement"] == [{"Effect": "Allow", "Action": "sns:Publish", "Resource": [t.inputs.get("arn") or f"arn:aws:sns:us-west-2:123456789012:{t.inputs['name']}" for t in sorted(topics, key=lambda t: t.name)]}]


# -- the same monitoring on GKE ---------------------------------------------------------------------

# Alertmanager's email_config fields (prometheus/alertmanager docs/configuration.md, <email_config>;
# auth_password_file since v0.25.0; kube-prometheus-stack 88.5.3 deploys v0.34.0).
EMAIL_CONFIG_KEYS = {
    "to", "from", "hello", "smarthost", "auth_username", "auth_password", "auth_password_file", "auth_secret", "auth_identity",
    "require_tls", "tls_config", "html", "text", "headers", "send_resolved",
}


def test_on_gke_alerts_are_mailed_through_the_relay_with_the_same_routes(stack_plan):
    values = release(stack_plan, "staging-gcp", "kube-prometheus-stack").inputs["values"]["alertmanager"]
    assert values["serviceAccount"]["annotations"] == {}, "no cloud identity is needed to send mail"
    config = values["config"]
    aws_routes = release(stack_plan, "staging", "kube-prometheus-stack").inputs["values"]["alertmanager"]["config"]["route"]
    assert config["route"] == aws_routes
    receivers = {r["name"]: r for r in config["receivers"]}
    for severity in ("critical", "warning"):
        (email,) = receivers[severity]["email_configs"]
        assert set(email) <= EMAIL_CONFIG_KEYS
        assert email["to"] == "ml-infra-oncall@example.com" and email["smarthost"] == "smtp-relay.gmail.com:587"
        assert email["require_tls"] is True and "auth_password" not in email
    assert "secrets" not in values["alertmanagerSpec"], "an unauthenticated relay needs no secret"


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
    values = declared.one(HELM, "m").inputs["values"]["alertmanager"]
    (email,) = next(r for r in values["config"]["receivers"] if r["name"] == "critical")["email_configs"]
    assert email["auth_username"] == "apikey"
    assert email["auth_password_file"] == "/etc/alertmanager/secrets/alertmanager-delivery/smtp-password"
    assert values["alertmanagerSpec"]["secrets"] == ["alertmanager-delivery"]
    secret = declared.one("kubernetes:core/v1:Secret", "m-alert-delivery")
    assert secret.inputs["stringData"] == {"smtp-password": "[secret]"}
    assert "hunter2-plaintext" not in json.dumps([r.inputs for r in declared.plan.resources])
    assert not declared.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"), "nothing of the base to scrape unless it says so"


def test_dcgm_on_gke_reads_the_driver_gke_installed(stack_plan):
    from llm_platform import pins
    from tests.k8s_schemas import validate_core_object

    values = release(stack_plan, "staging-gcp", "dcgm-exporter").inputs["values"]
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
    aws = release(stack_plan, "staging", "dcgm-exporter").inputs["values"]
    assert "extraHostVolumes" not in aws and "securityContext" not in aws


def test_prometheus_on_gke_uses_the_pd_balanced_class(stack_plan):
    assert stack_plan("staging-gcp").plan.outputs["defaultStorageClass"] == "standard-rwo"


def test_the_operator_crds_upgrade_with_the_chart(stack_plan):
    from llm_platform import pins
    from tests.k8s_schemas import validate_helm_values

    crds = release(stack_plan, "staging", "prometheus-operator-crds")
    stack = release(stack_plan, "staging", "kube-prometheus-stack")
    # Templates of their own release, so `helm upgrade` upgrades them; the stack's own crds/ is skipped.
    assert (crds.inputs["chart"], crds.inputs["version"]) == ("prometheus-operator-crds", pins.PROMETHEUS_OPERATOR_CRDS_CHART.version)
    assert crds.inputs["takeOwnership"] is True, "adopts the CRDs an earlier kube-prometheus-stack installed"
    assert crds.inputs["values"] == {"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}
    assert validate_helm_values("prometheus-operator-crds", crds.inputs["values"]) == []
    assert stack.inputs["skipCrds"] is True and stack.inputs["values"]["crds"] == {"enabled": False}
    assert crds.urn in stack.depends_on

"""Dashboards as sidecar ConfigMaps and the alert rules, as the stacks declare them."""

import json

from tests.k8s_schemas import validate_custom_resource


def test_dashboards_are_configmaps_the_sidecar_loads(stack_plan):
    maps = stack_plan("staging").of_type("kubernetes:core/v1:ConfigMap")
    boards = {m.inputs["metadata"]["name"]: m.inputs for m in maps if m.inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1"}
    assert set(boards) == {"dashboard-llm-platform-vllm", "dashboard-llm-platform-gpu"}
    for board in boards.values():
        assert board["metadata"]["namespace"] == "monitoring"
        (content,) = board["data"].values()
        assert json.loads(content)["panels"]


def test_alert_rule_is_declared_after_the_monitoring_stack(stack_plan):
    declared = stack_plan("production")
    rule = declared.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert validate_custom_resource(rule.inputs) == []
    component = declared.by_urn(rule.parent)
    # Depending on a component means depending on its children: the Helm release that installs the CRDs.
    kps = next(r for r in declared.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "kube-prometheus-stack")
    assert kps.urn in component.depends_on

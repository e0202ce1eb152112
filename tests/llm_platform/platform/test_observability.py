"""Dashboards as sidecar ConfigMaps and the alert rules, as the platform declares them on either cloud."""

import json

import pytest

from tests.k8s_schemas import validate_custom_resource
from tests.llm_platform.platform.bases import STACKS, deployed


@pytest.mark.parametrize("stack", ["eks-staging", "gke-staging"])
def test_dashboards_are_configmaps_the_sidecar_loads(stack):
    maps = deployed(stack).of_type("kubernetes:core/v1:ConfigMap")
    boards = {m.inputs["metadata"]["name"]: m.inputs for m in maps if m.inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1"}
    # The gateway's routing dashboard comes with the gateway.
    with_gateway = {"dashboard-llm-platform-gateway"} if STACKS[stack].get("gateway") else set()
    assert set(boards) == {"dashboard-llm-platform-vllm", "dashboard-llm-platform-gpu"} | with_gateway
    for board in boards.values():
        assert board["metadata"]["namespace"] == "monitoring"
        (content,) = board["data"].values()
        assert json.loads(content)["panels"]


def test_alert_rule_is_declared_after_the_monitoring_stack():
    declared = deployed("eks-production")
    rule = declared.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert validate_custom_resource(rule.inputs) == []
    component = declared.by_urn(rule.parent)
    assert component.type == "llm-platform:observability:ServingObservability"
    # Depending on a component means depending on its children: the Helm release that installs the CRDs.
    kps = declared.release("kube-prometheus-stack")
    assert kps.urn in component.depends_on

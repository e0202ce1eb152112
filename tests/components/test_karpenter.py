"""The Karpenter chart: pinned to the version whose CRDs the tests validate against, values the chart
defines, IRSA and interruption queue wired from the AWS side."""

from __future__ import annotations

import pytest

from components.karpenter import KarpenterArgs, controller_values
from llm_platform import pins
from tests.k8s_schemas import validate_helm_values

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_values_use_only_keys_the_chart_defines():
    values = controller_values(KarpenterArgs(cluster_name="c", controller_role_arn="arn:aws:iam::1:role/r", interruption_queue_name="c", replicas=2))
    assert validate_helm_values("karpenter", values) == []


@pytest.mark.parametrize("stack,replicas", [("staging", 1), ("production", 2)])
def test_releases_are_pinned_and_wired(stack_plan, stack, replicas):
    releases = {r.inputs["name"]: r for r in stack_plan(stack).of_type(RELEASE)}
    crd, controller = releases["karpenter-crd"], releases["karpenter"]
    assert crd.inputs["chart"] == pins.KARPENTER_CRD_CHART.chart and crd.inputs["version"] == pins.KARPENTER_VERSION
    assert controller.inputs["chart"] == pins.KARPENTER_CHART.chart and controller.inputs["version"] == pins.KARPENTER_VERSION
    assert controller.inputs["skipCrds"] is True and crd.urn in controller.depends_on
    values = controller.inputs["values"]
    assert values["replicas"] == replicas
    assert values["settings"] == {"clusterName": f"llm-{stack}", "interruptionQueue": f"llm-{stack}"}
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::123456789012:role/llm-{stack}-karpenter-controller"
    assert values["controller"]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert controller.inputs["namespace"] == "karpenter"

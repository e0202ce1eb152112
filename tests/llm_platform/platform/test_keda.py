import pytest

from tests.k8s_schemas import validate_helm_values
from tests.llm_platform.platform.bases import deployed


@pytest.mark.parametrize("stack, replicas", [("eks-staging", 1), ("eks-production", 2), ("gke-staging", 1)])
def test_keda_on_system_nodes_with_replicas_per_environment(stack, replicas):
    # As many replicas as Prometheus (prometheusReplicas): 2 in production, 1 in staging.
    keda = deployed(stack).release("keda")
    values = keda.inputs["values"]
    assert keda.inputs["version"] == "2.20.2"
    assert values["nodeSelector"] == {"llm-platform.io/node-role": "system"}
    assert values["operator"]["replicaCount"] == values["metricsServer"]["replicaCount"] == values["webhooks"]["replicaCount"] == replicas
    assert validate_helm_values("keda", values) == []

from tests.k8s_schemas import validate_helm_values


def test_keda_on_system_nodes_with_replicas_per_environment(stack_plan):
    for stack, replicas in (("staging", 1), ("production", 2)):
        keda = next(r for r in stack_plan(stack).of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "keda")
        values = keda.inputs["values"]
        assert keda.inputs["version"] == "2.20.2"
        assert values["nodeSelector"] == {"llm-platform.io/node-role": "system"}
        assert values["operator"]["replicaCount"] == replicas
        assert validate_helm_values("keda", values) == []

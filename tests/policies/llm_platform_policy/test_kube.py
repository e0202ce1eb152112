"""Reading what the engine hands the rules: Kubernetes quantities as numbers or strings, NodePool limits."""

import pytest

from llm_platform_policy import catalog, kube


@pytest.mark.parametrize(
    "value, number",
    [(2, 2.0), (2.5, 2.5), ("2", 2.0), ("1500m", 1.5), ("64Gi", 64 * 2**30), ("1k", 1000.0), ("1e3", 1000.0), ("0.5", 0.5), (".5", 0.5), ("2Ti", 2 * 2**40)],
)
def test_a_quantity_reads_as_the_number_it_stands_for(value, number):
    assert kube.quantity(value) == number


@pytest.mark.parametrize("value", ["two", "2 Gi", "2GB", "1K", "", True])
def test_what_is_not_a_quantity_is_refused(value):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        kube.quantity(value)


def _pool(limits: dict) -> dict:
    return {"spec": {"limits": limits}}


@pytest.mark.parametrize("gpus", [2, "2", "2000m"])
def test_a_gpu_limit_is_read_however_it_is_written(gpus):
    assert kube.gpu_limit(_pool({"nvidia.com/gpu": gpus})) == 2
    assert kube.max_nodes(_pool({"nvidia.com/gpu": gpus, "cpu": 64, "memory": "256Gi"}), catalog.aws_instance_type("g6.xlarge")) == 2


def test_a_fraction_of_a_gpu_launches_nothing():
    assert kube.gpu_limit(_pool({"nvidia.com/gpu": "1500m"})) == 1
    assert kube.max_nodes(_pool({"nvidia.com/gpu": "500m"}), catalog.aws_instance_type("g6.xlarge")) == 0

import pytest

from llm_platform import catalog
from llm_platform.policy import cost
from llm_platform.policy.core import Resource
from tests.llm_platform.policy.fixtures import compliant_stack, mutated, without

HOURS = 730


def by_name(report: cost.CostReport) -> dict[str, float]:
    return {item.name: item.monthly_usd for item in report.items}


def details(report: cost.CostReport) -> dict[str, str]:
    return {item.name: item.detail for item in report.items}


def test_compliant_stack_ceiling_by_hand():
    items = by_name(cost.monthly_ceiling(compliant_stack()))
    # GPU pool: both types carry one GPU, so the 2-GPU limit allows two of the dearer g6.2xlarge.
    assert items["GPU pool gpu-l4"] == round(2 * HOURS * 0.9776, 2)
    # System pool: 8 vCPU / 32 GiB allow four m7i.large or two m7i.xlarge, the same price.
    assert items["node pool system"] == round(4 * HOURS * 0.1008, 2)
    assert items["root volumes of pool gpu-l4"] == 32.0
    assert items["root volumes of pool system"] == 16.0
    assert items["EKS control plane"] == 73.0
    assert items["NAT gateways"] == 32.85
    # Fargate: two CoreDNS pods at the 0.25 vCPU / 0.5 GB minimum and Karpenter's 1 vCPU / 1 GiB
    # request plus 0.25 GB overhead, billed as 1 vCPU / 2 GB.
    assert items["Fargate vCPU"] == round(1.5 * HOURS * 0.04048, 2)
    assert items["Fargate memory"] == round(3 * HOURS * 0.004445, 2)
    assert cost.monthly_ceiling(compliant_stack()).monthly_usd == 1954.55
    assert details(cost.monthly_ceiling(compliant_stack()))["GPU pool gpu-l4"] == "2 x g6.2xlarge on-demand"
    assert details(cost.monthly_ceiling(compliant_stack()))["node pool system"] == "4 x m7i.large on-demand"


def test_spot_is_never_the_ceiling():
    def spot_only(props):
        props["spec"]["template"]["spec"]["requirements"][1]["values"] = ["spot"]

    assert cost.monthly_ceiling(mutated("gpu-l4", spot_only)).monthly_usd == cost.monthly_ceiling(compliant_stack()).monthly_usd


def test_multi_gpu_instance_counts_whole_nodes():
    def four_gpu_type(props):
        props["spec"]["template"]["spec"]["requirements"][0]["values"] = ["g6.12xlarge"]
        props["spec"]["limits"] = {"nvidia.com/gpu": "6"}

    report = cost.monthly_ceiling(mutated("gpu-l4", four_gpu_type))
    items = by_name(report)
    assert details(report)["GPU pool gpu-l4"] == "1 x g6.12xlarge on-demand"
    # A 6-GPU limit fits one 4-GPU node; a second would pass the limit, so Karpenter cannot launch it.
    assert items["GPU pool gpu-l4"] == round(HOURS * catalog.aws_instance_type("g6.12xlarge").prices["us-west-2"], 2)


@pytest.mark.parametrize(
    "stack, why",
    [
        (mutated("gpu-l4", lambda p: p["spec"].update(limits={})), "has no cpu, memory or nvidia.com/gpu limit"),
        (mutated("gpu-l4", lambda p: p["spec"]["template"]["spec"]["requirements"].pop(0)), "does not restrict instance types"),
        (mutated("gpu-l4", lambda p: p["spec"]["template"]["spec"]["requirements"][0].update(values=["x9.huge"])), "no us-west-2 price for x9.huge"),
        (without("aws"), "region is unknown"),
    ],
)
def test_unbounded_pools_are_reported(stack, why):
    report = cost.monthly_ceiling(stack)
    assert any(why in message for _, message in report.unbounded), report.unbounded


def test_helm_volumes_and_load_balancers_are_priced():
    values = {"prometheus": {"prometheusSpec": {"replicas": 2, "storageSpec": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "50Gi"}}}}}}}, "grafana": {"persistence": {"enabled": True, "size": "10Gi"}}}
    extra = [
        Resource("kubernetes:helm.sh/v3:Release", "urn:kps", "kps", {"name": "kps", "values": values}),
        Resource("kubernetes:networking.k8s.io/v1:Ingress", "urn:ing", "ing", {"metadata": {"annotations": {"alb.ingress.kubernetes.io/group.name": "llm"}}}),
        Resource("kubernetes:networking.k8s.io/v1:Ingress", "urn:ing2", "ing2", {"metadata": {"annotations": {"alb.ingress.kubernetes.io/group.name": "llm"}}}),
    ]
    items = by_name(cost.monthly_ceiling(compliant_stack() + extra))
    assert items["persistent volumes of kps"] == round(110 * 0.08, 2)
    # Two ingresses in one group share one ALB.
    assert items["load balancers"] == round(HOURS * 0.0225, 2)

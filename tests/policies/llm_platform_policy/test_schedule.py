"""Scheduled capacity: a GPU pool is priced for its window only when every workload that can land on it is
a Deployment whose ScaledObject confines it to that window; any other way in prices it around the clock."""

from __future__ import annotations

import copy

import pytest

from llm_platform_policy import cost, schedule
from llm_platform_policy.core import Resource
from tests.policies.llm_platform_policy.fixtures import compliant_gke_stack, compliant_stack, model_server, resource

WINDOW = schedule.Window("Asia/Seoul", (1, 2, 3, 4, 5), 9 * 60, 18 * 60)
BURST_LABELS = {"llm-platform.io/pool-group": "l4-burst"}


def burst_scaled_object(**spec_changes) -> dict:
    spec = {
        "scaleTargetRef": {"name": "mistral-burst"},
        "minReplicaCount": 0,
        "maxReplicaCount": 2,
        "triggers": [schedule.cron_trigger(WINDOW, 1), {"type": "prometheus", "name": schedule.QUEUE_TRIGGER, "metadata": {}}],
        "advanced": {"scalingModifiers": {"formula": schedule.gated_formula(5), "target": "1"}},
    }
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "mistral-burst", "namespace": "serving"}, "spec": spec | spec_changes}


def burst_deployment(node_selector: dict | None = None) -> dict:
    deployment = model_server()
    deployment["metadata"]["name"] = "mistral-burst"
    deployment["spec"]["template"]["spec"]["nodeSelector"] = BURST_LABELS if node_selector is None else node_selector
    return deployment


def with_burst_pool(base: list[Resource], pool_labels: dict, *extra: Resource) -> list[Resource]:
    """`base` with its GPU pool's nodes labelled for the floor, plus a burst pool labelled `pool_labels`, the
    floor Deployment pinned to the floor pool, and `extra`."""
    stack = []
    for r in base:
        props = copy.deepcopy(dict(r.props))
        if r.type == "kubernetes:apps/v1:Deployment":
            props["spec"]["template"]["spec"]["nodeSelector"] = {"llm-platform.io/pool-group": "l4"}
        if r.name == "gpu-l4" and r.type == "kubernetes:karpenter.sh/v1:NodePool":
            props["spec"]["template"]["metadata"] = {"labels": {"llm-platform.io/pool-group": "l4"}}
            burst = copy.deepcopy(props)
            burst["metadata"]["name"] = "gpu-l4-burst"
            burst["spec"]["template"]["metadata"] = {"labels": pool_labels}
            burst["spec"]["disruption"] = {"consolidateAfter": "10m"}
            stack.append(resource(r.type, "gpu-l4-burst", burst))
        if r.name == "gpu-l4" and r.type == "gcp:container/nodePool:NodePool":
            props["nodeConfig"]["labels"] = {"llm-platform.io/pool-group": "l4"}
            burst = copy.deepcopy(props)
            burst["name"] = "gpu-l4-burst"
            burst["nodeConfig"]["labels"] = pool_labels
            stack.append(resource(r.type, "gpu-l4-burst", burst))
        stack.append(Resource(r.type, r.urn, r.name, props, r.dependencies))
    return stack + list(extra)


def compliant(base=compliant_stack, scaled: dict | None = None, deployment: dict | None = None, *extra: Resource) -> list[Resource]:
    return with_burst_pool(
        base(),
        BURST_LABELS,
        resource("kubernetes:apps/v1:Deployment", "mistral-burst", deployment or burst_deployment()),
        resource(schedule.SCALED_OBJECT, "mistral-burst", scaled or burst_scaled_object()),
        *extra,
    )


def pool_item(stack: list[Resource], name: str = "GPU pool gpu-l4-burst") -> cost.CostItem:
    return {item.name: item for item in cost.monthly_ceiling(stack).items}[name]


def test_window_hours_a_month():
    # 9 hours x 5 weekdays x 365.25 / 7 / 12 weeks.
    assert WINDOW.hours_per_month == 195.7
    assert schedule.Window("UTC", (0, 6), 0, 24 * 60).hours_per_month == 208.7


@pytest.mark.parametrize("base, hourly", [(compliant_stack, 0.9776), (compliant_gke_stack, None)], ids=["aws", "gcp"])
def test_a_pool_only_the_gated_burst_uses_is_priced_for_its_window(base, hourly):
    # 9 h, then KEDA's 5-minute cooldown and 10 minutes before the emptied node goes (Karpenter's
    # consolidateAfter; GKE's autoscaler waits as long): 9.25 h x 5 days x 365.25 / 7 / 12 = 201.1 h.
    item = pool_item(compliant(base))
    assert item.quantity == round(2 * 201.1, 1)
    assert "scheduled mon,tue,wed,thu,fri 09:00-18:00 Asia/Seoul + 15 min to wind down, 201.1 h/month" in item.detail
    if hourly:
        assert item.monthly_usd == round(2 * 201.1 * hourly, 2)
    # The floor's pool stays around the clock.
    assert pool_item(compliant(base), "GPU pool gpu-l4").quantity == 2 * 730


@pytest.mark.parametrize(
    "stack",
    [
        # A hand-written formula that does not confine the replicas to the window.
        compliant(scaled=burst_scaled_object(advanced={"scalingModifiers": {"formula": "business_hours + queue", "target": "1"}})),
        compliant(scaled=burst_scaled_object(advanced={})),
        # A floor of one burst replica runs around the clock.
        compliant(scaled=burst_scaled_object(minReplicaCount=1)),
        # A cron window the pricing cannot read.
        compliant(scaled=burst_scaled_object(triggers=[{**schedule.cron_trigger(WINDOW, 1), "metadata": {"timezone": "Asia/Seoul", "start": "0 9 * * MON-FRI", "end": "0 18 * * MON-FRI", "desiredReplicas": "2"}}])),
        # The ScaledObject scales another Deployment.
        compliant(scaled=burst_scaled_object(scaleTargetRef={"name": "other"})),
        # Another GPU workload can land on the pool: no nodeSelector at all, or the burst pool's own labels.
        compliant(compliant_stack, None, None, resource("kubernetes:apps/v1:Deployment", "stray", {**model_server(), "metadata": {"name": "stray", "namespace": "serving"}})),
        compliant(compliant_stack, None, None, resource("kubernetes:batch/v1:Job", "job", {"kind": "Job", "metadata": {"name": "job", "namespace": "serving"}, "spec": {"template": burst_deployment()["spec"]["template"]}})),
    ],
    ids=["ungated-formula", "no-formula", "min-one", "unreadable-cron", "other-target", "unpinned-deployment", "job"],
)
def test_anything_else_that_can_use_the_pool_prices_it_around_the_clock(stack):
    assert pool_item(stack).quantity == 2 * 730


def test_daemonsets_and_workloads_pinned_elsewhere_do_not_count():
    daemonset = {**burst_deployment({}), "kind": "DaemonSet", "metadata": {"name": "dcgm", "namespace": "monitoring"}}
    pinned = burst_deployment({"llm-platform.io/pool-group": "l4"})
    pinned["metadata"]["name"] = "other-floor"
    stack = compliant(compliant_stack, None, None, resource("kubernetes:apps/v1:DaemonSet", "dcgm", daemonset), resource("kubernetes:apps/v1:Deployment", "other-floor", pinned))
    assert pool_item(stack).quantity == round(2 * 201.1, 1)


def test_a_longer_cooldown_or_a_pool_that_never_removes_nodes_is_priced_for_it():
    scaled = burst_scaled_object(cooldownPeriod=3600)
    # An hour's cooldown: 9 h + 60 + 10 min a day, 10.17 h x 5 x 4.348 = 221.0 h a month per node.
    assert pool_item(compliant(scaled=scaled)).quantity == 2 * 221.0

    stack = [Resource(r.type, r.urn, r.name, {**r.props, "spec": {**r.props["spec"], "disruption": {"consolidateAfter": "Never"}}}) if r.name == "gpu-l4-burst" else r for r in compliant()]
    assert pool_item(stack).quantity == 2 * 730


def test_a_pool_nothing_selects_is_priced_around_the_clock():
    assert pool_item(with_burst_pool(compliant_stack(), BURST_LABELS)).quantity == 2 * 730

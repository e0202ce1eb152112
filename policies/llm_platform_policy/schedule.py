"""Scheduled capacity: the KEDA cron window that holds a model's burst replicas, the formula that keeps
them inside it, and the hours a month that window covers, which is what the cost ceiling prices them at.

The program builds burst ScaledObjects with `cron_trigger` and `gated_formula`; the cost ceiling prices
a GPU pool by `window_hours_per_month` only when every workload that can land on it is gated this way
(`gated_window`). Anything else is priced around the clock, so a hand-written trigger or formula never
makes a pool look cheaper than it can be.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from llm_platform_policy import kube
from llm_platform_policy.core import Resource

# KEDA cron metadata takes Linux cron (minute hour day-of-month month day-of-week, robfig/cron/v3, which
# KEDA's cron scaler parses); day-of-week 0 is Sunday.
DAY_NUMBERS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# Average weeks in a month (365.25 / 7 / 12), for a weekly window's hours a month.
WEEKS_PER_MONTH = 365.25 / 7 / 12
# Trigger names are identifiers in the formula (expr-lang), hence underscores.
CRON_TRIGGER = "business_hours"
QUEUE_TRIGGER = "queue"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
# KEDA's ScaledObject `cooldownPeriod` when unset (keda.sh/v1alpha1 ScaledObject spec, default 300).
KEDA_DEFAULT_COOLDOWN_SECONDS = 300
_CRON = re.compile(r"^(?P<minute>[0-9]{1,2}) (?P<hour>[0-9]{1,2}) \* \* (?P<days>[0-6](,[0-6])*)$")


@dataclass(frozen=True)
class Window:
    """A daily window on some weekdays, in one time zone; `end` is later than `start` on the same day."""

    timezone: str
    days: tuple[int, ...]
    start_minutes: int
    end_minutes: int
    tail_minutes: int = 0
    """How long capacity outlives the window each day: KEDA's cooldown before it removes the replicas, then
    the node pool's wait before it removes the emptied node (priced with the window)."""

    def describe(self) -> str:
        names = {number: name for name, number in DAY_NUMBERS.items()}
        clock = lambda minutes: f"{minutes // 60:02d}:{minutes % 60:02d}"  # noqa: E731
        days = ",".join(names[day] for day in self.days)
        tail = f" + {self.tail_minutes} min to wind down" if self.tail_minutes else ""
        return f"{days} {clock(self.start_minutes)}-{clock(self.end_minutes)} {self.timezone}{tail}, {self.hours_per_month:g} h/month"

    @property
    def hours_per_month(self) -> float:
        return round((self.end_minutes - self.start_minutes + self.tail_minutes) / 60 * len(self.days) * WEEKS_PER_MONTH, 1)


def _cron(minutes: int, days: tuple[int, ...]) -> str:
    return f"{minutes % 60} {minutes // 60} * * {','.join(map(str, days))}"


def cron_trigger(window: Window, replicas: int) -> dict[str, Any]:
    """The KEDA cron trigger that holds `replicas` through the window (its metric is `desiredReplicas` inside
    the window and at most 1 outside: 0 in KEDA 2.20.2's cron scaler, 1 in older ones)."""
    metadata = {"timezone": window.timezone, "start": _cron(window.start_minutes, window.days), "end": _cron(window.end_minutes, window.days)}
    # The formula tells inside from outside by the cron metric exceeding 1 (whichever of 0 or 1 a KEDA version
    # reports outside), so the trigger asks for one more than the replicas it holds and the formula takes it back.
    return {"type": "cron", "name": CRON_TRIGGER, "metadata": metadata | {"desiredReplicas": str(replicas + 1)}}


def gated_formula(waiting_per_replica: int) -> str:
    """KEDA `scalingModifiers` formula (expr-lang over the triggers' metrics): inside the window, the held
    replicas or as many as the queue needs, whichever is more; outside it, none."""
    return f"{CRON_TRIGGER} > 1 ? max({CRON_TRIGGER} - 1, ceil({QUEUE_TRIGGER} / {waiting_per_replica})) : 0"


# Any queue target: only the shape of the formula decides whether the window confines the replicas.
_GATED = re.compile(re.escape(gated_formula(1)).replace(re.escape("/ 1))"), r"/ [0-9]+\)\)"))


def _window_of(metadata: Mapping[str, Any]) -> Window | None:
    start, end = _CRON.match(str(metadata.get("start", ""))), _CRON.match(str(metadata.get("end", "")))
    if not start or not end or start["days"] != end["days"] or not metadata.get("timezone"):
        return None
    start_minutes, end_minutes = int(start["hour"]) * 60 + int(start["minute"]), int(end["hour"]) * 60 + int(end["minute"])
    # Cron hours are 0-23 and minutes 0-59 (robfig/cron v3, which KEDA parses them with).
    if int(start["minute"]) > 59 or int(end["minute"]) > 59 or not 0 <= start_minutes < end_minutes < 24 * 60:
        return None
    days = tuple(sorted({int(day) for day in start["days"].split(",")}))
    return Window(str(metadata["timezone"]), days, start_minutes, end_minutes)


def gated_window(scaled_object: Mapping[str, Any]) -> Window | None:
    """The window a ScaledObject's replicas are confined to, or None when they can run at any hour."""
    spec = scaled_object.get("spec") or {}
    if spec.get("minReplicaCount", 0) != 0:
        return None
    triggers = {trigger.get("name"): trigger for trigger in spec.get("triggers") or [] if isinstance(trigger, Mapping)}
    cron, formula = triggers.get(CRON_TRIGGER), ((spec.get("advanced") or {}).get("scalingModifiers") or {}).get("formula", "")
    if not cron or cron.get("type") != "cron" or not _GATED.fullmatch(formula):
        return None
    window = _window_of(cron.get("metadata") or {})
    # The replicas go KEDA's cooldown after the window closes (300 s unless the object sets it).
    cooldown = spec.get("cooldownPeriod", KEDA_DEFAULT_COOLDOWN_SECONDS)
    return replace(window, tail_minutes=math.ceil(cooldown / 60)) if window and isinstance(cooldown, int) and cooldown >= 0 else None


def _tolerates_gpu(spec: Mapping[str, Any]) -> bool:
    return any(t.get("key") == kube.GPU_RESOURCE or (t.get("operator") == "Exists" and not t.get("key")) for t in spec.get("tolerations") or [])


def pool_window(node_labels: Mapping[str, str], resources: list[Resource]) -> Window | None:
    """The window the nodes of a GPU pool (labelled `node_labels`) are needed in: the longest window of
    the workloads that can land there, when every one of them is a Deployment whose ScaledObject confines
    it to a window; None (around the clock) otherwise, and when no workload selects the pool at all.

    A workload can land on the pool when it tolerates the GPU taint and its nodeSelector asks for nothing
    the pool's nodes lack; DaemonSets follow nodes and never cause them."""
    windows = {}
    for scaled in kube.of_type(resources, SCALED_OBJECT):
        target = kube.dig(scaled.props, "spec", "scaleTargetRef") or {}
        if target.get("kind", "Deployment") == "Deployment":
            windows[(kube.dig(scaled.props, "metadata", "namespace"), target.get("name"))] = gated_window(scaled.props)
    found = []
    for resource in resources:
        spec = kube.pod_spec(resource.type, resource.props)
        if spec is None or resource.props.get("kind") == "DaemonSet" or not _tolerates_gpu(spec):
            continue
        if any(node_labels.get(key) != value for key, value in (spec.get("nodeSelector") or {}).items()):
            continue
        key = (kube.dig(resource.props, "metadata", "namespace"), kube.dig(resource.props, "metadata", "name"))
        window = windows.get(key) if resource.props.get("kind") == "Deployment" else None
        if window is None:
            return None
        found.append(window)
    return max(found, key=lambda window: window.hours_per_month) if found else None


def with_node_wait(window: Window | None, wait_minutes: float | None) -> Window | None:
    """`window` with the time the node pool keeps an emptied node (None: it never removes it, so the pool
    runs around the clock)."""
    if window is None or wait_minutes is None:
        return None
    return replace(window, tail_minutes=window.tail_minutes + math.ceil(wait_minutes))

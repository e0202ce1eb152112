"""KEDA: scales model servers on vLLM's own queue depth, read from Prometheus.

Chosen over prometheus-adapter because each model's scaling query lives in its own ScaledObject next to
its Deployment (the adapter needs one cluster-wide rules file for every metric), the HPA behaviour the
seeds ask for is part of that object, and a staging model can scale to zero when idle."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform import pins
from llm_platform.contract import SYSTEM_NODES
from llm_platform.helm import pinned_release

NAMESPACE = "keda"


@dataclass(frozen=True)
class KedaArgs:
    replicas: int = 1


def keda_values(args: KedaArgs) -> dict:
    return {
        "nodeSelector": SYSTEM_NODES,
        "operator": {"replicaCount": args.replicas},
        "metricsServer": {"replicaCount": args.replicas},
        "webhooks": {"replicaCount": args.replicas},
    }


class Keda(pulumi.ComponentResource):

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:keda:Keda", name, None, opts)
        pinned_release(
            name, "keda", pins.KEDA_CHART, namespace=NAMESPACE, create_namespace=True, values=keda_values(args), opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})

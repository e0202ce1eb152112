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
from llm_platform.kubernetes import SAME_NAMESPACE, from_cidrs, isolate_namespace, tcp

NAMESPACE = "keda"
# Ports of keda 2.20.2's pods (chart values.yaml and templates): the metrics server serves the external
# metrics API to the API server on 6443 (`service.portHttpsTarget`), the admission webhooks listen on
# 9443 (`webhooks.port`, empty: the template's default), the operator serves the metrics server over gRPC
# on 9666 (templates/manager/deployment.yaml).
METRICS_API_PORT = 6443
WEBHOOK_PORT = 9443


def ingress_allowed(control_plane_cidrs: list[str]) -> list[dict]:
    """The metrics server reaching the operator (same namespace), and the API server, which is not a pod,
    calling the aggregated metrics API and the admission webhooks from the control plane's addresses."""
    return [{"from": [SAME_NAMESPACE]}, {"from": from_cidrs(control_plane_cidrs), "ports": tcp(METRICS_API_PORT, WEBHOOK_PORT)}]


@dataclass(frozen=True)
class KedaArgs:
    control_plane_cidrs: list[str]
    """Where the API server calls the metrics API and webhooks from."""
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
        release = pinned_release(
            name, "keda", pins.KEDA_CHART, namespace=NAMESPACE, create_namespace=True, values=keda_values(args), opts=pulumi.ResourceOptions(parent=self)
        )
        # The chart's pods run as non-root without capabilities under RuntimeDefault seccomp (values.yaml
        # `podSecurityContext`, `securityContext`): they meet `restricted`.
        isolate_namespace(name, NAMESPACE, pod_security="restricted", allow=ingress_allowed(args.control_plane_cidrs), created_by=release, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})

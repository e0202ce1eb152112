"""Audit trails: the EKS control plane logs what a security review needs, and no log group keeps its
records forever by omission."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy.core import Config

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
# pulumi-eks registers eks:index:Cluster and, in a real preview, the aws:eks/cluster:Cluster inside it.
EKS_CLUSTER_TYPES = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
# Control-plane log types (EKS User Guide, "Amazon EKS control plane logging"): the API server's
# requests, the audit log and the IAM authenticator's decisions are what an incident review reads.
REQUIRED_LOG_TYPES = ["api", "audit", "authenticator"]
LOG_TYPES_PROPERTY = {
    "requiredLogTypes": {
        "type": "array",
        "items": {"enum": ["api", "audit", "authenticator", "controllerManager", "scheduler"]},
        "default": REQUIRED_LOG_TYPES,
        "description": "EKS control-plane log types every cluster sends to CloudWatch Logs.",
    }
}


def eks_control_plane_logs(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    # The same field on pulumi-eks' component and on the aws:eks/cluster:Cluster it creates.
    if resource_type not in EKS_CLUSTER_TYPES:
        return
    enabled = list(props.get("enabledClusterLogTypes") or [])
    missing = [t for t in config["requiredLogTypes"] if t not in enabled]
    if missing:
        yield f"EKS control-plane logs {missing} are off (enabledClusterLogTypes: {enabled})"


def log_retention_set(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type == LOG_GROUP and not props.get("retentionInDays"):
        yield f"log group {props.get('name') or ''} sets no retentionInDays: CloudWatch keeps (and bills) its records forever"

"""Node instance metadata: a pod must not reach the node's IAM credentials through IMDS."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy import kube

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
MAX_HOP_LIMIT = 1
# The EC2NodeClass CRD (karpenter.k8s.aws_ec2nodeclasses, tests/schemas/crds) defaults
# spec.metadataOptions.httpPutResponseHopLimit to 1. A launch template that leaves it out inherits the
# AMI's default, which is 2 for AMIs registered with ImdsSupport v2.0 (AL2023 among them).
NODE_CLASS_DEFAULT = 1


def imds_hop_limit(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterator[str]:
    if resource_type == kube.EC2_NODE_CLASS:
        limit = kube.dig(props, "spec", "metadataOptions", "httpPutResponseHopLimit")
        limit = NODE_CLASS_DEFAULT if limit is None else limit
    elif resource_type == LAUNCH_TEMPLATE:
        limit = kube.dig(props, "metadataOptions", "httpPutResponseHopLimit")
        if limit is None:
            yield "the launch template does not set metadataOptions.httpPutResponseHopLimit: instances inherit the AMI's (2 on AL2023), and pods reach the node's credentials"
            return
    else:
        return
    if int(limit) > MAX_HOP_LIMIT:
        yield f"instance metadata answers {limit} network hops away (httpPutResponseHopLimit: {limit}): pods can reach the node's IAM credentials; set it to {MAX_HOP_LIMIT}"

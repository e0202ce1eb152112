"""AWS Load Balancer Controller IAM policy, kept as the upstream document.

``data/aws_load_balancer_controller_v3.5.0.json`` is, byte for byte, the policy the
controller's installation guide publishes:

    repository: kubernetes-sigs/aws-load-balancer-controller
    path:       docs/install/iam_policy.json
    ref:        v3.5.0 (tag)
    commit:     11eb202c97e4ae2ee45e0658c4cde9a4b59f33d4
    git blob:   761d0e733c41089c91ea009dd29faf71918085e5

The chart pinned in ``llm_platform.pins`` (aws/eks-charts aws-load-balancer-controller
3.5.0) runs controller v3.5.0, the release this policy belongs to. To upgrade,
replace the data file with the new release's iam_policy.json, rename it, and
update the constants below together with the chart pin; the tests check that
the file's git blob id is the one recorded here.

The only change made to the document is the partition: upstream writes its
ARNs for the commercial partition (``arn:aws:``). For ``aws-cn``, ``aws-us-gov``
and ``aws-eusc`` the result has the same statements as upstream's
iam_policy_cn.json, iam_policy_us-gov.json and iam_policy_eusc.json at the same
commit (cn and us-gov list two statements in a different order). The ISO
partitions have their own upstream variants with fewer actions, so they are
rejected here rather than given a policy upstream does not publish for them.

Pure data: no Pulumi imports, only a read of the packaged JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UPSTREAM_REPO = "kubernetes-sigs/aws-load-balancer-controller"
UPSTREAM_PATH = "docs/install/iam_policy.json"
UPSTREAM_REF = "v3.5.0"
UPSTREAM_COMMIT = "11eb202c97e4ae2ee45e0658c4cde9a4b59f33d4"
# Git blob id of UPSTREAM_PATH at UPSTREAM_COMMIT (`git rev-parse <commit>:<path>`).
UPSTREAM_BLOB = "761d0e733c41089c91ea009dd29faf71918085e5"

DATA_FILE = Path(__file__).resolve().parent / "data" / "aws_load_balancer_controller_v3.5.0.json"

UPSTREAM_PARTITION = "aws"
# Partitions for which substituting the partition reproduces upstream's own variant (see above).
SUPPORTED_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-eusc"})


def upstream_policy_text() -> str:
    """The upstream document exactly as published (commercial partition)."""
    return DATA_FILE.read_text(encoding="utf-8")


def _in_partition(node: Any, partition: str) -> Any:
    prefix = f"arn:{UPSTREAM_PARTITION}:"
    if isinstance(node, str):
        return f"arn:{partition}:" + node[len(prefix):] if node.startswith(prefix) else node
    if isinstance(node, list):
        return [_in_partition(item, partition) for item in node]
    if isinstance(node, dict):
        return {key: _in_partition(value, partition) for key, value in node.items()}
    return node


def controller_policy_document(partition: str = UPSTREAM_PARTITION) -> dict[str, Any]:
    """The upstream policy as a dict, its ARNs in ``partition``. A fresh dict on every call."""
    if partition not in SUPPORTED_PARTITIONS:
        raise ValueError(
            f"no upstream AWS Load Balancer Controller policy is reproduced for partition {partition!r}; "
            f"supported: {', '.join(sorted(SUPPORTED_PARTITIONS))} (upstream publishes separate "
            f"docs/install/iam_policy_<partition>.json files for the others)"
        )
    return _in_partition(json.loads(upstream_policy_text()), partition)


def controller_policy(partition: str = UPSTREAM_PARTITION) -> str:
    """The upstream policy as a JSON string, its ARNs in ``partition``.

    Formatted as upstream formats it (four-space indent), so for ``aws`` the
    string is the upstream file without its trailing newline.
    """
    return json.dumps(controller_policy_document(partition), indent=4)

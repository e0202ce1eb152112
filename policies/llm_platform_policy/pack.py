"""The policy pack's rules in one list, and their evaluation for the offline preview.

`policies/__main__.py` turns `POLICIES` into Pulumi policies; `evaluate` applies them the way the
Pulumi engine does: per-policy enforcement levels and config from `policies/config/<stack>.json`."""

from __future__ import annotations

from typing import Any, Mapping

from llm_platform_policy import budget, guardrails, quota
from llm_platform_policy.core import Finding, Policy, Resource

POLICIES: tuple[Policy, ...] = (
    Policy(
        "budget-ceiling",
        "The stack's worst-case monthly cost stays within the environment's budget, and an AWS Budget no larger than it watches actual spend.",
        "mandatory",
        config_properties=budget.BUDGET_PROPERTIES,
        required_config=("monthlyBudgetUsd",),
        check_stack=budget.ceiling_within_budget,
    ),
    Policy(
        "budget-warning",
        "Advises when the worst-case monthly cost passes a share of the budget.",
        "advisory",
        config_properties=budget.WARNING_PROPERTIES,
        required_config=("monthlyBudgetUsd",),
        check_stack=budget.ceiling_below_warning,
    ),
    Policy(
        "gpu-quota",
        "GPU node pools are bounded, stay within the environment's GPU allowance and within the account's EC2 vCPU quotas.",
        "mandatory",
        config_properties=quota.QUOTA_PROPERTIES,
        required_config=("maxGpus",),
        check_stack=quota.gpus_within_quota,
    ),
    Policy("eks-endpoint-restricted", "The EKS public API endpoint is not open to the whole internet.", "mandatory", check_resource=guardrails.eks_endpoint_restricted),
    Policy("imdsv2-required", "Nodes require IMDSv2 session tokens.", "mandatory", check_resource=guardrails.imdsv2_required),
    Policy("encryption-at-rest", "EBS volumes and Kubernetes Secrets are encrypted at rest.", "mandatory", check_resource=guardrails.encrypted_at_rest),
    Policy("s3-encrypted", "Every S3 bucket has default KMS encryption.", "mandatory", check_stack=guardrails.s3_encrypted),
    Policy("s3-public-access-blocked", "Every S3 bucket blocks public access.", "mandatory", check_stack=guardrails.s3_public_access_blocked),
    Policy(
        "no-privilege-escalation",
        "Containers are not privileged and cannot escalate privileges, except reviewed system agents.",
        "mandatory",
        config_properties=guardrails.ALLOW_LIST_PROPERTY,
        check_resource=guardrails.no_privilege_escalation,
    ),
    Policy("images-pinned", "Container images carry a pinned tag or digest, Helm releases a chart version.", "mandatory", check_resource=guardrails.images_pinned),
    Policy(
        "gpu-limits-set",
        "Pods that run on GPU nodes set nvidia.com/gpu limits.",
        "mandatory",
        config_properties=guardrails.ALLOW_LIST_PROPERTY,
        check_resource=guardrails.gpu_limits_set,
    ),
    Policy("required-tags", "Taggable AWS resources carry the platform's tags.", "mandatory", config_properties=guardrails.TAG_PROPERTY, check_resource=guardrails.required_tags),
    Policy("karpenter-ami-pinned", "Karpenter node classes pin a dated AMI release instead of @latest.", "mandatory", check_resource=guardrails.ami_pinned),
)
BY_NAME = {policy.name: policy for policy in POLICIES}
def policy_entry(raw: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A policy's entry in a pack config; `--policy-pack-config` allows a bare enforcement level."""
    return {"enforcementLevel": raw} if isinstance(raw, str) else raw or {}


def settings(policy: Policy, pack_config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The policy's enforcement level and config (with schema defaults) under a stack's pack config."""
    raw = policy_entry(pack_config.get(policy.name))
    return raw.get("enforcementLevel", policy.enforcement), policy.config_with_defaults(raw)


def evaluate(resources: list[Resource], pack_config: Mapping[str, Any]) -> list[Finding]:
    findings = []
    for policy in POLICIES:
        enforcement, config = settings(policy, pack_config)
        if enforcement == "disabled":
            continue
        if policy.check_stack:
            for urn, message in policy.check_stack(resources, config):
                findings.append(Finding(policy.name, enforcement, urn, message))
        if policy.check_resource:
            for resource in resources:
                for message in policy.check_resource(resource.type, resource.props, config):
                    findings.append(Finding(policy.name, enforcement, resource.urn, message))
    return findings

"""The policy pack's rules in one list, and their evaluation for the offline preview.

`policies/__main__.py` turns `POLICIES` into Pulumi policies; `evaluate` applies them the way the
Pulumi engine does: per-policy enforcement levels and config from `policies/config/<stack>.json`."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from llm_platform_policy import budget, cidrs, environment, gcp_security, guardrails, iam, kube, kube_network, logs, network, nodes, pods, quota, storage
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
    Policy(
        "eks-endpoint-restricted",
        "The EKS public API endpoint admits no more than a small share of the internet, however its CIDRs are spelt.",
        "mandatory",
        config_properties=cidrs.MAX_SHARE_PROPERTY,
        check_resource=network.eks_endpoint_restricted,
    ),
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
    Policy("pod-host-namespaces", "Pods do not share the node's network, PID or IPC namespace, except reviewed system agents.", "mandatory", config_properties=pods.WORKLOAD_ALLOW_LIST, check_resource=pods.no_host_namespaces),
    Policy("pod-host-paths", "Pods mount no hostPath volume, except reviewed system agents.", "mandatory", config_properties=pods.WORKLOAD_ALLOW_LIST, check_resource=pods.no_host_paths),
    Policy("pod-host-ports", "Containers bind no host port, except reviewed system agents.", "mandatory", config_properties=pods.WORKLOAD_ALLOW_LIST, check_resource=pods.no_host_ports),
    Policy(
        "pod-capabilities",
        "Containers drop ALL capabilities and add back only allowed ones (Pod Security Standards restricted), except reviewed system agents.",
        "mandatory",
        config_properties=pods.CAPABILITY_PROPERTIES,
        check_resource=pods.capabilities_dropped,
    ),
    Policy("pod-run-as-non-root", "Containers run with runAsNonRoot: true and never as UID 0, except reviewed system agents.", "mandatory", config_properties=pods.WORKLOAD_ALLOW_LIST, check_resource=pods.runs_as_non_root),
    Policy(
        "pod-security-baseline",
        "Pods keep seccomp and AppArmor on, the container SELinux types, a masked /proc and only the safe sysctls (Pod Security Standards baseline), except reviewed system agents.",
        "mandatory",
        config_properties=pods.WORKLOAD_ALLOW_LIST,
        check_resource=pods.baseline_fields,
    ),
    Policy("pod-resources-set", "Containers request CPU and memory and limit memory.", "mandatory", check_resource=pods.resources_set),
    Policy(
        "namespace-pod-security",
        "Every namespace the program writes enforces a Pod Security level, privileged only for reviewed namespaces.",
        "mandatory",
        config_properties=pods.NAMESPACE_ALLOW_LIST,
        check_resource=pods.namespace_pod_security,
    ),
    Policy("namespace-default-deny", "Every namespace the program creates has a default-deny ingress NetworkPolicy.", "mandatory", check_stack=kube_network.namespaces_default_deny),
    Policy("network-policy-sources", "No NetworkPolicy ingress rule admits every source.", "mandatory", check_resource=kube_network.network_policy_sources),
    Policy(
        "service-not-exposed",
        "No LoadBalancer or NodePort Service, or Service with external IPs, except reviewed ones.",
        "mandatory",
        config_properties=kube_network.SERVICE_ALLOW_LIST,
        check_resource=kube_network.service_not_exposed,
    ),
    Policy(
        "models-only-through-gateway",
        "Models are reached only through the inference gateway: ClusterIP model Services, no Ingress or exposed Service beside them, no route around their pools, pods admitting only the gateway, Prometheus and their Endpoint Picker.",
        "mandatory",
        config_properties=kube_network.MODEL_SOURCES_PROPERTY,
        check_stack=kube_network.models_only_through_gateway,
    ),
    Policy(
        "gateways-check-keys",
        "Every Gateway checks its clients' API keys (agentgateway strict API-key authentication on the Gateway).",
        "mandatory",
        check_stack=kube_network.gateways_check_keys,
    ),
    Policy("gke-private-nodes", "GKE nodes have internal addresses only.", "mandatory", check_resource=gcp_security.private_nodes),
    Policy("gke-workload-identity", "GKE clusters have Workload Identity.", "mandatory", check_resource=gcp_security.workload_identity),
    Policy("gke-network-policy-enforced", "GKE clusters enforce NetworkPolicy (Dataplane V2, or the network policy add-on).", "mandatory", check_resource=gcp_security.network_policy_enforced),
    Policy("gke-metadata-server", "GKE nodes run the GKE metadata server (pods never see the node's credentials).", "mandatory", check_resource=gcp_security.metadata_server),
    Policy("gke-shielded-nodes", "GKE nodes are shielded: secure boot and integrity monitoring.", "mandatory", check_resource=gcp_security.shielded_nodes),
    Policy("gke-secrets-encryption", "GKE encrypts Kubernetes Secrets with a Cloud KMS key.", "mandatory", check_resource=gcp_security.secrets_encryption),
    Policy(
        "gke-control-plane-logging",
        "GKE sends control-plane logs (API server, scheduler, controller manager) to Cloud Logging.",
        "mandatory",
        config_properties=gcp_security.LOGGING_PROPERTIES,
        check_resource=gcp_security.control_plane_logging,
    ),
    Policy("gke-legacy-access-off", "GKE has no legacy ABAC, static client certificate or RBAC bindings to all users.", "mandatory", check_resource=gcp_security.legacy_access_off),
    Policy("gcs-bucket-access", "Cloud Storage buckets use uniform bucket-level access and enforce public access prevention.", "mandatory", check_resource=gcp_security.bucket_access),
    Policy("gcp-no-public-members", "No Google Cloud IAM grant or storage ACL names allUsers or allAuthenticatedUsers.", "mandatory", check_resource=gcp_security.no_public_members),
    Policy("gcp-kms-rotation", "Cloud KMS keys rotate at least every maxRotationDays.", "mandatory", config_properties=gcp_security.ROTATION_PROPERTIES, check_resource=gcp_security.key_rotation),
    Policy(
        "stack-environment",
        "Resources declare the environment the stack's policy config names; the stack does not choose its own.",
        "mandatory",
        config_properties=environment.ENVIRONMENT_PROPERTY,
        required_config=("environment",),
        check_stack=environment.environment_matches,
    ),
    Policy(
        "production-high-availability",
        "Production: a NAT gateway per zone, two replicas of every workload and of Karpenter, system nodes on on-demand capacity.",
        "mandatory",
        config_properties=environment.ENVIRONMENT_PROPERTY,
        required_config=("environment",),
        check_stack=environment.production_high_availability,
    ),
    Policy(
        "vpc-flow-logs",
        "Production: every VPC records flow logs, kept at least a minimum number of days.",
        "mandatory",
        config_properties={**environment.ENVIRONMENT_PROPERTY, **environment.MIN_RETENTION_PROPERTY},
        required_config=("environment",),
        check_stack=environment.vpc_flow_logs,
    ),
    Policy(
        "buckets-protected",
        "Production: buckets (the model weights) carry the protect resource option.",
        "mandatory",
        config_properties=environment.ENVIRONMENT_PROPERTY,
        required_config=("environment",),
        check_stack=environment.buckets_protected,
    ),
    Policy(
        "security-group-ingress-restricted",
        "Security group ingress admits no more than a small share of the internet, SSH and RDP least of all.",
        "mandatory",
        config_properties=cidrs.MAX_SHARE_PROPERTY,
        check_stack=network.security_group_ingress_restricted,
    ),
    Policy(
        "load-balancer-sources-restricted",
        "Internet-facing load balancers (LoadBalancer Services, ALB Ingresses) admit no more than a small share of the internet.",
        "mandatory",
        config_properties=cidrs.MAX_SHARE_PROPERTY,
        check_resource=network.load_balancer_sources_restricted,
    ),
    Policy(
        "gke-control-plane-restricted",
        "The GKE control plane's public endpoint admits only authorized networks, no more than a small share of the internet.",
        "mandatory",
        config_properties=cidrs.MAX_SHARE_PROPERTY,
        check_resource=network.gke_control_plane_restricted,
    ),
    Policy(
        "iam-no-wildcard-actions",
        "IAM policies grant no wildcard actions or NotAction, except reviewed exceptions.",
        "mandatory",
        config_properties=iam.WILDCARD_EXCEPTIONS_PROPERTY,
        check_resource=iam.no_wildcard_actions,
    ),
    Policy("iam-trust-restricted", "Role trust policies pin web-identity audience and subject, and admit no anonymous principal.", "mandatory", check_resource=iam.trust_restricted),
    Policy(
        "resource-policies-not-public",
        "KMS key, S3 bucket, SQS, SNS and ECR policies and bucket ACLs grant nothing to the public unless a condition confines it.",
        "mandatory",
        check_resource=storage.resource_policies_not_public,
    ),
    Policy("kms-key-rotation", "Symmetric KMS keys rotate their key material.", "mandatory", check_resource=storage.kms_key_rotation),
    Policy("s3-tls-only", "Every S3 bucket's policy denies requests without TLS.", "mandatory", check_stack=storage.s3_tls_only),
    Policy(
        "eks-control-plane-logs",
        "EKS clusters send their api, audit and authenticator logs to CloudWatch Logs.",
        "mandatory",
        config_properties=logs.LOG_TYPES_PROPERTY,
        check_resource=logs.eks_control_plane_logs,
    ),
    Policy("log-retention-set", "Every CloudWatch log group sets a retention period.", "mandatory", check_resource=logs.log_retention_set),
    Policy("imds-hop-limit", "Instance metadata answers one network hop only, so pods cannot take the node's credentials.", "mandatory", check_resource=nodes.imds_hop_limit),
)
BY_NAME = {policy.name: policy for policy in POLICIES}
def policy_entry(raw: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A policy's entry in a pack config; `--policy-pack-config` allows a bare enforcement level."""
    return {"enforcementLevel": raw} if isinstance(raw, str) else raw or {}


def settings(policy: Policy, pack_config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The policy's enforcement level and config (with schema defaults) under a stack's pack config."""
    raw = policy_entry(pack_config.get(policy.name))
    return raw.get("enforcementLevel", policy.enforcement), policy.config_with_defaults(raw)


def resource_messages(policy: Policy, resource: Resource, inline: list[Resource], config: Mapping[str, Any]) -> Iterator[str]:
    """The messages of a resource rule over `resource` and `inline`, the objects it declares inline (a
    ConfigGroup's: `kube.inline_objects`), each of those named in its message."""
    assert policy.check_resource is not None
    for checked in (resource, *inline):
        for message in policy.check_resource(checked.type, checked.props, config):
            yield message if checked is resource else f"{checked.props.get('kind')} {checked.name} in {resource.type.rsplit(':', 1)[-1]}: {message}"


def evaluate(resources: list[Resource], pack_config: Mapping[str, Any]) -> list[Finding]:
    findings = []
    # Inline objects are read once, not once a policy.
    inline = {resource.urn: kube.inline_objects(resource) for resource in resources}
    everything = [*resources, *(found for objects in inline.values() for found in objects)]
    for policy in POLICIES:
        enforcement, config = settings(policy, pack_config)
        if enforcement == "disabled":
            continue
        if policy.check_stack:
            for urn, message in policy.check_stack(everything, config):
                findings.append(Finding(policy.name, enforcement, urn, message))
        if policy.check_resource:
            for resource in resources:
                for message in resource_messages(policy, resource, inline[resource.urn], config):
                    findings.append(Finding(policy.name, enforcement, resource.urn, message))
    return findings

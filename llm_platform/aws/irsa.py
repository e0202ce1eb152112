"""IAM roles for service accounts (IRSA): how a Kubernetes service account's pods get an IAM role on EKS."""

from __future__ import annotations

import pulumi

from llm_platform.aws import kinds
from llm_platform.aws.iam.documents import policy_json
from llm_platform.aws.kinds import IAM_ROLE_NAME_LIMIT
from llm_platform.contract import bounded_name

# IRSA: the annotation by which EKS's pod identity webhook gives a service account's pods an IAM role.
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def irsa_trust_policy(oidc_provider_arn: pulumi.Input[str], oidc_issuer: pulumi.Input[str], namespace: str, service_account: str) -> pulumi.Output[str]:
    """Trust policy letting exactly one Kubernetes service account assume a role (IRSA)."""
    return pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
        lambda resolved: policy_json(
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": resolved[0]},
                "Condition": {
                    "StringEquals": {
                        f"{resolved[1]}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{resolved[1]}:aud": "sts.amazonaws.com",
                    }
                },
            }
        )
    )


def irsa_role(
    resource_name: str,
    *,
    role_name: str,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    namespace: str,
    service_account: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> pulumi.CustomResource:
    """The IAM role one Kubernetes service account's pods assume, named within IAM's limit."""
    return kinds.ROLE(
        resource_name,
        {
            "assumeRolePolicy": irsa_trust_policy(oidc_provider_arn, oidc_issuer, namespace, service_account),
            "name": bounded_name(role_name, IAM_ROLE_NAME_LIMIT),
            "tags": tags,
        },
        opts,
    )

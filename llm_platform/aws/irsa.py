"""IAM roles for service accounts (IRSA): how a Kubernetes service account's pods get an IAM role on EKS."""

from __future__ import annotations

import pulumi

from llm_platform.aws.iam.documents import policy_json

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

"""IAM roles for service accounts (IRSA): how a Kubernetes service account's pods get an IAM role on EKS."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

# IRSA: the annotation by which EKS's pod identity webhook gives a service account's pods an IAM role.
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def irsa_trust_policy(
    parent: pulumi.Resource, oidc_provider_arn: pulumi.Input[str], oidc_issuer: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    """Trust policy letting exactly one Kubernetes service account assume a role (IRSA)."""
    return aws.iam.get_policy_document_output(
        statements=[
            aws.iam.GetPolicyDocumentStatementArgs(
                actions=["sts:AssumeRoleWithWebIdentity"],
                principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="Federated", identifiers=[oidc_provider_arn])],
                conditions=[
                    aws.iam.GetPolicyDocumentStatementConditionArgs(
                        test="StringEquals", variable=pulumi.Output.concat(oidc_issuer, ":sub"), values=[f"system:serviceaccount:{namespace}:{service_account}"]
                    ),
                    aws.iam.GetPolicyDocumentStatementConditionArgs(
                        test="StringEquals", variable=pulumi.Output.concat(oidc_issuer, ":aud"), values=["sts.amazonaws.com"]
                    ),
                ],
            )
        ],
        opts=pulumi.InvokeOptions(parent=parent),
    ).json

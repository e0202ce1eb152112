"""Karpenter controller IAM policies and interruption handling, as plain data.

This module is a hand transcription of the CloudFormation template that the
Karpenter getting-started guide ships:

    repository: aws/karpenter-provider-aws
    path:       website/content/en/docs/getting-started/getting-started-with-karpenter/cloudformation.yaml
    ref:        v1.14.1 (tag; the file is byte-identical on branch release-v1.14.1)
    commit:     bde00654cd316fddb3dccfba3f5ac07039865429

Statements, Sids, action order, resources and conditions are kept as upstream
writes them so that a diff against a future upstream release stays readable.
Only the CloudFormation substitutions (``${AWS::Partition}``, ``${ClusterName}``,
``${KarpenterNodeRole.Arn}``, ...) are turned into function arguments.

The upstream template splits the controller permissions into six managed
policies. Merged into one document they exceed IAM's 6,144 character limit for
managed policies for many realistic inputs: in ``aws``/``us-east-1`` any cluster
name longer than 17 characters pushes the merged document over (the name
appears 16 times in the statements, plus once each in the upstream-style queue
and node role ARNs). So this module keeps upstream's split:
``controller_policy_documents`` returns one document per upstream policy; the
largest (NodeLifecyclePolicy) stays below ~3,800 characters even with a
100 character cluster name.

Everything here is pure data: no Pulumi imports, no I/O, so it can be unit
tested and reviewed against upstream without cloud credentials.
"""

from __future__ import annotations

from typing import Any

UPSTREAM_REPO = "aws/karpenter-provider-aws"
UPSTREAM_PATH = "website/content/en/docs/getting-started/getting-started-with-karpenter/cloudformation.yaml"
UPSTREAM_REF = "v1.14.1"
UPSTREAM_COMMIT = "bde00654cd316fddb3dccfba3f5ac07039865429"

POLICY_VERSION = "2012-10-17"

# IAM rejects customer managed policies above this many non-whitespace characters.
MANAGED_POLICY_MAX_CHARS = 6144

# Interruption queue settings from the KarpenterInterruptionQueue resource of the
# upstream template (cloudformation.yaml at v1.14.1). Interruption notices are
# only actionable for minutes (a spot warning gives two), so stale ones are
# dropped rather than replayed against nodes that are already gone.
MESSAGE_RETENTION_SECONDS = 300
# Upstream enables SQS-managed server-side encryption (SqsManagedSseEnabled: true)
# rather than KMS, which avoids granting EventBridge access to a KMS key.
SQS_MANAGED_SSE_ENABLED = True
# Identifiers upstream uses for the queue policy and for every rule's target.
QUEUE_POLICY_ID = "EC2InterruptionPolicy"
EVENT_RULE_TARGET_ID = "KarpenterInterruptionQueueTarget"

# Upstream logical resource id -> ManagedPolicyName prefix (upstream appends
# "-${ClusterName}"). Order is the order of the upstream template.
CONTROLLER_POLICY_NAME_PREFIXES: dict[str, str] = {
    "NodeLifecyclePolicy": "KarpenterControllerNodeLifecyclePolicy",
    "IAMIntegrationPolicy": "KarpenterControllerIAMIntegrationPolicy",
    "EKSIntegrationPolicy": "KarpenterControllerEKSIntegrationPolicy",
    "InterruptionPolicy": "KarpenterControllerInterruptionPolicy",
    "ZonalShiftPolicy": "KarpenterControllerZonalShiftPolicy",
    "ResourceDiscoveryPolicy": "KarpenterControllerResourceDiscoveryPolicy",
}


def interruption_queue_name(cluster_name: str) -> str:
    """Queue name upstream uses (QueueName: !Sub "${ClusterName}").

    Karpenter's Helm value settings.interruptionQueue must be set to this.
    """
    return cluster_name


def controller_policy_name(logical_id: str, cluster_name: str) -> str:
    """Managed policy name upstream would give ``logical_id`` for ``cluster_name``."""
    return f"{CONTROLLER_POLICY_NAME_PREFIXES[logical_id]}-{cluster_name}"


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": statements}


def controller_policy_documents(
    *,
    partition: str,
    region: str,
    account_id: str,
    cluster_name: str,
    interruption_queue_arn: str,
    node_role_arn: str,
) -> dict[str, dict[str, Any]]:
    """Return the upstream controller policies, keyed by upstream logical id.

    All six must be attached to the Karpenter controller role, as the upstream
    getting-started scripts (step02-create-cluster.sh) do. ZonalShiftPolicy is
    only exercised when the chart runs with settings.enableZonalShift=true, but
    upstream attaches it unconditionally and so do we.
    """
    ec2 = f"arn:{partition}:ec2:{region}"
    instance_profiles = f"arn:{partition}:iam::{account_id}:instance-profile/*"
    cluster_arn = f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}"
    # The tag keys embed the cluster name, which is why upstream has to write
    # these documents as !Sub JSON strings instead of native YAML.
    cluster_resource_tag = f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}"
    cluster_request_tag = f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}"

    # Resources Karpenter creates at launch; shared by the two statements below
    # so that launch permission and create-time tagging cannot drift apart.
    launched_resources = [
        f"{ec2}:*:fleet/*",
        f"{ec2}:*:instance/*",
        f"{ec2}:*:volume/*",
        f"{ec2}:*:network-interface/*",
        f"{ec2}:*:launch-template/*",
        f"{ec2}:*:spot-instances-request/*",
    ]

    node_lifecycle = [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
            "Action": [
                "ec2:RunInstances",
                "ec2:CreateFleet",
            ],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:launch-template/*",
            "Action": [
                "ec2:RunInstances",
                "ec2:CreateFleet",
            ],
            "Condition": {
                "StringEquals": {
                    cluster_resource_tag: "owned",
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.sh/nodepool": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Resource": list(launched_resources),
            "Action": [
                "ec2:RunInstances",
                "ec2:CreateFleet",
                "ec2:CreateLaunchTemplate",
            ],
            "Condition": {
                "StringEquals": {
                    cluster_request_tag: "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                },
                "StringLike": {
                    "aws:RequestTag/karpenter.sh/nodepool": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Resource": list(launched_resources),
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {
                    cluster_request_tag: "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                    "ec2:CreateAction": [
                        "RunInstances",
                        "CreateFleet",
                        "CreateLaunchTemplate",
                    ],
                },
                "StringLike": {
                    "aws:RequestTag/karpenter.sh/nodepool": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:instance/*",
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {
                    cluster_resource_tag: "owned",
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.sh/nodepool": "*",
                },
                "StringEqualsIfExists": {
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                },
                # Post-launch tagging is limited to the keys Karpenter itself
                # maintains, so the controller cannot re-tag a node out of scope.
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": [
                        "eks:eks-cluster-name",
                        "karpenter.sh/nodeclaim",
                        "Name",
                    ],
                },
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Resource": [
                f"{ec2}:*:instance/*",
                f"{ec2}:*:launch-template/*",
            ],
            "Action": [
                "ec2:TerminateInstances",
                "ec2:DeleteLaunchTemplate",
            ],
            "Condition": {
                "StringEquals": {
                    cluster_resource_tag: "owned",
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.sh/nodepool": "*",
                },
            },
        },
    ]

    iam_integration = [
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Resource": node_role_arn,
            "Action": "iam:PassRole",
            "Condition": {
                "StringEquals": {
                    # Upstream lists the China service principal unconditionally so
                    # one template works in every partition.
                    "iam:PassedToService": [
                        "ec2.amazonaws.com",
                        "ec2.amazonaws.com.cn",
                    ],
                },
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileCreationActions",
            "Effect": "Allow",
            "Resource": instance_profiles,
            "Action": [
                "iam:CreateInstanceProfile",
            ],
            "Condition": {
                "StringEquals": {
                    cluster_request_tag: "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                    # Instance profiles are global; the region tag keeps clusters
                    # of the same name in different regions from colliding.
                    "aws:RequestTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileTagActions",
            "Effect": "Allow",
            "Resource": instance_profiles,
            "Action": [
                "iam:TagInstanceProfile",
            ],
            "Condition": {
                "StringEquals": {
                    cluster_resource_tag: "owned",
                    "aws:ResourceTag/topology.kubernetes.io/region": region,
                    cluster_request_tag: "owned",
                    "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                    "aws:RequestTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileActions",
            "Effect": "Allow",
            "Resource": instance_profiles,
            "Action": [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Condition": {
                "StringEquals": {
                    cluster_resource_tag: "owned",
                    "aws:ResourceTag/topology.kubernetes.io/region": region,
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        },
    ]

    eks_integration = [
        {
            "Sid": "AllowAPIServerEndpointDiscovery",
            "Effect": "Allow",
            "Resource": cluster_arn,
            "Action": "eks:DescribeCluster",
        },
    ]

    interruption = [
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Resource": interruption_queue_arn,
            "Action": [
                "sqs:DeleteMessage",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ],
        },
    ]

    zonal_shift = [
        {
            "Sid": "AllowZonalShiftStatusReadOnly",
            "Effect": "Allow",
            # GetManagedResource is scoped by condition key rather than by
            # resource ARN, hence "*" here as upstream has it.
            "Resource": "*",
            "Action": [
                "arc-zonal-shift:GetManagedResource",
            ],
            "Condition": {
                "StringEquals": {
                    "arc-zonal-shift:ResourceIdentifier": cluster_arn,
                },
            },
        },
    ]

    resource_discovery = [
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            # EC2 Describe* calls do not support resource-level permissions;
            # upstream confines them to the cluster's region instead.
            "Resource": "*",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Condition": {
                "StringEquals": {
                    "aws:RequestedRegion": region,
                },
            },
        },
        {
            "Sid": "AllowSSMReadActions",
            "Effect": "Allow",
            # Only AWS-published public parameters (e.g. EKS-optimized AMI ids).
            "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
            "Action": "ssm:GetParameter",
        },
        {
            "Sid": "AllowPricingReadActions",
            "Effect": "Allow",
            # The Pricing API has no resource-level permissions.
            "Resource": "*",
            "Action": "pricing:GetProducts",
        },
        {
            "Sid": "AllowUnscopedInstanceProfileListAction",
            "Effect": "Allow",
            # List* on IAM cannot be scoped to a path or tag.
            "Resource": "*",
            "Action": "iam:ListInstanceProfiles",
        },
        {
            "Sid": "AllowInstanceProfileReadActions",
            "Effect": "Allow",
            "Resource": instance_profiles,
            "Action": "iam:GetInstanceProfile",
        },
    ]

    return {
        "NodeLifecyclePolicy": _document(node_lifecycle),
        "IAMIntegrationPolicy": _document(iam_integration),
        "EKSIntegrationPolicy": _document(eks_integration),
        "InterruptionPolicy": _document(interruption),
        "ZonalShiftPolicy": _document(zonal_shift),
        "ResourceDiscoveryPolicy": _document(resource_discovery),
    }


def interruption_event_patterns() -> dict[str, dict[str, Any]]:
    """EventBridge patterns of the upstream rules that feed the interruption queue.

    Keys are stable short names; the upstream rule logical ids are noted inline.
    A fresh dict is built on every call so callers may mutate the result.
    """
    return {
        # ScheduledChangeRule
        "scheduled-change": {
            "source": ["aws.health"],
            "detail-type": ["AWS Health Event"],
        },
        # SpotInterruptionRule
        "spot-interruption": {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Spot Instance Interruption Warning"],
        },
        # RebalanceRule
        "rebalance": {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance Rebalance Recommendation"],
        },
        # InstanceStateChangeRule
        "instance-state-change": {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
        },
        # CapacityReservationInterruptionRule: added upstream with support for
        # launching into interruptible ODCRs (aws/karpenter-provider-aws#9019);
        # without it Karpenter never learns the reservation owner reclaimed a node.
        "capacity-reservation-interruption": {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
        },
    }


def interruption_queue_policy_document(*, queue_arn: str) -> dict[str, Any]:
    """Queue policy upstream attaches to the interruption queue.

    Mirrors upstream exactly, including that it carries an ``Id`` but no
    ``Version`` (so AWS treats it as the 2008-10-17 language; harmless here
    because no policy variables are used) and that ``aws:SecureTransport`` is a
    JSON boolean rather than the string "false".
    """
    return {
        "Id": QUEUE_POLICY_ID,
        "Statement": [
            {
                # EventBridge delivers the rule matches; sqs.amazonaws.com is
                # listed upstream as well.
                "Effect": "Allow",
                "Principal": {
                    "Service": [
                        "events.amazonaws.com",
                        "sqs.amazonaws.com",
                    ],
                },
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {
                    "Bool": {
                        "aws:SecureTransport": False,
                    },
                },
                "Principal": "*",
            },
        ],
    }

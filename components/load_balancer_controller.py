"""The AWS Load Balancer Controller: provisions ALBs for Ingresses and NLBs for Services of type
LoadBalancer, with its own IRSA role carrying the controller policy upstream publishes.

Chosen over ingress-nginx, which Kubernetes retired in March 2026. The controller finds the subnets for
its load balancers by the `kubernetes.io/role/elb` / `kubernetes.io/role/internal-elb` tags the network
component already puts on the public and private subnets.

AWS and Kubernetes resources both come from the providers the caller passes through `opts`
(`providers={"aws": ..., "kubernetes": ...}`); this component creates none."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.eks_cluster import IRSA_ANNOTATION, irsa_trust_policy
from components.helm import pinned_release
from llm_platform import pins
from llm_platform.iam import load_balancer_controller as upstream

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
RELEASE_NAME = "aws-load-balancer-controller"


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    region: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    replicas: int
    system_node_selector: dict[str, str]
    tags: dict[str, str]


def controller_values(args: LoadBalancerControllerArgs, role_arn: pulumi.Input[str]) -> dict:
    """Chart values; every key exists in the chart's values.yaml at 3.5.0."""
    return {
        "clusterName": args.cluster_name,
        # Set explicitly so the controller does not need the instance metadata service to find them.
        "region": args.region,
        "vpcId": args.vpc_id,
        "replicaCount": args.replicas,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {IRSA_ANNOTATION: role_arn},
        },
        "nodeSelector": args.system_node_selector,
    }


class LoadBalancerController(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:load_balancer_controller:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=self)).partition
        aws_name = f"{args.cluster_name}-aws-lb-controller"
        tags = {**args.tags, "Name": aws_name}
        policy = aws.iam.Policy(
            f"{name}-controller",
            name=aws_name,
            policy=upstream.controller_policy(partition),
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-controller",
            name=aws_name,
            assume_role_policy=irsa_trust_policy(self, args.oidc_provider_arn, args.oidc_issuer, NAMESPACE, SERVICE_ACCOUNT),
            tags=tags,
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(f"{name}-controller", role=role.name, policy_arn=policy.arn, opts=child)
        pinned_release(
            name,
            RELEASE_NAME,
            pins.AWS_LOAD_BALANCER_CONTROLLER_CHART,
            namespace=NAMESPACE,
            values=controller_values(args, role.arn),
            # The controller calls AWS as soon as it starts: let it find its permissions in place.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})

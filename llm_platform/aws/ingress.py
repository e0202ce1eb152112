"""The inference gateway's edge on AWS: the AWS Load Balancer Controller (which provisions NLBs for
Services of type LoadBalancer, with its own IRSA role carrying the controller policy upstream publishes),
the NLB it puts in front of the gateway's proxies, and the ACM certificate TLS ends with there.

Chosen over ingress-nginx, which Kubernetes retired in March 2026. The controller finds the subnets for
its load balancers by the `kubernetes.io/role/elb` / `kubernetes.io/role/internal-elb` tags the network
component puts on the public subnets, both of them: internal load balancers too live where no pod does.

AWS and Kubernetes resources both come from the providers the caller passes through `opts`
(`providers={"aws": ..., "kubernetes": ...}`); this component creates none."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform import pins
from llm_platform.aws import kinds
from llm_platform.aws.account import AwsAccount
from llm_platform.aws.iam import load_balancer_controller as upstream
from llm_platform.aws.irsa import IRSA_ANNOTATION, irsa_role
from llm_platform.config import GatewayConfig
from llm_platform.helm import pinned_release
from llm_platform.platform.gateway import GatewayEdge

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
RELEASE_NAME = "aws-load-balancer-controller"


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    account: AwsAccount
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
        "region": args.account.region,
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
        partition = args.account.partition
        aws_name = f"{args.cluster_name}-aws-lb-controller"
        tags = {**args.tags, "Name": aws_name}
        policy = kinds.POLICY(f"{name}-controller", {"name": aws_name, "policy": upstream.controller_policy(partition), "tags": tags}, child)
        role = irsa_role(
            f"{name}-controller",
            role_name=aws_name,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            tags=tags,
            opts=child,
        )
        attachment = kinds.ROLE_POLICY_ATTACHMENT(f"{name}-controller", {"policyArn": policy.arn, "role": role.name}, child)
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


# AWS Load Balancer Controller v3.5.0 Service annotations (docs/guide/service/annotations.md at that tag;
# the names are pkg/annotations/constants.go `SvcLBSuffix*`, the health-check protocol is parsed
# case-insensitively by pkg/service/model_build_target_group.go).
_NLB = "service.beta.kubernetes.io/aws-load-balancer-"


def gateway_certificate(name: str, config: GatewayConfig, tags: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """An ACM certificate for the gateway's hostname, validated by DNS: ACM issues it once the CNAME in its
    `domainValidationOptions` (stack output `gatewayCertificateValidation`) is in the zone, and renews it
    itself while the record stays. Until then the load balancer controller retries its TLS listener."""
    return kinds.ACM_CERTIFICATE(name, {"domainName": config.hostname, "validationMethod": "DNS", "tags": {**tags, "Name": config.hostname}}, opts)


def gateway_edge(config: GatewayConfig, certificate_arn: pulumi.Input[str], load_balancer_cidrs: list[str], prerequisites: list[pulumi.Resource]) -> GatewayEdge:
    """An NLB in front of the gateway's proxies: TLS ends there with the ACM certificate on 443, port 80
    passes through to the proxies' redirect. NLB TCP and TLS listeners keep idle connections 350 s (their
    default idle timeout), longer than the seeds' 300 s streams need, and buffer nothing."""
    annotations = {
        f"{_NLB}type": "external",
        f"{_NLB}nlb-target-type": "ip",
        f"{_NLB}scheme": config.scheme,
        f"{_NLB}ssl-cert": certificate_arn,
        f"{_NLB}ssl-ports": "443",
        f"{_NLB}ssl-negotiation-policy": TLS_POLICY,
        f"{_NLB}healthcheck-protocol": "TCP",
    }
    spec: dict = {"type": "LoadBalancer"}
    if config.allowed_source_ranges:
        spec["loadBalancerSourceRanges"] = [str(cidr) for cidr in config.allowed_source_ranges]
    # IP targets see the NLB's own addresses (client IP preservation is off for IP targets by default), in
    # the load balancer subnets, which hold no pods.
    return GatewayEdge(service={"metadata": {"annotations": annotations}, "spec": spec}, tls=True, sources=load_balancer_cidrs, prerequisites=prerequisites)

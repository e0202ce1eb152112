"""The VPC every other AWS component lives in."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from llm_platform.aws import kinds
from llm_platform.aws.account import AwsAccount
from llm_platform.aws.iam.documents import policy_json
from llm_platform.aws.karpenter import DISCOVERY_TAG
from llm_platform.config import NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    cluster_name: str
    """Written into the `karpenter.sh/discovery` tag of the private subnets, which Karpenter's
    EC2NodeClass selects; nodes never land in public subnets."""
    account: AwsAccount
    tags: dict[str, str]


def subnet_plan(cidr: ipaddress.IPv4Network, az_count: int) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv4Network]]:
    """Carve (private, public) subnet CIDRs out of the VPC CIDR, one of each per zone.

    The VPC is cut into eight blocks: zones take the first blocks as private subnets (every pod gets a
    VPC address through the VPC CNI, so these need the room); the last block is cut into eight again
    for the public subnets, which only hold NAT gateways and load balancers."""
    blocks = list(cidr.subnets(prefixlen_diff=3))
    if az_count > len(blocks) - 1:
        raise ValueError(f"a {cidr} VPC holds at most {len(blocks) - 1} zones")
    public_blocks = list(blocks[-1].subnets(prefixlen_diff=3))
    return blocks[:az_count], public_blocks[:az_count]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    availability_zones: list[str]
    load_balancer_cidrs: list[str]
    control_plane_cidrs: list[str]
    """The public subnets' ranges, where every load balancer of the cluster lives."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:network:Network", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str, extra: dict[str, str] | None = None) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}", **(extra or {})}

        zones = aws.get_availability_zones(
            state="available",
            # Local Zones and Wavelength Zones lack GPU instances and EKS control-plane support.
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOptions(parent=self),
        ).names
        if len(zones) < config.az_count:
            raise ValueError(f"llm-platform:aws.network.azCount: {config.az_count} zones requested but the region offers only {len(zones)} ({', '.join(zones)})")
        self.availability_zones = sorted(zones)[: config.az_count]
        private_cidrs, public_cidrs = subnet_plan(config.cidr, config.az_count)

        vpc = kinds.VPC(
            f"{name}-vpc",
            # EKS private endpoint access and interface endpoints need DNS hostnames.
            {"cidrBlock": str(config.cidr), "enableDnsHostnames": True, "enableDnsSupport": True, "tags": tags("vpc")},
            child,
        )
        igw = kinds.INTERNET_GATEWAY(f"{name}-igw", {"tags": tags("igw"), "vpcId": vpc.id}, child)

        def subnet(tier: str, zone: str, cidr, role_tags: dict[str, str]):
            inputs = {"availabilityZone": zone, "cidrBlock": str(cidr), "mapPublicIpOnLaunch": False, "tags": tags(f"{tier}-{zone}", role_tags), "vpcId": vpc.id}
            return kinds.SUBNET(f"{name}-{tier}-{zone}", inputs, child)

        # Load balancers, internet-facing and internal alike, go to the public subnets (the AWS Load
        # Balancer Controller picks subnets by these role tags): no pod has an address there, so the
        # model servers' NetworkPolicy can admit a load balancer by its subnets without admitting pods,
        # which under the VPC CNI take their addresses from the private subnets.
        load_balancer_roles = {"kubernetes.io/role/elb": "1", "kubernetes.io/role/internal-elb": "1"}
        public_subnets = [subnet("public", zone, cidr, {**load_balancer_roles, "tier": "public"}) for zone, cidr in zip(self.availability_zones, public_cidrs)]
        private_subnets = [
            subnet("private", zone, cidr, {DISCOVERY_TAG: args.cluster_name, "tier": "private"}) for zone, cidr in zip(self.availability_zones, private_cidrs)
        ]

        public_routes = kinds.ROUTE_TABLE(
            f"{name}-public", {"routes": [{"cidrBlock": "0.0.0.0/0", "gatewayId": igw.id}], "tags": tags("public"), "vpcId": vpc.id}, child
        )
        for zone, public in zip(self.availability_zones, public_subnets):
            kinds.ROUTE_TABLE_ASSOCIATION(f"{name}-public-{zone}", {"routeTableId": public_routes.id, "subnetId": public.id}, child)

        nat_zones = self.availability_zones if config.nat_gateways == "perAz" else self.availability_zones[:1]
        nat_gateways = {}
        for zone, public in zip(nat_zones, public_subnets):
            eip = kinds.EIP(f"{name}-nat-{zone}", {"domain": "vpc", "tags": tags(f"nat-{zone}")}, child)
            nat_gateways[zone] = kinds.NAT_GATEWAY(
                f"{name}-nat-{zone}",
                {"allocationId": eip.id, "connectivityType": "public", "subnetId": public.id, "tags": tags(f"nat-{zone}")},
                pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        private_route_tables = []
        for zone, private in zip(self.availability_zones, private_subnets):
            # With one shared gateway every zone egresses through it; with one per zone, through its own.
            nat = nat_gateways.get(zone, nat_gateways[nat_zones[0]])
            route_table = kinds.ROUTE_TABLE(
                f"{name}-private-{zone}", {"routes": [{"cidrBlock": "0.0.0.0/0", "natGatewayId": nat.id}], "tags": tags(f"private-{zone}"), "vpcId": vpc.id}, child
            )
            kinds.ROUTE_TABLE_ASSOCIATION(f"{name}-private-{zone}", {"routeTableId": route_table.id, "subnetId": private.id}, child)
            private_route_tables.append(route_table)

        # Model weights (tens of GB per replica start) come from S3: a gateway endpoint is free, while the
        # same traffic through NAT costs $0.045 per GB.
        kinds.VPC_ENDPOINT(
            f"{name}-s3",
            {
                "routeTableIds": [table.id for table in private_route_tables],
                "serviceName": f"com.amazonaws.{args.account.region}.s3",
                "tags": tags("s3"),
                "vpcEndpointType": "Gateway",
                "vpcId": vpc.id,
            },
            child,
        )

        if config.flow_logs is not None:
            self._flow_logs(name, vpc, config, args.account, tags)

        self.vpc_id = vpc.id
        self.load_balancer_cidrs = [str(cidr) for cidr in public_cidrs]
        # EKS puts the control plane's network interfaces in the cluster's (private) subnets: webhooks are
        # called from there.
        self.control_plane_cidrs = [str(cidr) for cidr in private_cidrs]
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "availability_zones": self.availability_zones,
                "load_balancer_cidrs": self.load_balancer_cidrs,
                "control_plane_cidrs": self.control_plane_cidrs,
            }
        )

    def _flow_logs(self, name: str, vpc: pulumi.Resource, config: NetworkConfig, account: AwsAccount, tags) -> None:
        child = pulumi.ResourceOptions(parent=self)
        log_group = kinds.LOG_GROUP(
            f"{name}-flow-logs",
            {"name": f"/llm-platform/{name}/vpc-flow-logs", "retentionInDays": config.flow_logs.retention_days, "tags": tags("flow-logs")},
            child,
        )
        account_id, partition, region = account.account_id, account.partition, account.region
        # Trust only this account's flow logs (confused-deputy guard from the VPC Flow Logs user guide).
        trust = policy_json(
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*"},
                },
            }
        )
        role = kinds.ROLE(f"{name}-flow-logs", {"assumeRolePolicy": trust, "tags": tags("flow-logs")}, child)
        kinds.ROLE_POLICY(
            f"{name}-flow-logs",
            {
                # Write access to this one log group only, not the account-wide "*" of the documentation
                # example, each action on the resource type it applies to (Service Authorization Reference,
                # CloudWatch Logs; tests/data/iam_actions.json): streams are created in and written to as
                # log-stream resources, listed on the log group; logs:DescribeLogGroups takes no resource
                # at all, so only "*" grants it (it lists groups' names and settings).
                "policy": log_group.arn.apply(
                    lambda arn: policy_json(
                        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{arn}:log-stream:*"},
                        {"Effect": "Allow", "Action": "logs:DescribeLogStreams", "Resource": arn},
                        {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
                    )
                ),
                "role": role.id,
            },
            child,
        )
        kinds.FLOW_LOG(
            f"{name}-flow-logs",
            {
                "iamRoleArn": role.arn,
                "logDestination": log_group.arn,
                "logDestinationType": "cloud-watch-logs",
                "maxAggregationInterval": 60,
                "tags": tags("flow-logs"),
                "trafficType": config.flow_logs.traffic_type,
                "vpcId": vpc.id,
            },
            child,
        )

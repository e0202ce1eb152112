"""The VPC every other AWS component lives in."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from llm_platform.aws.iam.documents import policy_json
from llm_platform.aws.karpenter import DISCOVERY_TAG
from llm_platform.config import NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    cluster_name: str
    """Written into the `karpenter.sh/discovery` tag of the private subnets, which Karpenter's
    EC2NodeClass selects; nodes never land in public subnets."""
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
    nat_gateway_ids: pulumi.Output[list[str]]

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
            raise ValueError(f"llm-platform:network.azCount: {config.az_count} zones requested but the region offers only {len(zones)} ({', '.join(zones)})")
        self.availability_zones = sorted(zones)[: config.az_count]
        private_cidrs, public_cidrs = subnet_plan(config.cidr, config.az_count)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(config.cidr),
            enable_dns_support=True,
            # EKS private endpoint access and interface endpoints need DNS hostnames.
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)

        public_subnets = [
            aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(cidr),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=tags(f"public-{zone}", {"kubernetes.io/role/elb": "1", "tier": "public"}),
                opts=child,
            )
            for zone, cidr in zip(self.availability_zones, public_cidrs)
        ]
        private_subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(cidr),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=tags(
                    f"private-{zone}",
                    {"kubernetes.io/role/internal-elb": "1", DISCOVERY_TAG: args.cluster_name, "tier": "private"},
                ),
                opts=child,
            )
            for zone, cidr in zip(self.availability_zones, private_cidrs)
        ]

        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tags("public"),
            opts=child,
        )
        for zone, subnet in zip(self.availability_zones, public_subnets):
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_routes.id, opts=child)

        nat_zones = self.availability_zones if config.nat_gateways == "perAz" else self.availability_zones[:1]
        nat_gateways = {}
        for zone, subnet in zip(nat_zones, public_subnets):
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tags(f"nat-{zone}"), opts=child)
            nat_gateways[zone] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=eip.id,
                subnet_id=subnet.id,
                connectivity_type="public",
                tags=tags(f"nat-{zone}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        private_route_tables = []
        for zone, subnet in zip(self.availability_zones, private_subnets):
            # With one shared gateway every zone egresses through it; with one per zone, through its own.
            nat = nat_gateways.get(zone, nat_gateways[nat_zones[0]])
            route_table = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags=tags(f"private-{zone}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=route_table.id, opts=child)
            private_route_tables.append(route_table)

        # Model weights (tens of GB per replica start) come from S3: a gateway endpoint is free, while the
        # same traffic through NAT costs $0.045 per GB.
        region = aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in private_route_tables],
            tags=tags("s3"),
            opts=child,
        )

        if config.flow_logs is not None:
            self._flow_logs(name, vpc, config, tags)

        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.nat_gateway_ids = pulumi.Output.all(*[n.id for n in nat_gateways.values()])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "availability_zones": self.availability_zones,
                "nat_gateway_ids": self.nat_gateway_ids,
            }
        )

    def _flow_logs(self, name: str, vpc: aws.ec2.Vpc, config: NetworkConfig, tags) -> None:
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/llm-platform/{name}/vpc-flow-logs",
            retention_in_days=config.flow_logs.retention_days,
            tags=tags("flow-logs"),
            opts=child,
        )
        identity = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self))
        region = aws.get_region(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=self))
        # Trust only this account's flow logs (confused-deputy guard from the VPC Flow Logs user guide).
        assume = aws.iam.get_policy_document(
            statements=[
                aws.iam.GetPolicyDocumentStatementArgs(
                    actions=["sts:AssumeRole"],
                    principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="Service", identifiers=["vpc-flow-logs.amazonaws.com"])],
                    conditions=[
                        aws.iam.GetPolicyDocumentStatementConditionArgs(test="StringEquals", variable="aws:SourceAccount", values=[identity.account_id]),
                        aws.iam.GetPolicyDocumentStatementConditionArgs(
                            test="ArnLike",
                            variable="aws:SourceArn",
                            values=[f"arn:{partition.partition}:ec2:{region.region}:{identity.account_id}:vpc-flow-log/*"],
                        ),
                    ],
                )
            ],
            opts=pulumi.InvokeOptions(parent=self),
        )
        role = aws.iam.Role(f"{name}-flow-logs", assume_role_policy=assume.json, tags=tags("flow-logs"), opts=child)
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            # Write access to this one log group only, not the account-wide "*" of the documentation example.
            policy=log_group.arn.apply(
                lambda arn: policy_json(
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
                        "Resource": [arn, f"{arn}:*"],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type=config.flow_logs.traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags("flow-logs"),
            opts=child,
        )

"""Network component under mocks: the subnet layout, NAT per environment, routes and tags."""

from __future__ import annotations

import ipaddress
import json

import pytest

from llm_platform.aws.network import Network, NetworkArgs, subnet_plan
from llm_platform.config import FlowLogsConfig, NetworkConfig
from tests.conftest import Declared, declare_once
from tests.llm_platform.aws.stack import ACCOUNT, CLUSTER, TAGS, account

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"


def network_config(**config) -> NetworkConfig:
    return NetworkConfig(**{"cidr": "10.20.0.0/16", **config})


def network_program(cfg: NetworkConfig):
    return lambda: Network("net", NetworkArgs(config=cfg, cluster_name=CLUSTER, account=account(), tags=TAGS))


def network(declare, **config):
    return declare(network_program(network_config(**config)))


@pytest.fixture(scope="module")
def default_network() -> Declared:
    """The network with the default settings (three zones, one shared NAT gateway, no flow logs), declared
    once for the tests that only read it."""
    return declare_once(network_program(network_config()))


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/18", "192.168.0.0/20"])
@pytest.mark.parametrize("zones", [2, 3, 6])
def test_subnet_plan_stays_inside_the_vpc_without_overlap(cidr, zones):
    vpc = ipaddress.IPv4Network(cidr)
    private, public = subnet_plan(vpc, zones)
    everything = private + public
    assert len(private) == len(public) == zones
    assert all(subnet.subnet_of(vpc) for subnet in everything)
    for i, a in enumerate(everything):
        for b in everything[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    # Pods take private addresses: private subnets are 8x the public ones.
    assert private[0].num_addresses == 8 * public[0].num_addresses


def test_one_subnet_per_tier_per_zone_with_computed_cidrs(default_network):
    assert network_config().az_count == 3
    declared = default_network
    subnets = declared.of_type(SUBNET)
    by_tier = {"public": [], "private": []}
    for subnet in subnets:
        by_tier[subnet.inputs["tags"]["tier"]].append(subnet.inputs)
    for tier, members in by_tier.items():
        assert sorted(s["availabilityZone"] for s in members) == ["us-west-2a", "us-west-2b", "us-west-2c"], tier
    private_cidrs, public_cidrs = subnet_plan(ipaddress.IPv4Network("10.20.0.0/16"), 3)
    assert sorted(s["cidrBlock"] for s in by_tier["private"]) == sorted(map(str, private_cidrs))
    assert sorted(s["cidrBlock"] for s in by_tier["public"]) == sorted(map(str, public_cidrs))
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets for s in [s.inputs])


def test_subnet_tags_for_load_balancers_and_karpenter(default_network):
    declared = default_network
    for subnet in declared.of_type(SUBNET):
        tags = subnet.inputs["tags"]
        if tags["tier"] == "public":
            # Internet-facing and internal load balancers alike: addresses apart from the pods'.
            assert tags["kubernetes.io/role/elb"] == tags["kubernetes.io/role/internal-elb"] == "1"
            assert "karpenter.sh/discovery" not in tags, "nodes must never land in public subnets"
        else:
            assert not [key for key in tags if key.startswith("kubernetes.io/role/")], "no load balancer among the pods"
            assert tags["karpenter.sh/discovery"] == "llm-test"


def test_vpc_has_dns(default_network):
    vpc = default_network.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["cidrBlock"] == "10.20.0.0/16"
    assert vpc["enableDnsSupport"] is True and vpc["enableDnsHostnames"] is True


def private_routes(declared):
    """zone -> the NAT gateway id its private route table sends 0.0.0.0/0 to."""
    tables = {t.urn: t for t in declared.of_type(ROUTE_TABLE)}
    routes = {}
    for association in declared.of_type(ASSOCIATION):
        if "-private-" not in association.name:
            continue
        (table,) = [tables[urn] for urn in association.depends_on if urn in tables]
        (route,) = table.inputs["routes"]
        assert route["cidrBlock"] == "0.0.0.0/0"
        routes[association.name.split("-private-")[1]] = route["natGatewayId"]
    return routes


def test_single_nat_gateway_is_shared_by_every_zone(default_network):
    assert network_config().nat_gateways == "single"
    declared = default_network
    assert len(declared.of_type(NAT)) == 1
    routes = private_routes(declared)
    assert len(routes) == 3 and len(set(routes.values())) == 1


def test_per_zone_nat_gateways_keep_egress_in_zone(declare):
    declared = network(declare, natGateways="perAz")
    nats = declared.of_type(NAT)
    assert len(nats) == 3
    public_subnet_zone = {s.id: s.inputs["availabilityZone"] for s in declared.of_type(SUBNET) if s.inputs["tags"]["tier"] == "public"}
    nat_zone = {nat.id: public_subnet_zone[nat.inputs["subnetId"]] for nat in nats}
    routes = private_routes(declared)
    assert sorted(routes) == ["us-west-2a", "us-west-2b", "us-west-2c"]
    for zone, nat_id in routes.items():
        assert nat_zone[nat_id] == zone, f"{zone} egresses through a NAT gateway in {nat_zone[nat_id]}"


def test_public_route_goes_to_the_internet_gateway(default_network):
    declared = default_network
    (public,) = [t for t in declared.of_type(ROUTE_TABLE) if t.name == "net-public"]
    (route,) = public.inputs["routes"]
    assert route["cidrBlock"] == "0.0.0.0/0" and route["gatewayId"].startswith("igw-")


def test_every_taggable_resource_carries_the_common_tags(declare):
    declared = network(declare, natGateways="perAz", flowLogs=FlowLogsConfig())
    untaggable = {ASSOCIATION, "aws:iam/rolePolicy:RolePolicy"}
    for resource in declared.plan.resources:
        if resource.custom and resource.type not in untaggable:
            tags = resource.inputs.get("tags")
            assert tags is not None, resource.type
            assert TAGS.items() <= tags.items(), resource.type
            assert tags["Name"].startswith("net-")


def test_flow_logs_are_off_unless_configured(default_network):
    assert default_network.of_type("aws:ec2/flowLog:FlowLog") == []


def test_flow_logs_write_to_their_own_log_group_only(declare):
    declared = network(declare, flowLogs=FlowLogsConfig(retentionDays=365, trafficType="ALL"))
    flow_log = declared.one("aws:ec2/flowLog:FlowLog").inputs
    group = declared.one("aws:cloudwatch/logGroup:LogGroup").inputs
    assert flow_log["trafficType"] == "ALL" and flow_log["logDestinationType"] == "cloud-watch-logs"
    assert group["retentionInDays"] == 365
    trust = json.loads(declared.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    policy = json.loads(declared.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    grants = {action: statement["Resource"] for statement in policy["Statement"] for action in statement["Action"] if isinstance(statement["Action"], list)}
    grants |= {statement["Action"]: statement["Resource"] for statement in policy["Statement"] if isinstance(statement["Action"], str)}
    group_arn = flow_log["logDestination"]
    # Writes only to the streams of its own group; DescribeLogGroups, which takes no resource, on "*".
    assert grants == {
        "logs:CreateLogStream": f"{group_arn}:log-stream:*",
        "logs:PutLogEvents": f"{group_arn}:log-stream:*",
        "logs:DescribeLogStreams": group_arn,
        "logs:DescribeLogGroups": "*",
    }


def test_more_zones_than_the_region_offers_names_the_key(declare):
    # The mock region offers four zones; the message names the stack-file key, as config errors do.
    with pytest.raises(Exception, match=r"llm-platform:aws\.network\.azCount: 6 zones requested but the region offers only 4"):
        network(declare, azCount=6)

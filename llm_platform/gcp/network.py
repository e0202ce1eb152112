"""The Google Cloud network of a stack: a custom-mode VPC network, one regional subnetwork for the nodes
with secondary ranges for pods and services (a VPC-native GKE cluster), and Cloud Router + Cloud NAT on
fixed addresses so that the private nodes reach registries, Hugging Face and the mail relay."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from llm_platform.config import GcpNetworkConfig

PODS_RANGE = "pods"
SERVICES_RANGE = "services"


@dataclass(frozen=True)
class GcpNetworkArgs:
    config: GcpNetworkConfig
    region: str
    labels: dict[str, str]


class GcpNetwork(pulumi.ComponentResource):
    network_id: pulumi.Output[str]
    network_self_link: pulumi.Output[str]
    subnetwork_self_link: pulumi.Output[str]
    pods_range_name: str
    services_range_name: str
    nat_addresses: pulumi.Output[list[str]]

    def __init__(self, name: str, args: GcpNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gcp_network:GcpNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config

        # Custom mode: auto mode would carve a /20 into every region, overlapping whatever we peer with later.
        network = gcp.compute.Network(f"{name}-network", auto_create_subnetworks=False, routing_mode="REGIONAL", opts=child)
        subnetwork = gcp.compute.Subnetwork(
            f"{name}-nodes",
            network=network.id,
            region=args.region,
            ip_cidr_range=str(config.nodes_cidr),
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=str(config.pods_cidr)),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=str(config.services_cidr)),
            ],
            # Nodes without external addresses still reach Google APIs (Cloud Storage weights, Artifact
            # Registry) directly instead of through NAT.
            private_ip_google_access=True,
            log_config=gcp.compute.SubnetworkLogConfigArgs(aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA")
            if config.flow_logs
            else None,
            opts=child,
        )
        router = gcp.compute.Router(f"{name}-router", network=network.id, region=args.region, opts=child)
        addresses = [
            gcp.compute.Address(f"{name}-nat-{index}", region=args.region, address_type="EXTERNAL", labels=args.labels, opts=child)
            for index in range(config.nat_addresses)
        ]
        gcp.compute.RouterNat(
            f"{name}-nat",
            router=router.name,
            region=args.region,
            # Fixed addresses, not auto-allocated ones, so a relay or partner can allowlist the cluster's egress.
            nat_ip_allocate_option="MANUAL_ONLY",
            nat_ips=[address.self_link for address in addresses],
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            # Image pulls open many connections per node at once; dynamic allocation grows a node's ports
            # instead of failing new connections.
            enable_dynamic_port_allocation=True,
            min_ports_per_vm=64,
            max_ports_per_vm=4096,
            enable_endpoint_independent_mapping=False,
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

        self.network_id = network.id
        self.network_self_link = network.self_link
        self.subnetwork_self_link = subnetwork.self_link
        self.pods_range_name = PODS_RANGE
        self.services_range_name = SERVICES_RANGE
        self.nat_addresses = pulumi.Output.all(*[address.address for address in addresses])
        self.register_outputs(
            {
                "network_id": self.network_id,
                "network_self_link": self.network_self_link,
                "subnetwork_self_link": self.subnetwork_self_link,
                "pods_range_name": self.pods_range_name,
                "services_range_name": self.services_range_name,
                "nat_addresses": self.nat_addresses,
            }
        )

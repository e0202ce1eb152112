"""The Google Cloud network of a stack: a custom-mode VPC network, one regional subnetwork for the nodes
with secondary ranges for pods and services (a VPC-native GKE cluster), and Cloud Router + Cloud NAT on
fixed addresses so that the private nodes reach registries, Hugging Face and the mail relay."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.config import GcpNetworkConfig
from llm_platform.gcp import kinds

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
        network = kinds.NETWORK(f"{name}-network", {"autoCreateSubnetworks": False, "routingMode": "REGIONAL"}, child)
        subnetwork = kinds.SUBNETWORK(
            f"{name}-nodes",
            {
                "ipCidrRange": str(config.nodes_cidr),
                "logConfig": {"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"} if config.flow_logs else None,
                "network": network.id,
                # Nodes without external addresses still reach Google APIs (Cloud Storage weights, Artifact
                # Registry) directly instead of through NAT.
                "privateIpGoogleAccess": True,
                "region": args.region,
                "secondaryIpRanges": [
                    {"ipCidrRange": str(config.pods_cidr), "rangeName": PODS_RANGE},
                    {"ipCidrRange": str(config.services_cidr), "rangeName": SERVICES_RANGE},
                ],
            },
            child,
        )
        router = kinds.ROUTER(f"{name}-router", {"network": network.id, "region": args.region}, child)
        addresses = [
            kinds.ADDRESS(f"{name}-nat-{index}", {"addressType": "EXTERNAL", "labels": args.labels, "region": args.region}, child)
            for index in range(config.nat_addresses)
        ]
        kinds.ROUTER_NAT(
            f"{name}-nat",
            {
                # Image pulls open many connections per node at once; dynamic allocation grows a node's ports
                # instead of failing new connections.
                "enableDynamicPortAllocation": True,
                "enableEndpointIndependentMapping": False,
                "logConfig": {"enable": True, "filter": "ERRORS_ONLY"},
                "maxPortsPerVm": 4096,
                "minPortsPerVm": 64,
                # Fixed addresses, not auto-allocated ones, so a relay or partner can allowlist the cluster's egress.
                "natIpAllocateOption": "MANUAL_ONLY",
                "natIps": [address.self_link for address in addresses],
                "region": args.region,
                "router": router.name,
                "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
            },
            child,
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

"""The Google Cloud network: VPC-native ranges, private Google access, Cloud NAT on fixed addresses."""

import pulumi
import pytest

from llm_platform.config import GcpNetworkConfig
from llm_platform.gcp.network import GcpNetwork, GcpNetworkArgs
from tests.llm_platform.gcp.gke import LABELS, REGION, declare_once, on_gcp

CONFIG = GcpNetworkConfig(nodes_cidr="10.60.0.0/20", pods_cidr="10.64.0.0/14", services_cidr="10.68.0.0/20", control_plane_cidr="172.16.0.32/28")


@pytest.fixture(scope="module")
def declared():
    def program():
        network = GcpNetwork("net", GcpNetworkArgs(config=CONFIG, region=REGION, labels=LABELS), opts=on_gcp())
        pulumi.export("natAddresses", network.nat_addresses)

    return declare_once(program)


def test_subnetwork_ranges_and_private_google_access(declared):
    subnetwork = declared.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnetwork["ipCidrRange"] == "10.60.0.0/20" and subnetwork["region"] == REGION
    assert subnetwork["secondaryIpRanges"] == [{"rangeName": "pods", "ipCidrRange": "10.64.0.0/14"}, {"rangeName": "services", "ipCidrRange": "10.68.0.0/20"}]
    assert subnetwork["privateIpGoogleAccess"] is True
    assert "logConfig" not in subnetwork, "no flow logs unless configured"
    network = declared.one("gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    assert subnetwork["network"] == network.id


def test_cloud_nat_uses_the_reserved_addresses(declared):
    nat = declared.one("gcp:compute/routerNat:RouterNat").inputs
    addresses = declared.of_type("gcp:compute/address:Address")
    assert nat["natIpAllocateOption"] == "MANUAL_ONLY"
    assert nat["natIps"] == [f"https://www.googleapis.com/compute/v1/{a.id}" for a in addresses]
    assert all(a.inputs["addressType"] == "EXTERNAL" and a.inputs["labels"] == LABELS for a in addresses)
    # On the network's Cloud Router, by the name Google Cloud gives it.
    router = declared.one("gcp:compute/router:Router")
    assert router.inputs["network"] == declared.one("gcp:compute/network:Network").id
    assert router.id.endswith(f"/routers/{nat['router']}") and nat["region"] == router.inputs["region"] == REGION
    assert nat["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    # Dynamic port allocation requires endpoint-independent mapping off (Cloud NAT docs).
    assert nat["enableDynamicPortAllocation"] is True and nat["enableEndpointIndependentMapping"] is False
    # One address by default; the stack exports them so that relays and partners can allowlist them.
    assert len(declared.plan.outputs["natAddresses"]) == len(addresses) == 1


def test_flow_logs_when_configured(declare):
    declared = declare(lambda: GcpNetwork("n", GcpNetworkArgs(config=GcpNetworkConfig(flow_logs=True, nat_addresses=2), region="us-central1", labels={})), region="us-central1")
    log = declared.one("gcp:compute/subnetwork:Subnetwork").inputs["logConfig"]
    assert log == {"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}
    assert len(declared.of_type("gcp:compute/address:Address")) == 2

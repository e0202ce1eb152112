"""The Google Cloud network: VPC-native ranges, private Google access, Cloud NAT on fixed addresses."""


def test_subnetwork_ranges_and_private_google_access(stack_plan):
    subnetwork = stack_plan("staging-gcp").one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnetwork["ipCidrRange"] == "10.40.0.0/20"
    assert subnetwork["secondaryIpRanges"] == [{"rangeName": "pods", "ipCidrRange": "10.44.0.0/14"}, {"rangeName": "services", "ipCidrRange": "10.48.0.0/20"}]
    assert subnetwork["privateIpGoogleAccess"] is True
    assert "logConfig" not in subnetwork, "staging records no flow logs"
    network = stack_plan("staging-gcp").one("gcp:compute/network:Network").inputs
    assert network["autoCreateSubnetworks"] is False


def test_cloud_nat_uses_the_reserved_addresses(stack_plan):
    declared = stack_plan("staging-gcp")
    nat = declared.one("gcp:compute/routerNat:RouterNat").inputs
    addresses = declared.of_type("gcp:compute/address:Address")
    assert nat["natIpAllocateOption"] == "MANUAL_ONLY"
    assert nat["natIps"] == [f"https://www.googleapis.com/compute/v1/{a.id}" for a in addresses]
    assert nat["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    # Dynamic port allocation requires endpoint-independent mapping off (Cloud NAT docs).
    assert nat["enableDynamicPortAllocation"] is True and nat["enableEndpointIndependentMapping"] is False
    assert len(declared.plan.outputs["natAddresses"]) == len(addresses) == 1


def test_flow_logs_when_configured(declare):
    from llm_platform.config import GcpNetworkConfig
    from llm_platform.gcp.network import GcpNetwork, GcpNetworkArgs

    declared = declare(lambda: GcpNetwork("n", GcpNetworkArgs(config=GcpNetworkConfig(flow_logs=True, nat_addresses=2), region="us-central1", labels={})), region="us-central1")
    log = declared.one("gcp:compute/subnetwork:Subnetwork").inputs["logConfig"]
    assert log == {"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}
    assert len(declared.of_type("gcp:compute/address:Address")) == 2

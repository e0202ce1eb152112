"""The GKE cluster: what a security review and the issue ask of it. Declared on its own network with a
small config of our own, as the base declares it."""

import json

import pulumi
import pytest

from llm_platform.config import GcpNetworkConfig, GkeClusterConfig, GkeSystemPoolConfig
from llm_platform.gcp.cluster import GkeCluster, GkeClusterArgs, service_account_id
from llm_platform.gcp.network import GcpNetwork, GcpNetworkArgs
from tests.llm_platform.gcp.gke import CLUSTER as NAME
from tests.llm_platform.gcp.gke import LABELS, PROJECT, PROJECT_NUMBER, REGION, ZONES, declare_once, on_gcp

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
NETWORK = GcpNetworkConfig(nodes_cidr="10.60.0.0/20", pods_cidr="10.64.0.0/14", services_cidr="10.68.0.0/20", control_plane_cidr="172.16.0.32/28")
CONFIG = GkeClusterConfig(release_channel="STABLE", node_zones=ZONES)
SYSTEM_POOL = GkeSystemPoolConfig(machine_type="e2-standard-8", min_nodes=1, max_nodes=3, spot=True, disk_size_gib=80)


@pytest.fixture(scope="module")
def declared():
    def program():
        opts = on_gcp()
        network = GcpNetwork(NAME, GcpNetworkArgs(config=NETWORK, region=REGION, labels=LABELS), opts=opts)
        cluster = GkeCluster(
            NAME,
            GkeClusterArgs(
                cluster_name=NAME,
                project=PROJECT,
                region=REGION,
                config=CONFIG,
                system_pool=SYSTEM_POOL,
                network=network.network_id,
                subnetwork=network.subnetwork_self_link,
                pods_range_name=network.pods_range_name,
                services_range_name=network.services_range_name,
                control_plane_cidr=str(NETWORK.control_plane_cidr),
                labels=LABELS,
            ),
            opts=opts,
        )
        pulumi.export("kubeconfig", cluster.kubeconfig)

    return declare_once(program)


def test_private_regional_cluster_on_a_release_channel_with_workload_identity(declared):
    inputs = declared.one(CLUSTER).inputs
    assert inputs["name"] == NAME
    assert inputs["location"] == "us-central1", "a regional control plane survives a zone outage"
    assert inputs["releaseChannel"] == {"channel": "STABLE"}
    assert inputs["workloadIdentityConfig"] == {"workloadPool": "acme-llm-test.svc.id.goog"}
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False, "masterIpv4CidrBlock": "172.16.0.32/28"}
    assert inputs["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    assert inputs["networkingMode"] == "VPC_NATIVE"
    assert inputs["nodeLocations"] == ["us-central1-a", "us-central1-b", "us-central1-c"]
    # On the network's subnetwork, whose secondary ranges are the ones named above.
    network = declared.one("gcp:compute/network:Network")
    subnetwork = declared.one("gcp:compute/subnetwork:Subnetwork")
    assert inputs["network"] == network.id
    assert inputs["subnetwork"] == f"https://www.googleapis.com/compute/v1/{subnetwork.id}"
    assert {r["rangeName"] for r in subnetwork.inputs["secondaryIpRanges"]} == {"pods", "services"}
    assert inputs["resourceLabels"] == LABELS


def test_dataplane_v2_shielded_nodes_and_kms_encrypted_secrets(declared):
    inputs = declared.one(CLUSTER).inputs
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH", "Dataplane V2 enforces the model servers' NetworkPolicies"
    assert inputs["enableShieldedNodes"] is True
    key = declared.one("gcp:kms/cryptoKey:CryptoKey", f"{NAME}-secrets")
    assert inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key.id}
    assert key.inputs["rotationPeriod"] == "7776000s"
    assert key.inputs["keyRing"] == declared.one("gcp:kms/keyRing:KeyRing").id
    grant = declared.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", f"{NAME}-secrets-agent")
    assert grant.inputs["cryptoKeyId"] == key.id
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.inputs["member"] == f"serviceAccount:service-{PROJECT_NUMBER}@container-engine-robot.iam.gserviceaccount.com"
    assert grant.urn in declared.one(CLUSTER).depends_on, "the key must be usable before GKE creates the cluster"


def test_no_default_node_pool_and_our_own_node_service_account(declared):
    inputs = declared.one(CLUSTER).inputs
    assert inputs["removeDefaultNodePool"] is True and inputs["initialNodeCount"] == 1
    account = declared.one("gcp:serviceaccount/account:Account")
    assert account.inputs["accountId"] == service_account_id(NAME, "nodes") == "gke-test-nodes"
    role = declared.one("gcp:projects/iAMMember:IAMMember")
    assert role.inputs["role"] == "roles/container.defaultNodeServiceAccount" and role.inputs["project"] == PROJECT
    assert role.inputs["member"] == "serviceAccount:gke-test-nodes@acme-llm-test.iam.gserviceaccount.com"
    assert role.urn in declared.one(CLUSTER).depends_on
    # Even the short-lived default pool never runs as the Compute Engine default service account.
    assert inputs["nodeConfig"]["serviceAccount"] == "gke-test-nodes@acme-llm-test.iam.gserviceaccount.com"
    assert inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_authorized_networks_are_passed_when_configured(declare, declared):
    # None configured: GKE leaves the endpoint open (refused in production by the config rules).
    assert "masterAuthorizedNetworksConfig" not in declared.one(CLUSTER).inputs

    def program():
        GkeCluster(
            "c",
            GkeClusterArgs(
                cluster_name="c-test",
                project="p-test-1",
                region="us-central1",
                config=GkeClusterConfig(authorized_networks=["203.0.113.0/24"], private_endpoint=False),
                system_pool=GkeSystemPoolConfig(),
                network="n",
                subnetwork="s",
                pods_range_name="pods",
                services_range_name="services",
                control_plane_cidr="172.16.0.0/28",
                labels={},
            ),
        )

    inputs = declare(program, region="us-central1").one(CLUSTER).inputs
    assert inputs["masterAuthorizedNetworksConfig"] == {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "authorized-0"}]}


def test_system_pool_is_bounded_hardened_and_labelled(declared):
    pool = declared.one(NODE_POOL, f"{NAME}-system").inputs
    assert pool["name"] == "system"
    assert pool["cluster"] == declared.one(CLUSTER).id and pool["location"] == REGION
    assert pool["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 3, "locationPolicy": "BALANCED"}
    config = pool["nodeConfig"]
    assert config["machineType"] == "e2-standard-8" and config["spot"] is True and config["diskSizeGb"] == 80
    assert config["labels"] == {"llm-platform.io/node-role": "system"}
    assert config["resourceLabels"] == LABELS
    assert config["serviceAccount"] == "gke-test-nodes@acme-llm-test.iam.gserviceaccount.com"
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["metadata"] == {"disable-legacy-endpoints": "true"}
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert pool["upgradeSettings"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_kubeconfig_uses_the_gke_auth_plugin_and_stays_secret(declared):
    from llm_platform.gcp.cluster import kubeconfig

    config = json.loads(kubeconfig("c", "203.0.113.9", "Q0E="))
    assert config["clusters"][0]["cluster"] == {"server": "https://203.0.113.9", "certificate-authority-data": "Q0E="}
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert declared.plan.outputs["kubeconfig"] == "[secret]"
    provider = declared.one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    system_pool = declared.one(NODE_POOL, f"{NAME}-system")
    assert system_pool.urn in provider.depends_on, "in-cluster objects wait for nodes to run on"


def test_service_account_ids_fit_iam_limits():
    account = service_account_id("a-forty-character-cluster-name-abcdefghij", "nodes")
    assert len(account) <= 30 and not account.endswith("-") and account.endswith("-nodes")

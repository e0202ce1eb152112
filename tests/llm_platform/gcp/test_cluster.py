"""The GKE cluster of the staging-gcp stack: what a security review and the issue ask of it."""

import json

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


def cluster(stack_plan):
    return stack_plan("staging-gcp").one(CLUSTER).inputs


def test_private_regional_cluster_on_a_release_channel_with_workload_identity(stack_plan):
    inputs = cluster(stack_plan)
    assert inputs["location"] == "us-central1", "a regional control plane survives a zone outage"
    assert inputs["releaseChannel"] == {"channel": "REGULAR"}
    assert inputs["workloadIdentityConfig"] == {"workloadPool": "llm-platform-staging.svc.id.goog"}
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False, "masterIpv4CidrBlock": "172.16.0.0/28"}
    assert inputs["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    assert inputs["networkingMode"] == "VPC_NATIVE"
    assert inputs["nodeLocations"] == ["us-central1-a", "us-central1-b", "us-central1-c"]


def test_dataplane_v2_shielded_nodes_and_kms_encrypted_secrets(stack_plan):
    declared = stack_plan("staging-gcp")
    inputs = cluster(stack_plan)
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH", "Dataplane V2 enforces the model servers' NetworkPolicies"
    assert inputs["enableShieldedNodes"] is True
    key = declared.one("gcp:kms/cryptoKey:CryptoKey", "llm-staging-secrets")
    assert inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key.id}
    assert key.inputs["rotationPeriod"] == "7776000s"
    grant = declared.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "llm-staging-secrets-agent")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.inputs["member"] == "serviceAccount:service-210987654321@container-engine-robot.iam.gserviceaccount.com"
    assert grant.urn in declared.one(CLUSTER).depends_on, "the key must be usable before GKE creates the cluster"


def test_no_default_node_pool_and_our_own_node_service_account(stack_plan):
    declared = stack_plan("staging-gcp")
    inputs = cluster(stack_plan)
    assert inputs["removeDefaultNodePool"] is True and inputs["initialNodeCount"] == 1
    account = declared.one("gcp:serviceaccount/account:Account")
    role = declared.one("gcp:projects/iAMMember:IAMMember")
    assert role.inputs["role"] == "roles/container.defaultNodeServiceAccount"
    assert role.inputs["member"] == f"serviceAccount:{account.inputs['accountId']}@llm-platform-staging.iam.gserviceaccount.com"
    # Even the short-lived default pool never runs as the Compute Engine default service account.
    assert inputs["nodeConfig"]["serviceAccount"].startswith(account.inputs["accountId"])
    assert inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_authorized_networks_are_passed_when_configured(declare):
    from llm_platform.config import GkeClusterConfig, GkeSystemPoolConfig
    from llm_platform.gcp.cluster import GkeCluster, GkeClusterArgs

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


def test_system_pool_is_bounded_hardened_and_labelled(stack_plan):
    pool = stack_plan("staging-gcp").one(NODE_POOL, "llm-staging-system").inputs
    assert pool["name"] == "system"
    assert pool["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 3, "locationPolicy": "BALANCED"}
    config = pool["nodeConfig"]
    assert config["machineType"] == "e2-standard-4" and config["spot"] is True
    assert config["labels"] == {"llm-platform.io/node-role": "system"}
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["metadata"] == {"disable-legacy-endpoints": "true"}
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert pool["upgradeSettings"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_kubeconfig_uses_the_gke_auth_plugin_and_stays_secret(stack_plan):
    from llm_platform.gcp.cluster import kubeconfig

    config = json.loads(kubeconfig("c", "203.0.113.9", "Q0E="))
    assert config["clusters"][0]["cluster"] == {"server": "https://203.0.113.9", "certificate-authority-data": "Q0E="}
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert stack_plan("staging-gcp").plan.outputs["kubeconfig"] == "[secret]"
    provider = stack_plan("staging-gcp").one("pulumi:providers:kubernetes")
    system_pool = stack_plan("staging-gcp").one(NODE_POOL, "llm-staging-system")
    assert system_pool.urn in provider.depends_on, "in-cluster objects wait for nodes to run on"


def test_service_account_ids_fit_iam_limits():
    from llm_platform.gcp.cluster import service_account_id

    account = service_account_id("a-forty-character-cluster-name-abcdefghij", "nodes")
    assert len(account) <= 30 and not account.endswith("-") and account.endswith("-nodes")

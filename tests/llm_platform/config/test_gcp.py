"""A Google Cloud stack (`gcp.GcpStackConfig`): the `llm-platform:gcp` section (project, billing account,
network, GKE cluster, system pool, mail relay), its GPU pool type (a GKE node pool) and the rules only
Google Cloud stacks follow. Every refusal names the key, the value and the rule."""

from __future__ import annotations

import pytest

from llm_platform.config import GcpStackConfig, Violation, parse
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config import stacks
from tests.llm_platform.config.stacks import DELETE, GCP_STACK_KEYS, GKE_POOL, GKE_POOL_KEYS, changed, only, problems, refused

# The minimal stack with one L4 pool and one model on it.
GCP = changed(stacks.GCP, {"gpuPools": [GKE_POOL], "models": [{"name": "m", "source": "hf://org/model", "parametersBillion": 7.25, "poolGroup": "l4"}]})

# Production-shaped: listed control-plane networks, flow logs, on-demand system pool, a Prometheus
# volume, two model replicas and a pinned Hugging Face commit.
PRODUCTION = changed(
    GCP,
    {
        "models.0.revision": "0123456789abcdef0123456789abcdef01234567",
        "environment": "production",
        "gcp.network": {"flowLogs": True},
        "gcp.cluster": {"releaseChannel": "STABLE", "authorizedNetworks": ["203.0.113.0/24"], "nodeZones": ["us-central1-a", "us-central1-b"]},
        "gcp.systemPool": {"spot": False},
        "observability.prometheusStorageGib": 100,
        "models.0.minReplicas": 2,
        "gpuPools.0.capacityTypes": ["on-demand"],
    },
)


# -- a compliant stack and its defaults -------------------------------------------------------------------


def test_gcp_stack_loads():
    config = parse(GCP)
    assert isinstance(config, GcpStackConfig)
    assert config.cloud == "gcp" and config.region == "us-central1"
    assert config.gcp.project == "llm-test-project"
    assert config.gcp.billing_account == "012345-6789AB-CDEF01"
    (pool,) = config.gpu_pools
    (size,) = pool.sizes()
    assert (size.name, size.gpus, pool.accelerator_type) == ("g2-standard-8", 1, "nvidia-l4")
    assert pool.spot is True and pool.pool_group == "l4" and pool.zones is None
    assert config.gcp.smtp.smarthost == "smtp-relay.gmail.com:587"
    assert config.gcp.smtp.sender == "alerts@example.com"
    assert config.gcp.smtp.username is None and config.gcp.smtp.require_tls is True
    assert config.alert_smtp_password is None


def test_minimal_gcp_stack_gets_safe_defaults():
    config = parse(GCP)
    network, cluster = config.gcp.network, config.gcp.cluster
    assert str(network.control_plane_cidr) == "172.16.0.0/28" and network.nat_addresses == 1
    assert [str(n) for n in (network.nodes_cidr, network.pods_cidr, network.services_cidr)] == ["10.40.0.0/20", "10.44.0.0/14", "10.48.0.0/20"]
    assert network.flow_logs is False
    assert cluster.release_channel == "REGULAR" and cluster.gpu_driver_version == "DEFAULT" and not cluster.private_endpoint
    assert cluster.authorized_networks == [] and cluster.node_zones is None and cluster.deletion_protection is False
    system = config.gcp.system_pool
    assert system.spot is False
    assert (system.machine_type, system.min_nodes, system.max_nodes, system.disk_size_gib) == ("e2-standard-4", 2, 4, 100)


def test_on_demand_pool_is_not_spot():
    (pool,) = parse(changed(GCP, {"gpuPools.0.capacityTypes": ["on-demand"]})).gpu_pools
    assert pool.spot is False


def test_spot_and_on_demand_are_two_pools_of_one_group():
    spot = GCP["gpuPools"][0]
    on_demand = {**spot, "name": "l4-on-demand", "group": "l4", "capacityTypes": ["on-demand"]}
    pools = parse({**GCP, "gpuPools": [spot, on_demand]}).gpu_pools
    assert [(p.pool_group, p.spot) for p in pools] == [("l4", True), ("l4", False)]


def test_smtp_with_a_username_takes_the_password_secret():
    config = parse(changed(GCP, {"gcp.smtp.username": "apikey", "alertSmtpPassword": "s3cret"}))
    assert (config.gcp.smtp.username, config.alert_smtp_password) == ("apikey", "s3cret")


def test_zones_of_the_region_are_accepted():
    raw = changed(GCP, {"gcp.cluster": {"nodeZones": ["us-central1-a", "us-central1-c"]}, "gpuPools.0.zones": ["us-central1-a"]})
    config = parse(raw)
    assert config.gcp.cluster.node_zones == ["us-central1-a", "us-central1-c"]
    assert config.gpu_pools[0].zones == ["us-central1-a"]


# -- the rules --------------------------------------------------------------------------------------------

GCP_RULES = [
    # the gcp section
    ({"gcp": DELETE}, "gcp", NOT_SET, "Field required"),
    ({"region": "us-west-2"}, "region", "us-west-2", "supported regions: us-central1, europe-west4"),
    ({"gcp.project": "Bad_Project"}, "gcp.project", "Bad_Project", "must be a project id: 6-30 lowercase letters, digits or '-', starting with a letter"),
    ({"gcp.project": DELETE}, "gcp.project", NOT_SET, "Field required"),
    ({"gcp.billingAccount": DELETE}, "gcp.billingAccount", NOT_SET, "Field required"),
    ({"gcp.billingAccount": "12345"}, "gcp.billingAccount", "12345", "must be a Cloud Billing account id: three groups of six uppercase hex digits"),
    ({"gcp.billingAccount": "012345-6789ab-cdef01"}, "gcp.billingAccount", "012345-6789ab-cdef01", "three groups of six uppercase hex digits"),
    # the mail relay
    ({"gcp.smtp": DELETE}, "gcp.smtp", NOT_SET, "Field required"),
    ({"gcp.smtp.smarthost": "mail.example.com:25"}, "gcp.smtp.smarthost", "mail.example.com:25", "Compute Engine blocks outbound port 25; use the relay's port 587 or 465"),
    ({"gcp.smtp.smarthost": "mail.example.com"}, "gcp.smtp.smarthost", "mail.example.com", "must be host:port, e.g. smtp-relay.gmail.com:587"),
    ({"gcp.smtp.smarthost": "mail.example.com:70000"}, "gcp.smtp.smarthost", "mail.example.com:70000", "must be host:port"),
    ({"gcp.smtp.from": "alerts"}, "gcp.smtp.from", "alerts", "must be an e-mail address"),
    ({"gcp.smtp.username": "apikey"}, "alertSmtpPassword", None, "is set exactly when gcp.smtp.username is"),
    ({"alertSmtpPassword": "s3cret"}, "alertSmtpPassword", "[secret]", "is set exactly when gcp.smtp.username is"),
    # the network
    ({"gcp.network": {"podsCidr": "10.40.0.0/14"}}, "gcp.network", {"podsCidr": "10.40.0.0/14"}, "nodesCidr 10.40.0.0/20 overlaps podsCidr 10.40.0.0/14: every range must be disjoint"),
    ({"gcp.network": {"controlPlaneCidr": "172.16.0.0/24"}}, "gcp.network.controlPlaneCidr", "172.16.0.0/24", "GKE needs exactly a /28 for the private control plane"),
    ({"gcp.network": {"nodesCidr": "8.8.0.0/20"}}, "gcp.network.nodesCidr", "8.8.0.0/20", "must be a private (RFC 1918) range"),
    ({"gcp.network": {"servicesCidr": "10.48.0.1/20"}}, "gcp.network.servicesCidr", "10.48.0.1/20", "has host bits set"),
    ({"gcp.network": {"natAddresses": 0}}, "gcp.network.natAddresses", 0, "Input should be greater than or equal to 1"),
    # the cluster and its system pool
    ({"gcp.systemPool": {"machineType": "m7i.large"}}, "gcp.systemPool.machineType", "m7i.large", "unknown general-purpose instance types ['m7i.large']; the catalog knows families e2, n2"),
    ({"gcp.systemPool": {"minNodes": 5, "maxNodes": 2}}, "gcp.systemPool", {"minNodes": 5, "maxNodes": 2}, "minNodes 5 exceeds maxNodes 2"),
    ({"gcp.cluster": {"nodeZones": ["us-east1-b"]}}, "gcp.cluster.nodeZones", "us-east1-b", "must be a zone of region us-central1"),
    ({"gcp.cluster": {"nodeZones": ["us-central1-a", "us-central1-a"]}}, "gcp.cluster.nodeZones", ["us-central1-a", "us-central1-a"], "must not repeat an entry"),
    ({"gcp.cluster": {"authorizedNetworks": ["10.0.0.0/8", "10.0.0.0/8"]}}, "gcp.cluster.authorizedNetworks", ["10.0.0.0/8", "10.0.0.0/8"], "must not repeat an entry"),
    ({"gcp.cluster": {"authorizedNetworks": ["10.0.0.1/8"]}}, "gcp.cluster.authorizedNetworks[0]", "10.0.0.1/8", "has host bits set"),
    ({"gcp.cluster": {"releaseChannel": "BETA"}}, "gcp.cluster.releaseChannel", "BETA", "Input should be 'RAPID', 'REGULAR' or 'STABLE'"),
    # GPU pools (GKE node pools)
    ({"gpuPools.0.machineType": "g6.xlarge"}, "gpuPools[0].machineType", "g6.xlarge", "unknown GPU machine instance types ['g6.xlarge']; the catalog knows families g2, a2, a2u, a3"),
    ({"gpuPools.0.machineType": DELETE}, "gpuPools[0].machineType", NOT_SET, "Field required"),
    ({"gpuPools.0.acceleratorType": "nvidia-tesla-t4"}, "gpuPools[0].acceleratorType", "nvidia-tesla-t4", "g2-standard-8 carries nvidia-l4"),
    ({"gpuPools.0.acceleratorCount": 2}, "gpuPools[0].acceleratorCount", 2, "g2-standard-8 carries 1 GPU(s)"),
    ({"gpuPools.0.acceleratorCount": 17}, "gpuPools[0].acceleratorCount", 17, "Input should be less than or equal to 16"),
    ({"gpuPools.0.capacityTypes": ["spot", "on-demand"]}, "gpuPools[0].capacityTypes", ["spot", "on-demand"], "List should have at most 1 item after validation, not 2"),
    ({"gpuPools.0.zones": ["us-east1-b"]}, "gpuPools[0].zones", "us-east1-b", "must be a zone of region us-central1"),
    ({"gpuPools.0.zones": []}, "gpuPools[0].zones", [], "must list at least one zone, or be left out"),
    # zones that do not offer the machine type (the catalog's g2 zones in us-central1: a, b, c)
    ({"gpuPools.0.zones": ["us-central1-a", "us-central1-f"]}, "gpuPools[0].zones", "us-central1-f", "offers no g2-standard-8 (gpuPools[0]); zones of us-central1 that do: us-central1-a, us-central1-b, us-central1-c"),
    ({"gcp.cluster": {"nodeZones": ["us-central1-b", "us-central1-f"]}}, "gcp.cluster.nodeZones", "us-central1-f", "offers no g2-standard-8 (gpuPools[0])"),
    # `gpu-<name>` is the node pool's name, and GKE takes 40 characters at most (the group keeps the models' selector).
    ({"gpuPools.0.name": "p" * 37, "gpuPools.0.group": "l4"}, "gpuPools[0].name", "p" * 37, "must be at most 36 characters: GKE node pool names (here 'gpu-ppppppppppppppppppppppppppppppppppppp') are at most 40"),
    ({"gpuPools.0.zones": ["us-central1-a", "us-central1-a"]}, "gpuPools[0].zones", ["us-central1-a", "us-central1-a"], "must not repeat an entry"),
    # labels and the weights bucket
    ({"tags": {"Owner": "ml"}}, "tags.Owner", "ml", "Google Cloud labels are lowercase letters, digits, '_' and '-' (keys start with a letter), at most 63 characters"),
    ({"tags": {"owner": "ML Infra"}}, "tags.owner", "ML Infra", "Google Cloud labels are lowercase"),
    ({"clusterName": "goog-llm"}, "clusterName", "goog-llm", "names the weights bucket, and the Cloud Storage bucket 'goog-llm-weights-llm-test-project' must be"),
    (
        {"clusterName": "a-forty-character-cluster-name-abcdefghi", "gcp.project": "a-thirty-character-project-id1"},
        "clusterName",
        "a-forty-character-cluster-name-abcdefghi",
        "the weights bucket name a-forty-character-cluster-name-abcdefghi-weights-a-thirty-character-project-id1 would be 79 characters; Cloud Storage allows 63",
    ),
]


@pytest.mark.parametrize("change, key, value, rule", GCP_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in GCP_RULES])
def test_gcp_rules(change, key, value, rule):
    parse(GCP)
    error = refused(changed(GCP, change))
    violation = only(error)
    assert (violation.key, violation.value, violation.unknown_key) == (key, value, False)
    assert rule in violation.rule, violation.rule


GCP_PROBLEM_LINES = [
    ({"gcp": DELETE}, "llm-platform:gcp: (not set) is invalid", "Field required"),
    ({"region": "us-west-2"}, 'llm-platform:region: "us-west-2" is invalid', "supported regions: us-central1, europe-west4"),
    ({"gcp.project": "Bad_Project"}, 'llm-platform:gcp.project: "Bad_Project" is invalid', "must be a project id"),
    ({"gcp.billingAccount": DELETE}, "llm-platform:gcp.billingAccount: (not set) is invalid", "Field required"),
    ({"gcp.billingAccount": "12345"}, 'llm-platform:gcp.billingAccount: "12345" is invalid', "three groups of six uppercase hex digits"),
    ({"gcp.smtp": DELETE}, "llm-platform:gcp.smtp: (not set) is invalid", "Field required"),
    ({"gcp.smtp.smarthost": "mail.example.com:25"}, 'llm-platform:gcp.smtp.smarthost: "mail.example.com:25" is invalid', "blocks outbound port 25"),
    ({"gcp.smtp.username": "apikey"}, "llm-platform:alertSmtpPassword: null is invalid", "exactly when gcp.smtp.username is"),
    ({"gcp.network": {"podsCidr": "10.40.0.0/14"}}, "llm-platform:gcp.network: ", "nodesCidr 10.40.0.0/20 overlaps podsCidr 10.40.0.0/14"),
    ({"gcp.network": {"controlPlaneCidr": "172.16.0.0/24"}}, 'llm-platform:gcp.network.controlPlaneCidr: "172.16.0.0/24" is invalid', "exactly a /28"),
    ({"gcp.systemPool": {"machineType": "m7i.large"}}, 'llm-platform:gcp.systemPool.machineType: "m7i.large" is invalid', "unknown general-purpose instance types"),
    ({"gcp.systemPool": {"minNodes": 5, "maxNodes": 2}}, "llm-platform:gcp.systemPool: ", "minNodes 5 exceeds maxNodes 2"),
    ({"gcp.cluster": {"nodeZones": ["us-east1-b"]}}, 'llm-platform:gcp.cluster.nodeZones: "us-east1-b" is invalid', "must be a zone of region us-central1"),
    ({"gpuPools.0.machineType": "g6.xlarge"}, 'llm-platform:gpuPools[0].machineType: "g6.xlarge" is invalid', "unknown GPU machine instance types"),
    ({"gpuPools.0.acceleratorType": "nvidia-tesla-t4"}, 'llm-platform:gpuPools[0].acceleratorType: "nvidia-tesla-t4" is invalid', "g2-standard-8 carries nvidia-l4"),
    ({"gpuPools.0.acceleratorCount": 2}, "llm-platform:gpuPools[0].acceleratorCount: 2 is invalid", "g2-standard-8 carries 1 GPU(s)"),
    ({"gpuPools.0.capacityTypes": ["spot", "on-demand"]}, 'llm-platform:gpuPools[0].capacityTypes: ["spot", "on-demand"] is invalid', "at most 1 item"),
    ({"gpuPools.0.machineType": DELETE}, "llm-platform:gpuPools[0].machineType: (not set) is invalid", "Field required"),
    ({"gpuPools.0.zones": ["us-east1-b"]}, 'llm-platform:gpuPools[0].zones: "us-east1-b" is invalid', "must be a zone of region us-central1"),
    ({"tags": {"Owner": "ml"}}, 'llm-platform:tags.Owner: "ml" is invalid', "Google Cloud labels are lowercase"),
    ({"clusterName": "a-forty-character-cluster-name-abcdefghi", "gcp.project": "a-thirty-character-project-id1"}, "llm-platform:clusterName: ", "Cloud Storage allows 63"),
]


@pytest.mark.parametrize("change, where, rule", GCP_PROBLEM_LINES, ids=[where[13:50] for _, where, _ in GCP_PROBLEM_LINES])
def test_gcp_problem_lines(change, where, rule):
    (line,) = refused(changed(GCP, change)).problems
    assert line.startswith(where) and rule in line, line


def test_a_gcp_pool_must_hold_whole_nodes():
    # a2-highgpu-4g carries 4 GPUs: 6 would be one and a half nodes.
    a100 = {"gpuPools.0.machineType": "a2-highgpu-4g", "gpuPools.0.acceleratorType": "nvidia-tesla-a100", "gpuPools.0.acceleratorCount": 4}
    parse(changed(GCP, {**a100, "gpuPools.0.maxGpus": 8}))
    error = refused(changed(GCP, {**a100, "gpuPools.0.maxGpus": 6}))
    assert "llm-platform:gpuPools[0].maxGpus: 6 is invalid (rule: must be a multiple of the 4 GPU(s) of one a2-highgpu-4g node)" in error.problems
    assert error.violations == [Violation("gpuPools[0].maxGpus", 6, "must be a multiple of the 4 GPU(s) of one a2-highgpu-4g node")]


# -- keys of the other cloud ------------------------------------------------------------------------------

STACK_KEYS = f"allowed keys are {GCP_STACK_KEYS}"
POOL_KEYS = f"allowed keys are {GKE_POOL_KEYS}"


@pytest.mark.parametrize(
    "change, key, allowed",
    [
        ({"aws": {"network": {"cidr": "10.1.0.0/16"}}}, "aws", STACK_KEYS),
        ({"network": {"cidr": "10.1.0.0/16"}}, "network", STACK_KEYS),
        ({"ingress": {"host": "x.example.com", "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 36}}, "ingress", STACK_KEYS),
        ({"gpuPools.0.instanceTypes": ["g6.xlarge"]}, "gpuPools[0].instanceTypes", POOL_KEYS),
        ({"gpuPools.0.weight": 10}, "gpuPools[0].weight", POOL_KEYS),
    ],
    ids=["aws", "network", "ingress", "instanceTypes", "weight"],
)
def test_aws_fields_are_unknown_keys_on_a_gcp_stack(change, key, allowed):
    # What was a "foreign field" rule is now an unknown key: the Google Cloud model has no such field.
    error = refused(changed(GCP, change))
    violation = only(error)
    assert (violation.key, violation.unknown_key) == (key, True)
    assert violation.rule.startswith(allowed), violation.rule
    assert error.problems[0].startswith(f"llm-platform:{key}: unknown key (rule: {allowed}")


# -- production -------------------------------------------------------------------------------------------


def test_production_gcp_stack_loads():
    config = parse(PRODUCTION)
    assert config.environment == "production"
    assert config.common_tags()["environment"] == "production" and config.common_tags()["managed-by"] == "pulumi"
    assert config.gcp.network.flow_logs is True and config.gcp.system_pool.spot is False
    assert config.gcp.cluster.release_channel == "STABLE"


PRODUCTION_RULES = [
    (
        {"gcp.cluster.authorizedNetworks": []},
        "gcp.cluster.authorizedNetworks",
        [],
        "production must list the networks allowed to reach the control plane, or set privateEndpoint: true; this list admits the whole public IPv4 internet",
    ),
    ({"gcp.cluster.authorizedNetworks": ["0.0.0.0/1", "128.0.0.0/1"]}, "gcp.cluster.authorizedNetworks", ["0.0.0.0/1", "128.0.0.0/1"], "this list admits the whole public IPv4 internet"),
    ({"gcp.cluster.authorizedNetworks": ["20.0.0.0/6"]}, "gcp.cluster.authorizedNetworks", ["20.0.0.0/6"], "this list admits 1.81% of the public IPv4 internet (at most 1% allowed)"),
    ({"gcp.cluster.authorizedNetworks": ["0.0.0.0/0"]}, "gcp.cluster.authorizedNetworks", ["0.0.0.0/0"], "production must list the networks allowed to reach the control plane"),
    ({"gcp.cluster.releaseChannel": "RAPID"}, "gcp.cluster.releaseChannel", "RAPID", "production takes REGULAR or STABLE; RAPID versions are not covered by the GKE SLA"),
    ({"gcp.systemPool.spot": True}, "gcp.systemPool.spot", True, "production runs monitoring and add-ons on on-demand nodes only"),
    ({"gcp.network.flowLogs": False}, "gcp.network.flowLogs", False, "production must record VPC flow logs"),
    ({"observability.prometheusStorageGib": DELETE}, "observability.prometheusStorageGib", None, "production keeps Prometheus data on a persistent volume"),
    ({"models.0.minReplicas": 1}, "models[0].minReplicas", 1, "production keeps at least two replicas so one can drain or fail"),
    ({"gpuPools.0.capacityTypes": ["spot"]}, "gpuPools[0].capacityTypes", ["spot"], "production keeps an on-demand path for pool group l4"),
]


@pytest.mark.parametrize("change, key, value, rule", PRODUCTION_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in PRODUCTION_RULES])
def test_production_gcp_rule(change, key, value, rule):
    parse(PRODUCTION)
    violation = only(refused(changed(PRODUCTION, change)))
    assert (violation.key, violation.value) == (key, value) and rule in violation.rule


def test_production_gcp_rules_all_at_once():
    production = changed(GCP, {"environment": "production", "gcp.cluster": {"releaseChannel": "RAPID"}, "gcp.systemPool": {"spot": True}})
    found = problems(production)
    for expected in (
        "llm-platform:gcp.cluster.authorizedNetworks: [] is invalid (rule: production must list the networks allowed to reach the control plane",
        'llm-platform:gcp.cluster.releaseChannel: "RAPID" is invalid',
        "llm-platform:gcp.systemPool.spot: true is invalid",
        "llm-platform:gcp.network.flowLogs: false is invalid",
        "llm-platform:observability.prometheusStorageGib: null is invalid",
        "llm-platform:models[0].minReplicas: 1 is invalid",
    ):
        assert expected in found, found


def test_a_private_endpoint_needs_no_authorized_networks():
    config = parse(changed(PRODUCTION, {"gcp.cluster.authorizedNetworks": [], "gcp.cluster.privateEndpoint": True}))
    assert config.gcp.cluster.private_endpoint is True


def test_staging_may_use_rapid_spot_and_an_open_control_plane():
    config = parse(changed(GCP, {"gcp.cluster": {"releaseChannel": "RAPID"}, "gcp.systemPool": {"spot": True}}))
    assert config.gcp.cluster.release_channel == "RAPID" and config.gcp.system_pool.spot is True

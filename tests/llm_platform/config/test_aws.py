"""An AWS stack (`aws.AwsStackConfig`): the `llm-platform:aws` section (VPC, EKS cluster, system pool,
GPU quiet hours), its GPU pool type (a Karpenter NodePool) and the rules only AWS stacks follow,
production's above all. Every refusal names the key, the value and the rule."""

from __future__ import annotations

import ipaddress

import pytest

from llm_platform import pins
from llm_platform.config import AwsStackConfig, parse
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config.stacks import AWS, AWS_POOL, AWS_POOL_KEYS, AWS_STACK_KEYS, DELETE, changed, edited, only, refused

# Production-shaped: every production rule kept (HA NAT, flow logs, listed API networks, two Karpenter
# replicas, on-demand system pool, a Prometheus volume, two model replicas).
PRODUCTION = changed(
    AWS,
    {
        "environment": "production",
        "clusterName": "llm-production",
        "tags": {"cost-center": "customer-support"},
        "budget": {"monthlyLimitUsd": 5000, "alertEmails": ["alerts@example.com"]},
        "observability.prometheusStorageGib": 100,
        "observability.prometheusReplicas": 2,
        "aws": {
            "network": {"cidr": "10.30.0.0/16", "azCount": 3, "natGateways": "perAz", "flowLogs": {"retentionDays": 365, "trafficType": "ALL"}},
            "cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"], "karpenterReplicas": 2, "deletionProtection": True},
            "systemPool": {"capacityTypes": ["on-demand"]},
            "gpuQuietHours": {"schedule": "0 0 * * mon-fri", "duration": "9h"},
        },
        "gpuPools": [
            {"name": "a10g-baseline", "group": "a10g", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["on-demand"], "maxGpus": 2, "weight": 100},
            {"name": "a10g-burst", "group": "a10g", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 2},
        ],
        "models": [
            {
                "name": "llama",
                "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
                "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
                "parametersBillion": 8.03,
                "poolGroup": "a10g",
                "minReplicas": 2,
                "maxReplicas": 4,
                "resources": {"cpu": 6, "memoryGib": 24},
            }
        ],
    },
)

# The minimal stack with one L4 pool.
WITH_POOL = changed(AWS, {"gpuPools": [AWS_POOL]})


# -- defaults ---------------------------------------------------------------------------------------------


def test_defaults_are_safe():
    config = parse(AWS)
    assert isinstance(config, AwsStackConfig)
    network = config.aws.network
    assert network.az_count == 3
    assert network.nat_gateways == "single"
    assert network.flow_logs is None
    assert network.cidr == ipaddress.IPv4Network("10.0.0.0/16")


def test_an_empty_aws_section_gets_the_defaults():
    config = parse(changed(AWS, {"aws": DELETE}))
    aws = config.aws
    assert aws.network.cidr == ipaddress.IPv4Network("10.0.0.0/16")
    assert aws.cluster.kubernetes_version == pins.KUBERNETES_VERSION
    assert aws.cluster.ami_alias == f"al2023@{pins.AL2023_AMI_RELEASE}"
    assert aws.cluster.log_types == ["api", "audit", "authenticator"]
    assert aws.cluster.endpoint_public_access is True and aws.cluster.public_access_cidrs == []
    assert aws.cluster.karpenter_replicas == 1 and aws.cluster.deletion_protection is False
    assert aws.system_pool.capacity_types == ["on-demand"] and aws.system_pool.max_cpu == 16
    assert aws.system_pool.instance_types == ["m7i.large", "m7i.xlarge", "m6i.large", "m6i.xlarge"]
    assert aws.gpu_quiet_hours is None


def test_gpu_pool_defaults():
    (pool,) = parse(WITH_POOL).gpu_pools
    assert (pool.weight, pool.consolidate_after, pool.expire_after, pool.root_volume_gib) == (10, "10m", "720h", 200)
    assert pool.pool_group == "l4"
    assert [size.name for size in pool.sizes()] == ["g6.xlarge"]


# -- the network ------------------------------------------------------------------------------------------

NETWORK_RULES = [
    ({"aws.network.cidr": "10.0.0.0/33"}, "aws.network.cidr", "10.0.0.0/33", "not a valid IPv4 network"),
    ({"aws.network.cidr": "10.0.0.1/16"}, "aws.network.cidr", "10.0.0.1/16", "has host bits set"),
    ({"aws.network.cidr": "8.8.0.0/16"}, "aws.network.cidr", "8.8.0.0/16", "the VPC CIDR must be a private (RFC 1918) range"),
    ({"aws.network.cidr": "10.0.0.0/24"}, "aws.network.cidr", "10.0.0.0/24", "the VPC prefix length must be between /16 and /20"),
    ({"aws.network.cidr": "10.0.0.0/8"}, "aws.network.cidr", "10.0.0.0/8", "between /16 and /20"),
    ({"aws.network.azCount": 1}, "aws.network.azCount", 1, "Input should be greater than or equal to 2"),
    ({"aws.network.azCount": 7}, "aws.network.azCount", 7, "Input should be less than or equal to 6"),
    ({"aws.network.natGateways": "double"}, "aws.network.natGateways", "double", "Input should be 'single' or 'perAz'"),
    ({"aws.network.flowLogs": {"retentionDays": 10}}, "aws.network.flowLogs.retentionDays", 10, "must be one of the CloudWatch Logs retention periods [1, 3, 5, 7,"),
    ({"aws.network.flowLogs": {"trafficType": "SOME"}}, "aws.network.flowLogs.trafficType", "SOME", "Input should be 'ALL', 'ACCEPT' or 'REJECT'"),
]


@pytest.mark.parametrize("change, key, value, rule", NETWORK_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in NETWORK_RULES])
def test_network_rules(change, key, value, rule):
    parse(AWS)
    violation = only(refused(changed(AWS, change)))
    assert (violation.key, violation.value) == (key, value)
    assert rule in violation.rule, violation.rule


def test_network_problem_lines():
    # The rendered lines name the new key path under `aws`.
    for cidr, rule in [("10.0.0.0/33", "not a valid IPv4 network"), ("10.0.0.1/16", "has host bits set"), ("8.8.0.0/16", "private (RFC 1918)"), ("10.0.0.0/24", "between /16 and /20")]:
        (line,) = refused(changed(AWS, {"aws.network.cidr": cidr})).problems
        assert line.startswith(f'llm-platform:aws.network.cidr: "{cidr}" is invalid') and rule in line, line
    (line,) = refused(changed(AWS, {"aws.network.azCount": 1})).problems
    assert line.startswith("llm-platform:aws.network.azCount: 1 is invalid") and "greater than or equal to 2" in line
    (line,) = refused(changed(AWS, {"aws.network.natGateways": "double"})).problems
    assert line.startswith('llm-platform:aws.network.natGateways: "double" is invalid') and "'single' or 'perAz'" in line
    (line,) = refused(changed(AWS, {"aws.network.flowLogs": {"retentionDays": 10}})).problems
    assert line.startswith("llm-platform:aws.network.flowLogs.retentionDays: 10 is invalid") and "retention periods" in line


def test_flow_log_defaults():
    flow_logs = parse(changed(AWS, {"aws.network.flowLogs": {}})).aws.network.flow_logs
    assert (flow_logs.retention_days, flow_logs.traffic_type) == (90, "REJECT")


# -- the cluster ------------------------------------------------------------------------------------------

CLUSTER_RULES = [
    ({"adminPrincipalArns": ["alice"]}, "aws.cluster.adminPrincipalArns", ["alice"], "['alice'] are not IAM role or user ARNs"),
    ({"adminPrincipalArns": ["arn:aws:iam::123456789012:role/admin"] * 2}, "aws.cluster.adminPrincipalArns", ["arn:aws:iam::123456789012:role/admin"] * 2, "must not repeat an entry"),
    ({"logTypes": ["api"]}, "aws.cluster.logTypes", ["api"], "must include ['audit', 'authenticator']"),
    ({"logTypes": ["api", "audit", "authenticator", "api"]}, "aws.cluster.logTypes", ["api", "audit", "authenticator", "api"], "must not repeat an entry"),
    ({"kubernetesVersion": "1.29"}, "aws.cluster.kubernetesVersion", "1.29", "add-on versions are pinned only for Kubernetes 1.36"),
    ({"amiAlias": "al2023"}, "aws.cluster.amiAlias", "al2023", "must be 'al2023@vYYYYMMDD' (an EKS-optimized AL2023 release) or 'al2023@latest'"),
    ({"amiAlias": "al2023@v2026"}, "aws.cluster.amiAlias", "al2023@v2026", "al2023@vYYYYMMDD"),
    ({"publicAccessCidrs": ["10.0.0.0/33"]}, "aws.cluster.publicAccessCidrs[0]", "10.0.0.0/33", "Input is not a valid IPv4 network"),
    ({"karpenterReplicas": 4}, "aws.cluster.karpenterReplicas", 4, "Input should be less than or equal to 3"),
]


@pytest.mark.parametrize("cluster, key, value, rule", CLUSTER_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in CLUSTER_RULES])
def test_cluster_rules(cluster, key, value, rule):
    violation = only(refused(changed(AWS, {"aws.cluster": cluster})))
    assert (violation.key, violation.value) == (key, value)
    assert rule in violation.rule, violation.rule


def test_cluster_problem_lines():
    for cluster, where, rule in [
        ({"adminPrincipalArns": ["alice"]}, "llm-platform:aws.cluster.adminPrincipalArns", "not IAM role or user ARNs"),
        ({"logTypes": ["api"]}, "llm-platform:aws.cluster.logTypes", "must include ['audit', 'authenticator']"),
        ({"kubernetesVersion": "1.29"}, 'llm-platform:aws.cluster.kubernetesVersion: "1.29" is invalid', "pinned only for Kubernetes 1.36"),
        ({"amiAlias": "al2023"}, 'llm-platform:aws.cluster.amiAlias: "al2023" is invalid', "al2023@vYYYYMMDD"),
        ({"publicAccessCidrs": ["10.0.0.0/33"]}, "llm-platform:aws.cluster.publicAccessCidrs[0]", "IPv4"),
    ]:
        (line,) = refused(changed(AWS, {"aws.cluster": cluster})).problems
        assert line.startswith(where) and rule in line, line


def test_cluster_accepts_principal_arns_and_extra_log_types():
    cluster = parse(
        changed(AWS, {"aws.cluster": {"adminPrincipalArns": ["arn:aws:iam::123456789012:role/admin", "arn:aws:iam::123456789012:user/alice"], "logTypes": ["api", "audit", "authenticator", "scheduler"]}})
    ).aws.cluster
    assert len(cluster.admin_principal_arns) == 2 and "scheduler" in cluster.log_types


# -- the system pool and quiet hours -------------------------------------------------------------

SYSTEM_POOL_RULES = [
    ({"instanceTypes": ["g6.xlarge"]}, "aws.systemPool.instanceTypes", ["g6.xlarge"], "unknown general-purpose instance types ['g6.xlarge']; the catalog knows families m6i, m7i"),
    ({"instanceTypes": []}, "aws.systemPool.instanceTypes", [], "must list at least one instance type"),
    ({"instanceTypes": ["m7i.large", "m7i.large"]}, "aws.systemPool.instanceTypes", ["m7i.large", "m7i.large"], "must not repeat an entry"),
    ({"capacityTypes": []}, "aws.systemPool.capacityTypes", [], "List should have at least 1 item"),
    ({"capacityTypes": ["spot", "spot"]}, "aws.systemPool.capacityTypes", ["spot", "spot"], "must not repeat an entry"),
    ({"maxCpu": 1}, "aws.systemPool.maxCpu", 1, "Input should be greater than or equal to 2"),
]


@pytest.mark.parametrize("pool, key, value, rule", SYSTEM_POOL_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in SYSTEM_POOL_RULES])
def test_system_pool_rules(pool, key, value, rule):
    violation = only(refused(changed(AWS, {"aws.systemPool": pool})))
    assert (violation.key, violation.value) == (key, value)
    assert rule in violation.rule, violation.rule


def test_quiet_hours():
    window = parse(changed(AWS, {"aws.gpuQuietHours": {"schedule": "0 0 * * mon-fri", "duration": "9h"}})).aws.gpu_quiet_hours
    assert (window.schedule, window.duration) == ("0 0 * * mon-fri", "9h")


@pytest.mark.parametrize("schedule", ["weekdays", "99 99 * * funday", "0 24 * * *", "60 0 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * 8", "0 0 * * mon-", "*/0 * * * *", "0  0 * * *", "0 0 * * mon-fri\n"])
def test_quiet_hours_need_a_cron_schedule_karpenter_can_read(schedule):
    error = refused(changed(AWS, {"aws.gpuQuietHours": {"schedule": schedule, "duration": "9h"}}))
    violation = only(error)
    assert violation.key == "aws.gpuQuietHours.schedule" and violation.rule.startswith("must be a 5-field cron expression in UTC: minute 0-59, hour 0-23")


@pytest.mark.parametrize("schedule", ["0 0 * * mon-fri", "*/15 9-17 * * 1-5", "30 22 1,15 jan-jun sun", "0 0 * * 7"])
def test_quiet_hours_take_standard_cron(schedule):
    assert parse(changed(AWS, {"aws.gpuQuietHours": {"schedule": schedule, "duration": "9h"}})).aws.gpu_quiet_hours.schedule == schedule


@pytest.mark.parametrize(
    "window, key, value, rule",
    [
        ({"schedule": "0 0 * * mon-fri", "duration": "9 hours"}, "aws.gpuQuietHours.duration", "9 hours", "must be a duration in hours, minutes or seconds"),
        ({"schedule": "0 0 * * mon-fri"}, "aws.gpuQuietHours.duration", NOT_SET, "Field required"),
        ({"duration": "9h"}, "aws.gpuQuietHours.schedule", NOT_SET, "Field required"),
    ],
)
def test_quiet_hours_rules(window, key, value, rule):
    violation = only(refused(changed(AWS, {"aws.gpuQuietHours": window})))
    assert (violation.key, violation.value) == (key, value) and rule in violation.rule


# -- GPU pools (Karpenter NodePools) ----------------------------------------------------------------------

GPU_POOL_PROBLEMS = [
    ({"maxGpus": DELETE}, "gpuPools[0].maxGpus", NOT_SET, "Field required"),
    ({"maxGpus": 0}, "gpuPools[0].maxGpus", 0, "greater than or equal to 1"),
    ({"instanceTypes": ["g7.xlarge"]}, "gpuPools[0].instanceTypes", ["g7.xlarge"], "the catalog knows families g5, g6, g6e, p4d, p5"),
    ({"instanceTypes": ["m7i.large"]}, "gpuPools[0].instanceTypes", ["m7i.large"], "unknown GPU instance types"),
    ({"instanceTypes": DELETE}, "gpuPools[0].instanceTypes", NOT_SET, "Field required"),
    ({"instanceTypes": []}, "gpuPools[0].instanceTypes", [], "must list at least one instance type"),
    ({"instanceTypes": ["g6.xlarge", "g6.xlarge"]}, "gpuPools[0].instanceTypes", ["g6.xlarge", "g6.xlarge"], "must not repeat an entry"),
    ({"capacityTypes": ["spot", "spot"]}, "gpuPools[0].capacityTypes", ["spot", "spot"], "must not repeat"),
    ({"capacityTypes": ["reserved"]}, "gpuPools[0].capacityTypes[0]", "reserved", "'spot' or 'on-demand'"),
    ({"consolidateAfter": "ten minutes"}, "gpuPools[0].consolidateAfter", "ten minutes", "duration"),
    ({"expireAfter": "30d"}, "gpuPools[0].expireAfter", "30d", "must be a duration in hours, minutes or seconds, e.g. '10m' or '720h'"),
    ({"weight": 0}, "gpuPools[0].weight", 0, "Input should be greater than or equal to 1"),
    ({"weight": 101}, "gpuPools[0].weight", 101, "Input should be less than or equal to 100"),
    ({"name": "L4_Pool"}, "gpuPools[0].name", "L4_Pool", "DNS label"),
]


@pytest.mark.parametrize("change, key, value, rule", GPU_POOL_PROBLEMS, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in GPU_POOL_PROBLEMS])
def test_gpu_pool_rules(change, key, value, rule):
    parse(WITH_POOL)
    error = refused(edited(WITH_POOL, "gpuPools.0", **change))
    violation = only(error)
    assert (violation.key, violation.value, violation.unknown_key) == (key, value, False)
    assert rule in violation.rule, violation.rule
    assert error.problems[0].startswith(f"llm-platform:{key}: "), error.problems[0]


def test_gpu_pool_problem_lines():
    for change, where in [
        ({"maxGpus": 0}, "llm-platform:gpuPools[0].maxGpus: 0 is invalid"),
        ({"instanceTypes": ["g7.xlarge"]}, 'llm-platform:gpuPools[0].instanceTypes: ["g7.xlarge"] is invalid'),
        ({"capacityTypes": ["reserved"]}, 'llm-platform:gpuPools[0].capacityTypes[0]: "reserved" is invalid'),
        ({"consolidateAfter": "ten minutes"}, 'llm-platform:gpuPools[0].consolidateAfter: "ten minutes" is invalid'),
        ({"name": "L4_Pool"}, 'llm-platform:gpuPools[0].name: "L4_Pool" is invalid'),
    ]:
        (line,) = refused(edited(WITH_POOL, "gpuPools.0", **change)).problems
        assert line.startswith(where), line
    (line,) = refused(changed(WITH_POOL, {"gpuPools.0.maxGpus": DELETE})).problems
    assert line.startswith("llm-platform:gpuPools[0].maxGpus: (not set) is invalid") and "Field required" in line


@pytest.mark.parametrize("key, value", [("gpuCount", 2), ("machineType", "g2-standard-8"), ("acceleratorType", "nvidia-l4"), ("zones", ["us-west-2a"])])
def test_unknown_and_gke_pool_keys_are_unknown_keys(key, value):
    error = refused(changed(WITH_POOL, {f"gpuPools.0.{key}": value}))
    violation = only(error)
    assert (violation.key, violation.value, violation.unknown_key) == (f"gpuPools[0].{key}", value, True)
    assert violation.rule.startswith(f"allowed keys are {AWS_POOL_KEYS}"), violation.rule
    assert error.problems[0].startswith(f"llm-platform:gpuPools[0].{key}: unknown key (rule: allowed keys are name, group, capacityTypes, maxGpus")


def test_gcp_fields_are_refused_on_an_aws_stack():
    # What was a "foreign field" rule is now an unknown key: the AWS model has no such field.
    raw = changed(AWS, {"gcp": {"project": "llm-test-project"}, "budget.billingAccount": "012345-6789AB-CDEF01", "gpuPools": [{**AWS_POOL, "machineType": "g2-standard-8"}]})
    error = refused(raw)
    by_key = {v.key: v for v in error.violations}
    assert set(by_key) == {"gcp", "budget.billingAccount", "gpuPools[0].machineType"}, error.problems
    assert all(v.unknown_key for v in error.violations)
    assert by_key["gcp"].rule == f"allowed keys are {AWS_STACK_KEYS}"
    assert by_key["budget.billingAccount"].value == "012345-6789AB-CDEF01"
    assert by_key["gpuPools[0].machineType"].rule == f"allowed keys are {AWS_POOL_KEYS}"
    assert "llm-platform:gcp: unknown key (rule: allowed keys are environment, cloud, region" in "\n".join(error.problems)


# -- production -------------------------------------------------------------------------------------------


def test_production_is_highly_available():
    config = parse(PRODUCTION)
    assert config.environment == "production"
    assert config.common_tags()["environment"] == "production"
    assert config.common_tags()["managed-by"] == "pulumi"
    assert config.common_tags()["cost-center"] == "customer-support"
    network = config.aws.network
    assert network.nat_gateways == "perAz"
    assert network.az_count >= 3
    assert network.flow_logs is not None
    assert config.aws.cluster.karpenter_replicas >= 2
    assert config.aws.system_pool.capacity_types == ["on-demand"]


PRODUCTION_RULES = [
    ({"aws.network.natGateways": "single"}, 'llm-platform:aws.network.natGateways: "single" is invalid (rule: production must use \'perAz\''),
    ({"aws.network.flowLogs": DELETE}, "llm-platform:aws.network.flowLogs: null is invalid (rule: production must record VPC flow logs)"),
    ({"aws.cluster.publicAccessCidrs": []}, "llm-platform:aws.cluster.publicAccessCidrs: [] is invalid (rule: production must list the networks"),
    ({"aws.cluster.publicAccessCidrs": ["0.0.0.0/0"]}, 'llm-platform:aws.cluster.publicAccessCidrs: ["0.0.0.0/0"] is invalid (rule: production must list'),
    (
        {"aws.cluster.publicAccessCidrs": DELETE},
        "llm-platform:aws.cluster.publicAccessCidrs: [] is invalid (rule: production must list the networks allowed to reach the public API endpoint, or set endpointPublicAccess: false; this list admits the whole public IPv4 internet)",
    ),
    # The same coverage spelt otherwise, and most of it: judged by the addresses, not the prefix length.
    (
        {"aws.cluster.publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
        'llm-platform:aws.cluster.publicAccessCidrs: ["0.0.0.0/1", "128.0.0.0/1"] is invalid (rule: production must list the networks allowed to reach the public API endpoint, or set endpointPublicAccess: false; this list admits the whole public IPv4 internet)',
    ),
    ({"aws.cluster.publicAccessCidrs": [f"{n}.0.0.0/8" for n in range(1, 9)]}, "llm-platform:aws.cluster.publicAccessCidrs: [\"1.0.0.0/8\""),
    ({"aws.cluster.publicAccessCidrs": ["10.0.0.0/8", "17.0.0.0/8", "203.0.113.0/24"]}, None),  # private, one organisation's /8, documentation
    ({"aws.cluster.amiAlias": "al2023@latest"}, 'llm-platform:aws.cluster.amiAlias: "al2023@latest" is invalid (rule: production pins a dated AMI'),
    ({"aws.cluster.karpenterReplicas": 1}, "llm-platform:aws.cluster.karpenterReplicas: 1 is invalid (rule: production runs at least two"),
    ({"aws.systemPool.capacityTypes": ["spot", "on-demand"]}, 'llm-platform:aws.systemPool.capacityTypes: ["spot", "on-demand"] is invalid (rule: production runs monitoring'),
    ({"aws.systemPool": DELETE}, None),  # the default system pool is on-demand: production keeps it
    ({"observability.prometheusStorageGib": DELETE}, "llm-platform:observability.prometheusStorageGib: null is invalid (rule: production keeps Prometheus data on a persistent volume)"),
    ({"models.0.minReplicas": 1}, "llm-platform:models[0].minReplicas: 1 is invalid (rule: production keeps at least two replicas so one can drain or fail)"),
    (
        {"gpuPools.0.capacityTypes": ["spot"], "gpuPools.1.capacityTypes": ["spot"]},
        'llm-platform:gpuPools[0].capacityTypes: ["spot"] is invalid (rule: production keeps an on-demand path for pool group a10g: add on-demand to a pool of the group, or an on-demand pool to it)',
    ),
    ({"models.0.revision": DELETE}, "llm-platform:models[0].revision: null is invalid (rule: production pins hf://meta-llama/Llama-3.1-8B-Instruct to a commit: the full 40-character sha"),
    ({"models.0.revision": "main"}, 'llm-platform:models[0].revision: "main" is invalid (rule: production pins hf://meta-llama/Llama-3.1-8B-Instruct to a commit'),
    ({"models.0.revision": "0E9E39F2"}, 'llm-platform:models[0].revision: "0E9E39F2" is invalid (rule: production pins'),
    # Weights already in the stack's bucket are what the bucket holds: there is no revision to pin.
    ({"models.0.source": "s3://llm-production-weights/imports/llama", "models.0.revision": DELETE}, None),
]


@pytest.mark.parametrize("change, problem", PRODUCTION_RULES, ids=[f"{c}"[:50] for c, _ in PRODUCTION_RULES])
def test_production_cross_field_rules(change, problem):
    parse(PRODUCTION)
    raw = changed(PRODUCTION, change)
    if problem is None:
        parse(raw)
        return
    error = refused(raw)
    assert len(error.problems) == 1, error.problems
    assert error.problems[0].startswith(problem), error.problems[0]


def test_production_rules_are_typed_violations():
    raw = changed(
        PRODUCTION,
        {
            "aws.network.natGateways": "single",
            "aws.network.flowLogs": DELETE,
            "aws.cluster.publicAccessCidrs": ["0.0.0.0/0"],
            "aws.cluster.amiAlias": "al2023@latest",
            "aws.cluster.karpenterReplicas": 1,
            "aws.systemPool.capacityTypes": ["spot", "on-demand"],
        },
    )
    found = {(v.key, repr(v.value)) for v in refused(raw).violations}
    assert found == {
        ("aws.cluster.publicAccessCidrs", "['0.0.0.0/0']"),
        ("aws.cluster.amiAlias", "'al2023@latest'"),
        ("aws.cluster.karpenterReplicas", "1"),
        ("aws.systemPool.capacityTypes", "['spot', 'on-demand']"),
        ("aws.network.natGateways", "'single'"),
        ("aws.network.flowLogs", "None"),
    }


def test_production_rules_do_not_apply_to_staging():
    staging = changed(AWS, {"aws.cluster": {"amiAlias": "al2023@latest"}, "aws.systemPool": {"capacityTypes": ["spot", "on-demand"]}})
    config = parse(staging)
    assert config.aws.cluster.ami_alias == "al2023@latest"
    assert config.aws.cluster.public_access_cidrs == []


def test_private_endpoint_only_production_needs_no_cidrs():
    raw = changed(PRODUCTION, {"aws.cluster.publicAccessCidrs": [], "aws.cluster.endpointPublicAccess": False})
    assert parse(raw).aws.cluster.endpoint_public_access is False

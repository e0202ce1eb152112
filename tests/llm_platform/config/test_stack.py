"""What every stack configures whatever its cloud (`stack.StackBase`) and how `parse` picks the cloud's
model: `cloud` is required, the shared fields and shared rules hold on both clouds, and every problem is
reported at once, each naming the key, the value and the rule."""

from __future__ import annotations

import pytest

from llm_platform.config import AwsStackConfig, GcpStackConfig, Violation, parse
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config.stacks import AWS, AWS_POOL, DELETE, GCP, GKE_POOL, changed, only, refused

STACKS = {"aws": (AWS, AWS_POOL), "gcp": (GCP, GKE_POOL)}


# -- cloud: required, picks the model ---------------------------------------------------------------------


@pytest.mark.parametrize("cloud, model", [("aws", AwsStackConfig), ("gcp", GcpStackConfig)])
def test_cloud_picks_the_stack_model(cloud, model):
    config = parse(STACKS[cloud][0])
    assert type(config) is model
    assert config.cloud == cloud


@pytest.mark.parametrize(
    "cloud, rendered",
    [
        (DELETE, "llm-platform:cloud: (not set) is invalid (rule: every stack names its cloud: aws or gcp)"),
        ("azure", 'llm-platform:cloud: "azure" is invalid (rule: every stack names its cloud: aws or gcp)'),
        ("AWS", 'llm-platform:cloud: "AWS" is invalid (rule: every stack names its cloud: aws or gcp)'),
        (None, "llm-platform:cloud: null is invalid (rule: every stack names its cloud: aws or gcp)"),
    ],
    ids=["missing", "unknown", "upper-case", "null"],
)
def test_cloud_is_required_and_known(cloud, rendered):
    error = refused(changed(AWS, {"cloud": cloud}))
    expected = NOT_SET if cloud is DELETE else cloud
    assert error.violations == [Violation("cloud", expected, "every stack names its cloud: aws or gcp")]
    assert error.problems == [rendered]


def test_a_cloud_only_takes_its_own_section():
    # The other cloud's section is an unknown key, and its own required section is missing.
    error = refused(changed(AWS, {"cloud": "gcp", "region": "us-central1"}))
    by_key = {v.key: v for v in error.violations}
    assert set(by_key) == {"aws", "gcp"}, error.problems
    assert by_key["aws"].unknown_key and "allowed keys are environment, cloud, region" in by_key["aws"].rule
    assert by_key["gcp"] == Violation("gcp", NOT_SET, "Field required")


# -- shared fields ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_common_tags_name_the_environment(cloud, environment):
    # Production stacks: see test_aws.py and test_gcp.py, whose production fixtures keep the production rules.
    config = parse(changed(STACKS[cloud][0], {"environment": environment, "tags": {"cost-center": "ml"}}))
    assert config.environment == environment
    tags = config.common_tags()
    assert tags["environment"] == environment
    assert tags["managed-by"] == "pulumi"
    assert tags == {"environment": environment, "project": "llm-platform", "managed-by": "pulumi", "cost-center": "ml"}


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_optional_shared_fields_default_to_empty(cloud):
    config = parse(STACKS[cloud][0])
    assert config.tags == {} and list(config.gpu_pools) == [] and config.models == []
    assert config.hugging_face_token is None


def test_hugging_face_token_is_taken_as_given():
    assert parse({**AWS, "huggingFaceToken": "hf_abc"}).hugging_face_token == "hf_abc"


SHARED_FIELD_RULES = [
    ({"environment": "prod"}, "environment", "prod", "Input should be 'dev', 'staging' or 'production'"),
    ({"region": "mars-north-1"}, "region", "mars-north-1", "no prices for this region in the instance catalog; supported regions: us-west-2"),
    ({"region": DELETE}, "region", NOT_SET, "Field required"),
    ({"clusterName": "LLM_Staging"}, "clusterName", "LLM_Staging", "must be a DNS label (lowercase letters, digits, '-'; starting with a letter)"),
    ({"clusterName": "a" * 41}, "clusterName", "a" * 41, "of at most 40 characters"),
    ({"clusterName": DELETE}, "clusterName", NOT_SET, "Field required"),
    ({"tags": {"environment": "x"}}, "tags", {"environment": "x"}, "tag keys ['environment'] are set by the platform and cannot be overridden"),
    ({"tags": {"managed-by": "me", "project": "p"}}, "tags", {"managed-by": "me", "project": "p"}, "tag keys ['managed-by', 'project'] are set by the platform"),
    ({"tags": {"aws:owner": "x"}}, "tags", {"aws:owner": "x"}, "tag keys ['aws:owner'] use the reserved 'aws:' prefix"),
    ({"tags": {"AWS:owner": "x"}}, "tags", {"AWS:owner": "x"}, "use the reserved 'aws:' prefix"),
    ({"tags": {"owner": 5}}, "tags.owner", 5, "Input should be a valid string"),
    ({"budget": DELETE}, "budget", NOT_SET, "Field required"),
    ({"observability": DELETE}, "observability", NOT_SET, "Field required"),
]


@pytest.mark.parametrize("change, key, value, rule", SHARED_FIELD_RULES, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in SHARED_FIELD_RULES])
def test_shared_field_rules(change, key, value, rule):
    parse(AWS)
    violation = only(refused(changed(AWS, change)))
    assert (violation.key, violation.value, violation.unknown_key) == (key, value, False)
    assert rule in violation.rule, violation.rule


@pytest.mark.parametrize(
    "cloud, region, supported",
    [
        ("aws", "us-central1", "supported regions: us-west-2, us-east-1, us-east-2, eu-west-1, ap-northeast-2"),
        ("gcp", "us-west-2", "supported regions: us-central1, europe-west4, asia-northeast3"),
    ],
)
def test_region_must_be_priced_for_the_stack_cloud(cloud, region, supported):
    violation = only(refused(changed(STACKS[cloud][0], {"region": region})))
    assert (violation.key, violation.value) == ("region", region)
    assert violation.rule == f"no prices for this region in the instance catalog; {supported}"


# Seoul on both clouds: a pool of types the catalog prices there is accepted, the default system pool
# included; a type not offered there is refused under the key that names it, whatever pool or system pool.
SEOUL = {
    "aws": changed(AWS, {"region": "ap-northeast-2", "gpuPools": [{**AWS_POOL, "instanceTypes": ["g5.xlarge", "g6.xlarge", "g6e.xlarge", "p4d.24xlarge"], "maxGpus": 8}]}),
    "gcp": changed(GCP, {"region": "asia-northeast3", "gpuPools": [{**GKE_POOL, "zones": ["asia-northeast3-a", "asia-northeast3-b"]}]}),
}


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_seoul_takes_the_types_priced_there(cloud):
    assert parse(SEOUL[cloud]).region in ("ap-northeast-2", "asia-northeast3")


@pytest.mark.parametrize(
    "cloud, change, key, value, priced_in",
    [
        ("aws", {"gpuPools.0.instanceTypes": ["g5.xlarge", "p5.48xlarge"]}, "gpuPools[0].instanceTypes", "p5.48xlarge", "us-west-2, us-east-1, us-east-2"),
        ("aws", {"aws.systemPool.instanceTypes": ["m7a.large"]}, "aws.systemPool.instanceTypes", "m7a.large", "us-west-2, us-east-1, us-east-2, eu-west-1"),
        (
            "gcp",
            {"gpuPools": [{**GKE_POOL, "machineType": "a3-highgpu-8g", "acceleratorType": "nvidia-h100-80gb", "acceleratorCount": 8, "maxGpus": 8}]},
            "gpuPools[0].machineType",
            "a3-highgpu-8g",
            "us-central1, europe-west4",
        ),
    ],
)
def test_seoul_refuses_a_type_without_a_price_there(cloud, change, key, value, priced_in):
    violation = only(refused(changed(SEOUL[cloud], change)))
    assert (violation.key, violation.value) == (key, value)
    assert violation.rule.endswith(f"no {SEOUL[cloud]['region']} price for it (its sources do not offer it there); priced in: {priced_in}")


def test_rendered_shared_field_problems():
    # The lines a user reads for the shared fields: key, value as JSON, rule.
    assert refused(changed(AWS, {"region": DELETE})).problems == ["llm-platform:region: (not set) is invalid (rule: Field required)"]
    (line,) = refused(changed(AWS, {"environment": "prod"})).problems
    assert line.startswith('llm-platform:environment: "prod" is invalid') and "'dev', 'staging' or 'production'" in line
    (line,) = refused(changed(AWS, {"region": "mars-north-1"})).problems
    assert line.startswith('llm-platform:region: "mars-north-1" is invalid') and "supported regions: us-west-2" in line
    (line,) = refused(changed(AWS, {"clusterName": "LLM_Staging"})).problems
    assert line.startswith('llm-platform:clusterName: "LLM_Staging" is invalid') and "DNS label" in line
    (line,) = refused(changed(AWS, {"tags": {"environment": "x"}})).problems
    assert line.startswith("llm-platform:tags:") and "set by the platform" in line
    (line,) = refused(changed(AWS, {"tags": {"aws:owner": "x"}})).problems
    assert line.startswith("llm-platform:tags:") and "reserved 'aws:' prefix" in line


# -- shared cross-field rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_gpu_pool_names_are_unique(cloud):
    stack, pool = STACKS[cloud]
    parse({**stack, "gpuPools": [pool, {**pool, "name": "l4-b"}]})
    error = refused({**stack, "gpuPools": [pool, pool]})
    assert error.violations == [Violation("gpuPools", "l4", "pool names must be unique")]
    assert error.problems == ['llm-platform:gpuPools: "l4" is invalid (rule: pool names must be unique)']


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_production_keeps_prometheus_data_on_a_volume(cloud):
    stack = changed(STACKS[cloud][0], {"environment": "production"})
    violations = refused(stack).violations
    assert Violation("observability.prometheusStorageGib", None, "production keeps Prometheus data on a persistent volume") in violations
    fixed = refused(changed(stack, {"observability.prometheusStorageGib": 100})).violations
    assert all(v.key != "observability.prometheusStorageGib" for v in fixed)


@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_only_production_needs_a_prometheus_volume(environment):
    assert parse(changed(AWS, {"environment": environment})).observability.prometheus_storage_gib is None


# -- every problem at once --------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once():
    raw = changed(AWS, {"clustrName": "x", "aws.network": {"cidr": "10.0.0.0/33", "azCount": 9}})
    error = refused(raw)
    assert len(error.problems) == 3
    assert {v.key for v in error.violations} == {"clustrName", "aws.network.cidr", "aws.network.azCount"}
    assert len(error.problems) == len(error.violations)


def test_every_cross_field_problem_is_reported_at_once():
    raw = changed(GCP, {"environment": "production", "gpuPools": [GKE_POOL, GKE_POOL], "tags": {"Owner": "ml"}})
    keys = [v.key for v in refused(raw).violations]
    for key in ("gpuPools", "observability.prometheusStorageGib", "tags.Owner", "gcp.cluster.authorizedNetworks", "gcp.network.flowLogs"):
        assert key in keys, keys


def test_cross_field_rules_wait_for_valid_fields():
    # The cross-field rules read validated values: while a field is invalid only the field problems show.
    raw = changed(AWS, {"environment": "production", "clusterName": "Bad_Name"})
    assert [v.key for v in refused(raw).violations] == ["clusterName"]

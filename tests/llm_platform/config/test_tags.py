"""The cloud's limits checked at configuration time: AWS tag rules on AWS stacks, Google Cloud label rules
on Google Cloud stacks, zones of the region, and names cut to a cloud's length limit staying distinct."""

from __future__ import annotations

import pytest

from llm_platform.config import parse
from llm_platform.config.tags import AWS_PLATFORM_TAGS, AWS_PROGRAM_TAGS_MAX, GCP_PLATFORM_LABELS
from llm_platform.contract import model_role_name
from llm_platform_policy import catalog
from tests.llm_platform.config.stacks import AWS, AWS_POOL, GCP, changed, only, refused

# -- AWS tags ---------------------------------------------------------------------------------------------

AWS_TAGS_OK = {"cost-center": "ml platform", "owner": "ml-infra@example.com", "k8s.io/team": "a+b=c:d_e", "Größe": "ünïcode", "k" * 128: "v" * 256, "empty": ""}


def test_tags_within_the_aws_rules_pass():
    assert parse(changed(AWS, {"tags": AWS_TAGS_OK})).tags == AWS_TAGS_OK


@pytest.mark.parametrize(
    "tags, key",
    [
        ({"k" * 129: "v"}, "tags." + "k" * 129),
        ({"owner": "v" * 257}, "tags.owner"),
        ({"owner": "a;b"}, "tags.owner"),
        ({"owner": "x<script>"}, "tags.owner"),
        ({"bad*key": "v"}, "tags.bad*key"),
        ({"owner": "tab\there"}, "tags.owner"),
        ({"": "v"}, "tags."),
    ],
)
def test_tags_aws_would_refuse_are_refused(tags, key):
    violation = only(refused(changed(AWS, {"tags": tags})))
    assert violation.key == key and "AWS tag keys are 1-128 and values at most 256 letters, digits, spaces and '_.:/=+-@'" in violation.rule


@pytest.mark.parametrize("key", ["aws:owner", "AWS:owner", "Aws:x"])
def test_the_aws_prefix_is_reserved(key):
    assert "use the reserved 'aws:' prefix" in only(refused(changed(AWS, {"tags": {key: "v"}}))).rule


def test_tags_fit_the_aws_limit_per_resource_with_the_platforms():
    allowed = 50 - AWS_PLATFORM_TAGS
    parse(changed(AWS, {"tags": {f"t{i}": "v" for i in range(allowed)}}))
    violation = only(refused(changed(AWS, {"tags": {f"t{i}": "v" for i in range(allowed + 1)}})))
    assert violation.key == "tags" and f"at most {allowed}" in violation.rule


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_program_sets_no_more_tags_on_a_resource_than_the_allowance(stack_plan, stack):
    user = set(parse_stack_tags(stack))
    most = max(len(set(r.inputs["tags"]) - user) for r in stack_plan(stack).plan.resources if r.type.startswith("aws:") and isinstance(r.inputs.get("tags"), dict))
    assert most <= AWS_PROGRAM_TAGS_MAX


def parse_stack_tags(stack: str) -> dict:
    from llm_platform.config import decode_flat_config
    from tools.preview import load_stack_file

    return parse(decode_flat_config(load_stack_file(stack)[0])).tags


# -- Google Cloud labels ----------------------------------------------------------------------------------


def test_labels_within_the_gcp_rules_pass():
    labels = {"cost-center": "ml_platform", "owner": "", "k" * 63: "v" * 63, "équipe": "données"}
    assert parse(changed(GCP, {"tags": labels})).tags == labels


@pytest.mark.parametrize("tags", [{"Owner": "x"}, {"owner": "ML"}, {"1owner": "x"}, {"owner": "a.b"}, {"owner": "v" * 64}, {"k" * 64: "v"}, {"owner": "a b"}, {"-x": "v"}])
def test_labels_gcp_would_refuse_are_refused(tags):
    violation = only(refused(changed(GCP, {"tags": tags})))
    assert violation.key == f"tags.{next(iter(tags))}" and "Google Cloud labels are lowercase letters" in violation.rule


def test_labels_fit_the_gcp_limit_per_resource_with_the_platforms():
    allowed = 64 - GCP_PLATFORM_LABELS
    parse(changed(GCP, {"tags": {f"t{i}": "v" for i in range(allowed)}}))
    assert only(refused(changed(GCP, {"tags": {f"t{i}": "v" for i in range(allowed + 1)}}))).key == "tags"


# -- zones ------------------------------------------------------------------------------------------------


def test_every_catalog_region_lists_its_zones():
    # AWS zone IDs carry the region's short prefix (use1-az1); Compute Engine zones the region's name.
    for region in catalog.aws_regions():
        zones = catalog.aws_region_zones(region)
        assert len(zones) >= 2 and len(set(zones)) == len(zones), region
        assert len({zone.rsplit("-az", 1)[0] for zone in zones}) == 1, zones
    for region in catalog.gcp_regions():
        zones = catalog.gcp_region_zones(region)
        assert zones and len(set(zones)) == len(zones) and all(zone.rsplit("-", 1)[0] == region for zone in zones), region


def test_gcp_family_zones_are_zones_of_the_regions_that_price_the_family():
    for family in catalog.gcp_gpu_families().values():
        priced = {region for size in family.sizes for region in size.prices}
        assert set(family.zones) == priced, family.name
        for region, zones in family.zones.items():
            assert zones and set(zones) <= set(catalog.gcp_region_zones(region)), (family.name, region)


@pytest.mark.parametrize("region", catalog.aws_regions())
def test_az_count_is_bounded_by_the_region(region):
    zones = len(catalog.aws_region_zones(region))
    stack = changed(AWS, {"region": region})
    parse(changed(stack, {"aws.network.azCount": zones}))
    if zones < 6:
        violation = only(refused(changed(stack, {"aws.network.azCount": zones + 1})))
        assert (violation.key, violation.value, violation.rule) == ("aws.network.azCount", zones + 1, f"region {region} has {zones} availability zones")


@pytest.mark.parametrize("zone", ["us-central1-z", "us-central1-d", "us-east1-b"])
def test_gke_zones_must_exist_in_the_region(zone):
    violation = only(refused(changed(GCP, {"gcp.cluster.nodeZones": ["us-central1-a", zone]})))
    assert violation.key == "gcp.cluster.nodeZones" and "must be a zone of region us-central1 (us-central1-a, us-central1-b, us-central1-c, us-central1-f)" in violation.rule


# -- names cut to a limit ---------------------------------------------------------------------------------

LONG_CLUSTER = "llm-" + "c" * 36
# Two 40-character model names whose IAM role names, cut to 64 characters, are the same: they share the
# first 55 characters and the 8 hex digits of the hash `bounded_name` appends (found by a birthday search).
COLLIDING = ("modelabc-0000000000000000000000000016971", "modelabc-0000000000000000000000000081688")


def _models(*names: str) -> list[dict]:
    return [{"name": name, "source": "hf://org/model", "parametersBillion": 1, "poolGroup": "l4", "maxReplicas": 1} for name in names]


def test_long_model_names_get_distinct_bounded_role_names():
    names = ("modelabc-0000000000000000000000000000001", "modelabc-0000000000000000000000000000002")
    roles = {model_role_name(LONG_CLUSTER, name) for name in names}
    assert len(roles) == 2 and all(len(role) == 64 for role in roles)
    parse(changed(AWS, {"clusterName": LONG_CLUSTER, "gpuPools": [AWS_POOL], "models": _models(*names)}))


def test_models_whose_bounded_role_names_collide_are_refused_naming_both():
    assert model_role_name(LONG_CLUSTER, COLLIDING[0]) == model_role_name(LONG_CLUSTER, COLLIDING[1])
    violation = only(refused(changed(AWS, {"clusterName": LONG_CLUSTER, "gpuPools": [AWS_POOL], "models": _models(*COLLIDING)})))
    assert violation.key == "models" and violation.value == list(COLLIDING)
    assert violation.rule.startswith(f"models {COLLIDING[0]} and {COLLIDING[1]} would share the IAM role name {model_role_name(LONG_CLUSTER, COLLIDING[0])}")

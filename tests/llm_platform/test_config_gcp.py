"""Stack configuration for Google Cloud: the staging-gcp stack loads, each cloud's fields are checked
against the cloud the stack chose, and every GCP rule refuses bad input naming key, value and rule."""

from __future__ import annotations

import copy

import pytest

from llm_platform.config import ConfigError, parse_stack_config
from tests.llm_platform.test_config import raw_stack

GCP = {
    "environment": "staging",
    "cloud": "gcp",
    "region": "us-central1",
    "clusterName": "llm-test",
    "gcp": {"project": "llm-test-project"},
    "budget": {"monthlyLimitUsd": 1000, "alertEmails": ["team@example.com"], "billingAccount": "012345-6789AB-CDEF01"},
    "observability": {"alertEmails": ["oncall@example.com"], "smtp": {"smarthost": "smtp-relay.gmail.com:587", "from": "alerts@example.com"}},
    "gpuPools": [{"name": "l4", "machineType": "g2-standard-8", "acceleratorType": "nvidia-l4", "acceleratorCount": 1, "capacityTypes": ["spot"], "maxGpus": 2}],
    "models": [{"name": "m", "source": "hf://org/model", "parametersBillion": 7.25, "poolGroup": "l4"}],
}


def changed(change) -> dict:
    raw = copy.deepcopy(GCP)
    change(raw)
    return raw


def problems(raw: dict) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(raw)
    return "\n".join(refused.value.problems)


def test_staging_gcp_stack_loads():
    config = parse_stack_config(raw_stack("staging-gcp"))
    assert config.cloud == "gcp" and config.region == "us-central1"
    assert config.gcp.project == "llm-platform-staging"
    (pool,) = config.gpu_pools
    (size,) = pool.sizes()
    assert (size.name, size.gpus, pool.accelerator_type) == ("g2-standard-8", 1, "nvidia-l4")
    assert config.observability.smtp.smarthost == "smtp-relay.gmail.com:587"


def test_minimal_gcp_stack_gets_safe_defaults():
    config = parse_stack_config(GCP)
    network, cluster = config.gcp.network, config.gcp.cluster
    assert str(network.control_plane_cidr) == "172.16.0.0/28" and network.nat_addresses == 1
    assert cluster.release_channel == "REGULAR" and cluster.gpu_driver_version == "DEFAULT" and not cluster.private_endpoint
    assert config.gcp.system_pool.spot is False


@pytest.mark.parametrize(
    "change, key, rule",
    [
        (lambda c: c.pop("gcp"), "llm-platform:gcp: null is invalid", "a gcp stack sets gcp.project"),
        (lambda c: c.update(region="us-west-2"), 'llm-platform:region: "us-west-2" is invalid', "supported regions: us-central1, europe-west4"),
        (lambda c: c["gcp"].update(project="Bad_Project"), 'llm-platform:gcp.project: "Bad_Project" is invalid', "must be a project id"),
        (lambda c: c["budget"].pop("billingAccount"), "llm-platform:budget.billingAccount: null is invalid", "names the Cloud Billing account"),
        (lambda c: c["budget"].update(billingAccount="12345"), 'llm-platform:budget.billingAccount: "12345" is invalid', "three groups of six uppercase hex digits"),
        (lambda c: c["observability"].pop("smtp"), "llm-platform:observability.smtp: null is invalid", "names the mail relay"),
        (lambda c: c["observability"]["smtp"].update(smarthost="mail.example.com:25"), 'llm-platform:observability.smtp.smarthost: "mail.example.com:25" is invalid', "blocks outbound port 25"),
        (lambda c: c["observability"]["smtp"].update(username="apikey"), "llm-platform:alertSmtpPassword: null is invalid", "exactly when observability.smtp.username is"),
        (lambda c: c.update(network={"cidr": "10.1.0.0/16"}), "llm-platform:network: ", "is an AWS setting; a gcp stack configures gcp.network"),
        (lambda c: c.update(ingress={"host": "x.example.com", "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 36}), "llm-platform:ingress: ", "not available on gcp yet"),
        (lambda c: c["gcp"].update(network={"podsCidr": "10.40.0.0/14"}), "llm-platform:gcp.network: ", "nodesCidr 10.40.0.0/20 overlaps podsCidr 10.40.0.0/14"),
        (lambda c: c["gcp"].update(network={"controlPlaneCidr": "172.16.0.0/24"}), 'llm-platform:gcp.network.controlPlaneCidr: "172.16.0.0/24" is invalid', "exactly a /28"),
        (lambda c: c["gcp"].update(systemPool={"machineType": "m7i.large"}), 'llm-platform:gcp.systemPool.machineType: "m7i.large" is invalid', "unknown general-purpose instance types"),
        (lambda c: c["gcp"].update(systemPool={"minNodes": 5, "maxNodes": 2}), "llm-platform:gcp.systemPool: ", "minNodes 5 exceeds maxNodes 2"),
        (lambda c: c["gcp"].update(cluster={"nodeZones": ["us-east1-b"]}), 'llm-platform:gcp.cluster.nodeZones: "us-east1-b" is invalid', "must be a zone of region us-central1"),
        (lambda c: c["gpuPools"][0].update(machineType="g6.xlarge"), 'llm-platform:gpuPools[0].machineType: "g6.xlarge" is invalid', "unknown GPU machine instance types"),
        (lambda c: c["gpuPools"][0].update(acceleratorType="nvidia-tesla-t4"), 'llm-platform:gpuPools[0].acceleratorType: "nvidia-tesla-t4" is invalid', "g2-standard-8 carries nvidia-l4"),
        (lambda c: c["gpuPools"][0].update(acceleratorCount=2), "llm-platform:gpuPools[0].acceleratorCount: 2 is invalid", "g2-standard-8 carries 1 GPU(s)"),
        (lambda c: c["gpuPools"][0].update(capacityTypes=["spot", "on-demand"]), "llm-platform:gpuPools[0].capacityTypes: ", "either spot or on-demand; declare two pools"),
        (lambda c: c["gpuPools"][0].update(instanceTypes=["g6.xlarge"]), 'llm-platform:gpuPools[0].instanceTypes: ["g6.xlarge"] is invalid', "a Karpenter setting"),
        (lambda c: c["gpuPools"][0].pop("machineType"), "llm-platform:gpuPools[0].machineType: null is invalid", "names its GPU machine type"),
        (lambda c: c["gpuPools"][0].update(zones=["us-east1-b"]), 'llm-platform:gpuPools[0].zones: "us-east1-b" is invalid', "must be a zone of region us-central1"),
        (lambda c: c["models"][0].update(source="s3://bucket/prefix"), 'llm-platform:models[0].source: "s3://bucket/prefix" is invalid', "reads weights from Cloud Storage (gs://)"),
        (lambda c: c["tags"] if c.update(tags={"Owner": "ml"}) else None, 'llm-platform:tags.Owner: "ml" is invalid', "Google Cloud labels are lowercase"),
        (lambda c: c.update(clusterName="a-forty-character-cluster-name-abcdefghi", gcp={"project": "a-thirty-character-project-id1"}), "llm-platform:clusterName: ", "Cloud Storage allows 63"),
    ],
)
def test_gcp_rules(change, key, rule):
    found = problems(changed(change))
    assert key in found and rule in found, found


def test_a_gcp_pool_must_hold_whole_nodes():
    # a2-highgpu-4g carries 4 GPUs: 6 would be one and a half nodes.
    found = problems(changed(lambda c: c["gpuPools"][0].update(machineType="a2-highgpu-4g", acceleratorType="nvidia-tesla-a100", acceleratorCount=4, maxGpus=6)))
    assert "llm-platform:gpuPools[0].maxGpus: 6 is invalid (rule: must be a multiple of the 4 GPU(s) of one a2-highgpu-4g node)" in found


def test_production_gcp_rules():
    production = changed(lambda c: c.update(environment="production", gcp={"project": "llm-test-project", "cluster": {"releaseChannel": "RAPID"}, "systemPool": {"spot": True}}))
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


def test_gcp_fields_are_refused_on_an_aws_stack():
    aws = raw_stack("staging")
    aws["gcp"] = {"project": "llm-test-project"}
    aws["budget"]["billingAccount"] = "012345-6789AB-CDEF01"
    aws["gpuPools"][0]["machineType"] = "g2-standard-8"
    aws["models"][0]["source"] = "gs://bucket/prefix"
    found = problems(aws)
    assert "llm-platform:gcp: " in found and "is a Google Cloud setting; this stack's cloud is aws" in found
    assert 'llm-platform:budget.billingAccount: "012345-6789AB-CDEF01" is invalid' in found
    assert 'llm-platform:gpuPools[0].machineType: "g2-standard-8" is invalid (rule: is a GKE setting' in found
    assert 'llm-platform:models[0].source: "gs://bucket/prefix" is invalid (rule: an AWS stack reads weights from S3' in found

"""The mock engine answers like AWS would; a question it cannot answer fails loudly."""

from __future__ import annotations

import pulumi
import pytest

from tools.mock_cloud import CloudMocks


def test_zones_and_ids_follow_the_region():
    mocks = CloudMocks("eu-west-1")
    zones = mocks.call(pulumi.runtime.MockCallArgs("aws:index/getAvailabilityZones:getAvailabilityZones", {}, ""))
    assert zones["names"][0] == "eu-west-1a" and zones["zoneIds"][0] == "euw1-az1"


def test_unknown_invoke_fails_loudly():
    with pytest.raises(NotImplementedError, match="no answer for invoke aws:rds/getInstance"):
        CloudMocks("us-west-2").call(pulumi.runtime.MockCallArgs("aws:rds/getInstance:getInstance", {}, ""))


def test_ids_and_arns_are_realistic_and_stable():
    mocks = CloudMocks("us-west-2")
    args = pulumi.runtime.MockResourceArgs("aws:iam/role:Role", "node", {"name": "llm-node"}, "", None, True)
    rid, state = mocks.new_resource(args)
    assert rid == "llm-node" and state["arn"] == "arn:aws:iam::123456789012:role/llm-node"
    queue = pulumi.runtime.MockResourceArgs("aws:sqs/queue:Queue", "q", {"name": "llm"}, "", None, True)
    assert mocks.new_resource(queue)[1]["url"] == "https://sqs.us-west-2.amazonaws.com/123456789012/llm"
    vpc = pulumi.runtime.MockResourceArgs("aws:ec2/vpc:Vpc", "v", {}, "", None, True)
    assert mocks.new_resource(vpc)[0] == mocks.new_resource(vpc)[0]
    assert mocks.new_resource(vpc)[0].startswith("vpc-")


def test_google_cloud_ids_follow_the_api_formats():
    mocks = CloudMocks("us-central1")
    mocks.new_resource(pulumi.runtime.MockResourceArgs("pulumi:providers:gcp", "gcp", {"project": "p-test-1"}, "", None, True))
    project = mocks.call(pulumi.runtime.MockCallArgs("gcp:organizations/getProject:getProject", {"projectId": "p-test-1"}, ""))
    assert project["number"].isdigit() and len(project["number"]) == 12
    ring, _ = mocks.new_resource(pulumi.runtime.MockResourceArgs("gcp:kms/keyRing:KeyRing", "r", {"location": "us-central1"}, "", None, True))
    assert ring.startswith("projects/p-test-1/locations/us-central1/keyRings/r-")
    key, _ = mocks.new_resource(pulumi.runtime.MockResourceArgs("gcp:kms/cryptoKey:CryptoKey", "k", {"keyRing": ring}, "", None, True))
    assert key.startswith(f"{ring}/cryptoKeys/k-")
    _, account = mocks.new_resource(pulumi.runtime.MockResourceArgs("gcp:serviceaccount/account:Account", "a", {"accountId": "llm-nodes"}, "", None, True))
    assert account["member"] == "serviceAccount:llm-nodes@p-test-1.iam.gserviceaccount.com"
    cluster, state = mocks.new_resource(pulumi.runtime.MockResourceArgs("gcp:container/cluster:Cluster", "c", {"name": "llm", "location": "us-central1"}, "", None, True))
    assert cluster == "projects/p-test-1/locations/us-central1/clusters/llm" and state["masterAuth"]["clusterCaCertificate"]


def test_unknown_google_cloud_invoke_fails_loudly():
    with pytest.raises(NotImplementedError, match="no answer for invoke gcp:compute/getZones"):
        CloudMocks("us-central1").call(pulumi.runtime.MockCallArgs("gcp:compute/getZones:getZones", {}, ""))

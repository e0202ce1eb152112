"""The weights bucket and the per-model read roles."""

from __future__ import annotations

import json

import pytest

from llm_platform.aws.network import Network, NetworkArgs
from llm_platform.aws.object_store import ModelStore, ModelStoreArgs
from llm_platform.config import ModelConfig, NetworkConfig
from tests.llm_platform.aws.stack import ACCOUNT, CLUSTER, ISSUER, OIDC_PROVIDER_ARN, TAGS, account, base_plan, declare_once, on_aws

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_NAME = f"{CLUSTER}-weights-{ACCOUNT}"
LLAMA = ModelConfig(name="llama-3-1-8b-instruct", source="hf://meta-llama/Llama-3.1-8B-Instruct", parametersBillion=8.03, poolGroup="a10g")
# Weights already in another bucket: the role reads them there, not in the stack's bucket.
QWEN = ModelConfig(name="qwen-7b", source="s3://team-weights/qwen/v1", parametersBillion=7.6, poolGroup="a10g")


def model_store_program(protect: bool):
    def program() -> None:
        ModelStore(
            f"{CLUSTER}-models",
            ModelStoreArgs(cluster_name=CLUSTER, account=account(), models=[LLAMA, QWEN], oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=ISSUER, protect=protect, tags=TAGS),
            opts=on_aws(),
        )

    return program


@pytest.fixture(scope="module")
def declared():
    """A production-like store: its bucket protected."""
    return declare_once(model_store_program(protect=True))


def test_bucket_is_private_encrypted_versioned_and_protected_in_production(declared, declare):
    bucket = declared.one(BUCKET)
    assert bucket.inputs["bucket"] == BUCKET_NAME
    assert bucket.protect is True
    # Only the bucket: the rest can be replaced without losing weights.
    assert [r.name for r in declared.plan.resources if r.protect] == [bucket.name]
    assert declare(model_store_program(protect=False)).one(BUCKET).protect is False
    key = declared.one("aws:kms/key:Key", f"{CLUSTER}-models-key")
    assert key.inputs["enableKeyRotation"] is True
    (rule,) = declared.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms" and rule["bucketKeyEnabled"] is True
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{key.id}"
    block = declared.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[flag] is True for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert block["bucket"] == BUCKET_NAME
    assert declared.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    policy = json.loads(declared.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{BUCKET_NAME}", f"arn:aws:s3:::{BUCKET_NAME}/*"]


@pytest.mark.parametrize("environment,protected", [("production", True), ("staging", False)])
def test_the_base_protects_the_bucket_in_production_only(environment, protected):
    declared = base_plan(environment)
    bucket = declared.one(BUCKET)
    assert bucket.inputs["bucket"] == f"base-{environment}-weights-{ACCOUNT}"
    assert bucket.protect is protected


def test_each_model_reads_only_its_own_prefix(declared):
    role = declared.one("aws:iam/role:Role", f"{CLUSTER}-models-llama-3-1-8b-instruct")
    assert role.inputs["name"] == f"{CLUSTER}-model-llama-3-1-8b-instruct"
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:serving:llama-3-1-8b-instruct" in statement["Condition"]["StringEquals"].values()
    assert statement["Condition"]["StringEquals"] == {f"{ISSUER}:sub": "system:serviceaccount:serving:llama-3-1-8b-instruct", f"{ISSUER}:aud": "sts.amazonaws.com"}
    assert statement["Principal"] == {"Federated": OIDC_PROVIDER_ARN}
    read = declared.one("aws:iam/rolePolicy:RolePolicy", f"{CLUSTER}-models-llama-3-1-8b-instruct-read").inputs
    assert read["role"] == role.inputs["name"]
    policy = json.loads(read["policy"])
    get, listing, decrypt = policy["Statement"]
    assert get == {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET_NAME}/models/llama-3-1-8b-instruct/*"}
    assert listing["Resource"] == f"arn:aws:s3:::{BUCKET_NAME}"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["models/llama-3-1-8b-instruct", "models/llama-3-1-8b-instruct/*"]}}
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"].startswith("arn:aws:kms:")
    assert decrypt["Resource"] == f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{declared.one('aws:kms/key:Key').id}"


def test_a_bucket_sourced_model_reads_its_source_prefix(declared):
    policy = json.loads(declared.one("aws:iam/rolePolicy:RolePolicy", f"{CLUSTER}-models-qwen-7b-read").inputs["policy"])
    get, listing, _ = policy["Statement"]
    assert get["Resource"] == "arn:aws:s3:::team-weights/qwen/v1/*"
    assert listing["Resource"] == "arn:aws:s3:::team-weights"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["qwen/v1", "qwen/v1/*"]}}


@pytest.mark.parametrize("nat_gateways", ["single", "perAz"])
def test_weights_reach_the_nodes_through_the_s3_gateway_endpoint(declare, nat_gateways):
    network_config = NetworkConfig(cidr="10.20.0.0/16", azCount=3, natGateways=nat_gateways)
    declared = declare(lambda: Network(CLUSTER, NetworkArgs(config=network_config, cluster_name=CLUSTER, account=account(), tags=TAGS), opts=on_aws()))
    endpoint = declared.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs
    assert endpoint["serviceName"] == "com.amazonaws.us-west-2.s3" and endpoint["vpcEndpointType"] == "Gateway"
    assert len(endpoint["routeTableIds"]) == 3
    private_tables = {t.id for t in declared.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in t.name}
    assert len(private_tables) == 3 and set(endpoint["routeTableIds"]) == private_tables
    assert endpoint["vpcId"] == declared.one("aws:ec2/vpc:Vpc").id


def test_the_gateway_endpoint_follows_the_region(declare):
    declared = declare(lambda: Network(CLUSTER, NetworkArgs(config=NetworkConfig(), cluster_name=CLUSTER, account=account("eu-west-1"), tags=TAGS), opts=on_aws("eu-west-1")), region="eu-west-1")
    assert declared.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"

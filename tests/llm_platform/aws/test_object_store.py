"""The weights bucket and the per-model read roles."""

import json


def test_bucket_is_private_encrypted_versioned_and_protected_in_production(stack_plan):
    declared = stack_plan("production")
    bucket = declared.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == "llm-production-weights-123456789012"
    assert bucket.protect is True
    assert stack_plan("staging").one("aws:s3/bucket:Bucket").protect is False
    (rule,) = declared.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms" and rule["bucketKeyEnabled"] is True
    block = declared.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[flag] for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert declared.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    policy = json.loads(declared.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_each_model_reads_only_its_own_prefix(stack_plan):
    declared = stack_plan("production")
    role = declared.one("aws:iam/role:Role", "llm-production-models-llama-3-1-8b-instruct")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:serving:llama-3-1-8b-instruct" in statement["Condition"]["StringEquals"].values()
    policy = json.loads(declared.one("aws:iam/rolePolicy:RolePolicy", "llm-production-models-llama-3-1-8b-instruct-read").inputs["policy"])
    get, listing, decrypt = policy["Statement"]
    assert get == {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::llm-production-weights-123456789012/models/llama-3-1-8b-instruct/*"}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["models/llama-3-1-8b-instruct", "models/llama-3-1-8b-instruct/*"]}}
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"].startswith("arn:aws:kms:")


def test_weights_reach_the_nodes_through_the_s3_gateway_endpoint(stack_plan):
    endpoint = stack_plan("staging").one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs
    assert endpoint["serviceName"] == "com.amazonaws.us-west-2.s3" and endpoint["vpcEndpointType"] == "Gateway"
    assert len(endpoint["routeTableIds"]) == 3

"""The ECR pull-through cache the model pods pull the vLLM image through, and the Job that fills it."""

from __future__ import annotations

import json

import pytest

from llm_platform import pins
from llm_platform.aws import registry
from llm_platform.aws.registry import ImageCache, ImageCacheArgs, cache_warmer_job
from llm_platform.config.aws import AwsConfig
from tests.k8s_schemas import validate_core_object
from tests.llm_platform.aws.stack import ACCOUNT, REGION, account, declare_once, on_aws

SECRET = "ecr-pullthroughcache/docker-hub"
MIRROR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/docker-hub"


@pytest.fixture(scope="module")
def declared():
    built = {}

    def program() -> None:
        built["cache"] = ImageCache("llm-test-images", ImageCacheArgs(account=account(), docker_hub_secret=SECRET, node_role_name="llm-test-karpenter-node"), opts=on_aws())

    result = declare_once(program)
    result.mirror = built["cache"].mirror
    return result


def test_docker_hub_is_cached_under_its_prefix_with_the_secret_s_arn_only(declared):
    rule = declared.one("aws:ecr/pullThroughCacheRule:PullThroughCacheRule").inputs
    assert rule["upstreamRegistryUrl"] == "registry-1.docker.io"
    assert rule["ecrRepositoryPrefix"] == "docker-hub"
    # The ARN Secrets Manager gives the named secret (a random suffix after the name), never its value.
    assert rule["credentialArn"].startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET}-")
    assert set(rule) == {"credentialArn", "ecrRepositoryPrefix", "upstreamRegistryUrl"}


def test_cached_repositories_keep_a_bounded_number_of_images(declared):
    template = declared.one("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate").inputs
    assert template["prefix"] == "docker-hub" and template["appliedFors"] == ["PULL_THROUGH_CACHE"]
    (rule,) = json.loads(template["lifecyclePolicy"])["rules"]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": registry.KEEP_IMAGES}
    assert rule["action"] == {"type": "expire"}
    # No resource tags, which would need ecr:TagResource on the node role or a custom role.
    assert "resourceTags" not in template and "customRoleArn" not in template


def test_the_node_role_may_fill_the_cache_s_repositories_only(declared):
    policy = declared.one("aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"] == "llm-test-karpenter-node"
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Action"] == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert statement["Resource"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/*"


def test_the_pinned_image_moves_to_the_cache_with_its_tag_and_digest(declared):
    assert declared.mirror == MIRROR
    image = pins.mirrored(pins.VLLM_IMAGE, declared.mirror)
    assert image == f"{MIRROR}/vllm/vllm-openai:v0.31.0@" + pins.VLLM_IMAGE.split("@")[1]


def test_the_warmer_pulls_the_pinned_tag_once_on_a_system_node():
    job = cache_warmer_job(pins.mirrored(pins.VLLM_IMAGE, MIRROR))
    assert validate_core_object(job, pins.KUBERNETES_VERSION) == []
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # By tag: a first pull by digest finds nothing in a pull-through cache.
    assert container["image"] == f"{MIRROR}/vllm/vllm-openai:v0.31.0"
    assert pod["nodeSelector"] == {"llm-platform.io/node-role": "system"} and pod["restartPolicy"] == "Never"
    assert job["metadata"]["name"] == "warm-vllm-openai-v0-31-0"
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", ["docker-hub", "ecr-pullthroughcache/", "ecr-pullthroughcache/has space", "ECR-PULLTHROUGHCACHE/x"])
def test_the_docker_hub_secret_must_be_one_ecr_reads(name):
    with pytest.raises(ValueError, match="ecr-pullthroughcache/"):
        AwsConfig(docker_hub_secret=name)
    assert AwsConfig().docker_hub_secret == SECRET

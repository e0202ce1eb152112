"""The vLLM image close to the nodes: an ECR pull-through cache of Docker Hub in the stack's region.

A GPU node that pulls `<account>.dkr.ecr.<region>.amazonaws.com/docker-hub/vllm/vllm-openai@sha256:...`
gets the layers from ECR in its own region (served from S3, through the VPC's S3 gateway endpoint, so no
NAT charge) instead of from Docker Hub across the internet. The first pull of a digest makes ECR fetch it
from Docker Hub, create the repository `docker-hub/vllm/vllm-openai` and keep the image; later pulls, on
any node, are in-region. What ECR requires (ECR User Guide, "Using pull through cache rules"):

- Docker Hub as upstream needs credentials: a Secrets Manager secret named `ecr-pullthroughcache/...` in
  the same account and region (`aws.dockerHubSecret`), which the operator creates; the program looks up
  only its ARN, so the credential never enters Pulumi's state or plan;
- the principal whose pull creates the cached repository and imports the image (the node role: kubelet
  pulls with it) needs `ecr:CreateRepository` and `ecr:BatchImportUpstreamImage` besides the pull actions
  of `AmazonEC2ContainerRegistryPullOnly` ("IAM permissions required to sync an upstream registry");
- repositories it creates take their settings from a repository creation template for the prefix
  (applied to PULL_THROUGH_CACHE): here a lifecycle policy that keeps the newest KEEP_IMAGES images per
  repository, so storage (priced in the cost ceiling) is bounded. The template sets no resource tags:
  tagging would need `ecr:TagResource` on the node role or a custom role for ECR.

A pull-through cache fills only on a pull by tag: a first pull by digest, even `name:tag@digest` (which
the container runtime resolves by digest alone), finds nothing and fails (aws/containers-roadmap#2837,
open). The model pods pull by digest, so `cache_warmer` pulls the pinned tag once on a system node first
and the model servers wait for it; the image the pods then run is still the digest's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from llm_platform.aws import kinds
from llm_platform.aws.account import AwsAccount
from llm_platform.aws.iam.documents import policy_json
from llm_platform.contract import SYSTEM_NODES
from llm_platform.kubernetes import KubernetesObject
from llm_platform.resources import invoke

# Docker Hub's registry URL for CreatePullThroughCacheRule `upstreamRegistryUrl` (ECR API reference).
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
# The namespace of the cached repositories: `docker-hub/<Docker Hub repository>`.
REPOSITORY_PREFIX = "docker-hub"
# Images kept per cached repository. ECR's count rules count every manifest, and one multi-arch pin is an
# index, its platform manifests and attestations (4 for vllm/vllm-openai's amd64/arm64 index): 12 keeps the
# pinned one, the one before it (a rollback) and a spare.
MANIFESTS_PER_PIN = 4
KEEP_IMAGES = 3 * MANIFESTS_PER_PIN
# What a pull through the cache needs beyond AmazonEC2ContainerRegistryPullOnly (ECR User Guide, "IAM
# permissions required to sync an upstream registry with an Amazon ECR private registry").
PULL_THROUGH_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")


def registry_host(account: AwsAccount) -> str:
    """The account's private registry in the region (ECR User Guide, "Private registry concepts")."""
    suffix = "amazonaws.com.cn" if account.partition == "aws-cn" else "amazonaws.com"
    return f"{account.account_id}.dkr.ecr.{account.region}.{suffix}"


def lifecycle_policy() -> dict:
    """Expire all but the newest KEEP_IMAGES images of a cached repository, tagged or not (the pods pull by
    digest, which ECR may cache untagged)."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the newest {KEEP_IMAGES} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": KEEP_IMAGES},
                "action": {"type": "expire"},
            }
        ]
    }


def node_pull_policy(account: AwsAccount) -> str:
    """The node role's grant to fill the cache on a first pull, on the cache's repositories only."""
    repositories = f"arn:{account.partition}:ecr:{account.region}:{account.account_id}:repository/{REPOSITORY_PREFIX}/*"
    return policy_json({"Sid": "PullThroughCache", "Effect": "Allow", "Action": list(PULL_THROUGH_ACTIONS), "Resource": repositories})


@dataclass(frozen=True)
class ImageCacheArgs:
    account: AwsAccount
    docker_hub_secret: str
    """Name of the Secrets Manager secret with the Docker Hub credentials (`ecr-pullthroughcache/...`)."""
    node_role_name: pulumi.Input[str]
    """The role of the nodes whose kubelet pulls through the cache."""


class ImageCache(pulumi.ComponentResource):
    mirror: str
    """`<registry>/<prefix>`: where Docker Hub's repositories are served in the region (`pins.mirrored`)."""

    def __init__(self, name: str, args: ImageCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:image_cache:ImageCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The ARN only: the secret's value stays in Secrets Manager, where ECR reads it.
        secret = invoke("aws:secretsmanager/getSecret:getSecret", {"name": args.docker_hub_secret}, parent=self)
        kinds.ECR_PULL_THROUGH_CACHE_RULE(
            f"{name}-docker-hub",
            {"credentialArn": secret["arn"], "ecrRepositoryPrefix": REPOSITORY_PREFIX, "upstreamRegistryUrl": DOCKER_HUB_REGISTRY},
            child,
        )
        kinds.ECR_REPOSITORY_CREATION_TEMPLATE(
            f"{name}-docker-hub",
            {
                "appliedFors": ["PULL_THROUGH_CACHE"],
                "description": "Docker Hub images cached for the cluster's nodes",
                "encryptionConfigurations": [{"encryptionType": "AES256"}],
                "imageTagMutability": "MUTABLE",
                "lifecyclePolicy": json.dumps(lifecycle_policy()),
                "prefix": REPOSITORY_PREFIX,
            },
            child,
        )
        kinds.ROLE_POLICY(f"{name}-node-pull-through", {"policy": node_pull_policy(args.account), "role": args.node_role_name}, child)
        self.mirror = f"{registry_host(args.account)}/{REPOSITORY_PREFIX}"
        self.register_outputs({"mirror": self.mirror})


# checkov's CKV_K8S_43 (image by digest) does not hold for the warming Job by design: a reviewed exception
# in place, in checkov's annotation form (`checkov.io/skip<n>: <check>=<reason>`); the README lists it.
DIGEST_EXCEPTION = (
    "CKV_K8S_43",
    "ECR's pull-through cache imports an image only on a pull by tag; the tag pulled is the pin's own and the model pods pull its digest",
)
# Where the warming Job runs: beside the cluster's own add-ons, on the system pool.
WARMER_NAMESPACE = "kube-system"
# Pulling and unpacking the vLLM image (about 10 GB compressed) on a system node takes minutes.
WARMER_DEADLINE_SECONDS = 3600


def cache_warmer_job(image: str) -> dict:
    """A Job that pulls `image` (`<mirror>/<repository>:<tag>@<digest>`) by its tag through the cache, so
    that ECR imports it, and exits; its name changes with the tag, so a new pin warms again."""
    by_tag, _, _ = image.partition("@")
    tag = by_tag.rsplit(":", 1)[1]
    repository = by_tag.rsplit(":", 1)[0].rsplit("/", 1)[1]
    security = {
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    name = f"warm-{repository}-{tag}".replace(".", "-").lower()
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": WARMER_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "image-cache-warmer", "app.kubernetes.io/part-of": "llm-platform"},
            "annotations": {"checkov.io/skip1": "=".join(DIGEST_EXCEPTION)},
        },
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": WARMER_DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "image-cache-warmer"}},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": dict(SYSTEM_NODES),
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "pull",
                            # By tag, which is what makes ECR import it; the pods pull the same tag's digest.
                            "image": by_tag,
                            "imagePullPolicy": "Always",
                            "command": ["python3", "-c", "pass"],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                            "securityContext": security,
                        }
                    ],
                },
            },
        },
    }


def cache_warmer(name: str, image: str, opts: pulumi.ResourceOptions) -> KubernetesObject:
    """Declare the warming Job for `image`; the Kubernetes provider waits for it to complete, for as long as
    the Job itself may run (its default wait for a Job is 10 minutes, less than a first import and unpack
    of the image may take)."""
    minutes = f"{WARMER_DEADLINE_SECONDS // 60}m"
    waits = pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=minutes, update=minutes))
    return KubernetesObject(f"{name}-warm", cache_warmer_job(image), pulumi.ResourceOptions.merge(opts, waits))

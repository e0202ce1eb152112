"""The vLLM image close to the nodes: an Artifact Registry remote repository of Docker Hub in the stack's
region, from which GKE streams it.

A GPU node pulls `<region>-docker.pkg.dev/<project>/docker-hub/vllm/vllm-openai@sha256:...`: the first
request of a digest makes Artifact Registry fetch it from Docker Hub and keep it (Artifact Registry,
"Remote repositories overview"); every later pull is from the region, over Private Google Access (the
nodes' subnet has it), never through Cloud NAT. The GPU node pools turn on image streaming
(`gcfsConfig.enabled`), which needs the Container File System API and an image in Artifact Registry,
standard or remote repositories both (GKE, "Use Image streaming to pull container images"): the container
starts once the files it reads arrive, while the rest of the image follows in the background.

Artifact Registry signs in to Docker Hub anonymously unless upstream credentials are set, so the
repository's Docker Hub pulls fall under Docker Hub's anonymous rate limit; only a new digest is pulled
from upstream, which one cluster does rarely.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.gcp import kinds

REPOSITORY_ID = "docker-hub"
# Versions kept per image: the pinned one, the one before it (a rollback) and one spare; anything else is
# deleted a day after it was cached (a delete policy needs an age; "Configure cleanup policies").
KEEP_VERSIONS = 3
DELETE_AFTER = "86400s"
# The role that lets the nodes' service account pull (Artifact Registry, "Access control with IAM").
READER_ROLE = "roles/artifactregistry.reader"


def registry_path(region: str, project: str) -> str:
    """Where the repository serves Docker Hub's repositories (`<region>-docker.pkg.dev/<project>/<id>`)."""
    return f"{region}-docker.pkg.dev/{project}/{REPOSITORY_ID}"


def cleanup_policies() -> list[dict]:
    return [
        {"id": "keep-recent", "action": "KEEP", "mostRecentVersions": {"keepCount": KEEP_VERSIONS}},
        {"id": "delete-older", "action": "DELETE", "condition": {"tagState": "ANY", "olderThan": DELETE_AFTER}},
    ]


@dataclass(frozen=True)
class RemoteImageRepositoryArgs:
    project: str
    region: str
    node_service_account: pulumi.Input[str]
    """Email of the nodes' service account, which kubelet pulls images with."""


class RemoteImageRepository(pulumi.ComponentResource):
    mirror: str
    """`<region>-docker.pkg.dev/<project>/docker-hub`: Docker Hub's repositories in the region (`pins.mirrored`)."""

    def __init__(self, name: str, args: RemoteImageRepositoryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:remote_image_repository:RemoteImageRepository", name, None, opts)
        repository = kinds.ARTIFACT_REPOSITORY(
            f"{name}-docker-hub",
            {
                "cleanupPolicies": cleanup_policies(),
                "description": "Docker Hub images cached for the cluster's nodes",
                "format": "DOCKER",
                "location": args.region,
                "mode": "REMOTE_REPOSITORY",
                "project": args.project,
                "remoteRepositoryConfig": {"description": "Docker Hub", "dockerRepository": {"publicRepository": "DOCKER_HUB"}},
                "repositoryId": REPOSITORY_ID,
            },
            pulumi.ResourceOptions(parent=self),
        )
        kinds.ARTIFACT_REPOSITORY_IAM_MEMBER(
            f"{name}-nodes-read",
            {
                "location": args.region,
                "member": pulumi.Output.concat("serviceAccount:", args.node_service_account),
                "project": args.project,
                "repository": repository.repository_id,
                "role": READER_ROLE,
            },
            pulumi.ResourceOptions(parent=self),
        )
        self.mirror = registry_path(args.region, args.project)
        self.register_outputs({"mirror": self.mirror})

"""The Artifact Registry remote repository the model pods pull the vLLM image through, streamed by GKE."""

from __future__ import annotations

import pytest

from llm_platform import pins
from llm_platform.config import GkeGpuPool
from llm_platform.gcp import registry
from llm_platform.gcp.node_pools import gpu_node_config
from llm_platform.gcp.registry import RemoteImageRepository, RemoteImageRepositoryArgs
from llm_platform.gcp.services import SERVICES
from tests.llm_platform.gcp.gke import PROJECT, REGION, declare_once, on_gcp

NODES = "gke-test-nodes@acme-llm-test.iam.gserviceaccount.com"
MIRROR = f"{REGION}-docker.pkg.dev/{PROJECT}/docker-hub"


@pytest.fixture(scope="module")
def declared():
    built = {}

    def program() -> None:
        built["repository"] = RemoteImageRepository("gke-test-images", RemoteImageRepositoryArgs(project=PROJECT, region=REGION, node_service_account=NODES), opts=on_gcp())

    result = declare_once(program)
    result.mirror = built["repository"].mirror
    return result


def test_a_remote_docker_hub_repository_in_the_stack_s_region(declared):
    repository = declared.one("gcp:artifactregistry/repository:Repository").inputs
    assert repository["mode"] == "REMOTE_REPOSITORY" and repository["format"] == "DOCKER"
    assert repository["location"] == REGION and repository["project"] == PROJECT and repository["repositoryId"] == "docker-hub"
    assert repository["remoteRepositoryConfig"]["dockerRepository"] == {"publicRepository": "DOCKER_HUB"}
    # Bounded storage: the newest versions are kept, older ones deleted a day after they were cached.
    keep, delete = repository["cleanupPolicies"]
    assert keep == {"id": "keep-recent", "action": "KEEP", "mostRecentVersions": {"keepCount": registry.KEEP_VERSIONS}}
    assert delete["action"] == "DELETE" and delete["condition"] == {"tagState": "ANY", "olderThan": "86400s"}


def test_the_nodes_service_account_reads_it_and_nothing_more(declared):
    member = declared.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember").inputs
    assert member["role"] == "roles/artifactregistry.reader"
    assert member["member"] == f"serviceAccount:{NODES}"
    assert member["location"] == REGION and member["repository"] == "docker-hub"


def test_the_pinned_image_moves_to_the_repository_with_its_tag_and_digest(declared):
    assert declared.mirror == MIRROR
    assert pins.mirrored(pins.VLLM_IMAGE, declared.mirror) == f"{MIRROR}/vllm/vllm-openai:v0.31.0@" + pins.VLLM_IMAGE.split("@")[1]


def test_the_apis_image_streaming_and_the_repository_need_are_enabled():
    assert {"artifactregistry.googleapis.com", "containerfilesystem.googleapis.com"} <= set(SERVICES)


def test_gpu_nodes_stream_images():
    pool = GkeGpuPool(name="l4", machine_type="g2-standard-8", accelerator_type="nvidia-l4", accelerator_count=1, capacity_types=["spot"], max_gpus=2)
    assert gpu_node_config(pool, driver_version="LATEST", service_account=NODES, labels={})["gcfsConfig"] == {"enabled": True}

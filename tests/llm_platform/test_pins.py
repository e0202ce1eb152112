"""Pins and the one rule over them: moving a Docker Hub pin to a cloud's registry keeps its identity."""

import pytest

from llm_platform import pins


def test_a_mirror_keeps_the_repository_path_tag_and_digest():
    assert pins.VLLM_IMAGE.startswith("docker.io/vllm/vllm-openai:v0.31.0@sha256:")
    assert pins.mirrored(pins.VLLM_IMAGE, "registry.example/docker-hub/") == "registry.example/docker-hub/vllm/vllm-openai:v0.31.0@" + pins.VLLM_IMAGE.split("@")[1]
    # Without a mirror, the pin as it is.
    assert pins.mirrored(pins.VLLM_IMAGE, None) == pins.VLLM_IMAGE


def test_only_docker_hub_images_are_mirrored():
    with pytest.raises(ValueError, match="not a Docker Hub image"):
        pins.mirrored("ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0", "registry.example/docker-hub")

"""The NVIDIA device plugin runs on GPU nodes only, with the chart's own keys."""

from __future__ import annotations

from llm_platform import pins
from llm_platform.aws.node_pools import GPU_TAINT
from llm_platform.aws.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs, device_plugin_values
from llm_platform.contract import NODE_ROLE_LABEL
from tests.k8s_schemas import validate_helm_values
from tests.llm_platform.aws.stack import in_cluster


def test_values_use_only_keys_the_chart_defines():
    assert validate_helm_values("nvidia-device-plugin", device_plugin_values(NvidiaDevicePluginArgs())) == []


def test_runs_only_on_gpu_nodes():
    values = device_plugin_values(NvidiaDevicePluginArgs())
    (term,) = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term == {"matchExpressions": [{"key": NODE_ROLE_LABEL, "operator": "In", "values": ["gpu"]}]}
    assert {"key": GPU_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]


def test_release_is_pinned(declare):
    declared = declare(lambda: NvidiaDevicePlugin("llm-test-nvidia", NvidiaDevicePluginArgs(), opts=in_cluster()))
    release = declared.release("nvidia-device-plugin")
    assert release.inputs["version"] == pins.NVIDIA_DEVICE_PLUGIN_VERSION == "0.20.0"
    assert release.inputs["chart"] == "nvidia-device-plugin"
    assert release.inputs["repositoryOpts"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    assert release.inputs["values"]["image"]["tag"] == "v0.20.0"
    assert release.inputs["values"] == device_plugin_values(NvidiaDevicePluginArgs())
    assert validate_helm_values("nvidia-device-plugin", release.inputs["values"]) == []
    assert (release.inputs["namespace"], release.inputs["createNamespace"]) == ("nvidia-device-plugin", True)
    assert release.provider.startswith(declared.one("pulumi:providers:kubernetes", "k8s").urn + "::")

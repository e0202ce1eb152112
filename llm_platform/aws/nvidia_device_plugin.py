"""The NVIDIA device plugin: advertises `nvidia.com/gpu` on GPU nodes. AL2023's NVIDIA AMI brings the
driver and container toolkit but not the plugin, so without it no pod could request a GPU."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform import pins
from llm_platform.contract import GPU_ROLE, GPU_TOLERATION, NODE_ROLE_LABEL
from llm_platform.helm import pinned_release
from llm_platform.kubernetes import isolate_namespace

NAMESPACE = "nvidia-device-plugin"


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    gpu_node_role: str = GPU_ROLE
    """Value of the node-role label the GPU node pools put on their nodes."""


def device_plugin_values(args: NvidiaDevicePluginArgs) -> dict:
    return {
        "image": {"tag": f"v{pins.NVIDIA_DEVICE_PLUGIN_VERSION}"},
        # The chart's default affinity looks for Node Feature Discovery labels, which this cluster does
        # not run; the GPU pools label their nodes themselves.
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": NODE_ROLE_LABEL, "operator": "In", "values": [args.gpu_node_role]}]}]
                }
            }
        },
        "tolerations": [GPU_TOLERATION],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }


class NvidiaDevicePlugin(pulumi.ComponentResource):

    def __init__(self, name: str, args: NvidiaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:nvidia_device_plugin:NvidiaDevicePlugin", name, None, opts)
        release = pinned_release(
            name,
            "nvidia-device-plugin",
            pins.NVIDIA_DEVICE_PLUGIN_CHART,
            namespace=NAMESPACE,
            create_namespace=True,
            values=device_plugin_values(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The plugin registers with the kubelet through hostPath sockets (/var/lib/kubelet/device-plugins
        # in the chart's templates/daemonset-device-plugin.yml), which only `privileged` admits. It
        # serves nothing over the network: no ingress at all.
        isolate_namespace(name, NAMESPACE, pod_security="privileged", allow=[], created_by=release, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})

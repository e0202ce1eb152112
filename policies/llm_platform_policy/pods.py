"""Pod guardrails: what a pod spec may ask of its node, in every workload kind and every container list
(`kube.pod_spec`, `kube.containers`), in whatever namespace.

The lines are the Kubernetes Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-
standards, as implemented by k8s.io/pod-security-admission `policy/check_*.go`): baseline forbids host
namespaces, hostPath volumes, host ports and capabilities beyond a fixed set; restricted adds
`runAsNonRoot: true`, no UID 0, and `drop: [ALL]` with only NET_BIND_SERVICE added back. A system agent
that truly needs one of these goes into the rule's `allowList` with the reason it was accepted.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from llm_platform_policy import kube
from llm_platform_policy.core import Config, allow_list_property, allow_listed, is_true

WORKLOAD_ALLOW_LIST = allow_list_property("`<namespace>/<workload name>` of a reviewed system agent", kube.WORKLOAD_PATTERN)
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
# PersistentVolume sources that are a directory of the node (core/v1 PersistentVolumeSpec).
NODE_PATH_VOLUME_SOURCES = ("hostPath", "local")
# Pod Security Standards, restricted profile: every container drops ALL and may add back only this.
RESTRICTED_ADDABLE_CAPABILITIES = ["NET_BIND_SERVICE"]
CAPABILITY_PROPERTIES = {
    **WORKLOAD_ALLOW_LIST,
    "allowedCapabilities": {
        "type": "array",
        "items": {"type": "string"},
        "default": RESTRICTED_ADDABLE_CAPABILITIES,
        "description": "Capabilities a container may add (Pod Security Standards restricted: NET_BIND_SERVICE only).",
    },
}
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_LEVELS = ("privileged", "baseline", "restricted")
NAMESPACE_ALLOW_LIST = allow_list_property("a namespace allowed to enforce the `privileged` Pod Security level", "^[a-z0-9-]+$")


def capability(name: Any) -> str:
    """`sys_admin`, `CAP_SYS_ADMIN` and ` SYS_ADMIN ` are one capability: container runtimes upper-case
    the name and add the `CAP_` prefix themselves (containerd, CRI-O)."""
    return re.sub(r"^CAP_", "", str(name).strip().upper())


def _checked_spec(resource_type: str, props: Mapping[str, Any], config: Config) -> Mapping[str, Any] | None:
    spec = kube.pod_spec(resource_type, props)
    return None if spec is None or allow_listed(kube.workload_id(props), config) else spec


def no_host_namespaces(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    spec = _checked_spec(resource_type, props, config)
    for field in HOST_NAMESPACES if spec is not None else ():
        if is_true(spec.get(field)):
            yield f"pods of {kube.workload_id(props)} share the node's namespace ({field}: true)"


def no_host_paths(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if kube.kind_of(resource_type, props) == "PersistentVolume":
        # `local` is a node's directory too, only bound through node affinity instead of per pod.
        for source in NODE_PATH_VOLUME_SOURCES:
            if kube.dig(props, "spec", source) is not None and not allow_listed(kube.workload_id(props), config):
                yield f"PersistentVolume {kube.dig(props, 'metadata', 'name')} is a {source} volume ({kube.dig(props, 'spec', source, 'path')})"
        return
    spec = _checked_spec(resource_type, props, config)
    for volume in (spec or {}).get("volumes") or []:
        if volume.get("hostPath") is not None:
            yield f"pods of {kube.workload_id(props)} mount the node's {kube.dig(volume, 'hostPath', 'path')!r} (hostPath volume {volume.get('name')})"


def no_host_ports(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    spec = _checked_spec(resource_type, props, config)
    for container in kube.containers(spec or {}):
        for port in container.get("ports") or []:
            # 0 is the API's "unset".
            if port.get("hostPort") not in (None, 0, "0"):
                yield f"container {container.get('name')} binds node port {port['hostPort']} (hostPort)"


# The rest of the Pod Security Standards' baseline (kubernetes.io/docs/concepts/security/pod-security-standards,
# policy version v1.36): the sysctls it calls safe, the SELinux types it allows.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def _baseline_context(where: str, context: Mapping[str, Any]) -> Iterator[str]:
    if str(kube.dig(context, "seccompProfile", "type") or "").strip().lower() == "unconfined":
        yield f"{where} runs without seccomp (seccompProfile: Unconfined)"
    if str(kube.dig(context, "appArmorProfile", "type") or "").strip().lower() == "unconfined":
        yield f"{where} runs without AppArmor (appArmorProfile: Unconfined)"
    options = context.get("seLinuxOptions") or {}
    if str(options.get("type") or "").strip() not in SELINUX_TYPES or options.get("user") or options.get("role"):
        yield f"{where} sets SELinux options the baseline does not allow ({options})"
    if is_true(kube.dig(context, "windowsOptions", "hostProcess")):
        yield f"{where} runs as a Windows host process"


def baseline_fields(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """What else the Pod Security baseline refuses: seccomp or AppArmor off, SELinux types beyond the
    container ones, host processes, unmasked /proc, and sysctls outside the safe set."""
    spec = _checked_spec(resource_type, props, config)
    if spec is None:
        return
    yield from _baseline_context(f"pods of {kube.workload_id(props)}", spec.get("securityContext") or {})
    for sysctl in kube.dig(spec, "securityContext", "sysctls") or []:
        if str(sysctl.get("name") or "").strip() not in SAFE_SYSCTLS:
            yield f"pods of {kube.workload_id(props)} set the sysctl {sysctl.get('name')}, outside the baseline's safe set"
    annotations = kube.dig(props, "spec", "template", "metadata", "annotations") or kube.dig(props, "metadata", "annotations") or {}
    for key, value in annotations.items():
        if str(key).startswith("container.apparmor.security.beta.kubernetes.io/") and str(value).strip().lower() == "unconfined":
            yield f"pods of {kube.workload_id(props)} run a container without AppArmor ({key}: unconfined)"
    for container in kube.containers(spec):
        context = container.get("securityContext") or {}
        yield from _baseline_context(f"container {container.get('name')}", context)
        if str(context.get("procMount") or "Default").strip().lower() != "default":
            yield f"container {container.get('name')} unmasks /proc (procMount: {context.get('procMount')})"


def capabilities_dropped(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    spec = _checked_spec(resource_type, props, config)
    allowed = {capability(name) for name in config["allowedCapabilities"]}
    for container in kube.containers(spec or {}):
        capabilities = kube.dig(container, "securityContext", "capabilities") or {}
        added = sorted({capability(name) for name in capabilities.get("add") or []} - allowed)
        if added:
            yield f"container {container.get('name')} adds capabilities {added} (allowed: {sorted(allowed)})"
        if "ALL" not in {capability(name) for name in capabilities.get("drop") or []}:
            yield f"container {container.get('name')} does not drop ALL capabilities"


def _is_root(uid: Any) -> bool:
    # 0, "0", 0.0 and " 0 " all reach the runtime as UID 0.
    try:
        return uid is not None and not isinstance(uid, bool) and float(str(uid).strip()) == 0
    except ValueError:
        return False


def runs_as_non_root(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """Unset counts as root: without `runAsNonRoot: true` the image's USER decides, and most images
    (vLLM's among them) run as root. A container's securityContext overrides the pod's."""
    spec = _checked_spec(resource_type, props, config)
    if spec is None:
        return
    pod = spec.get("securityContext") or {}
    if _is_root(pod.get("runAsUser")):
        yield f"pods of {kube.workload_id(props)} run as UID 0 (pod securityContext.runAsUser)"
    for container in kube.containers(spec):
        context = container.get("securityContext") or {}
        if _is_root(context.get("runAsUser")):
            yield f"container {container.get('name')} runs as UID 0 (runAsUser: 0)"
        non_root = context["runAsNonRoot"] if context.get("runAsNonRoot") is not None else pod.get("runAsNonRoot")
        if not is_true(non_root):
            yield f"container {container.get('name')} may run as root (runAsNonRoot: {'unset' if non_root is None else non_root}; needs true on the pod or the container)"


def resources_set(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """CPU and memory requests (what the scheduler reserves) and a memory limit (what keeps one pod from
    starving the node) on every container that can carry them; ephemeral containers cannot. A limit
    without a request implies the request (the API defaults it); a zero is none. No CPU limit is required: it throttles
    a pod with idle CPU beside it and protects nothing the request does not."""
    spec = kube.pod_spec(resource_type, props)
    for container in kube.containers(spec or {}, ("initContainers", "containers")):
        requests = kube.dig(container, "resources", "requests") or {}
        limits = kube.dig(container, "resources", "limits") or {}
        # A request given (even 0) is the request; only an absent one defaults to the limit.
        effective = {**limits, **requests}
        wanted = (("cpu request", effective.get("cpu")), ("memory request", effective.get("memory")), ("memory limit", limits.get("memory")))
        missing = [label for label, value in wanted if not _positive(value)]
        if missing:
            yield f"container {container.get('name')} of {kube.workload_id(props)} sets no {', '.join(missing)}"


def _positive(value: Any) -> bool:
    try:
        return value is not None and kube.quantity(value) > 0
    except ValueError:
        return False


def namespace_pod_security(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """Every Namespace the program writes enforces a Pod Security level (the admission controller
    built into Kubernetes), `privileged` only for a reviewed namespace. A NamespacePatch is judged on
    the label it sets."""
    kind = kube.kind_of(resource_type, props)
    if kind != "Namespace":
        return
    name = kube.dig(props, "metadata", "name")
    labels = kube.dig(props, "metadata", "labels") or {}
    if PSA_ENFORCE not in labels and resource_type.endswith("Patch"):
        return
    level = labels.get(PSA_ENFORCE)
    if level not in PSA_LEVELS:
        yield f"namespace {name} enforces no Pod Security level ({PSA_ENFORCE}: {'unset' if level is None else repr(level)}; one of baseline, restricted)"
    elif level == "privileged" and not allow_listed(str(name), config):
        yield f"namespace {name} enforces the privileged Pod Security level (nothing refused) and is not a reviewed exception"

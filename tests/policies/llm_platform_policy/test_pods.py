"""Pod guardrails over every workload kind and container list: one hardened workload passes, each
mutation (including the spellings a runtime accepts as the same thing) is one violation of one rule."""

import copy
import json

import pytest

from llm_platform_policy import kube
from llm_platform_policy.core import Resource
from llm_platform_policy.pack import BY_NAME, evaluate

# Every guardrail, mandatory; the stack-wide budget and quota rules need a stack of their own.
# The workload, Kubernetes network and Google Cloud rules (and the older guardrails), mandatory; the rest of
# the pack judges other resources and has fixtures of its own.
UNDER_TEST = ("llm_platform_policy.pods", "llm_platform_policy.kube_network", "llm_platform_policy.gcp_security", "llm_platform_policy.guardrails", "llm_platform_policy.network")
CONFIG = {
    name: {"enforcementLevel": "mandatory"} if (policy.check_resource or policy.check_stack).__module__ in UNDER_TEST else "disabled"
    for name, policy in BY_NAME.items()
}
TYPES = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "ReplicaSet": "kubernetes:apps/v1:ReplicaSet",
    "ReplicationController": "kubernetes:core/v1:ReplicationController",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "PodTemplate": "kubernetes:core/v1:PodTemplate",
    "Pod": "kubernetes:core/v1:Pod",
    "ScaledJob": "kubernetes:keda.sh/v1alpha1:ScaledJob",
}


def hardened(name: str, image: str = "ghcr.io/example/app:1.4.2") -> dict:
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8000, "hostPort": 0}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def pod_spec() -> dict:
    debug = hardened("debug", "busybox@sha256:" + "a" * 64)
    # Ephemeral containers take no ports or resources (core/v1 EphemeralContainer).
    del debug["ports"], debug["resources"]
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [hardened("fetch")],
        "containers": [hardened("app")],
        "ephemeralContainers": [debug],
        "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}],
    }


def workload(kind: str = "Deployment", spec: dict | None = None) -> Resource:
    props: dict = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "app", "namespace": "serving"}}
    node = props
    *path, last = kube.POD_TEMPLATE_PATHS[kind]
    for key in path:
        node = node.setdefault(key, {})
    node[last] = spec if spec is not None else pod_spec()
    return Resource(TYPES[kind], f"urn:pulumi:t::p::{TYPES[kind]}::app", "app", props)


def findings(*resources: Resource, config=CONFIG) -> list[tuple[str, str]]:
    return [(f.policy, f.message) for f in evaluate(list(resources), config)]


def mutated(change, kind: str = "Deployment") -> Resource:
    spec = pod_spec()
    change(spec)
    return workload(kind, spec)


def container(spec: dict, index: int = 0, key: str = "containers") -> dict:
    return spec[key][index]


@pytest.mark.parametrize("kind", TYPES)
def test_a_hardened_pod_passes_in_every_workload_kind(kind):
    assert findings(workload(kind)) == []


@pytest.mark.parametrize("kind", TYPES)
def test_every_workload_kind_is_read(kind):
    assert findings(mutated(lambda s: s.update(hostPID=True), kind)) == [("pod-host-namespaces", "pods of serving/app share the node's namespace (hostPID: true)")]


def _patch(spec):
    spec["securityContext"]["capabilities"] = {"add": ["SYS_ADMIN"]}


@pytest.mark.parametrize(
    "change, policy, message",
    [
        (lambda s: s.update(hostNetwork=True), "pod-host-namespaces", "pods of serving/app share the node's namespace (hostNetwork: true)"),
        (lambda s: s.update(hostPID=True), "pod-host-namespaces", "pods of serving/app share the node's namespace (hostPID: true)"),
        (lambda s: s.update(hostIPC="True"), "pod-host-namespaces", "pods of serving/app share the node's namespace (hostIPC: true)"),
        (lambda s: s["volumes"].append({"name": "root", "hostPath": {"path": "/"}}), "pod-host-paths", "pods of serving/app mount the node's '/' (hostPath volume root)"),
        (
            lambda s: s["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}),
            "pod-host-paths",
            "pods of serving/app mount the node's '/var/run/docker.sock' (hostPath volume docker)",
        ),
        (lambda s: container(s)["ports"][0].update(hostPort=8080), "pod-host-ports", "container app binds node port 8080 (hostPort)"),
        (lambda s: container(s, key="initContainers")["ports"].append({"containerPort": 22, "hostPort": "22"}), "pod-host-ports", "container fetch binds node port 22 (hostPort)"),
        (lambda s: container(s, key="ephemeralContainers")["securityContext"].update(privileged=True), "no-privilege-escalation", "container debug is privileged"),
        (
            lambda s: container(s, key="initContainers")["securityContext"].update(allowPrivilegeEscalation=True),
            "no-privilege-escalation",
            "container fetch does not set allowPrivilegeEscalation: false",
        ),
        (lambda s: container(s)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "pod-capabilities", "container app adds capabilities ['SYS_ADMIN'] (allowed: ['NET_BIND_SERVICE'])"),
        (lambda s: container(s)["securityContext"]["capabilities"].update(add=["cap_sys_ptrace"]), "pod-capabilities", "container app adds capabilities ['SYS_PTRACE'] (allowed: ['NET_BIND_SERVICE'])"),
        (lambda s: container(s)["securityContext"]["capabilities"].update(add=[" net_raw", "CAP_BPF"]), "pod-capabilities", "container app adds capabilities ['BPF', 'NET_RAW'] (allowed: ['NET_BIND_SERVICE'])"),
        (lambda s: container(s)["securityContext"]["capabilities"].update(add=["all"]), "pod-capabilities", "container app adds capabilities ['ALL'] (allowed: ['NET_BIND_SERVICE'])"),
        (
            lambda s: container(s, key="ephemeralContainers")["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
            "pod-capabilities",
            "container debug adds capabilities ['NET_ADMIN'] (allowed: ['NET_BIND_SERVICE'])",
        ),
        (lambda s: container(s, key="initContainers")["securityContext"]["capabilities"].update(drop=["NET_RAW"]), "pod-capabilities", "container fetch does not drop ALL capabilities"),
        (lambda s: container(s)["securityContext"].update(runAsUser=0), "pod-run-as-non-root", "container app runs as UID 0 (runAsUser: 0)"),
        (lambda s: s["securityContext"].update(runAsUser="0"), "pod-run-as-non-root", "pods of serving/app run as UID 0 (pod securityContext.runAsUser)"),
        (
            lambda s: container(s, key="initContainers")["securityContext"].update(runAsNonRoot=False),
            "pod-run-as-non-root",
            "container fetch may run as root (runAsNonRoot: False; needs true on the pod or the container)",
        ),
        (lambda s: container(s)["resources"]["requests"].pop("cpu"), "pod-resources-set", "container app of serving/app sets no cpu request"),
        (lambda s: container(s)["resources"]["limits"].pop("memory"), "pod-resources-set", "container app of serving/app sets no memory limit"),
        (lambda s: container(s)["resources"]["requests"].update(memory="0"), "pod-resources-set", "container app of serving/app sets no memory request"),
        (lambda s: container(s, key="initContainers").pop("resources"), "pod-resources-set", "container fetch of serving/app sets no cpu request, memory request, memory limit"),
        (lambda s: container(s).update(image="ghcr.io/example/app"), "images-pinned", "container app uses image 'ghcr.io/example/app' without a pinned tag or digest"),
        (lambda s: container(s, key="initContainers").update(image="ghcr.io/example/app:latest"), "images-pinned", "container fetch uses image 'ghcr.io/example/app:latest' without a pinned tag or digest"),
        (lambda s: container(s, key="ephemeralContainers").update(image="busybox"), "images-pinned", "container debug uses image 'busybox' without a pinned tag or digest"),
        (lambda s: container(s).update(image="registry.local:5000/app"), "images-pinned", "container app uses image 'registry.local:5000/app' without a pinned tag or digest"),
        (lambda s: container(s).update(image="app:stable"), "images-pinned", "container app uses image 'app:stable' without a pinned tag or digest"),
        (lambda s: container(s).update(image="app:1.4-nightly"), "images-pinned", "container app uses image 'app:1.4-nightly' without a pinned tag or digest"),
        (lambda s: container(s).update(image="app@sha256:1234"), "images-pinned", "container app uses image 'app@sha256:1234' without a pinned tag or digest"),
        (lambda s: container(s).update(image=f"app:latest@sha256:{'b' * 64}"), "images-pinned", f"container app uses image 'app:latest@sha256:{'b' * 64}' without a pinned tag or digest"),
        (lambda s: container(s).update(image="app:mainline-1.25"), "images-pinned", "container app uses image 'app:mainline-1.25' without a pinned tag or digest"),
        (lambda s: container(s).update(image="app:1.4.2\n"), "images-pinned", "container app uses image 'app:1.4.2\\n' without a pinned tag or digest"),
        (lambda s: container(s)["securityContext"].update(runAsUser=0.0), "pod-run-as-non-root", "container app runs as UID 0 (runAsUser: 0)"),
        (lambda s: container(s)["securityContext"].update(privileged="true"), "no-privilege-escalation", "container app is privileged"),
    ],
)
def test_each_pod_violation_is_reported(change, policy, message):
    assert findings(mutated(change)) == [(policy, message)]


def test_unset_run_as_non_root_counts_as_root_in_every_container():
    # Without runAsNonRoot the image's USER decides, and that is root for most images (vLLM's included).
    found = findings(mutated(lambda s: s["securityContext"].pop("runAsNonRoot")))
    assert found == [("pod-run-as-non-root", f"container {name} may run as root (runAsNonRoot: unset; needs true on the pod or the container)") for name in ("fetch", "app", "debug")]


@pytest.mark.parametrize(
    "change",
    [
        lambda s: container(s)["securityContext"]["capabilities"].update(add=["NET_BIND_SERVICE"]),
        lambda s: container(s)["securityContext"]["capabilities"].update(add=["cap_net_bind_service"], drop=["all"]),
        lambda s: [s["securityContext"].pop("runAsNonRoot"), *(c["securityContext"].update(runAsNonRoot=True) for c in s["initContainers"] + s["containers"] + s["ephemeralContainers"])],
        # A limit without a request implies the request.
        lambda s: container(s).update(resources={"limits": {"cpu": "1", "memory": "1Gi"}}),
        lambda s: container(s).update(image="registry.local:5000/team/app:2024.06.1"),
        lambda s: container(s).update(image="app:v1.4.2@sha256:" + "b" * 64),
    ],
)
def test_equivalent_safe_spellings_pass(change):
    assert findings(mutated(change)) == []


def test_a_patch_is_judged_as_the_kind_it_patches():
    spec = pod_spec()
    spec["hostNetwork"] = True
    patch = Resource("kubernetes:apps/v1:DeploymentPatch", "urn:pulumi:t::p::kubernetes:apps/v1:DeploymentPatch::app", "app", {"metadata": {"name": "app", "namespace": "serving"}, "spec": {"template": {"spec": spec}}})
    assert findings(patch) == [("pod-host-namespaces", "pods of serving/app share the node's namespace (hostNetwork: true)")]


def test_the_type_token_decides_the_kind_not_the_props():
    resource = mutated(lambda s: s.update(hostNetwork=True))
    props = copy.deepcopy(dict(resource.props)) | {"kind": "ConfigMap"}
    assert findings(Resource(resource.type, resource.urn, resource.name, props)) == [("pod-host-namespaces", "pods of serving/app share the node's namespace (hostNetwork: true)")]


def test_a_host_path_persistent_volume_is_refused():
    volume = Resource("kubernetes:core/v1:PersistentVolume", "urn:pv", "pv", {"metadata": {"name": "node-root"}, "spec": {"hostPath": {"path": "/etc"}, "capacity": {"storage": "1Gi"}}})
    assert findings(volume) == [("pod-host-paths", "PersistentVolume node-root is a hostPath volume (/etc)")]
    local = Resource("kubernetes:core/v1:PersistentVolume", "urn:pv", "pv", {"metadata": {"name": "node-disk"}, "spec": {"local": {"path": "/"}, "capacity": {"storage": "1Gi"}}})
    assert findings(local) == [("pod-host-paths", "PersistentVolume node-disk is a local volume (/)")]


def test_a_reviewed_system_agent_is_exempt_from_that_rule_only():
    agent = mutated(lambda s: [s.update(hostNetwork=True, hostPID=True), s["volumes"].append({"name": "proc", "hostPath": {"path": "/proc"}})])
    reason = "node exporter reads the node's /proc and network stack"
    config = CONFIG | {"pod-host-namespaces": {"enforcementLevel": "mandatory", "allowList": [{"name": "serving/app", "reason": reason}]}}
    assert findings(agent, config=config) == [("pod-host-paths", "pods of serving/app mount the node's '/proc' (hostPath volume proc)")]


def test_an_exception_without_a_reason_is_refused_by_the_config_schema():
    from tools.policy_config import PolicyConfigError, validate_config

    with pytest.raises(PolicyConfigError, match=r"pod-host-paths.allowList.0: .* is invalid \(rule: 'reason' is a required property\)"):
        validate_config({"pod-host-paths": {"allowList": [{"name": "kube-system/dcgm-exporter"}]}}, "test.json")
    with pytest.raises(PolicyConfigError, match="pod-host-paths.allowList.0"):
        validate_config({"pod-host-paths": {"allowList": ["kube-system/dcgm-exporter"]}}, "test.json")


def namespace(labels: dict | None, typ: str = "kubernetes:core/v1:Namespace") -> Resource:
    return Resource(typ, f"urn:pulumi:t::p::{typ}::serving", "serving", {"metadata": {"name": "serving", **({"labels": labels} if labels is not None else {})}})


def namespace_findings(resource: Resource, config=CONFIG) -> list[tuple[str, str]]:
    return [f for f in findings(resource, config=config) if f[0] == "namespace-pod-security"]


@pytest.mark.parametrize("level", ["restricted", "baseline"])
def test_a_namespace_enforcing_a_pod_security_level_passes(level):
    assert namespace_findings(namespace({"pod-security.kubernetes.io/enforce": level})) == []


@pytest.mark.parametrize(
    "labels, message",
    [
        (None, "namespace serving enforces no Pod Security level (pod-security.kubernetes.io/enforce: unset; one of baseline, restricted)"),
        ({"pod-security.kubernetes.io/warn": "restricted"}, "namespace serving enforces no Pod Security level (pod-security.kubernetes.io/enforce: unset; one of baseline, restricted)"),
        ({"pod-security.kubernetes.io/enforce": "Restricted"}, "namespace serving enforces no Pod Security level (pod-security.kubernetes.io/enforce: 'Restricted'; one of baseline, restricted)"),
        ({"pod-security.kubernetes.io/enforce": "privileged"}, "namespace serving enforces the privileged Pod Security level (nothing refused) and is not a reviewed exception"),
    ],
)
def test_each_pod_security_violation_is_reported(labels, message):
    assert namespace_findings(namespace(labels)) == [("namespace-pod-security", message)]


def test_a_namespace_patch_is_judged_on_the_level_it_sets():
    assert namespace_findings(namespace({}, "kubernetes:core/v1:NamespacePatch")) == []
    assert namespace_findings(namespace({"pod-security.kubernetes.io/enforce": "privileged"}, "kubernetes:core/v1:NamespacePatch")) == [
        ("namespace-pod-security", "namespace serving enforces the privileged Pod Security level (nothing refused) and is not a reviewed exception")
    ]


def test_a_reviewed_privileged_namespace_passes():
    config = CONFIG | {"namespace-pod-security": {"allowList": [{"name": "serving", "reason": "GPU node agents run here and need host access"}]}}
    assert namespace_findings(namespace({"pod-security.kubernetes.io/enforce": "privileged"}), config) == []


# -- the rest of the Pod Security baseline -------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}), "pods of serving/app runs without seccomp (seccompProfile: Unconfined)"),
        (lambda s: s["containers"][0]["securityContext"].update(seccompProfile={"type": "unconfined"}), "container app runs without seccomp (seccompProfile: Unconfined)"),
        (lambda s: s["containers"][0]["securityContext"].update(appArmorProfile={"type": "Unconfined"}), "container app runs without AppArmor (appArmorProfile: Unconfined)"),
        (lambda s: s["containers"][0]["securityContext"].update(procMount="Unmasked"), "container app unmasks /proc (procMount: Unmasked)"),
        (lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.core_pattern", "value": "|/x"}]), "pods of serving/app set the sysctl kernel.core_pattern, outside the baseline's safe set"),
        (lambda s: s["initContainers"][0]["securityContext"].update(seLinuxOptions={"type": "spc_t"}), "container fetch sets SELinux options the baseline does not allow ({'type': 'spc_t'})"),
        (lambda s: s["securityContext"].update(windowsOptions={"hostProcess": True}), "pods of serving/app runs as a Windows host process"),
    ],
    ids=["pod-seccomp", "container-seccomp", "apparmor", "proc-mount", "sysctl", "selinux", "host-process"],
)
def test_the_rest_of_the_pod_security_baseline(change, message):
    assert findings(mutated(change)) == [("pod-security-baseline", message)]


def test_safe_sysctls_and_container_selinux_types_pass():
    def safe(spec):
        spec["securityContext"].update(sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}], seLinuxOptions={"type": "container_t"})

    assert findings(mutated(safe)) == []


def test_a_workload_declared_inline_in_a_config_group_is_read_like_any_other():
    bad = workload("Deployment", {**pod_spec(), "hostPID": True}).props
    text = "---\n" + json.dumps(bad)
    for props in ({"objs": [bad]}, {"yaml": text}, {"yaml": [text]}):
        group = Resource("kubernetes:yaml/v2:ConfigGroup", "urn:pulumi:t::p::kubernetes:yaml/v2:ConfigGroup::extra", "extra", props)
        assert findings(group) == [("pod-host-namespaces", "Deployment app in ConfigGroup: pods of serving/app share the node's namespace (hostPID: true)")]
    clean = Resource("kubernetes:yaml/v2:ConfigGroup", "urn:pulumi:t::p::kubernetes:yaml/v2:ConfigGroup::ok", "ok", {"objs": [workload().props]})
    assert findings(clean) == []


@pytest.mark.parametrize("image", ["app:2", "app:v1", "app:sha-0", "app:3-alpine", "registry.local:5000/app:7"])
def test_a_major_only_tag_moves_with_every_release(image):
    assert findings(mutated(lambda s: container(s).update(image=image))) == [("images-pinned", f"container app uses image {image!r} without a pinned tag or digest")]


@pytest.mark.parametrize("image", ["app:1.4", "app:v0.31.0", "app:2.20.2-alpine", "app:20260101", "app:git-0a1b2c3", "registry.local:5000/app:1.2"])
def test_a_tag_naming_one_build_is_pinned(image):
    assert findings(mutated(lambda s: container(s).update(image=image))) == []

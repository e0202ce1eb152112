"""The pack's rules over rendered manifests (`helm template` output): what a Helm release hides from the
pack is judged the same way, and a reviewed node agent passes only through its allow-list entries."""

import json

import pytest
import yaml

from tools.check_manifests import check, main, type_token
from tools.policy_config import load_config
from tools.preview import HELM_RELEASE, ROOT, kubernetes_objects

# The shape kube-prometheus-stack's node exporter renders (prometheus-node-exporter chart templates/
# daemonset.yaml): host network and PID namespace, the node's /proc, /sys and / read-only, port 9100 on
# the host. Helm templates without `--namespace` in the objects, so the namespace comes from the command.
NODE_EXPORTER = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-exporter
spec:
  template:
    spec:
      hostNetwork: true
      hostPID: true
      securityContext: {runAsNonRoot: true, runAsUser: 65534}
      containers:
      - name: node-exporter
        image: quay.io/prometheus/node-exporter:v1.9.1
        ports: [{containerPort: 9100, hostPort: 9100}]
        resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
      volumes:
      - {name: proc, hostPath: {path: /proc}}
      - {name: root, hostPath: {path: /}}
---
apiVersion: v1
kind: Service
metadata:
  name: node-exporter
spec:
  type: ClusterIP
  ports: [{port: 9100}]
"""
AGENT_RULES = ("pod-host-namespaces", "pod-host-paths", "pod-host-ports")


def test_type_tokens_are_pulumi_kubernetes_ones():
    assert type_token({"apiVersion": "apps/v1", "kind": "DaemonSet"}) == "kubernetes:apps/v1:DaemonSet"
    assert type_token({"apiVersion": "v1", "kind": "Service"}) == "kubernetes:core/v1:Service"
    assert type_token({"apiVersion": "karpenter.sh/v1", "kind": "NodePool"}) == "kubernetes:karpenter.sh/v1:NodePool"


def test_a_rendered_node_agent_is_refused_naming_each_host_access(capsys, tmp_path):
    rendered = tmp_path / "node-exporter.yaml"
    rendered.write_text(NODE_EXPORTER)
    assert main(["production", str(rendered), "--namespace", "monitoring"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "mandatory pod-host-namespaces [monitoring/node-exporter]: pods of monitoring/node-exporter share the node's namespace (hostNetwork: true)",
        "mandatory pod-host-namespaces [monitoring/node-exporter]: pods of monitoring/node-exporter share the node's namespace (hostPID: true)",
        "mandatory pod-host-paths [monitoring/node-exporter]: pods of monitoring/node-exporter mount the node's '/proc' (hostPath volume proc)",
        "mandatory pod-host-paths [monitoring/node-exporter]: pods of monitoring/node-exporter mount the node's '/' (hostPath volume root)",
        "mandatory pod-host-ports [monitoring/node-exporter]: container node-exporter binds node port 9100 (hostPort)",
    ]


def test_a_reviewed_node_agent_passes_through_its_allow_list_entries(tmp_path):
    pack_config = json.loads((ROOT / "policies" / "config" / "production.json").read_text())
    for rule in AGENT_RULES:
        pack_config[rule]["allowList"] = [{"name": "monitoring/node-exporter", "reason": "reads the node's kernel and network metrics; read-only mounts"}]
    config_file = tmp_path / "production.json"
    config_file.write_text(json.dumps(pack_config))
    rendered = tmp_path / "node-exporter.yaml"
    rendered.write_text(NODE_EXPORTER)
    assert main(["production", str(rendered), "--namespace", "monitoring", "--policy-config", str(config_file)]) == 0
    # The exception is the workload's, in that namespace: the same agent elsewhere is refused.
    assert main(["production", str(rendered), "--namespace", "default", "--policy-config", str(config_file)]) == 1


def test_unreadable_input_exits_2(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    assert main(["production", str(broken)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("stack", ["staging", "production", "staging-gcp"])
def test_the_objects_a_stack_declares_get_the_verdicts_the_preview_gives(stack_plan, stack):
    # What the offline preview writes to build/<stack>/manifests/, read back as manifests, is judged as
    # the preview judged the declared resources: one set of rules, whichever way objects arrive.
    plan = stack_plan(stack).plan
    pack_config = load_config(ROOT / "policies" / "config" / f"{stack}.json")
    plan.check(pack_config)
    kubernetes_urns = {r.urn for r in plan.resources if r.type.startswith("kubernetes:") and r.type != HELM_RELEASE}
    expected = sorted((f.policy, f.enforcement, f.message) for f in plan.findings if f.urn in kubernetes_urns)
    documents = list(yaml.safe_load_all(yaml.safe_dump_all(kubernetes_objects(plan))))
    assert sorted((f.policy, f.enforcement, f.message) for f in check(documents, pack_config)) == expected

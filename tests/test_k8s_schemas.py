"""The schema helpers in tests/k8s_schemas.py must be sharp: valid objects pass, typos and bad values fail."""
from __future__ import annotations

import copy
import json
import time

import pytest

from tests import k8s_schemas as ks

K8S = "1.34.0"


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------
def nodepool() -> dict:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu", "labels": {"app.kubernetes.io/part-of": "llm-platform"}},
        "spec": {
            "template": {
                "metadata": {"labels": {"workload": "llm"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                    "requirements": [
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand", "spot"]},
                        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["g6e", "p5"]},
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                    "expireAfter": "720h",
                },
            },
            "limits": {"cpu": "1000", "nvidia.com/gpu": 64},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m",
                           "budgets": [{"nodes": "10%"}]},
            "weight": 10,
        },
    }


def ec2nodeclass() -> dict:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@v20251103"}],
            "role": "KarpenterNodeRole-llm",
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "llm"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "llm"}}],
            "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                                "httpPutResponseHopLimit": 1, "httpTokens": "required"},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda",
                                     "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True}}],
        },
    }


def prometheusrule() -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "gpu-alerts", "namespace": "monitoring", "labels": {"release": "kps"}},
        "spec": {"groups": [{
            "name": "gpu",
            "interval": "30s",
            "rules": [{
                "alert": "GpuXidErrors",
                "expr": "max by (gpu) (DCGM_FI_DEV_XID_ERRORS) > 0",
                "for": "5m",
                "labels": {"severity": "warning"},
                "annotations": {"summary": "XID error", "description": "GPU {{ $labels.gpu }} reported an XID"},
            }],
        }]},
    }


def servicemonitor() -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "vllm", "namespace": "llm"},
        "spec": {
            "selector": {"matchLabels": {"app": "vllm"}},
            "namespaceSelector": {"matchNames": ["llm"]},
            "endpoints": [{"port": "metrics", "interval": "15s", "scrapeTimeout": "10s", "path": "/metrics"}],
        },
    }


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "router", "namespace": "llm", "labels": {"app": "router"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "router"}},
            "template": {
                "metadata": {"labels": {"app": "router"}},
                "spec": {
                    "containers": [{
                        "name": "router",
                        "image": "lmcache/lmstack-router:v0.1.7",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 8000, "name": "http"}],
                        "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "1Gi"}},
                    }],
                    "nodeSelector": {"karpenter.sh/nodepool": "gpu"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }


# --------------------------------------------------------------------------------------------------
# derived schema files
# --------------------------------------------------------------------------------------------------
def test_derived_files_are_structure_only_and_sourced():
    crds = sorted(ks.CRD_DIR.glob("*.json"))
    values = sorted(ks.VALUES_DIR.glob("*.json"))
    assert {p.stem for p in values} == {"karpenter", "kube-prometheus-stack", "nvidia-device-plugin",
                                        "dcgm-exporter", "prometheus-adapter", "keda", "vllm-production-stack", "aws-load-balancer-controller",
                                        "prometheus-operator-crds", "agentgateway", "llm-d-router-gateway", "cert-manager"}
    assert len(crds) == 16
    for p in crds + values:
        doc = json.loads(p.read_text())
        src = doc["source"]
        assert src["repo"] and src["path"] and len(src["commit"]) == 40 and src["version"], p.name

        def walk(node, in_props=False):
            if isinstance(node, dict):
                if not in_props:
                    assert not isinstance(node.get("description"), str), f"{p.name}: description kept"
                for k, v in node.items():
                    if k in ("enum", "default", "x-kubernetes-validations"):
                        continue
                    walk(v, in_props=(k == "properties" and not in_props))
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(doc.get("versions") or doc.get("values_schema", {}).get("schema"))


def test_every_crd_version_schema_builds_and_is_strict():
    for name in ks.known_custom_kinds():
        gv, kind = name.split()
        group, version = gv.rsplit("/", 1)
        schema = ks._crd_validator(group, version, kind).schema
        assert schema["additionalProperties"] is False
        assert schema["properties"]["spec"].get("additionalProperties") is False
    assert ks.UNSUPPORTED_PATTERNS == {}


# --------------------------------------------------------------------------------------------------
# custom resources
# --------------------------------------------------------------------------------------------------
def test_valid_nodepool_passes():
    assert ks.validate_custom_resource(nodepool()) == []


def test_nodepool_misspelt_field_fails_with_suggestion():
    obj = nodepool()
    obj["spec"]["template"]["spec"]["taint"] = obj["spec"]["template"]["spec"].pop("taints")
    errors = ks.validate_custom_resource(obj)
    assert len(errors) == 1
    assert "spec.template.spec" in errors[0] and "'taint'" in errors[0] and "taints" in errors[0]


def test_nodepool_enum_range_and_scope_errors():
    obj = nodepool()
    obj["metadata"]["namespace"] = "default"
    obj["spec"]["disruption"]["consolidationPolicy"] = "Never"
    obj["spec"]["weight"] = 1000
    errors = "\n".join(ks.validate_custom_resource(obj))
    assert "spec.disruption.consolidationPolicy" in errors
    assert "spec.weight" in errors
    assert "cluster-scoped" in errors


def test_top_level_and_metadata_are_strict():
    obj = nodepool()
    obj["specs"] = obj.pop("spec")
    errors = "\n".join(ks.validate_custom_resource(obj))
    assert "'specs'" in errors and "'spec' is a required property" in errors
    obj = nodepool()
    obj["metadata"] = {"labels": {"bad": "not a label value"}}
    errors = "\n".join(ks.validate_custom_resource(obj))
    assert "'name' is a required property" in errors and "metadata.labels.bad" in errors


def test_valid_ec2nodeclass_passes():
    assert ks.validate_custom_resource(ec2nodeclass()) == []


def test_ec2nodeclass_bad_enum_fails():
    obj = ec2nodeclass()
    obj["spec"]["metadataOptions"]["httpTokens"] = "optional-ish"
    errors = ks.validate_custom_resource(obj)
    assert len(errors) == 1 and "spec.metadataOptions.httpTokens" in errors[0] and "required" in errors[0]


def test_prometheusrule_with_description_annotation_passes():
    assert ks.validate_custom_resource(prometheusrule()) == []


def test_prometheusrule_go_inline_flag_pattern_is_honoured():
    # upstream pattern "^(?i)(abort|warn)?$" is RE2 syntax that Python's re rejects as written
    obj = prometheusrule()
    obj["spec"]["groups"][0]["partial_response_strategy"] = "WARN"
    assert ks.validate_custom_resource(obj) == []
    obj["spec"]["groups"][0]["partial_response_strategy"] = "bogus"
    assert any("partial_response_strategy" in e for e in ks.validate_custom_resource(obj))


def test_servicemonitor_unknown_endpoint_field_fails():
    assert ks.validate_custom_resource(servicemonitor()) == []
    obj = servicemonitor()
    obj["spec"]["endpoints"][0]["scrapeTimout"] = obj["spec"]["endpoints"][0].pop("scrapeTimeout")
    errors = ks.validate_custom_resource(obj)
    assert len(errors) == 1 and "spec.endpoints[0]" in errors[0] and "scrapeTimeout" in errors[0]


@pytest.mark.parametrize("port,ok", [(8080, True), ("metrics", True), (True, False), (1.5, False)])
def test_int_or_string(port, ok):
    obj = servicemonitor()
    obj["spec"]["endpoints"][0]["targetPort"] = port
    errors = ks.validate_custom_resource(obj)
    assert (errors == []) is ok, errors


def test_unknown_custom_kind_and_version():
    errors = ks.validate_custom_resource({"apiVersion": "example.com/v1", "kind": "Widget",
                                          "metadata": {"name": "w"}})
    assert len(errors) == 1 and "no schema is known" in errors[0]
    obj = nodepool()
    obj["apiVersion"] = "karpenter.sh/v1beta1"
    errors = ks.validate_custom_resource(obj)
    assert len(errors) == 1 and "no schema is known" in errors[0] and "v1" in errors[0]


def test_other_crds_accept_typical_objects():
    objs = [
        {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "vllm", "namespace": "llm"},
         "spec": {"scaleTargetRef": {"name": "vllm"}, "minReplicaCount": 1, "maxReplicaCount": 4,
                  "triggers": [{"type": "prometheus", "metadata": {"serverAddress": "http://p:9090",
                                                                   "query": "sum(x)", "threshold": "5"}}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "llm", "namespace": "llm"},
         "spec": {"parentRefs": [{"name": "gw"}],
                  "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                             "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                              "name": "pool"}]}]}},
        {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
         "metadata": {"name": "pool", "namespace": "llm"},
         "spec": {"selector": {"matchLabels": {"app": "vllm"}}, "targetPorts": [{"number": 8000}],
                  "endpointPickerRef": {"name": "epp", "port": {"number": 9002}}}},
        {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceObjective",
         "metadata": {"name": "chat", "namespace": "llm"}, "spec": {"priority": 1, "poolRef": {"name": "pool"}}},
    ]
    for obj in objs:
        assert ks.validate_any(obj, K8S) == [], obj["kind"]


# --------------------------------------------------------------------------------------------------
# core objects
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.34", "1.34.0", "v1.34.0", "1.34.2"])
def test_valid_deployment_passes_core_validation(version):
    assert ks.validate_core_object(deployment(), version) == []


def test_deployment_bad_type_and_unknown_field_fail():
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 5
    errors = ks.validate_core_object(obj, K8S)
    assert len(errors) == 1 and "spec.template.spec.containers[0].imagePullPolicy" in errors[0]

    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
    obj["spec"]["replica"] = 3
    errors = ks.validate_core_object(obj, K8S)
    assert len(errors) == 2  # every error, not just kubernetes_validate's first one
    assert any("imagePulPolicy" in e and "imagePullPolicy" in e for e in errors)
    assert any("'replica'" in e and "replicas" in e for e in errors)


def test_core_unknown_kind_and_unsupported_version():
    errors = ks.validate_core_object({"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}}, K8S)
    assert len(errors) == 1 and "no schema is known" in errors[0]
    errors = ks.validate_core_object(deployment(), "1.99")
    assert len(errors) == 1 and "does not support" in errors[0]


def test_validate_any_dispatch():
    assert ks.is_core_group("") and ks.is_core_group("apps") and ks.is_core_group("networking.k8s.io")
    assert not ks.is_core_group("gateway.networking.k8s.io")
    bad_route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": "r"}, "spec": {"rules": [{"backendRef": []}]}}
    assert any("backendRef" in e for e in ks.validate_any(bad_route, K8S))
    bad_dep = deployment()
    bad_dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 5
    assert ks.validate_any(bad_dep, K8S)
    assert ks.validate_any(nodepool(), K8S) == []
    assert "no schema is known" in ks.validate_any({"apiVersion": "example.com/v1", "kind": "W",
                                                    "metadata": {"name": "w"}}, K8S)[0]


# --------------------------------------------------------------------------------------------------
# Helm values
# --------------------------------------------------------------------------------------------------
def test_karpenter_values_valid():
    assert ks.validate_helm_values("karpenter", {"settings": {"clusterName": "x", "interruptionQueue": "q"},
                                                 "replicas": 2}) == []


def test_values_schema_built_from_refs_still_refuses_unknown_keys():
    # cert-manager's values.schema.json gives every key as a `$ref` into `$defs`; keys the chart only
    # documents in comments (serviceAccount.annotations) exist there, and a typo still does not.
    assert ks.validate_helm_values("cert-manager", {"serviceAccount": {"annotations": {"a": "b"}}, "crds": {"enabled": True}}) == []
    errors = ks.validate_helm_values("cert-manager", {"crds": {"enabld": True}})
    assert len(errors) == 1 and "crds.enabld" in errors[0] and "enabled" in errors[0]


def test_karpenter_values_typo_suggests_key():
    errors = ks.validate_helm_values("karpenter", {"settings": {"clusterNme": "x"}})
    assert len(errors) == 1
    assert "settings.clusterNme" in errors[0] and "clusterName" in errors[0]


def test_free_form_maps():
    # karpenter's default nodeSelector is non-empty ({kubernetes.io/os: linux}) but is a label map
    assert ks.validate_helm_values("karpenter", {"nodeSelector": {"a": "b"}}) == []
    assert ks.validate_helm_values("karpenter", {"podAnnotations": {"x": "y"},
                                                 "controller": {"resources": {"limits": {"cpu": 1}}}}) == []
    # keda's podAnnotations is structured per component; its keys are still checked
    errors = ks.validate_helm_values("keda", {"podAnnotations": {"kedaa": {"x": "y"}}})
    assert len(errors) == 1 and "keda" in errors[0]
    assert ks.validate_helm_values("keda", {"podAnnotations": {"keda": {"x": "y"}}}) == []


def test_declared_free_form_paths():
    values = {"settings": {"clusterName": "x", "futureSetting": 1}}
    assert ks.validate_helm_values("karpenter", values)
    assert ks.validate_helm_values("karpenter", values, free_form=("settings.futureSetting",)) == []


def test_structural_mismatch_and_bool():
    errors = ks.validate_helm_values("karpenter", {"replicas": {"count": 2}, "hostNetwork": "false"})
    assert any(e.startswith("karpenter: replicas:") for e in errors)
    assert any("hostNetwork" in e and "bool" in e for e in errors)
    assert ks.validate_helm_values("nosuchchart", {})[0].startswith("no derived values")


def test_list_elements_checked_against_representative_element():
    ok = {"servingEngineSpec": {"modelSpec": [{
        "name": "llama", "repository": "vllm/vllm-openai", "tag": "v0.11.0", "modelURL": "meta-llama/x",
        "replicaCount": 1, "requestCPU": 8, "requestMemory": "64Gi", "requestGPU": 1,
        "vllmConfig": {"maxModelLen": 8192}, "lmcacheConfig": {"enabled": False},
    }]}}
    assert ks.validate_helm_values("vllm-production-stack", ok) == []
    bad = copy.deepcopy(ok)
    bad["servingEngineSpec"]["modelSpec"][0]["replicas"] = 2
    bad["servingEngineSpec"]["modelSpec"][0]["replicaCount"] = "2"
    errors = ks.validate_helm_values("vllm-production-stack", bad)
    assert any("modelSpec[0].replicas" in e and "replicaCount" in e for e in errors), errors
    assert any("modelSpec[0].replicaCount" in e and "integer" in e for e in errors), errors


# --------------------------------------------------------------------------------------------------
# speed: tests validate every object of a stack preview
# --------------------------------------------------------------------------------------------------
def test_validating_many_objects_is_fast():
    objs = [nodepool(), ec2nodeclass(), prometheusrule(), servicemonitor(), deployment()] * 10
    ks.validate_any(objs[0], K8S)  # warm the caches
    start = time.perf_counter()
    for obj in objs:
        assert ks.validate_any(obj, K8S) == []
    assert time.perf_counter() - start < 5.0

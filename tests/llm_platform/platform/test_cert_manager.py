"""cert-manager where TLS ends at the gateway (GKE): the pinned chart with its CRDs on system nodes, in a
restricted namespace the API server alone reaches (the webhook), with the cloud's identity on its service
account; nothing of it on a stack whose TLS ends at the load balancer (EKS)."""

from llm_platform import pins
from llm_platform.platform import cert_manager
from tests.conftest import HELM_RELEASE
from tests.k8s_schemas import validate_any, validate_helm_values
from tests.llm_platform.platform.bases import deployed, stack_config


def test_cert_manager_is_pinned_with_its_crds_on_system_nodes_with_the_clouds_identity():
    declared = deployed("gke-staging")
    release = declared.one(HELM_RELEASE, "gke-staging-cert-manager").inputs
    assert (release["chart"], release["version"], release["repositoryOpts"]) == ("cert-manager", pins.CERT_MANAGER_CHART.version, {"repo": "https://charts.jetstack.io"})
    assert release["name"] == cert_manager.RELEASE and release["namespace"] == cert_manager.NAMESPACE and release["createNamespace"] is True
    values = release["values"]
    assert validate_helm_values("cert-manager", values) == []
    assert values["crds"] == {"enabled": True}
    assert values["global"]["nodeSelector"] == {"llm-platform.io/node-role": "system"}
    assert values["serviceAccount"]["annotations"] == {"iam.gke.io/gcp-service-account": "gke-staging-certs@acme-llm-staging.iam.gserviceaccount.com"}


def test_its_namespace_is_restricted_and_admits_only_the_api_server_to_the_webhook():
    declared = deployed("gke-staging")
    labels = declared.one("kubernetes:core/v1:NamespacePatch", "gke-staging-cert-manager-namespace-labels").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    allow = declared.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gke-staging-cert-manager-allow-ingress").inputs
    control_plane = str(stack_config("gke-staging").gcp.network.control_plane_cidr)
    assert allow["spec"]["ingress"] == [{"from": [{"ipBlock": {"cidr": control_plane}}], "ports": [{"protocol": "TCP", "port": 10250}]}]
    deny = declared.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gke-staging-cert-manager-default-deny").inputs
    assert deny["metadata"]["namespace"] == "cert-manager" and deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for manifest in (allow, deny, declared.one("kubernetes:cert-manager.io/v1:ClusterIssuer").inputs):
        assert validate_any(manifest, pins.KUBERNETES_VERSION) == [], manifest["kind"]


def test_lets_encrypt_with_the_acme_account_key_in_cert_managers_namespace():
    issuer = cert_manager.cluster_issuer("oncall@example.com", {"cloudDNS": {"project": "p"}})
    acme = issuer["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory" and acme["email"] == "oncall@example.com"
    assert acme["privateKeySecretRef"] == {"name": "letsencrypt-account-key"}
    assert validate_any(issuer, pins.KUBERNETES_VERSION) == []


def test_no_cert_manager_where_tls_ends_at_the_load_balancer():
    declared = deployed("eks-production")
    assert not [r for r in declared.of_type(HELM_RELEASE) if r.inputs["chart"] == "cert-manager"]
    assert not declared.of_type("kubernetes:cert-manager.io/v1:Certificate")

"""Google Cloud guardrails: a hardened GKE cluster, node pool, bucket, grants and key pass; each mutation
is one violation of one rule."""


import pytest

from llm_platform_policy.core import Resource
from tests.policies.llm_platform_policy import fixtures
from tests.policies.llm_platform_policy.test_pods import CONFIG, findings

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_NAME = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"


def node_config() -> dict:
    return {
        "machineType": "g2-standard-8",
        "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
    }


def resource(typ: str, name: str, props: dict) -> Resource:
    return Resource(typ, f"urn:pulumi:t::p::{typ}::{name}", name, props)


def stack() -> list[Resource]:
    cluster = {
        "name": "llm",
        "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False, "masterIpv4CidrBlock": "172.16.0.0/28"},
        "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "office"}]},
        "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
        "datapathProvider": "ADVANCED_DATAPATH",
        "enableShieldedNodes": True,
        "databaseEncryption": {"state": "ENCRYPTED", "keyName": KEY_NAME},
        "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]},
        "nodeConfig": node_config(),
        "removeDefaultNodePool": True,
    }
    return [
        resource(CLUSTER, "cluster", cluster),
        resource(NODE_POOL, "gpu", {"name": "gpu-l4", "cluster": "llm", "nodeConfig": node_config()}),
        resource(BUCKET, "weights", {"name": "weights", "uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"}),
        resource("gcp:storage/bucketIAMMember:BucketIAMMember", "read", {"bucket": "weights", "role": "roles/storage.objectViewer", "member": "serviceAccount:sa@p.iam.gserviceaccount.com"}),
        resource("gcp:projects/iAMMember:IAMMember", "nodes", {"project": "p", "role": "roles/container.defaultNodeServiceAccount", "member": "serviceAccount:nodes@p.iam.gserviceaccount.com"}),
        resource("gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding", "agents", {"cryptoKeyId": KEY_NAME, "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": ["serviceAccount:a@p.iam.gserviceaccount.com"]}),
        resource(KEY, "secrets", {"name": "secrets", "keyRing": "r", "rotationPeriod": "7776000s"}),
    ]


def mutated(name: str, change) -> list[Resource]:
    return fixtures.mutated(name, change, stack_of=stack)


def test_the_hardened_stack_passes():
    assert findings(*stack()) == []


@pytest.mark.parametrize(
    "name, change",
    [
        ("cluster", lambda p: p.update(masterAuthorizedNetworksConfig=None, privateClusterConfig={"enablePrivateNodes": True, "enablePrivateEndpoint": True})),
        ("cluster", lambda p: p.update(enableAutopilot=True, nodeConfig=None)),
        ("cluster", lambda p: p["loggingConfig"]["enableComponents"].reverse()),
        ("gpu", lambda p: p["nodeConfig"]["shieldedInstanceConfig"].pop("enableIntegrityMonitoring")),
        ("gpu", lambda p: p["nodeConfig"]["workloadMetadataConfig"].update(mode="gke_metadata")),
        ("secrets", lambda p: p.update(rotationPeriod="86400.5s")),
        ("secrets", lambda p: p.update(purpose="ASYMMETRIC_SIGN", rotationPeriod=None)),
        ("weights", lambda p: p.update(publicAccessPrevention="ENFORCED")),
    ],
)
def test_equivalent_safe_settings_pass(name, change):
    assert findings(*mutated(name, change)) == []


@pytest.mark.parametrize(
    "name, change, policy, message",
    [
        ("cluster", lambda p: p["privateClusterConfig"].update(enablePrivateNodes=False), "gke-private-nodes", "GKE cluster llm gives nodes public addresses (privateClusterConfig.enablePrivateNodes is not true)"),
        ("cluster", lambda p: p.pop("privateClusterConfig"), "gke-private-nodes", "GKE cluster llm gives nodes public addresses (privateClusterConfig.enablePrivateNodes is not true)"),
        ("gpu", lambda p: p.update(networkConfig={"enablePrivateNodes": False}), "gke-private-nodes", "node pool gpu-l4 gives its nodes public addresses (networkConfig.enablePrivateNodes: false)"),
        (
            "cluster",
            lambda p: p.update(nodePools=[{"name": "inline", "nodeConfig": node_config(), "networkConfig": {"enablePrivateNodes": False}}]),
            "gke-private-nodes",
            "node pool inline of llm gives its nodes public addresses (networkConfig.enablePrivateNodes: false)",
        ),
        (
            "cluster",
            lambda p: p.update(datapathProvider="LEGACY_DATAPATH"),
            "gke-network-policy-enforced",
            "GKE cluster llm enforces no NetworkPolicy (datapathProvider: LEGACY_DATAPATH, networkPolicy.enabled unset): set ADVANCED_DATAPATH",
        ),
        (
            "cluster",
            lambda p: p.pop("masterAuthorizedNetworksConfig"),
            "gke-control-plane-restricted",
            "the GKE control plane has a public endpoint and no masterAuthorizedNetworksConfig: it admits the whole internet",
        ),
        (
            "cluster",
            lambda p: p["masterAuthorizedNetworksConfig"].update(gcpPublicCidrsAccessEnabled=True),
            "gke-control-plane-restricted",
            "the GKE control plane admits every Google Cloud public address (gcpPublicCidrsAccessEnabled): any Compute Engine VM of any customer",
        ),
        (
            "cluster",
            lambda p: p.pop("workloadIdentityConfig"),
            "gke-workload-identity",
            "GKE cluster llm has no Workload Identity (workloadIdentityConfig.workloadPool): pods would act as the node's service account",
        ),
        (
            "gpu",
            lambda p: p["nodeConfig"]["workloadMetadataConfig"].update(mode="GCE_METADATA"),
            "gke-metadata-server",
            "node pool gpu-l4 exposes the Compute Engine metadata server to pods (workloadMetadataConfig.mode: GCE_METADATA; needs GKE_METADATA)",
        ),
        (
            "cluster",
            lambda p: p["nodeConfig"].pop("workloadMetadataConfig"),
            "gke-metadata-server",
            "default node pool of llm exposes the Compute Engine metadata server to pods (workloadMetadataConfig.mode: None; needs GKE_METADATA)",
        ),
        ("cluster", lambda p: p.update(enableShieldedNodes=False), "gke-shielded-nodes", "GKE cluster llm turns Shielded GKE Nodes off (enableShieldedNodes: false)"),
        ("gpu", lambda p: p["nodeConfig"].pop("shieldedInstanceConfig"), "gke-shielded-nodes", "node pool gpu-l4 boots without Secure Boot (shieldedInstanceConfig.enableSecureBoot is not true)"),
        (
            "gpu",
            lambda p: p["nodeConfig"]["shieldedInstanceConfig"].update(enableIntegrityMonitoring=False),
            "gke-shielded-nodes",
            "node pool gpu-l4 turns integrity monitoring off (shieldedInstanceConfig.enableIntegrityMonitoring: false)",
        ),
        (
            "cluster",
            lambda p: p["databaseEncryption"].update(state="DECRYPTED"),
            "gke-secrets-encryption",
            f"GKE cluster llm does not encrypt Secrets with a Cloud KMS key (databaseEncryption: {{'state': 'DECRYPTED', 'keyName': '{KEY_NAME}'}})",
        ),
        (
            "cluster",
            lambda p: p["databaseEncryption"].pop("keyName"),
            "gke-secrets-encryption",
            "GKE cluster llm does not encrypt Secrets with a Cloud KMS key (databaseEncryption: {'state': 'ENCRYPTED'})",
        ),
        (
            "cluster",
            lambda p: p.pop("loggingConfig"),
            "gke-control-plane-logging",
            "GKE cluster llm does not log ['APISERVER', 'CONTROLLER_MANAGER', 'SCHEDULER'] (loggingConfig.enableComponents: ['SYSTEM_COMPONENTS', 'WORKLOADS'])",
        ),
        (
            "cluster",
            lambda p: p["loggingConfig"]["enableComponents"].remove("APISERVER"),
            "gke-control-plane-logging",
            "GKE cluster llm does not log ['APISERVER'] (loggingConfig.enableComponents: ['CONTROLLER_MANAGER', 'SCHEDULER', 'SYSTEM_COMPONENTS', 'WORKLOADS'])",
        ),
        ("cluster", lambda p: p.update(loggingService="none"), "gke-control-plane-logging", "GKE cluster llm sends no logs (loggingService: none)"),
        ("cluster", lambda p: p.update(enableLegacyAbac=True), "gke-legacy-access-off", "GKE cluster llm enables legacy ABAC authorization (enableLegacyAbac: true)"),
        (
            "cluster",
            lambda p: p.update(masterAuth={"clientCertificateConfig": {"issueClientCertificate": True}}),
            "gke-legacy-access-off",
            "GKE cluster llm issues a static client certificate (masterAuth.clientCertificateConfig.issueClientCertificate: true)",
        ),
        (
            "cluster",
            lambda p: p.update(rbacBindingConfig={"enableInsecureBindingSystemUnauthenticated": True}),
            "gke-legacy-access-off",
            "GKE cluster llm allows RBAC bindings to all users (rbacBindingConfig.enableInsecureBindingSystemUnauthenticated: true)",
        ),
        ("weights", lambda p: p.pop("uniformBucketLevelAccess"), "gcs-bucket-access", "bucket weights allows object ACLs (uniformBucketLevelAccess is not true)"),
        ("weights", lambda p: p.update(publicAccessPrevention="inherited"), "gcs-bucket-access", "bucket weights does not enforce public access prevention (publicAccessPrevention: inherited)"),
        ("read", lambda p: p.update(member="allUsers"), "gcp-no-public-members", "BucketIAMMember grants access to the public (allusers)"),
        ("nodes", lambda p: p.update(member="allAuthenticatedUsers"), "gcp-no-public-members", "IAMMember grants access to the public (allauthenticatedusers)"),
        ("agents", lambda p: p["members"].append("allusers"), "gcp-no-public-members", "CryptoKeyIAMBinding grants access to the public (allusers)"),
        ("secrets", lambda p: p.update(rotationPeriod=None), "gcp-kms-rotation", "Cloud KMS key secrets does not rotate (rotationPeriod: None); at most every 90 days"),
        ("secrets", lambda p: p.update(rotationPeriod="31536000s"), "gcp-kms-rotation", "Cloud KMS key secrets rotates every 365 days, more than 90"),
    ],
)
def test_each_gcp_violation_is_reported(name, change, policy, message):
    assert findings(*mutated(name, change)) == [(policy, message)]


@pytest.mark.parametrize(
    "typ, props, message",
    [
        ("gcp:storage/bucketIAMPolicy:BucketIAMPolicy", {"bucket": "w", "policyData": '{"bindings":[{"role":"roles/storage.objectViewer","members":["allUsers"]}]}'}, "BucketIAMPolicy grants access to the public (allusers)"),
        ("gcp:storage/bucketACL:BucketACL", {"bucket": "w", "roleEntities": ["READER:allUsers"]}, "BucketACL grants access to the public (allusers)"),
        ("gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl", {"bucket": "w", "entity": "allAuthenticatedUsers", "role": "READER"}, "DefaultObjectAccessControl grants access to the public (allauthenticatedusers)"),
        ("gcp:projects/iAMBinding:IAMBinding", {"project": "p", "role": "roles/viewer", "members": ["principalSet://goog/public:all"]}, "IAMBinding grants access to the public (principalset://goog/public:all)"),
        ("gcp:storage/bucketObject:BucketObject", {"bucket": "w", "name": "o", "predefinedAcl": "publicRead"}, "BucketObject applies the public ACL publicRead"),
    ],
)
def test_every_kind_of_grant_is_read_for_public_principals(typ, props, message):
    assert findings(resource(typ, "grant", props)) == [("gcp-no-public-members", message)]


def test_rotation_limit_is_configurable():
    config = CONFIG | {"gcp-kms-rotation": {"maxRotationDays": 30}}
    assert findings(*stack(), config=config) == [("gcp-kms-rotation", "Cloud KMS key secrets rotates every 90 days, more than 30")]

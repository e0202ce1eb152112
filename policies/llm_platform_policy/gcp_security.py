"""Google Cloud guardrails: the GKE control plane and nodes, Cloud Storage buckets, IAM members and Cloud
KMS keys. Field names are pulumi-gcp's (the camelCase inputs of `gcp:container/cluster:Cluster`,
`gcp:container/nodePool:NodePool`, `gcp:storage/bucket:Bucket`, `gcp:kms/cryptoKey:CryptoKey`, 10.x);
where the API has a default the rule reads it as GKE would (noted at each)."""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from llm_platform_policy import gke, kube
from llm_platform_policy.core import Config, is_false, is_true

BUCKET = "gcp:storage/bucket:Bucket"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
# Control-plane components whose logs GKE sends to Cloud Logging only when asked (`loggingConfig.
# enableComponents`; GKE's default is SYSTEM_COMPONENTS and WORKLOADS). The API server's is the audit
# trail of who did what in the cluster.
CONTROL_PLANE_LOGS = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
LOGGING_PROPERTIES = {
    "requiredComponents": {"type": "array", "items": {"type": "string"}, "default": CONTROL_PLANE_LOGS, "description": "GKE logging components every cluster enables."}
}
ROTATION_PROPERTIES = {"maxRotationDays": {"type": "number", "exclusiveMinimum": 1, "default": 90, "description": "Longest rotation period a Cloud KMS key may have."}}
# IAM principals that stand for anyone: every Google account, or no account at all (IAM "principal
# identifiers"), and the v2 form of the same.
PUBLIC_PRINCIPALS = ("allusers", "allauthenticatedusers", "principalset://goog/public:all")
# Canned ACLs that grant the public (Cloud Storage `predefinedAcl`).
PUBLIC_ACLS = ("publicread", "publicreadwrite")
# Resource classes that grant access: `...IAMMember`, `...IAMBinding`, `...IAMPolicy` of every service,
# and Cloud Storage's ACL resources (`BucketACL`, `BucketAccessControl`, `DefaultObjectAccessControl`...).
_GRANT_CLASS = re.compile(r"(IAMMember|IAMBinding|IAMPolicy|ACL|AccessControl)$")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]{1,9})?)s$")


def _cluster_name(props: Mapping[str, Any]) -> str:
    return str(props.get("name") or "cluster")


def node_configs(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(what, nodeConfig) of every node the resource creates: a pool's nodes; a cluster's default pool
    (it exists while the cluster is created, even when removed afterwards) and its inline pools.
    Autopilot clusters manage their nodes (shielded, GKE metadata server) themselves."""
    if resource_type == gke.NODE_POOL:
        yield f"node pool {props.get('name')}", props.get("nodeConfig") or {}
    elif resource_type == gke.CLUSTER and not kube.dig(props, "enableAutopilot"):
        yield f"default node pool of {_cluster_name(props)}", props.get("nodeConfig") or {}
        for pool in props.get("nodePools") or []:
            yield f"node pool {pool.get('name')} of {_cluster_name(props)}", pool.get("nodeConfig") or {}


def _pool_network_configs(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if resource_type == gke.NODE_POOL:
        yield f"node pool {props.get('name')}", props.get("networkConfig") or {}
    elif resource_type == gke.CLUSTER:
        for pool in props.get("nodePools") or []:
            yield f"node pool {pool.get('name')} of {_cluster_name(props)}", pool.get("networkConfig") or {}


def private_nodes(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """Nodes have internal addresses only; a pool can override the cluster (`networkConfig.enablePrivateNodes`)."""
    if resource_type == gke.CLUSTER and not is_true(kube.dig(props, "privateClusterConfig", "enablePrivateNodes")):
        yield f"GKE cluster {_cluster_name(props)} gives nodes public addresses (privateClusterConfig.enablePrivateNodes is not true)"
    for what, network in _pool_network_configs(resource_type, props):
        if is_false(network.get("enablePrivateNodes")):
            yield f"{what} gives its nodes public addresses (networkConfig.enablePrivateNodes: false)"


def network_policy_enforced(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """GKE enforces NetworkPolicy only with Dataplane V2 (`ADVANCED_DATAPATH`) or the Calico add-on
    (`networkPolicy.enabled`); without either, every default deny and allow the program writes is ignored."""
    if resource_type != gke.CLUSTER or is_true(props.get("enableAutopilot")):
        return
    if str(props.get("datapathProvider") or "").strip().upper() != "ADVANCED_DATAPATH" and not is_true(kube.dig(props, "networkPolicy", "enabled")):
        yield f"GKE cluster {_cluster_name(props)} enforces no NetworkPolicy (datapathProvider: {props.get('datapathProvider')}, networkPolicy.enabled unset): set ADVANCED_DATAPATH"


def workload_identity(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type == gke.CLUSTER and not kube.dig(props, "workloadIdentityConfig", "workloadPool"):
        yield f"GKE cluster {_cluster_name(props)} has no Workload Identity (workloadIdentityConfig.workloadPool): pods would act as the node's service account"


def metadata_server(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """GKE_METADATA hides the node's identity and the instance metadata (kubelet credentials) from pods."""
    for what, node_config in node_configs(resource_type, props):
        mode = kube.dig(node_config, "workloadMetadataConfig", "mode")
        if str(mode or "").strip().upper() != "GKE_METADATA":
            yield f"{what} exposes the Compute Engine metadata server to pods (workloadMetadataConfig.mode: {mode}; needs GKE_METADATA)"


def shielded_nodes(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """Secure boot (off unless asked) and integrity monitoring (on unless turned off) on every node."""
    if resource_type == gke.CLUSTER and is_false(props.get("enableShieldedNodes")):
        yield f"GKE cluster {_cluster_name(props)} turns Shielded GKE Nodes off (enableShieldedNodes: false)"
    for what, node_config in node_configs(resource_type, props):
        shielded = node_config.get("shieldedInstanceConfig") or {}
        if not is_true(shielded.get("enableSecureBoot")):
            yield f"{what} boots without Secure Boot (shieldedInstanceConfig.enableSecureBoot is not true)"
        if is_false(shielded.get("enableIntegrityMonitoring")):
            yield f"{what} turns integrity monitoring off (shieldedInstanceConfig.enableIntegrityMonitoring: false)"


def secrets_encryption(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type != gke.CLUSTER:
        return
    encryption = props.get("databaseEncryption") or {}
    if str(encryption.get("state") or "").strip().upper() != "ENCRYPTED" or not encryption.get("keyName"):
        yield f"GKE cluster {_cluster_name(props)} does not encrypt Secrets with a Cloud KMS key (databaseEncryption: {dict(encryption)})"


def control_plane_logging(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    if resource_type != gke.CLUSTER:
        return
    if str(props.get("loggingService") or "").lower() == "none":
        yield f"GKE cluster {_cluster_name(props)} sends no logs (loggingService: none)"
    enabled = {str(c).upper() for c in kube.dig(props, "loggingConfig", "enableComponents") or ["SYSTEM_COMPONENTS", "WORKLOADS"]}
    missing = [component for component in config["requiredComponents"] if component.upper() not in enabled]
    if missing:
        yield f"GKE cluster {_cluster_name(props)} does not log {missing} (loggingConfig.enableComponents: {sorted(enabled)})"


def legacy_access_off(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """Access paths RBAC and IAM do not govern: the legacy ABAC authorizer, static client certificates,
    and RBAC bindings to system:anonymous / system:unauthenticated / system:authenticated."""
    if resource_type != gke.CLUSTER:
        return
    if is_true(props.get("enableLegacyAbac")):
        yield f"GKE cluster {_cluster_name(props)} enables legacy ABAC authorization (enableLegacyAbac: true)"
    if is_true(kube.dig(props, "masterAuth", "clientCertificateConfig", "issueClientCertificate")):
        yield f"GKE cluster {_cluster_name(props)} issues a static client certificate (masterAuth.clientCertificateConfig.issueClientCertificate: true)"
    for field in ("enableInsecureBindingSystemAuthenticated", "enableInsecureBindingSystemUnauthenticated"):
        if is_true(kube.dig(props, "rbacBindingConfig", field)):
            yield f"GKE cluster {_cluster_name(props)} allows RBAC bindings to all users (rbacBindingConfig.{field}: true)"


def bucket_access(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """IAM alone decides access (no object ACLs), and no IAM grant can make the bucket public."""
    if resource_type != BUCKET:
        return
    if not is_true(props.get("uniformBucketLevelAccess")):
        yield f"bucket {props.get('name')} allows object ACLs (uniformBucketLevelAccess is not true)"
    if str(props.get("publicAccessPrevention") or "").lower() != "enforced":
        yield f"bucket {props.get('name')} does not enforce public access prevention (publicAccessPrevention: {props.get('publicAccessPrevention')})"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def no_public_members(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """No grant to anyone, in any IAM member, binding or policy (of a bucket, project, key, ...) or
    storage ACL. Every string of the grant is read, so a policy document (`policyData`, JSON) and
    ACL entries (`READER:allUsers`) are covered as well as `member`/`members`."""
    if not resource_type.startswith("gcp:"):
        return
    if _GRANT_CLASS.search(resource_type.rsplit(":", 1)[-1]):
        found = sorted({p for text in _strings(props) for p in PUBLIC_PRINCIPALS if p in text.lower()})
        if found:
            yield f"{resource_type.rsplit(':', 1)[-1]} grants access to the public ({', '.join(found)})"
    if str(props.get("predefinedAcl") or "").lower() in PUBLIC_ACLS:
        yield f"{resource_type.rsplit(':', 1)[-1]} applies the public ACL {props['predefinedAcl']}"


def key_rotation(resource_type: str, props: Mapping[str, Any], config: Config) -> Iterator[str]:
    """Symmetric keys (the only ones Cloud KMS rotates automatically) rotate at least every
    `maxRotationDays`. `rotationPeriod` is a duration in seconds, `"7776000s"`."""
    if resource_type != CRYPTO_KEY or str(props.get("purpose") or "ENCRYPT_DECRYPT").strip().upper() != "ENCRYPT_DECRYPT":
        return
    period = props.get("rotationPeriod")
    match = _DURATION.match(str(period or "").strip())
    limit = config["maxRotationDays"]
    if not match:
        yield f"Cloud KMS key {props.get('name')} does not rotate (rotationPeriod: {period!r}); at most every {limit:g} days"
    elif float(match.group(1)) > limit * 86400:
        yield f"Cloud KMS key {props.get('name')} rotates every {float(match.group(1)) / 86400:g} days, more than {limit:g}"

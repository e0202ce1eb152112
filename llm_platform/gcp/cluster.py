"""A GKE Standard cluster for GPU serving: regional control plane on a release channel, private nodes,
authorized networks, Workload Identity, Dataplane V2 (network policy enforced), shielded nodes, Secrets
encrypted with a Cloud KMS key; no default node pool, a system node pool of its own, and a Kubernetes
provider for the in-cluster components."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from llm_platform.config import GkeClusterConfig, GkeSystemPoolConfig
from llm_platform.contract import SYSTEM_NODES, SYSTEM_POOL
from llm_platform.gcp import kinds
from llm_platform.gcp.kms import agent_key
from llm_platform.kubernetes import exec_kubeconfig
from llm_platform.resources import invoke

# The predefined role Google recommends for node service accounts: logs, metrics and nothing else.
NODE_SERVICE_ACCOUNT_ROLE = "roles/container.defaultNodeServiceAccount"
# Workloads authenticate through Workload Identity, never through the node's service account, so the
# node only needs the scope that lets IAM decide.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# kubectl and the Kubernetes provider fetch a token through this plugin (GKE docs: "Install
# kubectl and configure cluster access"); it ships with the gcloud CLI as a component.
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
# GKE's built-in pd-balanced class (Persistent Disk CSI driver); disks are encrypted at rest by Google.
GKE_STORAGE_CLASS = "standard-rwo"
# DCGM exporter values GKE's GPU nodes need. GKE installs the NVIDIA driver under /home/kubernetes/bin/nvidia
# on the host and only its own device plugin hands it to containers that request GPUs; the exporter
# requests none, so it mounts the driver itself and needs the device files (privileged), as in Google's
# DCGM example (GoogleCloudPlatform/prometheus-engine examples/nvidia-dcgm/exporter.yaml). Keys are the
# dcgm-exporter chart's (deployment/values.yaml, 4.8.2); Helm replaces lists, so the chart's own
# counters mount is repeated.
GKE_DRIVER_DIR = "/home/kubernetes/bin/nvidia"
GKE_DCGM_VALUES: dict = {
    "extraHostVolumes": [{"name": "nvidia-install-dir-host", "hostPath": GKE_DRIVER_DIR}],
    "extraVolumeMounts": [
        {"name": "exporter-metrics-volume", "mountPath": "/etc/dcgm-exporter/default-counters.csv", "subPath": "default-counters.csv"},
        {"name": "nvidia-install-dir-host", "mountPath": "/usr/local/nvidia", "readOnly": True},
    ],
    "extraEnv": [{"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"}],
    # Kubernetes refuses privileged together with allowPrivilegeEscalation: false (the chart's default).
    "securityContext": {"privileged": True, "allowPrivilegeEscalation": True, "runAsNonRoot": False, "runAsUser": 0},
}
# The default pool lives for minutes while the cluster is created. Its config is a constant because any
# change to it would replace the whole cluster.
DEFAULT_POOL_MACHINE_TYPE = "e2-medium"
DEFAULT_POOL_DISK_GIB = 50


@dataclass(frozen=True)
class GkeClusterArgs:
    cluster_name: str
    project: str
    region: str
    config: GkeClusterConfig
    system_pool: GkeSystemPoolConfig
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    pods_range_name: str
    services_range_name: str
    control_plane_cidr: str
    labels: dict[str, str]


def workload_pool(project: str) -> str:
    """The project's Workload Identity pool, where GKE's Kubernetes service accounts are principals."""
    return f"{project}.svc.id.goog"


def service_account_id(cluster_name: str, suffix: str) -> str:
    # Service account ids are 6-30 characters and must not end with '-'.
    return f"{cluster_name[: 29 - len(suffix)].rstrip('-')}-{suffix}"


def node_config(*, machine_type: str, disk_size_gib: int, spot: bool, labels: dict[str, str], resource_labels: dict[str, str], service_account: pulumi.Input[str]) -> dict:
    """What every node of the cluster shares, whatever its pool: hardened boot, the GKE metadata server
    (pods see their own Workload Identity, never the node's), and the node's own service account."""
    return {
        "diskSizeGb": disk_size_gib,
        "diskType": "pd-balanced",
        "imageType": "COS_CONTAINERD",
        "labels": labels,
        "machineType": machine_type,
        "metadata": {"disable-legacy-endpoints": "true"},
        "oauthScopes": [CLOUD_PLATFORM_SCOPE],
        "resourceLabels": resource_labels,
        "serviceAccount": service_account,
        "shieldedInstanceConfig": {"enableIntegrityMonitoring": True, "enableSecureBoot": True},
        "spot": spot,
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
    }


def kubeconfig(cluster_name: str, endpoint: str, ca_certificate: str) -> str:
    return json.dumps(
        exec_kubeconfig(
            cluster_name,
            f"https://{endpoint}",
            ca_certificate,
            {"command": AUTH_PLUGIN, "installHint": f"Install {AUTH_PLUGIN}: gcloud components install {AUTH_PLUGIN}", "provideClusterInfo": True},
        )
    )


class GkeCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    key_ring_id: pulumi.Output[str]
    project_number: str
    node_service_account: pulumi.Output[str]
    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gke_cluster:GkeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        project_number = invoke("gcp:organizations/getProject:getProject", {"projectId": args.project}, parent=self)["number"]

        key_ring = kinds.KEY_RING(f"{name}-keys", {"location": args.region}, child)
        # GKE's service agent wraps the cluster's data encryption keys with this key; without the grant
        # the cluster fails to create.
        secrets_key, key_grant = agent_key(
            f"{name}-secrets",
            key_ring_id=key_ring.id,
            agent_email=f"service-{project_number}@container-engine-robot.iam.gserviceaccount.com",
            labels=args.labels,
            parent=self,
        )

        node_account = kinds.SERVICE_ACCOUNT(
            f"{name}-nodes", {"accountId": service_account_id(args.cluster_name, "nodes"), "displayName": f"{args.cluster_name} GKE nodes"}, child
        )
        node_role = kinds.PROJECT_IAM_MEMBER(
            f"{name}-nodes-role", {"member": node_account.member, "project": args.project, "role": NODE_SERVICE_ACCOUNT_ROLE}, child
        )

        cluster = kinds.CLUSTER(
            f"{name}-cluster",
            {
                "addonsConfig": {"gcePersistentDiskCsiDriverConfig": {"enabled": True}, "httpLoadBalancing": {"disabled": False}},
                # Dataplane V2 (eBPF) enforces NetworkPolicy itself: the model servers' policies take effect.
                "datapathProvider": "ADVANCED_DATAPATH",
                "databaseEncryption": {"keyName": secrets_key.id, "state": "ENCRYPTED"},
                "deletionProtection": config.deletion_protection,
                "enableShieldedNodes": True,
                # GKE cannot create a cluster without a node pool; the default one is deleted once the
                # cluster exists, and pools of our own (managed separately, so they change without touching
                # the cluster) replace it. Its node config still matters while it lives: no default compute
                # service account, shielded, GKE metadata server.
                "initialNodeCount": 1,
                "ipAllocationPolicy": {"clusterSecondaryRangeName": args.pods_range_name, "servicesSecondaryRangeName": args.services_range_name},
                "location": args.region,
                # Control-plane logs besides the nodes': the API server's is the record of who changed what
                # in the cluster (the policy pack's gke-control-plane-logging).
                "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]},
                "masterAuthorizedNetworksConfig": {
                    "cidrBlocks": [{"cidrBlock": str(cidr), "displayName": f"authorized-{index}"} for index, cidr in enumerate(config.authorized_networks)]
                }
                if config.authorized_networks
                else None,
                # Prometheus in the cluster does the metrics; Managed Service for Prometheus would collect
                # the same series a second time, at a price per sample.
                "monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS"], "managedPrometheus": {"enabled": False}},
                "name": args.cluster_name,
                "network": args.network,
                "networkingMode": "VPC_NATIVE",
                "nodeConfig": node_config(
                    machine_type=DEFAULT_POOL_MACHINE_TYPE,
                    disk_size_gib=DEFAULT_POOL_DISK_GIB,
                    spot=False,
                    labels={},
                    resource_labels={},
                    service_account=node_account.email,
                ),
                "nodeLocations": config.node_zones,
                "privateClusterConfig": {
                    "enablePrivateEndpoint": config.private_endpoint,
                    "enablePrivateNodes": True,
                    "masterIpv4CidrBlock": args.control_plane_cidr,
                },
                "releaseChannel": {"channel": config.release_channel},
                "removeDefaultNodePool": True,
                "resourceLabels": args.labels,
                "subnetwork": args.subnetwork,
                "workloadIdentityConfig": {"workloadPool": workload_pool(args.project)},
            },
            pulumi.ResourceOptions(parent=self, depends_on=[key_grant, node_role]),
        )

        system_pool = kinds.NODE_POOL(
            f"{name}-system",
            {
                "autoscaling": {"locationPolicy": "BALANCED", "totalMaxNodeCount": args.system_pool.max_nodes, "totalMinNodeCount": args.system_pool.min_nodes},
                "cluster": cluster.id,
                "location": args.region,
                "management": {"autoRepair": True, "autoUpgrade": True},
                "name": SYSTEM_POOL,
                "nodeConfig": node_config(
                    machine_type=args.system_pool.machine_type,
                    disk_size_gib=args.system_pool.disk_size_gib,
                    spot=args.system_pool.spot,
                    labels=SYSTEM_NODES,
                    resource_labels=args.labels,
                    service_account=node_account.email,
                ),
                # Upgrades add a node before draining one, so monitoring never loses capacity.
                "upgradeSettings": {"maxSurge": 1, "maxUnavailable": 0},
            },
            child,
        )

        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth).apply(lambda parts: kubeconfig(parts[0], parts[1], parts[2]["clusterCaCertificate"]))
        )
        self.key_ring_id = key_ring.id
        self.project_number = project_number
        self.node_service_account = node_account.email
        # In-cluster objects wait for the system pool: Helm releases would otherwise time out on pods
        # with nowhere to run.
        self.k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self, depends_on=[system_pool]))
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_id": self.cluster_id,
                "kubeconfig": self.kubeconfig,
                "key_ring_id": self.key_ring_id,
                "project_number": self.project_number,
                "node_service_account": self.node_service_account,
                "k8s_provider": self.k8s_provider,
            }
        )

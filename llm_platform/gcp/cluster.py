"""A GKE Standard cluster for GPU serving: regional control plane on a release channel, private nodes,
authorized networks, Workload Identity, Dataplane V2 (network policy enforced), shielded nodes, Secrets
encrypted with a Cloud KMS key; no default node pool, a system node pool of its own, and a Kubernetes
provider for the in-cluster components."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from llm_platform.config import GkeClusterConfig, GkeSystemPoolConfig
from llm_platform.contract import SYSTEM_NODES, SYSTEM_POOL
from llm_platform.gcp.kms import agent_key
from llm_platform.kubernetes import exec_kubeconfig

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


def service_account_id(cluster_name: str, suffix: str) -> str:
    # Service account ids are 6-30 characters and must not end with '-'.
    return f"{cluster_name[: 29 - len(suffix)].rstrip('-')}-{suffix}"


def node_config(*, machine_type: str, disk_size_gib: int, spot: bool, labels: dict[str, str], resource_labels: dict[str, str], service_account: pulumi.Input[str]) -> dict:
    """What every node of the cluster shares, whatever its pool: hardened boot, the GKE metadata server
    (pods see their own Workload Identity, never the node's), and the node's own service account."""
    return {
        "machine_type": machine_type,
        "disk_type": "pd-balanced",
        "disk_size_gb": disk_size_gib,
        "image_type": "COS_CONTAINERD",
        "spot": spot,
        "labels": labels,
        "resource_labels": resource_labels,
        "service_account": service_account,
        "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "metadata": {"disable-legacy-endpoints": "true"},
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
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    secrets_key_id: pulumi.Output[str]
    key_ring_id: pulumi.Output[str]
    project_number: str
    workload_pool: str
    node_service_account: pulumi.Output[str]
    system_pool_name: pulumi.Output[str]
    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gke_cluster:GkeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        project_number = gcp.organizations.get_project(project_id=args.project, opts=pulumi.InvokeOptions(parent=self)).number

        key_ring = gcp.kms.KeyRing(f"{name}-keys", location=args.region, opts=child)
        # GKE's service agent wraps the cluster's data encryption keys with this key; without the grant
        # the cluster fails to create.
        secrets_key, key_grant = agent_key(
            f"{name}-secrets",
            key_ring_id=key_ring.id,
            agent_email=f"service-{project_number}@container-engine-robot.iam.gserviceaccount.com",
            labels=args.labels,
            parent=self,
        )

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes", account_id=service_account_id(args.cluster_name, "nodes"), display_name=f"{args.cluster_name} GKE nodes", opts=child
        )
        node_role = gcp.projects.IAMMember(f"{name}-nodes-role", project=args.project, role=NODE_SERVICE_ACCOUNT_ROLE, member=node_account.member, opts=child)

        cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            location=args.region,
            node_locations=config.node_zones,
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={"cluster_secondary_range_name": args.pods_range_name, "services_secondary_range_name": args.services_range_name},
            # GKE cannot create a cluster without a node pool; the default one is deleted once the cluster
            # exists, and pools of our own (managed separately, so they change without touching the
            # cluster) replace it. Its node config still matters while it lives: no default compute
            # service account, shielded, GKE metadata server.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=node_config(
                machine_type=DEFAULT_POOL_MACHINE_TYPE,
                disk_size_gib=DEFAULT_POOL_DISK_GIB,
                spot=False,
                labels={},
                resource_labels={},
                service_account=node_account.email,
            ),
            release_channel={"channel": config.release_channel},
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": config.private_endpoint,
                "master_ipv4_cidr_block": args.control_plane_cidr,
            },
            master_authorized_networks_config={
                "cidr_blocks": [{"cidr_block": str(cidr), "display_name": f"authorized-{index}"} for index, cidr in enumerate(config.authorized_networks)]
            }
            if config.authorized_networks
            else None,
            # Dataplane V2 (eBPF) enforces NetworkPolicy itself: the model servers' policies take effect.
            datapath_provider="ADVANCED_DATAPATH",
            enable_shielded_nodes=True,
            database_encryption={"state": "ENCRYPTED", "key_name": secrets_key.id},
            # Prometheus in the cluster does the metrics; Managed Service for Prometheus would collect
            # the same series a second time, at a price per sample.
            monitoring_config={"enable_components": ["SYSTEM_COMPONENTS"], "managed_prometheus": {"enabled": False}},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            addons_config={"http_load_balancing": {"disabled": False}, "gce_persistent_disk_csi_driver_config": {"enabled": True}},
            resource_labels=args.labels,
            deletion_protection=config.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[key_grant, node_role]),
        )

        system_pool = gcp.container.NodePool(
            f"{name}-system",
            name=SYSTEM_POOL,
            cluster=cluster.id,
            location=args.region,
            autoscaling={"total_min_node_count": args.system_pool.min_nodes, "total_max_node_count": args.system_pool.max_nodes, "location_policy": "BALANCED"},
            node_config=node_config(
                machine_type=args.system_pool.machine_type,
                disk_size_gib=args.system_pool.disk_size_gib,
                spot=args.system_pool.spot,
                labels=SYSTEM_NODES,
                resource_labels=args.labels,
                service_account=node_account.email,
            ),
            management={"auto_repair": True, "auto_upgrade": True},
            # Upgrades add a node before draining one, so monitoring never loses capacity.
            upgrade_settings={"max_surge": 1, "max_unavailable": 0},
            opts=child,
        )

        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.endpoint = cluster.endpoint
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(lambda parts: kubeconfig(*parts))
        )
        self.secrets_key_id = secrets_key.id
        self.key_ring_id = key_ring.id
        self.project_number = project_number
        self.workload_pool = f"{args.project}.svc.id.goog"
        self.node_service_account = node_account.email
        self.system_pool_name = system_pool.name
        # In-cluster objects wait for the system pool: Helm releases would otherwise time out on pods
        # with nowhere to run.
        self.k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self, depends_on=[system_pool]))
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_id": self.cluster_id,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "secrets_key_id": self.secrets_key_id,
                "key_ring_id": self.key_ring_id,
                "project_number": self.project_number,
                "workload_pool": self.workload_pool,
                "node_service_account": self.node_service_account,
                "system_pool_name": self.system_pool_name,
                "k8s_provider": self.k8s_provider,
            }
        )

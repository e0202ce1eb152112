"""A Google Cloud stack: the settings only Google Cloud has (`llm-platform:gcp`: the project and billing
account, the VPC, the GKE cluster and its system pool, the mail relay for alerts), its GPU pool type (a
GKE node pool) and the rules only Google Cloud stacks follow."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from llm_platform.config.base import SECRET, SECRET_VALUE, CapacityType, ConfigModel, Email, PrivateNetwork, StrictNetwork, catalog_types, plain, unique
from llm_platform.config.pools import GpuPoolBase
from llm_platform.config.stack import StackBase
from llm_platform.config.tags import gcp_label_violations
from llm_platform.config.violations import Rules, Violation
from llm_platform.contract import GCSLocation, gpu_node_pool_name, weights_bucket_name
from llm_platform_policy import catalog, cidrs

# Google Cloud project ids: 6-30 characters, lowercase letters, digits and hyphens, starting with a
# letter, not ending with a hyphen (Resource Manager `projects.create` reference).
GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Cloud Billing account ids, e.g. 012345-6789AB-CDEF01 (Cloud Billing API `billingAccounts` reference).
BILLING_ACCOUNT_ID = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
# Cloud Storage bucket names (without dots) are at most 63 characters.
GCS_BUCKET_MAX_LENGTH = 63


class SmtpConfig(ConfigModel):
    """The mail relay Alertmanager sends alert e-mail through (Google Cloud stacks: there is no SNS).
    Compute Engine blocks outbound port 25, so use a relay on 587 or 465."""

    smarthost: str
    """`host:port` of the relay, e.g. `smtp-relay.gmail.com:587` (Google Workspace's SMTP relay)."""

    sender: Email = Field(alias="from")
    """The From address."""

    username: str | None = None
    """Relay login. Without it Alertmanager sends unauthenticated: use a relay that admits the cluster's
    Cloud NAT address (`pulumi stack output natAddresses`), such as the Workspace relay with IP
    authentication. With it, set the password as the secret `llm-platform:alertSmtpPassword`."""

    require_tls: bool = True
    """Refuse to send unless the relay offers STARTTLS."""

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, smarthost: str) -> str:
        host, _, port = smarthost.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. smtp-relay.gmail.com:587")
        if int(port) == 25:
            raise ValueError("Compute Engine blocks outbound port 25; use the relay's port 587 or 465")
        return smarthost


class GcpNetworkConfig(ConfigModel):
    """The VPC network of a Google Cloud stack: one regional subnetwork for the nodes, with secondary
    ranges for pods and services (VPC-native cluster), Cloud Router and Cloud NAT for the private nodes."""

    nodes_cidr: PrivateNetwork = ipaddress.IPv4Network("10.40.0.0/20")
    """The subnetwork's primary range (node addresses): a /20 holds 4,000 nodes."""

    pods_cidr: PrivateNetwork = ipaddress.IPv4Network("10.44.0.0/14")
    """Secondary range for pods. GKE gives every node a /24 by default (110 pods), so a /14 allows 1,024 nodes."""

    services_cidr: PrivateNetwork = ipaddress.IPv4Network("10.48.0.0/20")
    """Secondary range for Service cluster IPs."""

    control_plane_cidr: PrivateNetwork = ipaddress.IPv4Network("172.16.0.0/28")
    """The /28 GKE peers the private control plane into; must not overlap any other range."""

    nat_addresses: Annotated[int, Field(ge=1, le=8)] = 1
    """Static external addresses Cloud NAT uses: fixed so that relays and partner allowlists can trust them.
    Each address carries 64,512 concurrent connections per destination."""

    flow_logs: bool = False
    """VPC flow logs on the subnetwork (sampled 50%, 5-second aggregation)."""

    @field_validator("control_plane_cidr")
    @classmethod
    def _slash_28(cls, network: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if network.prefixlen != 28:
            raise ValueError("GKE needs exactly a /28 for the private control plane")
        return network

    @model_validator(mode="after")
    def _disjoint(self) -> GcpNetworkConfig:
        ranges = {"nodesCidr": self.nodes_cidr, "podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr, "controlPlaneCidr": self.control_plane_cidr}
        names = list(ranges)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                if ranges[first].overlaps(ranges[second]):
                    raise ValueError(f"{first} {ranges[first]} overlaps {second} {ranges[second]}: every range must be disjoint")
        return self


class GkeClusterConfig(ConfigModel):
    """The GKE Standard control plane (regional)."""

    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    """Release channel GKE upgrades the control plane and nodes on. RAPID is refused in production."""

    authorized_networks: list[StrictNetwork] = Field(default_factory=list)
    """CIDRs allowed to reach the control plane's public endpoint (master authorized networks). Empty
    means anywhere, which only non-production stacks may do."""

    private_endpoint: bool = False
    """Serve the control plane on its private address only (reach it through a VPN or bastion)."""

    node_zones: list[str] | None = None
    """Zones of the region nodes run in; GKE picks three when absent."""

    gpu_driver_version: Literal["DEFAULT", "LATEST"] = "DEFAULT"
    """GKE installs the NVIDIA driver on GPU nodes: `DEFAULT` is the driver version GKE pins for the node
    version (changes only with a node upgrade), `LATEST` the newest it offers for it."""

    deletion_protection: bool = False
    """Refuse `pulumi destroy` of the cluster until this is switched off."""

    @field_validator("authorized_networks")
    @classmethod
    def _networks(cls, networks: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        return unique(networks)

    @field_validator("node_zones")
    @classmethod
    def _zones(cls, zones: list[str] | None) -> list[str] | None:
        return None if zones is None else unique(zones)


class GkeSystemPoolConfig(ConfigModel):
    """The GKE node pool for everything that is not a model server: monitoring, add-ons."""

    machine_type: str = "e2-standard-4"
    """General-purpose machine type; must be in the instance catalog."""

    min_nodes: Annotated[int, Field(ge=1, le=100)] = 2
    """Nodes at least, over all zones (the autoscaler's total minimum)."""

    max_nodes: Annotated[int, Field(ge=1, le=100)] = 4
    """Nodes at most, over all zones (the autoscaler's total maximum)."""

    spot: bool = False
    """Run the system pool on Spot VMs (refused in production)."""

    disk_size_gib: Annotated[int, Field(ge=20, le=1000)] = 100
    """pd-balanced boot disk per node."""

    @field_validator("machine_type")
    @classmethod
    def _known_type(cls, machine_type: str) -> str:
        return catalog_types([machine_type], catalog.gcp_general_families(), "general-purpose")[0]

    @model_validator(mode="after")
    def _bounds(self) -> GkeSystemPoolConfig:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes {self.min_nodes} exceeds maxNodes {self.max_nodes}")
        return self


class GcpConfig(ConfigModel):
    """Everything a Google Cloud stack needs besides what both clouds share."""

    project: str
    """The project everything is created in (project id, not number)."""

    dns_project: str | None = None
    """The project of the Cloud DNS zone that serves the gateway's hostname, when it is not `project`:
    cert-manager proves the hostname to Let's Encrypt with a TXT record there (ACME DNS-01), with
    `roles/dns.admin` on that project."""

    network: GcpNetworkConfig = Field(default_factory=GcpNetworkConfig)
    """The VPC network and Cloud NAT."""

    cluster: GkeClusterConfig = Field(default_factory=GkeClusterConfig)
    """The GKE cluster."""

    system_pool: GkeSystemPoolConfig = Field(default_factory=GkeSystemPoolConfig)
    """Nodes for everything that is not a model server."""

    billing_account: str
    """The Cloud Billing account that pays for the project (`gcloud billing projects describe <project>`),
    e.g. `012345-6789AB-CDEF01`; the stack's budget watches it."""

    smtp: SmtpConfig
    """The mail relay Alertmanager sends alert e-mail through (there is no SNS on Google Cloud)."""

    @field_validator("project", "dns_project")
    @classmethod
    def _project_id(cls, project: str | None) -> str | None:
        if project is not None and not GCP_PROJECT_ID.fullmatch(project):
            raise ValueError("must be a project id: 6-30 lowercase letters, digits or '-', starting with a letter")
        return project

    @field_validator("billing_account")
    @classmethod
    def _billing_account(cls, account: str) -> str:
        if not BILLING_ACCOUNT_ID.fullmatch(account):
            raise ValueError("must be a Cloud Billing account id: three groups of six uppercase hex digits, e.g. 012345-6789AB-CDEF01")
        return account


# The GKE API refuses node pool names longer than 40 characters.
GKE_NODE_POOL_NAME_MAX = 40


class GkeGpuPool(GpuPoolBase):
    """A GKE node pool of one accelerator-optimized machine type, scaling from zero to `maxGpus`."""

    machine_type: str
    """The accelerator-optimized machine type of every node, e.g. `g2-standard-8` (L4), `a2-highgpu-1g`
    (A100 40GB), `a3-highgpu-1g` (H100 80GB); must be in the instance catalog."""

    accelerator_type: str
    """The GPU type the machine type carries, e.g. `nvidia-l4`; stated so that a reviewer sees the GPU in
    the stack file, and checked against the machine type."""

    accelerator_count: Annotated[int, Field(ge=1, le=16)]
    """GPUs per node; must be what the machine type carries."""

    capacity_types: Annotated[list[CapacityType], Field(min_length=1, max_length=1)]
    """`[spot]` or `[on-demand]`: a GKE node pool is one or the other; declare two pools of one group for both."""

    max_gpus: Annotated[int, Field(ge=1, le=512)]
    """The node pool's total autoscaling maximum times GPUs per node: the most GPUs the pool can hold, a
    multiple of the GPUs of one node. Required: an unbounded GPU pool is refused."""

    zones: list[str] | None = None
    """Zones of the region that offer the GPU, e.g. `[us-central1-a, us-central1-c]`; defaults to the
    cluster's node zones. GPUs are not offered in every zone."""

    @field_validator("name")
    @classmethod
    def _node_pool_name_fits(cls, name: str) -> str:
        if len(gpu_node_pool_name(name)) > GKE_NODE_POOL_NAME_MAX:
            raise ValueError(f"must be at most {GKE_NODE_POOL_NAME_MAX - len(gpu_node_pool_name(''))} characters: GKE node pool names (here {gpu_node_pool_name(name)!r}) are at most {GKE_NODE_POOL_NAME_MAX}")
        return name

    @field_validator("machine_type")
    @classmethod
    def _known_machine_type(cls, machine_type: str) -> str:
        gpu_families = {name: family.sizes for name, family in catalog.gcp_gpu_families().items()}
        return catalog_types([machine_type], gpu_families, "GPU machine")[0]

    @field_validator("zones")
    @classmethod
    def _zones(cls, zones: list[str] | None) -> list[str] | None:
        if zones is None:
            return None
        if not zones:
            raise ValueError("must list at least one zone, or be left out")
        return unique(zones)

    @property
    def spot(self) -> bool:
        return self.capacity_types == ["spot"]

    def sizes(self) -> list[catalog.InstanceType]:
        return [catalog.gcp_machine_type(self.machine_type)]


class GcpStackConfig(StackBase):
    """A stack on Google Cloud: GKE Standard with GPU node pools."""

    cloud: Literal["gcp"]
    """`gcp`: GKE Standard."""

    gcp: GcpConfig
    """The project and billing account, network, GKE cluster, system pool and mail relay."""

    gpu_pools: list[GkeGpuPool] = Field(default_factory=list)
    """GPU node pools (GKE node pools); each is bounded by its `maxGpus`."""

    alert_smtp_password: str | None = Field(default=None, json_schema_extra=SECRET)
    """Secret (`pulumi config set --secret llm-platform:alertSmtpPassword ...`): the password of
    `gcp.smtp.username`."""

    OBJECT_STORE: ClassVar[str] = GCSLocation.SCHEME

    @classmethod
    def regions(cls) -> tuple[str, ...]:
        return catalog.gcp_regions()

    def cloud_violations(self) -> Rules:
        gcp = self.gcp
        if self.gateway and self.gateway.acme_email is None:
            yield Violation("gateway.acmeEmail", None, "a GKE gateway terminates TLS with a Let's Encrypt certificate, whose ACME account needs a contact address")
        if bool(gcp.smtp.username) != bool(self.alert_smtp_password):
            yield Violation(
                "alertSmtpPassword",
                SECRET_VALUE if self.alert_smtp_password else None,
                "is set exactly when gcp.smtp.username is (`pulumi config set --secret llm-platform:alertSmtpPassword ...`)",
            )
        bucket = weights_bucket_name(self.cluster_name, gcp.project)
        if len(bucket) > GCS_BUCKET_MAX_LENGTH:
            yield Violation(
                "clusterName",
                self.cluster_name,
                f"the weights bucket name {bucket} would be {len(bucket)} characters; Cloud Storage allows {GCS_BUCKET_MAX_LENGTH}: shorten clusterName",
            )
        elif problem := GCSLocation.bucket_problem(bucket):
            yield Violation("clusterName", self.cluster_name, f"names the weights bucket, and {problem}")
        yield from gcp_label_violations(self.tags)
        yield from self.unpriced_types("gcp.systemPool.machineType", [catalog.gcp_machine_type(gcp.system_pool.machine_type)])
        yield from self._zones_outside_region("gcp.cluster.nodeZones", gcp.cluster.node_zones)
        for index, pool in enumerate(self.gpu_pools):
            yield from self._pool_violations(f"gpuPools[{index}]", pool)
        if self.environment == "production":
            yield from self._production_violations()

    def _pool_violations(self, key: str, pool: GkeGpuPool) -> Rules:
        size = catalog.gcp_machine_type(pool.machine_type)
        family = catalog.gcp_gpu_family_of(pool.machine_type)
        if pool.accelerator_type != family.accelerator_type:
            yield Violation(f"{key}.acceleratorType", pool.accelerator_type, f"{pool.machine_type} carries {family.accelerator_type}")
        if pool.accelerator_count != size.gpus:
            yield Violation(f"{key}.acceleratorCount", pool.accelerator_count, f"{pool.machine_type} carries {size.gpus} GPU(s)")
        if pool.max_gpus % size.gpus:
            yield Violation(f"{key}.maxGpus", pool.max_gpus, f"must be a multiple of the {size.gpus} GPU(s) of one {pool.machine_type} node")
        yield from self.unpriced_types(f"{key}.machineType", pool.sizes())
        yield from self._zones_outside_region(f"{key}.zones", pool.zones)
        # A pool without zones of its own takes the cluster's node zones; each must offer the machine type.
        zones, zones_key = (pool.zones, f"{key}.zones") if pool.zones is not None else (self.gcp.cluster.node_zones, "gcp.cluster.nodeZones")
        offering = family.zones.get(self.region, ())
        for zone in zones or []:
            if zone in catalog.gcp_region_zones(self.region) and zone not in offering:
                yield Violation(zones_key, zone, f"offers no {pool.machine_type} ({key}); zones of {self.region} that do: {', '.join(offering) or 'none'}")

    def _zones_outside_region(self, key: str, zones: list[str] | None) -> Rules:
        known = catalog.gcp_region_zones(self.region)
        for zone in zones or []:
            if zone not in known:
                yield Violation(key, zone, f"must be a zone of region {self.region} ({', '.join(known)})")

    def _production_violations(self) -> Rules:
        gcp = self.gcp
        cluster = gcp.cluster
        # Judged by the addresses admitted (the policy pack's rule and threshold), however they are spelt.
        if not cluster.private_endpoint and (problem := cidrs.judge(cluster.authorized_networks or ["0.0.0.0/0"])):
            yield Violation(
                "gcp.cluster.authorizedNetworks",
                plain(cluster.authorized_networks),
                f"production must list the networks allowed to reach the control plane, or set privateEndpoint: true; this list {problem}",
            )
        if cluster.release_channel == "RAPID":
            yield Violation("gcp.cluster.releaseChannel", cluster.release_channel, "production takes REGULAR or STABLE; RAPID versions are not covered by the GKE SLA")
        if gcp.system_pool.spot:
            yield Violation("gcp.systemPool.spot", True, "production runs monitoring and add-ons on on-demand nodes only")
        if not gcp.network.flow_logs:
            yield Violation("gcp.network.flowLogs", False, "production must record VPC flow logs")

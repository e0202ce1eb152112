"""The Google Cloud APIs a stack uses, enabled on its project before anything that needs them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.gcp import kinds

# Compute (network, NAT, nodes), GKE, Cloud KMS (Secrets and bucket keys), Cloud Storage (weights),
# IAM (node service account), Cloud Monitoring (budget notification channels), Cloud Billing Budgets,
# Artifact Registry (the vLLM image in the region), the Container File System API, which GKE image
# streaming requires ("Use Image streaming to pull container images"), and Cloud DNS (cert-manager writes
# the gateway certificate's ACME DNS-01 records).
SERVICES = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "cloudkms.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "billingbudgets.googleapis.com",
    "artifactregistry.googleapis.com",
    "containerfilesystem.googleapis.com",
    "dns.googleapis.com",
)


@dataclass(frozen=True)
class GcpServicesArgs:
    project: str


class GcpServices(pulumi.ComponentResource):
    services: list[pulumi.Resource]

    def __init__(self, name: str, args: GcpServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gcp_services:GcpServices", name, None, opts)
        self.services = [
            # Left enabled on destroy: other stacks or people in the project may use the same APIs.
            kinds.SERVICE(
                f"{name}-{service.split('.')[0]}", {"disableOnDestroy": False, "project": args.project, "service": service}, pulumi.ResourceOptions(parent=self)
            )
            for service in SERVICES
        ]
        self.register_outputs({"services": self.services})

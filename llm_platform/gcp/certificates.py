"""cert-manager's identity on Google Cloud: a Google service account that may write the Cloud DNS records
of ACME DNS-01 challenges, which cert-manager's Kubernetes service account acts as through Workload
Identity (the `iam.gke.io/gcp-service-account` annotation and `roles/iam.workloadIdentityUser`); the
solver uses these ambient credentials, no key.

`roles/dns.admin` on the zone's project, as cert-manager's Cloud DNS guide grants it: without a
`hostedZoneName` the solver lists the project's managed zones to find the hostname's, and listing is a
project permission (Cloud DNS per-zone IAM would cover the records, not the listing)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from llm_platform.gcp import kinds
from llm_platform.gcp.cluster import service_account_id, workload_pool
from llm_platform.platform import cert_manager
from llm_platform.platform.cert_manager import CertificateIssuing

DNS_ROLE = "roles/dns.admin"
# The annotation GKE's metadata server reads to let a Kubernetes service account act as a Google one.
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"


@dataclass(frozen=True)
class CloudDnsIssuingArgs:
    cluster_name: str
    project: str
    dns_project: str
    """The project of the Cloud DNS zone of the gateway's hostname."""


def workload_member(project: str, namespace: str, service_account: str) -> str:
    """A Kubernetes service account as the IAM member Workload Identity maps it to."""
    return f"serviceAccount:{workload_pool(project)}[{namespace}/{service_account}]"


class CloudDnsIssuing(pulumi.ComponentResource):
    issuing: CertificateIssuing

    def __init__(self, name: str, args: CloudDnsIssuingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:gcp_certificates:CloudDnsIssuing", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = kinds.SERVICE_ACCOUNT(
            f"{name}-account", {"accountId": service_account_id(args.cluster_name, "certs"), "displayName": f"{args.cluster_name} cert-manager (ACME DNS-01)"}, child
        )
        dns = kinds.PROJECT_IAM_MEMBER(f"{name}-dns", {"member": account.member, "project": args.dns_project, "role": DNS_ROLE}, child)
        workload = kinds.SERVICE_ACCOUNT_IAM_MEMBER(
            f"{name}-workload-identity",
            {
                "member": workload_member(args.project, cert_manager.NAMESPACE, cert_manager.SERVICE_ACCOUNT),
                "role": "roles/iam.workloadIdentityUser",
                # The account's id is its resource name, projects/<project>/serviceAccounts/<email>.
                "serviceAccountId": account.id,
            },
            child,
        )
        self.issuing = CertificateIssuing(
            dns01={"cloudDNS": {"project": args.dns_project}},
            service_account_annotations={GSA_ANNOTATION: account.email},
            prerequisites=[dns, workload],
        )
        self.register_outputs({})

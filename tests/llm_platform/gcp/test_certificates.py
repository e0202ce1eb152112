"""cert-manager's Cloud DNS identity: a Google service account with `roles/dns.admin` on the zone's project,
which cert-manager's Kubernetes service account (and no other) may act as through Workload Identity."""

import pulumi

from llm_platform.gcp.certificates import GSA_ANNOTATION, CloudDnsIssuing, CloudDnsIssuingArgs
from tests.llm_platform.gcp.gke import CLUSTER, PROJECT, declare_once, on_gcp


def issuing(dns_project: str):
    captured = {}

    def program():
        component = CloudDnsIssuing(f"{CLUSTER}-certificates", CloudDnsIssuingArgs(cluster_name=CLUSTER, project=PROJECT, dns_project=dns_project), opts=on_gcp())
        captured["issuing"] = component.issuing
        pulumi.export("annotations", component.issuing.service_account_annotations)

    return declare_once(program), captured


def test_the_account_may_write_dns_records_and_only_cert_managers_service_account_acts_as_it():
    declared, captured = issuing("acme-dns-shared")
    account = declared.one("gcp:serviceaccount/account:Account")
    assert account.inputs["accountId"] == f"{CLUSTER}-certs"
    dns = declared.one("gcp:projects/iAMMember:IAMMember")
    assert dns.inputs == {"member": f"serviceAccount:{CLUSTER}-certs@{PROJECT}.iam.gserviceaccount.com", "project": "acme-dns-shared", "role": "roles/dns.admin"}
    workload = declared.one("gcp:serviceaccount/iAMMember:IAMMember")
    assert workload.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert workload.inputs["member"] == f"serviceAccount:{PROJECT}.svc.id.goog[cert-manager/cert-manager]"
    assert workload.inputs["serviceAccountId"] == account.id
    issuing_ = captured["issuing"]
    # The solver writes in the zone's project with ambient credentials: no key Secret.
    assert issuing_.dns01 == {"cloudDNS": {"project": "acme-dns-shared"}}
    assert declared.plan.outputs["annotations"] == {GSA_ANNOTATION: f"{CLUSTER}-certs@{PROJECT}.iam.gserviceaccount.com"}
    assert len(issuing_.prerequisites) == 2

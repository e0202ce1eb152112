"""The Cloud Billing budget of a Google Cloud stack, and the project APIs the base enables before anything."""


from llm_platform.config import BudgetConfig
from llm_platform.gcp.budget import GcpBudget, GcpBudgetArgs
from tests.llm_platform.gcp.gke import PROJECT, PROJECT_NUMBER, REGION, on_gcp

BILLING_ACCOUNT = "0A1B2C-3D4E5F-6A7B8C"
BUDGET = BudgetConfig(monthly_limit_usd=1234.56, alert_emails=["finance@example.com", "ml-infra@example.com"], forecast_threshold_percent=90)
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"


def test_budget_watches_the_project_and_mails_the_budget_addresses(declare):
    def program():
        # The base passes the project number GKE's getProject answered (tools/mock_cloud.py).
        args = GcpBudgetArgs(config=BUDGET, billing_account=BILLING_ACCOUNT, project=PROJECT, project_number=PROJECT_NUMBER)
        GcpBudget("llm-test", args, opts=on_gcp())

    declared = declare(program, region=REGION)
    budget = declared.one("gcp:billing/budget:Budget").inputs
    assert budget["billingAccount"] == BILLING_ACCOUNT
    assert budget["budgetFilter"] == {"projects": [f"projects/{PROJECT_NUMBER}"], "calendarPeriod": "MONTH"}
    # Cloud Billing's Money: whole dollars as a string, the cents as nanos.
    assert budget["amount"] == {"specifiedAmount": {"currencyCode": "USD", "units": "1234", "nanos": 560_000_000}}
    assert budget["thresholdRules"] == [{"thresholdPercent": 0.9, "spendBasis": "FORECASTED_SPEND"}, {"thresholdPercent": 1.0, "spendBasis": "CURRENT_SPEND"}]
    channels = sorted(declared.of_type(CHANNEL), key=lambda channel: channel.name)
    assert [(c.inputs["type"], c.inputs["labels"], c.inputs["project"]) for c in channels] == [
        ("email", {"email_address": "finance@example.com"}, PROJECT),
        ("email", {"email_address": "ml-infra@example.com"}, PROJECT),
    ]
    assert budget["allUpdatesRule"]["monitoringNotificationChannels"] == [channel.id for channel in channels]


def test_every_api_the_stack_uses_is_enabled_first(gke_base):
    declared = gke_base.declared
    services = {r.inputs["service"]: r for r in declared.of_type("gcp:projects/service:Service")}
    assert {
        "container.googleapis.com",
        "compute.googleapis.com",
        "cloudkms.googleapis.com",
        "storage.googleapis.com",
        "monitoring.googleapis.com",
        "billingbudgets.googleapis.com",
    } <= set(services)
    assert all(s.inputs["disableOnDestroy"] is False and s.inputs["project"] == PROJECT for s in services.values())
    cluster = declared.one("gcp:container/cluster:Cluster")
    parent = declared.by_urn(cluster.parent)
    assert services["container.googleapis.com"].urn in parent.depends_on
    # Every other Google Cloud component of the base waits for all of them too.
    components = [r for r in declared.plan.resources if r.type.startswith("llm-platform:g") and r.type != "llm-platform:gcp_services:GcpServices"]
    assert {c.type for c in components} == {
        "llm-platform:gcp_network:GcpNetwork",
        "llm-platform:gke_cluster:GkeCluster",
        "llm-platform:gcp_budget:GcpBudget",
        "llm-platform:gke_node_pools:GkeGpuNodePools",
        "llm-platform:gcs_model_store:GcsModelStore",
    }
    for component in components:
        assert {s.urn for s in services.values()} <= set(component.depends_on), component.type

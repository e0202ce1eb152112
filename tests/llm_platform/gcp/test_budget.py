"""The Cloud Billing budget of a Google Cloud stack."""


def test_budget_watches_the_project_and_mails_the_budget_addresses(stack_plan):
    declared = stack_plan("staging-gcp")
    budget = declared.one("gcp:billing/budget:Budget").inputs
    assert budget["billingAccount"] == "012345-6789AB-CDEF01"
    assert budget["budgetFilter"] == {"projects": ["projects/210987654321"], "calendarPeriod": "MONTH"}
    assert budget["amount"] == {"specifiedAmount": {"currencyCode": "USD", "units": "3000", "nanos": 0}}
    assert budget["thresholdRules"] == [{"thresholdPercent": 0.8, "spendBasis": "FORECASTED_SPEND"}, {"thresholdPercent": 1.0, "spendBasis": "CURRENT_SPEND"}]
    (channel,) = declared.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert channel.inputs["type"] == "email" and channel.inputs["labels"] == {"email_address": "ml-infra-alerts@example.com"}
    assert budget["allUpdatesRule"]["monitoringNotificationChannels"] == [channel.id]


def test_every_api_the_stack_uses_is_enabled_first(stack_plan):
    declared = stack_plan("staging-gcp")
    services = {r.inputs["service"]: r for r in declared.of_type("gcp:projects/service:Service")}
    assert {"container.googleapis.com", "compute.googleapis.com", "cloudkms.googleapis.com", "storage.googleapis.com"} <= set(services)
    assert all(s.inputs["disableOnDestroy"] is False for s in services.values())
    cluster = declared.one("gcp:container/cluster:Cluster")
    parent = declared.by_urn(cluster.parent)
    assert services["container.googleapis.com"].urn in parent.depends_on

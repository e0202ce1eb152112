"""What the GCP base (`base.build` on the small stack in gke.py) hands the in-cluster platform, and the provider
every Google Cloud resource of it is declared with."""

import json

import pulumi
import pulumi_kubernetes as k8s

from llm_platform.gcp.cluster import GKE_DCGM_VALUES, GKE_STORAGE_CLASS
from llm_platform.gcp.node_pools import GkeGpuNodePools
from tests.llm_platform.gcp.gke import PROJECT, STACK, stack_config


def test_every_google_cloud_resource_uses_the_stack_s_project_and_bills_it(gke_base):
    declared = gke_base.declared
    provider = declared.one("pulumi:providers:gcp")
    assert provider.inputs["project"] == provider.inputs["billingProject"] == PROJECT and provider.inputs["region"] == "us-central1"
    assert provider.inputs["userProjectOverride"] == "true", "API quota and billing go to the stack's project, not the caller's"
    assert json.loads(provider.inputs["defaultLabels"]) == gke_base.config.common_tags()
    google = [r for r in declared.plan.resources if r.type.startswith("gcp:")]
    assert google and all(r.provider.startswith(f"{provider.urn}::") for r in google)


def test_the_platform_gets_gke_s_storage_class_dcgm_values_and_nothing_to_scrape(gke_base):
    base = gke_base.base
    assert base.storage_class == GKE_STORAGE_CLASS == "standard-rwo", "GKE's built-in pd-balanced class"
    assert base.dcgm_overrides == GKE_DCGM_VALUES
    assert base.cluster_monitors == [] and base.capacity_alerts == [], "no Karpenter on GKE"
    # The platform waits for the GPU node pools, and talks to the cluster through the cluster's provider.
    (pools,) = base.capacity
    assert isinstance(pools, GkeGpuNodePools)
    assert isinstance(base.k8s_provider, k8s.Provider)
    assert gke_base.declared.one("pulumi:providers:kubernetes").parent == gke_base.declared.one("llm-platform:gke_cluster:GkeCluster").urn


def test_alerts_are_mailed_through_the_relay_without_a_secret(gke_base):
    delivery = gke_base.base.alert_delivery
    assert delivery.service_account_annotations == {} and delivery.secret_data == {}
    assert set(delivery.receivers) == {"critical", "warning"}
    for receiver in delivery.receivers.values():
        (email,) = receiver["email_configs"]
        assert (email["to"], email["from"], email["smarthost"]) == ("oncall@example.com", "alerts@example.com", "smtp-relay.gmail.com:587")
        assert "auth_username" not in email


def test_a_relay_login_s_password_reaches_alertmanager_as_a_secret_only(declare):
    from llm_platform.gcp.base import build
    from llm_platform.platform.monitoring import Monitoring, MonitoringArgs

    relay = {"smarthost": "smtp.sendgrid.net:587", "from": "alerts@example.com", "username": "apikey"}
    cfg = stack_config(gcp={**STACK["gcp"], "smtp": relay}, alertSmtpPassword="relay-password-plaintext")
    built = {}

    def program():
        base = built["base"] = build(cfg)
        Monitoring(
            "monitoring",
            MonitoringArgs(config=cfg.observability, storage_class=base.storage_class, alert_delivery=base.alert_delivery),
            opts=pulumi.ResourceOptions(providers={"kubernetes": base.k8s_provider}),
        )

    declared = declare(program, region=cfg.region)
    delivery = built["base"].alert_delivery
    assert set(delivery.secret_data) == {"smtp-password"}
    (email,) = delivery.receivers["critical"]["email_configs"]
    assert email["auth_username"] == "apikey" and email["auth_password_file"] == "/etc/alertmanager/secrets/alertmanager-delivery/smtp-password"
    assert declared.one("kubernetes:core/v1:Secret", "monitoring-alert-delivery").inputs["stringData"] == {"smtp-password": "[secret]"}
    assert "relay-password-plaintext" not in json.dumps([r.inputs for r in declared.plan.resources])


def test_the_stack_exports_what_operators_need(gke_base):
    outputs = gke_base.declared.plan.outputs
    assert outputs["project"] == PROJECT and outputs["clusterName"] == "gke-test"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["nodePools"] == {"l4": "gpu-l4"}
    assert len(outputs["natAddresses"]) == 1

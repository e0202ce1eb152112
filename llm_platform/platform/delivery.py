"""How Alertmanager reaches people: what a cloud base hands the platform's monitoring (the receiver of
each severity and what Alertmanager's pod needs for them). Monitoring routes alerts the same way on
every cloud and takes one of these; the bases build them (SNS on AWS, mail on Google Cloud)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi

SEVERITIES = ("critical", "warning")
# kube-prometheus-stack's `alertmanager.alertmanagerSpec.secrets` mounts each listed Secret of the
# release's namespace at /etc/alertmanager/secrets/<name>/ (prometheus-operator Alertmanager CRD).
DELIVERY_SECRET = "alertmanager-delivery"
SUBJECT = "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}"


@dataclass(frozen=True)
class AlertDelivery:
    receivers: pulumi.Input[Mapping[str, dict]]
    """By severity: the receiver's notifier settings (everything but its name)."""
    service_account_annotations: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """On Alertmanager's service account, e.g. the IRSA role that may publish to SNS."""
    secret_data: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Put into the Secret `DELIVERY_SECRET`, mounted into Alertmanager, when not empty."""


def secret_file(key: str) -> str:
    return f"/etc/alertmanager/secrets/{DELIVERY_SECRET}/{key}"

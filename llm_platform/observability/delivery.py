"""How Alertmanager reaches people, per cloud: the receivers of each severity and what Alertmanager's pod
needs for them. Monitoring routes alerts the same way on every cloud and takes one of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi

from llm_platform.config import SmtpConfig

SEVERITIES = ("critical", "warning")
ALERTMANAGER_SERVICE_ACCOUNT = "alertmanager"
# kube-prometheus-stack's `alertmanager.alertmanagerSpec.secrets` mounts each listed Secret of the
# release's namespace at /etc/alertmanager/secrets/<name>/ (prometheus-operator Alertmanager CRD).
DELIVERY_SECRET = "alertmanager-delivery"
SMTP_PASSWORD_KEY = "smtp-password"
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


def sns_receivers(topic_arns: Mapping[str, str], region: str) -> dict[str, dict]:
    """Each severity to its SNS topic, signed with Alertmanager's IRSA credentials."""
    return {
        severity: {"sns_configs": [{"topic_arn": topic_arns[severity], "sigv4": {"region": region}, "subject": SUBJECT, "send_resolved": True}]}
        for severity in SEVERITIES
    }


def smtp_delivery(smtp: SmtpConfig, emails: list[str], password: pulumi.Input[str] | None) -> AlertDelivery:
    """Each severity by mail through the relay. The password, when the relay wants one, stays in a
    Secret that Alertmanager reads as a file: it never appears in the Helm values."""
    email: dict = {
        "to": ", ".join(emails),
        "from": smtp.sender,
        "smarthost": smtp.smarthost,
        "require_tls": smtp.require_tls,
        "headers": {"Subject": SUBJECT},
        "send_resolved": True,
    }
    if smtp.username:
        email |= {"auth_username": smtp.username, "auth_password_file": secret_file(SMTP_PASSWORD_KEY)}
    return AlertDelivery(
        receivers={severity: {"email_configs": [email]} for severity in SEVERITIES},
        secret_data={SMTP_PASSWORD_KEY: pulumi.Output.secret(password)} if password is not None else {},
    )

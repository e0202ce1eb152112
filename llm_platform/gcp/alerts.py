"""Where alerts go on Google Cloud: mail through the relay in the stack's configuration (there is no SNS).
The relay password, when the relay wants one, stays in a Secret that Alertmanager reads as a file: it never
appears in the Helm values."""

from __future__ import annotations

import pulumi

from llm_platform.config import SmtpConfig
from llm_platform.platform.delivery import SEVERITIES, SUBJECT, AlertDelivery, secret_file

SMTP_PASSWORD_KEY = "smtp-password"


def smtp_delivery(smtp: SmtpConfig, emails: list[str], password: pulumi.Input[str] | None) -> AlertDelivery:
    """Each severity by mail through the relay."""
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

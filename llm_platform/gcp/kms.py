"""Cloud KMS keys that a Google service agent encrypts with on the stack's behalf (GKE for Secrets,
Cloud Storage for weights): the key and the agent's grant, which must exist before the resource that
uses the key."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

# KMS rotates the key every 90 days; old versions stay to decrypt what they encrypted.
KEY_ROTATION_PERIOD = "7776000s"


def agent_key(
    name: str, *, key_ring_id: pulumi.Input[str], agent_email: pulumi.Input[str], labels: dict[str, str], parent: pulumi.Resource
) -> tuple[gcp.kms.CryptoKey, gcp.kms.CryptoKeyIAMMember]:
    child = pulumi.ResourceOptions(parent=parent)
    key = gcp.kms.CryptoKey(name, key_ring=key_ring_id, rotation_period=KEY_ROTATION_PERIOD, labels=labels, opts=child)
    grant = gcp.kms.CryptoKeyIAMMember(
        f"{name}-agent",
        crypto_key_id=key.id,
        role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
        member=pulumi.Output.concat("serviceAccount:", agent_email),
        opts=child,
    )
    return key, grant

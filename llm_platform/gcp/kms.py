"""Cloud KMS keys that a Google service agent encrypts with on the stack's behalf (GKE for Secrets,
Cloud Storage for weights): the key and the agent's grant, which must exist before the resource that
uses the key."""

from __future__ import annotations

import pulumi

from llm_platform.gcp import kinds
from llm_platform.resources import CloudResource

# KMS rotates the key every 90 days; old versions stay to decrypt what they encrypted.
KEY_ROTATION_PERIOD = "7776000s"


def agent_key(
    name: str, *, key_ring_id: pulumi.Input[str], agent_email: pulumi.Input[str], labels: dict[str, str], parent: pulumi.Resource
) -> tuple[CloudResource, CloudResource]:
    child = pulumi.ResourceOptions(parent=parent)
    key = kinds.CRYPTO_KEY(name, {"keyRing": key_ring_id, "labels": labels, "rotationPeriod": KEY_ROTATION_PERIOD}, child)
    grant = kinds.CRYPTO_KEY_IAM_MEMBER(
        f"{name}-agent",
        {"cryptoKeyId": key.id, "member": pulumi.Output.concat("serviceAccount:", agent_email), "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter"},
        child,
    )
    return key, grant

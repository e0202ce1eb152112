"""Which flat config keys a stack may hold: its own under the `llm-platform:` namespace, and other
namespaces' (providers such as `aws:region`), but no misspelt namespace and no key of ours without one.
Pulumi would pass a key under `llm-platfrom:` or `llm_platform:` to the program, which never reads it: the
setting would be silently lost."""

from __future__ import annotations

import difflib
import re

from llm_platform.config.aws import AwsStackConfig
from llm_platform.config.base import NAMESPACE
from llm_platform.config.gcp import GcpStackConfig

# Every top-level key of ours, whatever the cloud (the stack models' camelCase keys).
OUR_KEYS = frozenset(field.alias or name for model in (AwsStackConfig, GcpStackConfig) for name, field in model.model_fields.items())
# The namespaces of the providers the program uses and Pulumi's own: their keys are theirs to check.
PROVIDER_NAMESPACES = frozenset({"aws", "gcp", "kubernetes", "eks", "random", "pulumi"})
# Keys of ours that many providers also have (`azure-native:location` aside, `<provider>:region` and
# `<provider>:tags` are common): under a namespace that does not look like ours they are someone else's.
SHARED_NAMES = frozenset({"region", "tags"})


def _squashed(namespace: str) -> str:
    return re.sub(r"[^a-z0-9]", "", namespace.lower())


def key_problem(key: str) -> str | None:
    """Why the flat config key `key` is refused, or None when it is ours or another namespace's."""
    namespace, colon, name = key.partition(":")
    if not colon:
        hint = f"; did you mean '{NAMESPACE}:{key}'?" if key in OUR_KEYS else ""
        return f"config keys are '<namespace>:<key>', and this stack's are '{NAMESPACE}:<key>'{hint}"
    if namespace == NAMESPACE:
        if name.startswith("config:"):
            return f"write it as '{NAMESPACE}:{name.removeprefix('config:')}'"
        return None
    looks_like_ours = _squashed(namespace) == _squashed(NAMESPACE) or difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.75
    if looks_like_ours or (name in OUR_KEYS - SHARED_NAMES and namespace.lower() not in PROVIDER_NAMESPACES):
        return f"unknown namespace '{namespace}': did you mean '{NAMESPACE}:{name}'?"
    return None

"""IAM policy documents written by this project (upstream ones live beside this module as data)."""

from __future__ import annotations

import json
from typing import Any


def policy_json(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

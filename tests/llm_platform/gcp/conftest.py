from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pytest

from llm_platform.config import GcpStackConfig
from llm_platform.platform.deploy import ClusterBase
from tests.conftest import Declared
from tests.llm_platform.gcp.gke import declare_once, stack_config


@dataclass
class BuiltBase:
    declared: Declared
    base: ClusterBase
    config: GcpStackConfig


@pytest.fixture(scope="module")
def gke_base() -> BuiltBase:
    """The GCP base (`base.build`) of the small stack in gke.py with the platform deployed on what it hands
    over, and its exports, as `__main__.py` composes and exports them."""
    from llm_platform.gcp.base import build
    from llm_platform.platform.deploy import deploy

    cfg = stack_config()
    built: dict[str, ClusterBase] = {}

    def program() -> None:
        base = built["base"] = build(cfg)
        deploy(cfg, base)
        for key, value in base.exports.items():
            pulumi.export(key, value)
        pulumi.export("modelBucket", base.bucket)

    declared = declare_once(program, region=cfg.region)
    return BuiltBase(declared=declared, base=built["base"], config=cfg)

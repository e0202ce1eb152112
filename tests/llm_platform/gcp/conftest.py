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
    """The GCP base (`base.build`) of the small stack in gke.py, with the model servers declared on what it
    hands the platform (as `deploy` declares them) and its exports, as `__main__.py` exports them."""
    from llm_platform.gcp.base import build
    from llm_platform.platform.serving import Serving, ServingArgs

    cfg = stack_config()
    built: dict[str, ClusterBase] = {}

    def program() -> None:
        base = built["base"] = build(cfg)
        Serving(
            f"{cfg.cluster_name}-serving",
            ServingArgs(
                models=cfg.models,
                bucket=base.bucket,
                object_store=base.object_store,
                service_account_annotations=base.service_account_annotations,
                vpc_cidr=base.network_cidr,
                ingress=base.ingress,
                hugging_face_token=None,
            ),
            opts=pulumi.ResourceOptions(providers={"kubernetes": base.k8s_provider}, depends_on=base.capacity),
        )
        for key, value in base.exports.items():
            pulumi.export(key, value)
        pulumi.export("modelBucket", base.bucket)

    declared = declare_once(program, region=cfg.region)
    return BuiltBase(declared=declared, base=built["base"], config=cfg)

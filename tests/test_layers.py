"""The three layers hold: shared code never imports a cloud, a cloud never imports the other, the
contract is standard library only, and the policy pack needs nothing outside policies/."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLOUD_MODULES = {"aws": ("llm_platform.aws", "pulumi_aws", "pulumi_eks"), "gcp": ("llm_platform.gcp", "pulumi_gcp")}


def imports(path: Path) -> set[str]:
    """Every module `path` imports, by absolute name (relative imports are not used in this project)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def modules(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in ((ROOT / part).rglob("*.py") if (ROOT / part).is_dir() else [ROOT / part]))


def reaches(path: Path, prefixes: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imports(path) if any(name == p or name.startswith(f"{p}.") for p in prefixes))


SHARED = modules(
    "llm_platform/__init__.py",
    "llm_platform/platform",
    "llm_platform/config",
    "llm_platform/contract.py",
    "llm_platform/resources.py",
    "llm_platform/kubernetes.py",
    "llm_platform/helm.py",
    "llm_platform/pins.py",
)


@pytest.mark.parametrize("path", SHARED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shared_code_imports_no_cloud(path):
    assert reaches(path, CLOUD_MODULES["aws"] + CLOUD_MODULES["gcp"]) == []


@pytest.mark.parametrize("cloud, other", [("aws", "gcp"), ("gcp", "aws")])
def test_a_cloud_base_imports_not_the_other_cloud(cloud, other):
    for path in modules(f"llm_platform/{cloud}"):
        assert reaches(path, CLOUD_MODULES[other]) == [], path


def test_the_contract_is_standard_library_only():
    # It ships into the model pods beside the weight fetcher, where only the vLLM image's Python runs.
    outside = {name.split(".")[0] for name in imports(ROOT / "llm_platform/contract.py")} - set(sys.stdlib_module_names) - {"__future__"}
    assert outside == set()


def test_the_policy_pack_imports_nothing_of_the_program():
    for path in modules("policies"):
        assert reaches(path, ("llm_platform", "tools", "tests")) == [], path


def test_main_only_loads_config_picks_a_base_and_composes():
    assert imports(ROOT / "__main__.py") == {
        "pulumi",
        "llm_platform",
        "llm_platform.config",
        "llm_platform.platform.deploy",
        "llm_platform.platform.deploy.deploy",
        "llm_platform.aws.base",
        "llm_platform.aws.base.build",
        "llm_platform.gcp.base",
        "llm_platform.gcp.base.build",
    }


def test_every_layer_is_seen():
    assert len(SHARED) > 20 and modules("llm_platform/aws") and modules("llm_platform/gcp")

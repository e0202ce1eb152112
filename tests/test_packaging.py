"""pyproject.toml lists every package of the library, so a wheel (not only an editable install, which
finds subpackages on its own) carries all of them."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    roots = {"llm_platform": ROOT / "llm_platform", **{name: ROOT / path for name, path in setuptools["package-dir"].items()}}
    on_disk = {
        ".".join((name, *init.parent.relative_to(path).parts))
        for name, path in roots.items()
        for init in path.rglob("__init__.py")
    }
    assert listed == on_disk

"""The README's layout section matches the tree, both ways, and the paths it names elsewhere exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# The packages the layout section lists module by module.
LISTED_PACKAGES = ("llm_platform", "llm_platform/config", "llm_platform/aws", "llm_platform/gcp", "llm_platform/platform")


def layout_paths() -> set[str]:
    """Every file and folder the layout block names, as paths from the repository root.

    Each line of the block is `<names>  <description>`; names are comma-separated, a folder ends with `/`
    and the lines below it, indented two more, are inside it. A line that starts with the description
    column continues the previous description."""
    block = README.split("## Layout", 1)[1].split("```", 2)[1]
    paths: set[str] = set()
    folders: list[tuple[int, str]] = []
    for line in block.splitlines()[1:]:
        names = re.split(r" {2,}", line.strip(), maxsplit=1)[0]
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent >= 20:
            continue
        folders = [(depth, folder) for depth, folder in folders if depth < indent]
        prefix = "".join(folder for _, folder in folders)
        for name in re.split(r",\s*", names):
            name = re.sub(r"\s*\(.*", "", name)
            if name.endswith((".py", ".yaml", ".json", ".md", ".txt", "/")) or "/" in name:
                paths.add(prefix + name)
        if names.endswith("/"):
            folders.append((indent, names))
    return paths


def test_every_path_in_the_layout_exists():
    paths = layout_paths()
    assert len(paths) > 40
    for path in paths:
        matches = list(ROOT.glob(path.replace("<stack>", "*")))
        assert matches, f"README layout names {path}, which does not exist"


def test_every_module_of_the_listed_packages_is_in_the_layout():
    paths = layout_paths()
    for package in LISTED_PACKAGES:
        for module in sorted((ROOT / package).iterdir()):
            relative = module.relative_to(ROOT).as_posix()
            if module.name in {"__init__.py", "__pycache__"}:
                continue
            entry = relative + ("/" if module.is_dir() else "")
            assert entry in paths or any(p.startswith(entry) for p in paths), f"{entry} is missing from the README's layout"


def test_paths_named_in_backticks_exist():
    named = set(re.findall(r"`((?:llm_platform|policies|tools|tests|docs|\.github)/[\w./<>-]+)`", README))
    assert len(named) > 20
    for path in named:
        assert list(ROOT.glob(path.replace("<stack>", "*"))), f"README names {path}, which does not exist"

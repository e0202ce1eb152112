"""Hugging Face Hub calls the weight tools make, answered from a local repository directory, with every
call recorded: `list_repo_files`, `HfApi.model_info` (sha and siblings) and `snapshot_download`, which
copies only what `allow_patterns` selects (fnmatch, as huggingface_hub's `filter_repo_objects`)."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import huggingface_hub
import pytest

# What a published repository holds besides the model files: documentation, a licence, Git attributes,
# and for Llama the original checkpoint as a pickle (16 GB for the 8B model).
EXTRA_REPO_FILES = {"README.md": b"# card", "LICENSE": b"licence", ".gitattributes": b"*.safetensors filter=lfs", "original/consolidated.00.pth": b"pickle"}


class HubStandIn:
    def __init__(self, repo_dir: Path, sha: str) -> None:
        self.repo_dir = repo_dir
        self.sha = sha
        self.calls: list[dict[str, Any]] = []

    def files(self) -> list[str]:
        return sorted(path.relative_to(self.repo_dir).as_posix() for path in self.repo_dir.rglob("*") if path.is_file())

    def list_repo_files(self, repo_id: str, *, revision: str | None = None, token: str | None = None) -> list[str]:
        self.calls.append({"list": repo_id, "revision": revision, "token": token})
        return self.files()

    def model_info(self, repo_id: str, *, revision: str | None = None, token: str | None = None) -> SimpleNamespace:
        self.calls.append({"info": repo_id, "revision": revision, "token": token})
        return SimpleNamespace(sha=self.sha, siblings=[SimpleNamespace(rfilename=name) for name in self.files()])

    def snapshot_download(self, repo_id: str, *, revision: str | None, local_dir: Path, token: str | None, allow_patterns: list[str]) -> str:
        self.calls.append({"download": repo_id, "revision": revision, "token": token})
        for name in self.files():
            if any(fnmatch.fnmatch(name, pattern) for pattern in allow_patterns):
                (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.repo_dir / name, Path(local_dir) / name)
        return str(local_dir)


def serve_hub(monkeypatch: pytest.MonkeyPatch, snapshot: Path, tmp_path: Path, sha: str = "0123456789abcdef0123456789abcdef01234567") -> HubStandIn:
    """A repository holding the snapshot's files and EXTRA_REPO_FILES."""
    repo = tmp_path / "hub-repo"
    shutil.copytree(snapshot, repo)
    for relative, content in EXTRA_REPO_FILES.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_bytes(content)
    hub = HubStandIn(repo, sha)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", hub.list_repo_files)
    # A method of HfApi: the stand-in ignores the HfApi instance.
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda api, repo_id, **options: hub.model_info(repo_id, **options))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    return hub

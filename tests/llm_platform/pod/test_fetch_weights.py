"""The fetch-weights init container: manifest building and checking, and loading staged, unstaged and
S3-sourced weights into the cache volume."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import huggingface_hub
import pytest


from llm_platform.pod import fetch_weights
from llm_platform.pod.fetch_weights import MANIFEST_NAME, FetchError, build_manifest, parse_manifest, verify_dir
from tools.stage_model import stage
from tests.moto_s3 import moto_bucket

REGION = "us-west-2"
BUCKET = "llm-staging-weights-123456789012"
HF_TOKEN = "hf_TestTokenThatMustNeverBePrinted"
SHARD = "model-00001-of-00002.safetensors"
FILES = {
    "config.json": b'{"architectures": ["MistralForCausalLM"]}',
    "tokenizer.json": b'{"version": "1.0"}',
    SHARD: os.urandom(64 * 1024),
    "model-00002-of-00002.safetensors": os.urandom(16 * 1024),
    "original/params.json": b'{"dim": 4096}',
}


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return root


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    return _write(tmp_path / "snapshot", FILES)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_bucket(monkeypatch, BUCKET, REGION) as client:
        yield client


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "tiny-model"


@pytest.fixture
def pod_env(monkeypatch: pytest.MonkeyPatch, target: Path) -> pytest.MonkeyPatch:
    """The environment the init container gets for a model staged from Hugging Face."""
    monkeypatch.setenv("WEIGHTS_URI", f"s3://{BUCKET}/models/tiny-model")
    monkeypatch.setenv("MODEL_SOURCE", "hf://org/tiny-model")
    monkeypatch.setenv("TARGET_DIR", str(target))
    for name in ("MODEL_REVISION", "VERIFY_HASHES", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def staged(s3: Any, snapshot: Path) -> dict[str, Any]:
    stage(s3, bucket=BUCKET, model="tiny-model", source="hf://org/tiny-model", revision="abc123", snapshot_dir=snapshot)
    return build_manifest("tiny-model", "hf://org/tiny-model", "abc123", snapshot)


def _fetch(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = fetch_weights.main()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _downloads(output: str) -> list[str]:
    return re.findall(r"^downloaded (\S+) \(", output, flags=re.MULTILINE)


# -- manifest ------------------------------------------------------------------------------------


def test_manifest_lists_model_files_sorted_with_sizes_and_hashes(snapshot):
    _write(snapshot, {MANIFEST_NAME: b"{}", ".gitattributes": b"*", ".cache/huggingface/download/config.json.lock": b"", "x.lock": b""})
    manifest = build_manifest("tiny-model", "hf://org/tiny-model", None, snapshot)

    assert [entry["path"] for entry in manifest["files"]] == sorted(FILES)
    assert {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest["files"]} == {
        path: (len(content), hashlib.sha256(content).hexdigest()) for path, content in FILES.items()
    }
    assert manifest["totalBytes"] == sum(map(len, FILES.values()))
    assert (manifest["format"], manifest["model"], manifest["source"], manifest["revision"]) == (1, "tiny-model", "hf://org/tiny-model", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["stagedAt"])


def test_verify_dir_reports_missing_resized_and_corrupted_files_but_not_extra_ones(snapshot):
    manifest = build_manifest("tiny-model", "hf://org/tiny-model", None, snapshot)
    _write(snapshot, {"extra.txt": b"not in the manifest"})
    assert verify_dir(manifest, snapshot, check_hashes=True) == []

    (snapshot / "config.json").unlink()
    (snapshot / "tokenizer.json").write_bytes(b"{}")
    corrupted = bytearray(FILES[SHARD])
    corrupted[0] ^= 0xFF
    (snapshot / SHARD).write_bytes(bytes(corrupted))

    missing = "missing: config.json"
    resized = f"size mismatch: tokenizer.json: expected {len(FILES['tokenizer.json'])} bytes, found 2"
    mismatch = f"sha256 mismatch: {SHARD}: expected {hashlib.sha256(FILES[SHARD]).hexdigest()}, found {hashlib.sha256(corrupted).hexdigest()}"
    assert verify_dir(manifest, snapshot, check_hashes=False) == [missing, resized]
    assert verify_dir(manifest, snapshot, check_hashes=True) == [missing, mismatch, resized]


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_a_manifest_path_outside_the_target_is_rejected(path):
    with pytest.raises(FetchError, match="unsafe path"):
        parse_manifest(b'{"format": 1, "files": [{"path": "%s", "size": 1, "sha256": "x"}]}' % path.encode())


def test_an_unknown_manifest_format_is_rejected():
    with pytest.raises(FetchError, match="unsupported manifest format 2"):
        parse_manifest(b'{"format": 2, "files": []}')


def test_the_fetcher_imports_only_the_standard_library_boto3_and_huggingface_hub():
    # It runs on the vLLM image from a ConfigMap, where nothing else is installed.
    tree = ast.parse(Path(fetch_weights.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"boto3", "botocore", "huggingface_hub"}


# -- fetching staged weights ---------------------------------------------------------------------


def test_staged_weights_are_downloaded_verified_and_kept_on_the_next_start(staged, pod_env, target, capsys):
    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert sorted(_downloads(output)) == sorted(FILES)
    assert verify_dir(staged, target, check_hashes=True) == []
    assert "verified 5 files (sizes and sha256)" in output
    mtimes = {path: (target / path).stat().st_mtime_ns for path in FILES}

    code, output, _ = _fetch(capsys)
    assert code == 0
    assert _downloads(output) == []
    assert "0 files downloaded (0 B), 5 already present" in output
    assert {path: (target / path).stat().st_mtime_ns for path in FILES} == mtimes


def test_a_partly_filled_cache_downloads_only_what_is_missing_or_truncated(staged, pod_env, target, capsys):
    _write(target, {"config.json": FILES["config.json"], SHARD: FILES[SHARD][:100]})
    code, output, _ = _fetch(capsys)
    assert code == 0
    assert sorted(_downloads(output)) == sorted(set(FILES) - {"config.json"})


def test_a_corrupted_cache_file_of_the_right_size_is_downloaded_again(staged, pod_env, target, capsys):
    # Chosen behaviour: a hash mismatch in the cache is repaired by one more download, not reported.
    assert _fetch(capsys)[0] == 0
    (target / SHARD).write_bytes(bytes(len(FILES[SHARD])))

    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert f"sha256 mismatch: {SHARD}: expected {hashlib.sha256(FILES[SHARD]).hexdigest()}" in output
    assert _downloads(output) == [SHARD]
    assert (target / SHARD).read_bytes() == FILES[SHARD]


def test_without_hash_checks_only_sizes_are_compared(staged, pod_env, target, capsys):
    assert _fetch(capsys)[0] == 0
    (target / SHARD).write_bytes(bytes(len(FILES[SHARD])))
    pod_env.setenv("VERIFY_HASHES", "false")

    code, output, _ = _fetch(capsys)
    assert code == 0 and "(sizes only)" in output and _downloads(output) == []
    assert (target / SHARD).read_bytes() != FILES[SHARD]


def test_an_s3_object_that_differs_from_the_manifest_is_reported(staged, s3, pod_env, capsys):
    s3.put_object(Bucket=BUCKET, Key=f"models/tiny-model/{SHARD}", Body=bytes(len(FILES[SHARD])))
    code, _, errors = _fetch(capsys)
    assert code == 1
    assert errors.splitlines() == [f"error: sha256 mismatch: {SHARD}: expected {hashlib.sha256(FILES[SHARD]).hexdigest()}, found {hashlib.sha256(bytes(len(FILES[SHARD]))).hexdigest()}"]


# -- without a manifest --------------------------------------------------------------------------


def test_an_s3_source_without_a_manifest_is_synced_with_size_checks_and_a_warning(s3, pod_env, target, capsys):
    for path, content in FILES.items():
        s3.put_object(Bucket=BUCKET, Key=f"imports/tiny-model/{path}", Body=content)
    s3.put_object(Bucket=BUCKET, Key="imports/tiny-model/original/", Body=b"")
    pod_env.setenv("WEIGHTS_URI", f"s3://{BUCKET}/imports/tiny-model")
    pod_env.setenv("MODEL_SOURCE", f"s3://{BUCKET}/imports/tiny-model")

    code, output, _ = _fetch(capsys)
    assert code == 0
    assert f"warning: no {MANIFEST_NAME} under s3://{BUCKET}/imports/tiny-model" in output
    assert {path: (target / path).read_bytes() for path in FILES} == FILES
    assert _downloads(_fetch(capsys)[1]) == []


def test_an_hf_source_without_a_manifest_falls_back_to_hugging_face(s3, pod_env, snapshot, target, capsys, monkeypatch):
    calls: list[dict[str, Any]] = []

    def snapshot_download(repo_id: str, *, revision: str | None, local_dir: Path, token: str | None) -> str:
        calls.append({"repo_id": repo_id, "revision": revision, "local_dir": Path(local_dir), "token": token})
        shutil.copytree(snapshot, local_dir, dirs_exist_ok=True)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    pod_env.setenv("HF_TOKEN", HF_TOKEN)
    pod_env.setenv("MODEL_REVISION", "main")

    code, output, errors = _fetch(capsys)
    assert code == 0
    assert calls == [{"repo_id": "org/tiny-model", "revision": "main", "local_dir": target, "token": HF_TOKEN}]
    assert {path: (target / path).read_bytes() for path in FILES} == FILES
    assert "the weights were not staged in S3" in output
    assert f"make stage-model` (python -m tools.stage_model --bucket {BUCKET} --model tiny-model --source hf://org/tiny-model --revision main)" in output
    assert HF_TOKEN not in output + errors


def test_an_unreadable_manifest_location_fails_instead_of_falling_back(s3, pod_env, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *args, **kwargs: pytest.fail("fell back to Hugging Face"))
    pod_env.setenv("WEIGHTS_URI", "s3://llm-missing-weights-123456789012/models/tiny-model")
    code, _, errors = _fetch(capsys)
    assert code == 1 and "NoSuchBucket" in errors


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEIGHTS_URI", "", "WEIGHTS_URI is not set"),
        ("WEIGHTS_URI", "https://example.com/weights", "'https://example.com/weights' must be s3://<bucket>[/<prefix>]"),
        ("MODEL_SOURCE", "org/tiny-model", "source 'org/tiny-model' must be hf://<org>/<model>"),
        ("VERIFY_HASHES", "yes", "VERIFY_HASHES is 'yes'; it must be 'true' or 'false'"),
    ],
)
def test_a_misconfigured_environment_exits_2(pod_env, capsys, name, value, message):
    pod_env.setenv(name, value)
    code, _, errors = _fetch(capsys)
    assert code == 2 and message in errors

"""`make stage-model` puts every file under models/<name>/ with SSE-KMS, the manifest last, and refuses bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import huggingface_hub
import pytest


from llm_platform.pod.fetch_weights import MANIFEST_NAME
from tools.stage_model import main, stage
from tests.moto_s3 import moto_bucket

REGION = "us-west-2"
BUCKET = "llm-staging-weights-123456789012"
KMS_KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PREFIX = "models/tiny-model"
HF_TOKEN = "hf_TestTokenThatMustNeverBePrinted"
FILES = {
    "config.json": b'{"architectures": ["MistralForCausalLM"]}',
    "tokenizer.json": b'{"version": "1.0"}',
    "model-00001-of-00002.safetensors": os.urandom(96 * 1024),
    "model-00002-of-00002.safetensors": os.urandom(32 * 1024),
    "original/params.json": b'{"dim": 4096}',
}


class Recording:
    """An S3 client that records the order of writes to the bucket."""

    def __init__(self, client: Any):
        self._client = client
        self.writes: list[tuple[str, str]] = []

    def upload_file(self, filename: str, bucket: str, key: str, **kwargs: Any) -> None:
        self.writes.append(("upload", key))
        self._client.upload_file(filename, bucket, key, **kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        self.writes.append(("put", kwargs["Key"]))
        return self._client.put_object(**kwargs)

    def delete_object(self, **kwargs: Any) -> Any:
        self.writes.append(("delete", kwargs["Key"]))
        return self._client.delete_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    with moto_bucket(monkeypatch, BUCKET, REGION) as client:
        client.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}}]},
        )
        yield client


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    root = tmp_path / "snapshot"
    for relative, content in {**FILES, ".gitattributes": b"*.safetensors filter=lfs", ".cache/huggingface/download/config.json.lock": b""}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return root


def _keys(s3: Any) -> list[str]:
    return [obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _stage(s3: Any, snapshot: Path) -> Any:
    return stage(s3, bucket=BUCKET, model="tiny-model", source="hf://org/tiny-model", revision="abc123", snapshot_dir=snapshot)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--bucket", BUCKET, "--model", "tiny-model", "--source", "hf://org/tiny-model", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_file_goes_under_the_model_prefix_and_the_manifest_last(s3, snapshot):
    recording = Recording(s3)
    result = _stage(recording, snapshot)

    expected = sorted(f"{PREFIX}/{path}" for path in FILES)
    manifest_key = f"{PREFIX}/{MANIFEST_NAME}"
    assert recording.writes == [("delete", manifest_key), *(("upload", key) for key in expected), ("put", manifest_key)]
    assert sorted(_keys(s3)) == sorted([*expected, manifest_key])
    assert result.manifest_uri == f"s3://{BUCKET}/{PREFIX}/{MANIFEST_NAME}"
    assert (len(result.uploaded), result.skipped, result.uploaded_bytes) == (len(FILES), (), sum(map(len, FILES.values())))

    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{MANIFEST_NAME}")["Body"].read())
    assert (manifest["model"], manifest["source"], manifest["revision"]) == ("tiny-model", "hf://org/tiny-model", "abc123")
    assert {entry["path"]: entry["sha256"] for entry in manifest["files"]} == {p: hashlib.sha256(c).hexdigest() for p, c in FILES.items()}
    for path, content in FILES.items():
        head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}")
        assert head["Metadata"]["sha256"] == hashlib.sha256(content).hexdigest()


def test_every_object_is_encrypted_with_the_bucket_kms_key(s3, snapshot):
    _stage(s3, snapshot)
    for key in _keys(s3):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY), key


def test_restaging_skips_unchanged_files_and_withdraws_the_manifest_while_files_change(s3, snapshot):
    _stage(s3, snapshot)
    recording = Recording(s3)
    again = _stage(recording, snapshot)
    assert (again.uploaded, len(again.skipped)) == ((), len(FILES))
    assert recording.writes == [("put", f"{PREFIX}/{MANIFEST_NAME}")]

    (snapshot / "config.json").write_bytes(b'{"architectures": ["LlamaForCausalLM"]}')
    recording = Recording(s3)
    changed = _stage(recording, snapshot)
    assert changed.uploaded == ("config.json",)
    manifest_key = f"{PREFIX}/{MANIFEST_NAME}"
    assert recording.writes == [("delete", manifest_key), ("upload", f"{PREFIX}/config.json"), ("put", manifest_key)]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--model", "Mistral_7B", "model name 'Mistral_7B' must be a DNS label"),
        ("--model", "x" * 64, "at most 63 characters"),
        ("--source", "mistralai/Mistral-7B", "source 'mistralai/Mistral-7B' must be hf://<org>/<model>"),
        ("--source", "s3://other/models/x", "source 's3://other/models/x' must be hf://<org>/<model>"),
        ("--bucket", "llm-missing-weights-123456789012", "bucket 'llm-missing-weights-123456789012' does not exist"),
    ],
)
def test_refusals_exit_2_naming_the_value(s3, snapshot, capsys, option, value, message):
    args = {"--bucket": BUCKET, "--model": "tiny-model", "--source": "hf://org/tiny-model", option: value}
    code = main([*(part for pair in args.items() for part in pair), "--from-dir", str(snapshot)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert _keys(s3) == []


def test_a_directory_without_model_files_is_refused(s3, tmp_path, capsys):
    code, output = _run(capsys, "--from-dir", str(tmp_path))
    assert code == 2 and "holds no model files" in output


def test_dry_run_uploads_nothing(s3, snapshot, capsys):
    code, output = _run(capsys, "--from-dir", str(snapshot), "--dry-run")
    assert code == 0
    assert _keys(s3) == []
    assert "would upload model-00001-of-00002.safetensors" in output
    assert f"dry run: would upload {len(FILES)} files" in output


def test_downloads_the_resolved_revision_with_the_token_and_never_prints_it(s3, snapshot, capsys, monkeypatch):
    calls: list[dict[str, Any]] = []

    def model_info(self: Any, repo_id: str, *, revision: str | None = None, token: str | None = None) -> SimpleNamespace:
        calls.append({"info": repo_id, "revision": revision, "token": token})
        return SimpleNamespace(sha="0123456789abcdef0123456789abcdef01234567")

    def snapshot_download(repo_id: str, *, revision: str, local_dir: Path, token: str | None) -> str:
        calls.append({"download": repo_id, "revision": revision, "token": token})
        shutil.copytree(snapshot, local_dir, dirs_exist_ok=True)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    code, output = _run(capsys, "--revision", "main")

    assert code == 0, output
    assert calls == [
        {"info": "org/tiny-model", "revision": "main", "token": HF_TOKEN},
        {"download": "org/tiny-model", "revision": "0123456789abcdef0123456789abcdef01234567", "token": HF_TOKEN},
    ]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{MANIFEST_NAME}")["Body"].read())
    assert manifest["revision"] == "0123456789abcdef0123456789abcdef01234567"
    assert f"uploaded {len(FILES)} files" in output and f"manifest s3://{BUCKET}/{PREFIX}/{MANIFEST_NAME}" in output
    assert HF_TOKEN not in output


def test_stack_mode_takes_bucket_source_and_region_from_the_stack(s3, snapshot, capsys):
    # moto's account is 123456789012, so the staging stack's bucket is the fixture's bucket.
    code = main(["--stack", "staging", "--model", "mistral-7b-instruct", "--from-dir", str(snapshot)])
    assert code == 0, capsys.readouterr().err
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="models/mistral-7b-instruct/")["Contents"]]
    assert f"models/mistral-7b-instruct/{MANIFEST_NAME}" in keys
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"models/mistral-7b-instruct/{MANIFEST_NAME}")["Body"].read())
    assert manifest["source"] == "hf://mistralai/Mistral-7B-Instruct-v0.3"


def test_stack_mode_refuses_a_model_the_stack_does_not_serve(s3, snapshot, capsys):
    assert main(["--stack", "staging", "--model", "llama-3-1-8b-instruct", "--from-dir", str(snapshot)]) == 2
    assert "stack staging serves no such model" in capsys.readouterr().err

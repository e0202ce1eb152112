"""`make stage-model` puts every file under models/<name>/ (in S3 with SSE-KMS, in Cloud Storage through
resumable uploads), the manifest last, and refuses bad input. S3 is moto; Cloud Storage is the in-process
stand-in the fetcher's tests use."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from llm_platform.platform.pod import fetch_weights
from llm_platform.platform.pod.fetch_weights import MANIFEST_NAME, GCSStore, fetch, settings_from_env, verify_dir
from tests.hub_stand_in import serve_hub
from tests.llm_platform.platform.pod.gcs_stand_in import Fault, GCSStandIn, serve_gcs
from tests.moto_s3 import moto_bucket
from tools.stage_model import GCSStaging, UserCredentials, main, stage

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
        ("--model", "x" * 41, "of at most 40 characters, as the stack configuration requires"),
        ("--source", "mistralai/Mistral-7B", "'mistralai/Mistral-7B' must be hf://<org>/<model>"),
        ("--source", "s3://other/models/x", "'s3://other/models/x' must be hf://<org>/<model>"),
        ("--bucket", "llm-missing-weights-123456789012", "bucket 'llm-missing-weights-123456789012' does not exist"),
        ("--bucket", "gs://llm-staging-weights/models", "--bucket 'gs://llm-staging-weights/models' must be a bucket: gs://<bucket> for Cloud Storage"),
        ("--bucket", "Not_A_Bucket", "--bucket 'Not_A_Bucket' must be a bucket"),
    ],
)
def test_refusals_exit_2_naming_the_value(s3, snapshot, capsys, option, value, message):
    args = {"--bucket": BUCKET, "--model": "tiny-model", "--source": "hf://org/tiny-model", option: value}
    code = main([*(part for pair in args.items() for part in pair), "--from-dir", str(snapshot)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert _keys(s3) == []


def test_only_model_files_are_staged_never_dotfiles_credentials_or_documentation(s3, snapshot, capsys):
    # A saved Hugging Face token (in .cache/huggingface/ or as a dotfile), Git metadata, a README, a
    # licence, custom code and the original pickled checkpoint beside the safetensors stay on disk.
    extras = {
        ".cache/huggingface/token": HF_TOKEN.encode(),
        ".hf_token": HF_TOKEN.encode(),
        ".git/config": b"[core]",
        "README.md": b"# card",
        "LICENSE": b"licence",
        "modeling_custom.py": b"import os",
        "original/consolidated.00.pth": b"pickle",
    }
    for relative, content in extras.items():
        (snapshot / relative).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / relative).write_bytes(content)
    code, output = _run(capsys, "--from-dir", str(snapshot))
    assert code == 0, output
    assert sorted(_keys(s3)) == sorted([f"{PREFIX}/{path}" for path in FILES] + [f"{PREFIX}/{MANIFEST_NAME}"])
    assert all(HF_TOKEN.encode() not in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in _keys(s3))


def test_pickled_weights_are_staged_when_a_model_has_no_safetensors(s3, tmp_path):
    files = {"config.json": b"{}", "pytorch_model.bin": b"pickle", "tokenizer.model": b"spm"}
    for relative, content in files.items():
        (tmp_path / relative).write_bytes(content)
    result = _stage(s3, tmp_path)
    assert sorted(result.uploaded) == sorted(files)


@pytest.mark.parametrize("link", ["file", "directory"])
def test_a_symlink_leading_out_of_the_snapshot_is_refused(s3, snapshot, tmp_path, capsys, link):
    secrets = tmp_path / "elsewhere"
    secrets.mkdir()
    (secrets / "credentials.json").write_bytes(b'{"aws_secret_access_key": "x"}')
    if link == "file":
        (snapshot / "generation_config.json").symlink_to(secrets / "credentials.json")
        named = snapshot / "generation_config.json"
    else:
        (snapshot / "extra").symlink_to(secrets, target_is_directory=True)
        named = snapshot / "extra"
    code, output = _run(capsys, "--from-dir", str(snapshot))
    assert code == 2
    assert f"{named} is a symlink leading out of {snapshot}: only files inside the snapshot directory are staged" in output
    assert _keys(s3) == []


def test_a_snapshot_in_the_hugging_face_cache_is_read_through_its_links_into_blobs(s3, tmp_path, capsys):
    # huggingface_hub's cache: <repo>/snapshots/<sha>/<file> -> ../../blobs/<hash>.
    repo = tmp_path / "hub" / "models--org--tiny-model"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    for relative, content in FILES.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        (snapshot / relative).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / relative).symlink_to(os.path.relpath(blob, (snapshot / relative).parent))
    code, output = _run(capsys, "--from-dir", str(snapshot))
    assert code == 0, output
    assert {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in _keys(s3) if not key.endswith(MANIFEST_NAME)} == {
        f"{PREFIX}/{path}": content for path, content in FILES.items()
    }


class Interrupted(Exception):
    pass


def test_an_interrupted_run_leaves_no_manifest_pods_refuse_it_and_running_again_resumes(s3, snapshot, tmp_path, monkeypatch, capsys):
    _stage(s3, snapshot)
    # The snapshot changes (a new revision) and the next run dies after its first upload.
    (snapshot / "config.json").write_bytes(b'{"architectures": ["LlamaForCausalLM"], "v": 2}')
    (snapshot / "model-00002-of-00002.safetensors").write_bytes(os.urandom(1024))
    recording = Recording(s3)
    uploads = iter([None])
    original = recording.upload_file

    def dies_after_one(*args: Any, **kwargs: Any) -> None:
        if next(uploads, Interrupted) is Interrupted:
            raise Interrupted()
        original(*args, **kwargs)

    recording.upload_file = dies_after_one  # type: ignore[method-assign]
    with pytest.raises(Interrupted):
        _stage(recording, snapshot)
    assert f"{PREFIX}/{MANIFEST_NAME}" not in _keys(s3)

    env = {"WEIGHTS_URI": f"s3://{BUCKET}/{PREFIX}", "MODEL_SOURCE": "hf://org/tiny-model", "TARGET_DIR": str(tmp_path / "cache"), "REQUIRE_MANIFEST": "true"}
    with pytest.raises(fetch_weights.FetchError, match="the weights are not staged completely"):
        fetch(settings_from_env(env), fetch_weights.S3Store(s3))

    recording = Recording(s3)
    resumed = _stage(recording, snapshot)
    assert resumed.uploaded == ("model-00002-of-00002.safetensors",)
    assert recording.writes[-1] == ("put", f"{PREFIX}/{MANIFEST_NAME}")
    fetch(settings_from_env(env), fetch_weights.S3Store(s3))
    assert verify_dir(json.loads(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{MANIFEST_NAME}")["Body"].read()), tmp_path / "cache", check_hashes=True) == []


def test_a_directory_without_model_files_is_refused(s3, tmp_path, capsys):
    code, output = _run(capsys, "--from-dir", str(tmp_path))
    assert code == 2 and "holds no model files" in output


def test_dry_run_uploads_nothing(s3, snapshot, capsys):
    code, output = _run(capsys, "--from-dir", str(snapshot), "--dry-run")
    assert code == 0
    assert _keys(s3) == []
    assert "would upload model-00001-of-00002.safetensors" in output
    assert f"dry run: would upload {len(FILES)} files" in output


def test_downloads_the_model_files_of_the_resolved_revision_with_the_token_and_never_prints_it(s3, snapshot, capsys, monkeypatch, tmp_path):
    hub = serve_hub(monkeypatch, snapshot, tmp_path)
    code, output = _run(capsys, "--revision", "main")

    assert code == 0, output
    assert hub.calls == [
        {"info": "org/tiny-model", "revision": "main", "token": HF_TOKEN},
        {"download": "org/tiny-model", "revision": hub.sha, "token": HF_TOKEN},
    ]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{MANIFEST_NAME}")["Body"].read())
    assert manifest["revision"] == hub.sha
    # Neither downloaded nor staged: the README, the licence, .gitattributes, original/consolidated.00.pth.
    assert sorted(_keys(s3)) == sorted([f"{PREFIX}/{path}" for path in FILES] + [f"{PREFIX}/{MANIFEST_NAME}"])
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


def test_stack_mode_finds_a_canary_by_its_name_with_its_own_revision(s3, monkeypatch, tmp_path):
    import argparse

    import yaml

    from llm_platform.config.stack_file import read_stack_file
    from tools import preview
    from tools.stage_model import resolve_from_stack

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "Pulumi.production.yaml").read_text())
    config["config"]["llm-platform:models"][0]["canary"] = {"revision": "3e1c0d4b" * 5, "poolGroup": "a10g-burst"}
    stack_file = tmp_path / "Pulumi.production.yaml"
    stack_file.write_text(yaml.safe_dump(config))
    monkeypatch.setattr(preview, "load_stack_file", lambda stack: read_stack_file(stack_file))
    args = argparse.Namespace(stack="production", model="llama-3-1-8b-instruct-canary", source=None, revision=None, bucket=None, region=None)
    resolve_from_stack(args)
    assert (args.source, args.revision, args.bucket) == ("hf://meta-llama/Llama-3.1-8B-Instruct", "3e1c0d4b" * 5, "llm-production-weights-123456789012")


def test_stack_mode_refuses_a_model_the_stack_does_not_serve(s3, snapshot, capsys):
    assert main(["--stack", "staging", "--model", "llama-3-1-8b-instruct", "--from-dir", str(snapshot)]) == 2
    assert "stack staging serves no such model" in capsys.readouterr().err


# -- Google Cloud Storage ------------------------------------------------------------------------

# The staging-gcp stack's bucket, <clusterName>-weights-<gcp.project>.
GCS_BUCKET = "llm-staging-weights-llm-platform-staging"
USER_TOKEN = "ya29.a-user-token-that-must-never-be-printed"
GCLOUD_TOKEN = "ya29.a-gcloud-token-that-must-never-be-printed"
CHUNK = 256 * 1024
BIG = "model-00003-of-00003.safetensors"
BIG_CONTENT = os.urandom(2 * CHUNK + 100 * 1024)


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[GCSStandIn]:
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    with serve_gcs({GCS_BUCKET}) as stand_in:
        stand_in.user_tokens += [USER_TOKEN, GCLOUD_TOKEN]
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", stand_in.endpoint)
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", USER_TOKEN)
        # A proxy of the developer's must not stand between the tool and a stand-in on loopback.
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(fetch_weights, "HTTP_FIRST_BACKOFF_SECONDS", 0.0)
        yield stand_in


def _gcs_stage(stand_in: GCSStandIn, snapshot: Path) -> Any:
    store = GCSStaging(stand_in.endpoint, UserCredentials(os.environ), chunk_bytes=CHUNK)
    return stage(store, bucket=GCS_BUCKET, model="tiny-model", source="hf://org/tiny-model", revision="abc123", snapshot_dir=snapshot)


def _gcs_run(capsys: pytest.CaptureFixture[str], *args: str, bucket: str = GCS_BUCKET) -> tuple[int, str]:
    code = main(["--bucket", f"gs://{bucket}", "--model", "tiny-model", "--source", "hf://org/tiny-model", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _writes(stand_in: GCSStandIn) -> list[tuple[str, str]]:
    return [(method, name) for method, name, _ in stand_in.writes]


def _fake_gcloud(directory: Path, script: str) -> str:
    """A directory for PATH holding a `gcloud` that runs `script`."""
    directory.mkdir()
    gcloud = directory / "gcloud"
    gcloud.write_text(f"#!/bin/sh\n{script}\n")
    gcloud.chmod(0o755)
    return str(directory)


def test_stack_mode_stages_a_gcp_stack_in_its_cloud_storage_bucket_the_manifest_last(gcs, snapshot, capsys):
    code = main(["--stack", "staging-gcp", "--model", "mistral-7b-instruct", "--from-dir", str(snapshot)])
    captured = capsys.readouterr()
    output = captured.out + captured.err

    assert code == 0, output
    prefix = "models/mistral-7b-instruct"
    manifest_name = f"{prefix}/{MANIFEST_NAME}"
    assert _writes(gcs) == [
        ("DELETE", manifest_name),
        *((method, f"{prefix}/{path}") for path in sorted(FILES) for method in ("POST", "PUT")),
        ("POST", manifest_name),
        ("PUT", manifest_name),
    ]
    assert {name: content for (_, name), content in gcs.objects.items() if name != manifest_name} == {f"{prefix}/{path}": content for path, content in FILES.items()}
    for path, content in FILES.items():
        assert gcs.attributes[(GCS_BUCKET, f"{prefix}/{path}")] == {
            "contentType": "application/octet-stream",
            "metadata": {"sha256": hashlib.sha256(content).hexdigest()},
        }
    manifest = json.loads(gcs.objects[(GCS_BUCKET, manifest_name)])
    assert (manifest["model"], manifest["source"]) == ("mistral-7b-instruct", "hf://mistralai/Mistral-7B-Instruct-v0.3")
    assert gcs.attributes[(GCS_BUCKET, manifest_name)]["contentType"] == "application/json"
    assert f"uploaded {len(FILES)} files" in output and f"manifest gs://{GCS_BUCKET}/{manifest_name}" in output
    assert {token for _, token in gcs.storage_requests} == {USER_TOKEN}
    assert USER_TOKEN not in output and HF_TOKEN not in output


def test_restaging_in_gcs_skips_unchanged_files_and_withdraws_the_manifest_while_files_change(gcs, snapshot):
    _gcs_stage(gcs, snapshot)
    manifest_name = f"{PREFIX}/{MANIFEST_NAME}"
    gcs.writes.clear()
    again = _gcs_stage(gcs, snapshot)
    assert (again.uploaded, len(again.skipped)) == ((), len(FILES))
    assert _writes(gcs) == [("POST", manifest_name), ("PUT", manifest_name)]

    (snapshot / "config.json").write_bytes(b'{"architectures": ["LlamaForCausalLM"]}')
    gcs.writes.clear()
    changed = _gcs_stage(gcs, snapshot)
    assert changed.uploaded == ("config.json",)
    assert _writes(gcs) == [
        ("DELETE", manifest_name),
        ("POST", f"{PREFIX}/config.json"),
        ("PUT", f"{PREFIX}/config.json"),
        ("POST", manifest_name),
        ("PUT", manifest_name),
    ]
    assert gcs.objects[(GCS_BUCKET, f"{PREFIX}/config.json")] == b'{"architectures": ["LlamaForCausalLM"]}'


def test_a_file_larger_than_a_chunk_goes_up_in_chunks_of_256_kib(gcs, snapshot):
    (snapshot / BIG).write_bytes(BIG_CONTENT)
    _gcs_stage(gcs, snapshot)

    size = len(BIG_CONTENT)
    assert gcs.chunk_ranges(f"{PREFIX}/{BIG}") == [f"bytes 0-{CHUNK - 1}/{size}", f"bytes {CHUNK}-{2 * CHUNK - 1}/{size}", f"bytes {2 * CHUNK}-{size - 1}/{size}"]
    assert gcs.objects[(GCS_BUCKET, f"{PREFIX}/{BIG}")] == BIG_CONTENT


@pytest.mark.parametrize("kept", [False, True], ids=["the server lost the chunk", "the server kept the chunk"])
def test_a_503_on_a_chunk_is_retried_from_the_range_the_server_reports(gcs, snapshot, capsys, kept):
    (snapshot / BIG).write_bytes(BIG_CONTENT)
    gcs.faults.append(Fault(f"name={PREFIX}/{BIG}", method="PUT", status=503, keep_chunk=kept, after=1))
    _gcs_stage(gcs, snapshot)

    size = len(BIG_CONTENT)
    second = f"bytes {CHUNK}-{2 * CHUNK - 1}/{size}"
    # After the 503 an empty PUT asks how much the server has; only what it lacks is sent again.
    assert gcs.chunk_ranges(f"{PREFIX}/{BIG}") == [
        f"bytes 0-{CHUNK - 1}/{size}",
        second,
        f"bytes */{size}",
        *([] if kept else [second]),
        f"bytes {2 * CHUNK}-{size - 1}/{size}",
    ]
    assert gcs.objects[(GCS_BUCKET, f"{PREFIX}/{BIG}")] == BIG_CONTENT
    assert gcs.faults == []
    assert f"retrying uploading gs://{GCS_BUCKET}/{PREFIX}/{BIG} in 0.0s: attempt 1 of 10 failed (HTTP 503)" in capsys.readouterr().out


def test_a_dry_run_in_gcs_uploads_nothing(gcs, snapshot, capsys):
    code, output = _gcs_run(capsys, "--from-dir", str(snapshot), "--dry-run")
    assert code == 0, output
    assert (gcs.writes, gcs.objects) == ([], {})
    assert "would upload model-00001-of-00002.safetensors" in output
    assert f"dry run: would upload {len(FILES)} files" in output and f"manifest gs://{GCS_BUCKET}/{PREFIX}/{MANIFEST_NAME}" in output


def test_a_missing_gcs_bucket_exits_2_naming_it(gcs, snapshot, capsys):
    code, output = _gcs_run(capsys, "--from-dir", str(snapshot), bucket="llm-missing-weights-llm-platform-staging")
    assert code == 2
    assert output.strip() == "error: bucket 'llm-missing-weights-llm-platform-staging' does not exist (a gcp stack's bucket is <clusterName>-weights-<gcp.project>)"
    assert gcs.writes == []


@pytest.mark.parametrize(
    ("refuse", "message"),
    [
        (lambda stand_in, env: setattr(stand_in, "permissions", {"storage.objects.get", "storage.objects.list"}),
         f"error: bucket '{GCS_BUCKET}': the current Google credentials lack storage.objects.create, storage.objects.delete; "),
        (lambda stand_in, env: stand_in.denied_buckets.add(GCS_BUCKET),
         f"error: bucket '{GCS_BUCKET}': the current Google credentials lack storage.objects.create, storage.objects.delete, storage.objects.get; "),
        (lambda stand_in, env: env.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.an-expired-token"),
         f"error: checking access to bucket '{GCS_BUCKET}': HTTP 401 Invalid Credentials; "),
    ],
    ids=["objectViewer only", "no role at all", "an expired token"],
)
def test_gcs_credentials_that_may_not_stage_exit_2_naming_the_bucket_and_the_role(gcs, snapshot, capsys, monkeypatch, refuse, message):
    refuse(gcs, monkeypatch)
    code, output = _gcs_run(capsys, "--from-dir", str(snapshot))
    assert code == 2
    assert output.startswith(message)
    assert output.rstrip().endswith("staging needs roles/storage.objectAdmin on the bucket for your account (objectCreator with objectViewer is not enough: replacing the manifest needs storage.objects.delete)")
    assert gcs.writes == []
    assert "ya29." not in output


def test_without_a_token_in_the_environment_gcloud_is_asked_and_its_token_never_printed(gcs, snapshot, capsys, monkeypatch, tmp_path):
    calls = tmp_path / "gcloud-calls"
    monkeypatch.setenv("PATH", _fake_gcloud(tmp_path / "bin", f'echo "$*" >> {calls}\necho {GCLOUD_TOKEN}'))
    monkeypatch.delenv("GOOGLE_OAUTH_ACCESS_TOKEN")

    code, output = _gcs_run(capsys, "--from-dir", str(snapshot))
    assert code == 0, output
    # One token for the whole run: gcloud is asked again only once its token may be near its end.
    assert calls.read_text() == "auth print-access-token\n"
    assert {token for _, token in gcs.storage_requests} == {GCLOUD_TOKEN}
    assert len(gcs.objects) == len(FILES) + 1
    assert GCLOUD_TOKEN not in output


def test_a_gcloud_token_is_asked_for_again_before_it_can_expire(tmp_path, monkeypatch):
    calls = tmp_path / "gcloud-calls"
    gcloud = _fake_gcloud(tmp_path / "bin", f'echo "$*" >> {calls}\necho ya29.token-$(wc -l < {calls})')
    monkeypatch.setenv("PATH", f"{gcloud}:{os.environ['PATH']}")
    now = [0.0]
    credentials = UserCredentials({}, clock=lambda: now[0])

    assert credentials.token() == "ya29.token-1"
    now[0] = 239.0
    assert credentials.token() == "ya29.token-1"
    now[0] = 240.0
    assert credentials.token() == "ya29.token-2"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (None, "error: `gcloud auth print-access-token` failed: gcloud is not installed (https://cloud.google.com/sdk/docs/install); or set GOOGLE_OAUTH_ACCESS_TOKEN"),
        ('echo "ERROR: (gcloud.auth.print-access-token) You do not currently have an active account selected." >&2; exit 1',
         "error: `gcloud auth print-access-token` failed: ERROR: (gcloud.auth.print-access-token) You do not currently have an active account selected.; "
         "run `gcloud auth login`, or set GOOGLE_OAUTH_ACCESS_TOKEN"),
    ],
    ids=["gcloud missing", "gcloud without a login"],
)
def test_without_a_google_token_staging_exits_2_naming_the_gcloud_command(gcs, snapshot, capsys, monkeypatch, tmp_path, script, message):
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", _fake_gcloud(bin_dir, script) if script else str(bin_dir))
    monkeypatch.delenv("GOOGLE_OAUTH_ACCESS_TOKEN")

    code, output = _gcs_run(capsys, "--from-dir", str(snapshot))
    assert (code, output.strip()) == (2, message)
    assert gcs.writes == []


def test_a_chunk_size_that_is_not_a_multiple_of_256_kib_is_refused():
    with pytest.raises(ValueError, match="chunk_bytes 100000 must be a positive multiple of 262144"):
        GCSStaging("http://127.0.0.1:1", UserCredentials({}), chunk_bytes=100_000)


def test_weights_staged_in_gcs_are_what_the_pods_fetcher_loads(gcs, snapshot, tmp_path):
    (snapshot / BIG).write_bytes(BIG_CONTENT)
    _gcs_stage(gcs, snapshot)

    target = tmp_path / "cache" / "tiny-model"
    settings = settings_from_env({"WEIGHTS_URI": f"gs://{GCS_BUCKET}/{PREFIX}", "MODEL_SOURCE": "hf://org/tiny-model", "TARGET_DIR": str(target)})
    result = fetch(settings, GCSStore.from_env({"STORAGE_EMULATOR_HOST": gcs.endpoint, "GCE_METADATA_HOST": gcs.metadata_host}))

    files = {**FILES, BIG: BIG_CONTENT}
    assert (result.downloaded_files, result.downloaded_bytes) == (len(files), sum(map(len, files.values())))
    assert {path: (target / path).read_bytes() for path in files} == files
    assert verify_dir(json.loads(gcs.objects[(GCS_BUCKET, f"{PREFIX}/{MANIFEST_NAME}")]), target, check_hashes=True) == []

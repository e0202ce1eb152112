"""The fetch-weights init container: manifest building and checking, and loading staged, unstaged and
bucket-sourced weights into the cache volume from S3 (moto) and from Google Cloud Storage (an in-process
stand-in for its JSON API and the metadata server)."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import huggingface_hub
import pytest

from llm_platform.platform.pod import fetch_weights
from llm_platform.platform.pod.fetch_weights import MANIFEST_NAME, FetchError, MetadataCredentials, build_manifest, dump_manifest, parse_manifest, verify_dir
from tests.hub_stand_in import serve_hub
from tests.llm_platform.platform.pod.gcs_stand_in import Fault, GCSStandIn, serve_gcs
from tests.moto_s3 import moto_bucket
from tools.stage_model import stage

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


def _imports(module) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return imported | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_fetcher_imports_only_what_the_vllm_image_and_its_config_map_hold():
    # It runs on the vLLM image from a ConfigMap that ships the contract beside it; nothing else is there.
    from llm_platform import contract

    outside = {name for name in _imports(fetch_weights) if name.split(".")[0] not in sys.stdlib_module_names}
    assert {name.split(".")[0] for name in outside - {"llm_platform.contract"}} == {"boto3", "botocore", "huggingface_hub"}
    assert {name for name in _imports(contract) if name.split(".")[0] not in sys.stdlib_module_names} == set()


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


@pytest.mark.parametrize("store_fixtures", [("staged", "pod_env"), ("gcs_staged", "gcs_env")], ids=["s3", "gcs"])
def test_a_corrupted_cache_file_of_the_right_size_is_downloaded_again(store_fixtures, request, target, capsys):
    # Chosen behaviour: a hash mismatch in the cache is repaired by one more download, not reported.
    for fixture in store_fixtures:
        request.getfixturevalue(fixture)
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


def test_an_hf_source_without_a_manifest_falls_back_to_hugging_face_for_its_model_files_only(s3, pod_env, snapshot, target, capsys, monkeypatch, tmp_path):
    hub = serve_hub(monkeypatch, snapshot, tmp_path)
    pod_env.setenv("HF_TOKEN", HF_TOKEN)
    pod_env.setenv("MODEL_REVISION", "main")

    code, output, errors = _fetch(capsys)
    assert code == 0
    assert hub.calls == [
        {"list": "org/tiny-model", "revision": "main", "token": HF_TOKEN},
        {"download": "org/tiny-model", "revision": "main", "token": HF_TOKEN},
    ]
    # The repository's README, licence, .gitattributes and original/*.pth stay on Hugging Face.
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == sorted(FILES)
    assert {path: (target / path).read_bytes() for path in FILES} == FILES
    assert "the weights were not staged in S3" in output
    assert f"make stage-model` (python -m tools.stage_model --bucket s3://{BUCKET} --model tiny-model --source hf://org/tiny-model --revision main)" in output
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
        ("MODEL_SOURCE", "org/tiny-model", "'org/tiny-model' must be hf://<org>/<model>"),
        ("VERIFY_HASHES", "yes", "VERIFY_HASHES is 'yes'; it must be 'true' or 'false'"),
    ],
)
def test_a_misconfigured_environment_exits_2(pod_env, capsys, name, value, message):
    pod_env.setenv(name, value)
    code, _, errors = _fetch(capsys)
    assert code == 2 and message in errors


# -- Google Cloud Storage ------------------------------------------------------------------------

GCS_BUCKET = "llm-staging-weights-gke-test"
GCS_PREFIX = "models/tiny-model"


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[GCSStandIn]:
    with serve_gcs({GCS_BUCKET}) as stand_in:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", stand_in.endpoint)
        monkeypatch.setenv("GCE_METADATA_HOST", stand_in.metadata_host)
        # Storage requests honour proxies, as they must in a pod; a proxy of the developer's must not
        # stand between the fetcher and a stand-in on loopback.
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(fetch_weights, "HTTP_FIRST_BACKOFF_SECONDS", 0.0)
        yield stand_in


@pytest.fixture
def gcs_env(pod_env: pytest.MonkeyPatch, gcs: GCSStandIn) -> pytest.MonkeyPatch:
    """The environment the init container gets on GKE for a model staged from Hugging Face."""
    pod_env.setenv("WEIGHTS_URI", f"gs://{GCS_BUCKET}/{GCS_PREFIX}")
    return pod_env


def _put_all(stand_in: GCSStandIn, prefix: str, files: dict[str, bytes]) -> None:
    for path, content in files.items():
        stand_in.put(GCS_BUCKET, f"{prefix}/{path}", content)


@pytest.fixture
def gcs_staged(gcs: GCSStandIn, snapshot: Path) -> dict[str, Any]:
    """What `make stage-model` leaves in a bucket: the files, then the manifest."""
    manifest = build_manifest("tiny-model", "hf://org/tiny-model", "abc123", snapshot)
    _put_all(gcs, GCS_PREFIX, FILES)
    gcs.put(GCS_BUCKET, f"{GCS_PREFIX}/{MANIFEST_NAME}", dump_manifest(manifest))
    return manifest


def _no_tokens_in(stand_in: GCSStandIn, *outputs: str) -> bool:
    return bool(stand_in.issued_tokens) and not any(token in output for token in stand_in.issued_tokens for output in outputs)


def test_gcs_staged_weights_are_downloaded_verified_and_kept_with_one_cached_token(gcs_staged, gcs, gcs_env, target, capsys):
    _write(target, {"config.json": FILES["config.json"], SHARD: FILES[SHARD][:100]})

    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert f"manifest gs://{GCS_BUCKET}/{GCS_PREFIX}/{MANIFEST_NAME}: 5 files" in output
    assert sorted(_downloads(output)) == sorted(set(FILES) - {"config.json"})
    assert verify_dir(gcs_staged, target, check_hashes=True) == []
    assert "verified 5 files (sizes and sha256)" in output
    # One token for the manifest and all four downloads, sent with every request.
    assert len(gcs.issued_tokens) == 1
    assert {token for _, token in gcs.storage_requests} == set(gcs.issued_tokens)
    assert len(gcs.storage_requests) == 5
    assert _no_tokens_in(gcs, output, errors)

    code, output, _ = _fetch(capsys)
    assert code == 0 and _downloads(output) == []
    assert "0 files downloaded (0 B), 5 already present" in output


def test_a_gs_source_without_a_manifest_is_synced_page_by_page(gcs, gcs_env, target, capsys):
    _put_all(gcs, "imports/tiny-model", FILES)
    gcs.put(GCS_BUCKET, "imports/tiny-model/original/", b"")
    gcs.put(GCS_BUCKET, "imports/tiny-model-v2/config.json", b"another model under a longer prefix")
    gcs.page_size = 2
    gcs_env.setenv("WEIGHTS_URI", f"gs://{GCS_BUCKET}/imports/tiny-model")
    gcs_env.setenv("MODEL_SOURCE", f"gs://{GCS_BUCKET}/imports/tiny-model")

    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert f"warning: no {MANIFEST_NAME} under gs://{GCS_BUCKET}/imports/tiny-model" in output
    assert {path: (target / path).read_bytes() for path in FILES} == FILES
    assert not (target / "original").is_file() and not (target.parent / "tiny-model-v2").exists()
    # Six objects under the prefix (the five files and the folder placeholder), two to a page.
    listings = [path for path in gcs.list_requests() if "maxResults" not in path]
    assert len(listings) == 3
    assert "pageToken" not in listings[0] and "pageToken=2" in listings[1] and "pageToken=4" in listings[2]
    assert all("prefix=imports%2Ftiny-model%2F&" in path or path.endswith("prefix=imports%2Ftiny-model%2F") for path in listings)
    assert _downloads(_fetch(capsys)[1]) == []


def test_object_names_with_spaces_and_slashes_are_percent_encoded(gcs, gcs_env, target, capsys):
    files = {"tokenizer files/special tokens #1.json": b'{"bos": "<s>"}', "config.json": FILES["config.json"]}
    _put_all(gcs, "imports/tiny-model", files)
    gcs_env.setenv("WEIGHTS_URI", f"gs://{GCS_BUCKET}/imports/tiny-model")
    gcs_env.setenv("MODEL_SOURCE", f"gs://{GCS_BUCKET}/imports/tiny-model")

    code, _, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert {path: (target / path).read_bytes() for path in files} == files
    paths = [path for path, _ in gcs.storage_requests]
    assert f"/storage/v1/b/{GCS_BUCKET}/o/imports%2Ftiny-model%2Ftokenizer%20files%2Fspecial%20tokens%20%231.json?alt=media" in paths


def test_an_hf_source_not_staged_in_gcs_falls_back_to_hugging_face(gcs, gcs_env, snapshot, target, capsys, monkeypatch, tmp_path):
    hub = serve_hub(monkeypatch, snapshot, tmp_path)
    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert [call.get("download") for call in hub.calls] == [None, "org/tiny-model"]
    assert {path: (target / path).read_bytes() for path in FILES} == FILES
    assert f"warning: no {MANIFEST_NAME} under gs://{GCS_BUCKET}/{GCS_PREFIX}: the weights were not staged in GCS" in output
    assert f"--bucket gs://{GCS_BUCKET} --model tiny-model --source hf://org/tiny-model)" in output


def test_a_missing_gcs_bucket_fails_instead_of_falling_back(gcs, gcs_env, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *args, **kwargs: pytest.fail("fell back to Hugging Face"))
    gcs_env.setenv("WEIGHTS_URI", "gs://llm-missing-weights/models/tiny-model")
    code, _, errors = _fetch(capsys)
    assert code == 1
    assert errors.splitlines() == ["error: listing gs://llm-missing-weights: HTTP 404 The specified bucket does not exist."]


def test_gcs_access_denied_is_one_clear_error_line_without_the_token(gcs_staged, gcs, gcs_env, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *args, **kwargs: pytest.fail("fell back to Hugging Face"))
    gcs.denied_buckets.add(GCS_BUCKET)

    code, output, errors = _fetch(capsys)
    assert code == 1
    [line] = errors.splitlines()
    assert line.startswith(f"error: reading gs://{GCS_BUCKET}/{GCS_PREFIX}/{MANIFEST_NAME}: HTTP 403 sa@project.iam.gserviceaccount.com does not have")
    assert line.endswith("; the pod's Kubernetes service account needs read access to the bucket (roles/storage.objectViewer) through Workload Identity")
    assert "retrying" not in output
    assert _no_tokens_in(gcs, output, errors)


def test_transient_gcs_failures_are_retried_without_showing_the_token(gcs_staged, gcs, gcs_env, target, capsys):
    gcs.faults += [
        Fault("/service-accounts/default/token", status=503),
        Fault(f"{GCS_PREFIX}/{MANIFEST_NAME}", status=429),
        Fault(f"{GCS_PREFIX}/{SHARD}", status=503),
        Fault(f"{GCS_PREFIX}/{SHARD}", truncate=True),
    ]

    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    token_url = f"http://{gcs.metadata_host}/computeMetadata/v1/instance/service-accounts/default/token"
    assert f"retrying getting an access token from the metadata server {token_url} in 0.0s: attempt 1 of 10 failed (HTTP 503)" in output
    assert f"retrying reading gs://{GCS_BUCKET}/{GCS_PREFIX}/{MANIFEST_NAME} in 0.0s: attempt 1 of 10 failed (HTTP 429)" in output
    assert f"retrying downloading gs://{GCS_BUCKET}/{GCS_PREFIX}/{SHARD} in 0.0s: attempt 1 of 10 failed (HTTP 503)" in output
    assert f"attempt 2 of 10 failed (the connection closed after {len(FILES[SHARD]) // 2} of {len(FILES[SHARD])} bytes)" in output
    assert (target / SHARD).read_bytes() == FILES[SHARD]
    assert not [path for path in target.rglob("*.partial")]
    assert gcs.faults == []
    assert _no_tokens_in(gcs, output, errors)


def test_a_gcs_failure_that_persists_fails_after_the_last_attempt(gcs_staged, gcs, gcs_env, target, capsys):
    gcs.faults += [Fault(f"{GCS_PREFIX}/{SHARD}", status=503) for _ in range(fetch_weights.HTTP_MAX_ATTEMPTS)]
    code, output, errors = _fetch(capsys)
    assert code == 1
    assert errors.splitlines() == [f"error: downloading gs://{GCS_BUCKET}/{GCS_PREFIX}/{SHARD}: HTTP 503 injected fault (after 10 attempts)"]
    assert output.count("retrying downloading") == 9
    assert not (target / SHARD).exists()


def test_a_redirect_is_refused_rather_than_followed_with_the_token(gcs_staged, gcs, gcs_env, capsys):
    gcs.faults.append(Fault(f"{GCS_PREFIX}/{MANIFEST_NAME}", status=302))
    code, output, errors = _fetch(capsys)
    assert code == 1
    assert errors.splitlines() == [f"error: reading gs://{GCS_BUCKET}/{GCS_PREFIX}/{MANIFEST_NAME}: HTTP 302 Found"]
    assert gcs.elsewhere_requests == []
    assert _no_tokens_in(gcs, output, errors)


def test_an_unreachable_metadata_server_is_one_error_line(gcs_staged, gcs_env, capsys):
    gcs_env.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    code, _, errors = _fetch(capsys)
    assert code == 1
    [line] = errors.splitlines()
    token_url = "http://127.0.0.1:9/computeMetadata/v1/instance/service-accounts/default/token"
    assert line.startswith(f"error: getting an access token from the metadata server {token_url}: ")
    assert line.endswith("(after 10 attempts)")


def test_metadata_tokens_are_cached_and_renewed_before_they_expire(gcs):
    now = [0.0]
    credentials = MetadataCredentials(gcs.metadata_host, clock=lambda: now[0])

    first = credentials.token()
    now[0] = 3599 - 226.0
    assert credentials.token() == first and gcs.issued_tokens == [first]
    now[0] = 3599 - 225.0
    second = credentials.token()
    assert second != first and gcs.issued_tokens == [first, second]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEIGHTS_URI", "gs://Weights_Bucket/models/tiny-model", "the Cloud Storage bucket 'Weights_Bucket' must be 3-63 lowercase letters"),
        ("WEIGHTS_URI", "gs://-weights/models/tiny-model", "the Cloud Storage bucket '-weights' must be 3-63 lowercase letters"),
        ("MODEL_SOURCE", "gs://ab/imports/tiny-model", "the Cloud Storage bucket 'ab' must be 3-63 lowercase letters"),
        ("MODEL_SOURCE", "gs://weights/imports/../secrets", "the prefix 'imports/../secrets' must be '/'-separated segments"),
        ("STORAGE_EMULATOR_HOST", "localhost:9023", "STORAGE_EMULATOR_HOST is 'localhost:9023'; it must be a URL with its scheme"),
    ],
)
def test_a_misconfigured_gcs_environment_exits_2(gcs_env, capsys, name, value, message):
    gcs_env.setenv(name, value)
    code, _, errors = _fetch(capsys)
    assert code == 2 and message in errors


# -- faults: killed fetchers, incomplete staging, links in the cache -----------------------------


REPO_ROOT = Path(__file__).resolve().parents[4]


def _incomplete(target: Path) -> list[Path]:
    return sorted((target / fetch_weights.INCOMPLETE_DIR).iterdir())


def test_a_fetcher_killed_mid_download_leaves_a_partial_file_the_next_start_removes(gcs_staged, gcs, gcs_env, target, capsys):
    # The stand-in sends half the shard and keeps the connection open; the fetcher, a process of its own
    # as in the pod, is killed (SIGKILL: no cleanup runs) while it waits for the rest.
    hold = threading.Event()
    gcs.faults.append(Fault(SHARD, truncate=True, hold=hold))
    process = subprocess.Popen(
        [sys.executable, "-m", "llm_platform.platform.pod.fetch_weights"], cwd=REPO_ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        shard = quote(f"{GCS_PREFIX}/{SHARD}", safe="")
        while not (any(shard in path for path, _ in gcs.storage_requests) and _incomplete(target) and _incomplete(target)[0].stat().st_size):
            assert time.monotonic() < deadline, "the fetcher never wrote part of the shard"
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
        hold.set()
    left = _incomplete(target)
    assert [path.stat().st_size for path in left] == [len(FILES[SHARD]) // 2] and not (target / SHARD).exists()

    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert f"removing 1 incomplete download(s) ({fetch_weights.human_size(len(FILES[SHARD]) // 2)}) an earlier fetch left" in output
    assert _incomplete(target) == []
    assert verify_dir(gcs_staged, target, check_hashes=True) == []


def test_a_failed_download_leaves_no_partial_file(gcs_staged, gcs, gcs_env, target, capsys):
    gcs.faults.append(Fault(SHARD, status=403))
    code, _, errors = _fetch(capsys)
    assert code == 1 and "HTTP 403" in errors
    assert _incomplete(target) == [] and not (target / SHARD).exists()


def test_symlinks_in_the_cache_are_replaced_never_written_through(staged, pod_env, target, tmp_path, capsys):
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "config.json").write_bytes(b"x" * len(FILES["config.json"]))
    target.mkdir(parents=True)
    (target / "original").symlink_to(outside / "dir", target_is_directory=True)
    (target / "config.json").symlink_to(outside / "config.json")
    pod_env.setenv("VERIFY_HASHES", "false")

    code, output, errors = _fetch(capsys)
    assert (code, errors) == (0, "")
    assert list((outside / "dir").iterdir()) == [] and (outside / "config.json").read_bytes() == b"x" * len(FILES["config.json"])
    assert not (target / "original").is_symlink() and not (target / "config.json").is_symlink()
    assert {path: (target / path).read_bytes() for path in FILES} == FILES
    assert f"warning: {target / 'original'} is a symlink; removing it" in output


def test_a_target_directory_that_is_a_symlink_is_replaced(staged, pod_env, target, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    target.parent.mkdir(parents=True)
    target.symlink_to(outside, target_is_directory=True)
    assert _fetch(capsys)[0] == 0
    assert list(outside.iterdir()) == [] and not target.is_symlink()
    assert verify_dir(staged, target, check_hashes=True) == []


@pytest.mark.parametrize("path", ["../escape.json", "/tmp/escape.json", "original/../../escape.json"])
def test_a_manifest_in_the_bucket_naming_a_path_outside_the_target_writes_nothing(s3, pod_env, target, tmp_path, capsys, path):
    manifest = {"format": 1, "files": [{"path": path, "size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()}]}
    s3.put_object(Bucket=BUCKET, Key=f"models/tiny-model/{MANIFEST_NAME}", Body=dump_manifest(manifest))
    code, _, errors = _fetch(capsys)
    assert code == 1 and "unsafe path" in errors
    assert not (tmp_path / "cache" / "escape.json").exists() and not (tmp_path / "escape.json").exists()


def test_with_require_manifest_an_incomplete_staging_fails_instead_of_falling_back(s3, pod_env, snapshot, target, capsys, monkeypatch):
    # What an interrupted `make stage-model` leaves: some files, no manifest.
    s3.put_object(Bucket=BUCKET, Key="models/tiny-model/config.json", Body=FILES["config.json"])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *args, **kwargs: pytest.fail("fell back to Hugging Face"))
    pod_env.setenv("REQUIRE_MANIFEST", "true")
    code, output, errors = _fetch(capsys)
    assert code == 1
    assert f"error: no {MANIFEST_NAME} under s3://{BUCKET}/models/tiny-model: the weights are not staged completely" in errors
    assert not (target / "config.json").exists()


def test_a_pinned_commit_that_is_not_the_staged_revision_fails(staged, pod_env, target, capsys):
    pinned = "0e9e39f249a16976918f6564b8830bc894c89659"
    pod_env.setenv("MODEL_REVISION", pinned)
    code, _, errors = _fetch(capsys)
    assert code == 1
    assert f"holds revision 'abc123' of hf://org/tiny-model, the model pins {pinned}" in errors
    assert not (target / SHARD).exists()

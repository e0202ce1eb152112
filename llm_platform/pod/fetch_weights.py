"""Load a model's weights into the pod's cache volume before vLLM starts (the `fetch-weights` init container).

This file runs with the python3 of the pinned vLLM image and reaches the pod as a ConfigMap, so it is
one self-contained file that imports only the standard library, boto3 and huggingface_hub, never
`llm_platform`. It is also the one definition of the weights manifest: `tools.stage_model` imports it.

Environment:
    WEIGHTS_URI     s3://bucket/prefix holding the weights (the stack bucket's models/<name>, or the s3:// source)
    MODEL_SOURCE    hf://org/model or s3://bucket/prefix: where the weights come from
    MODEL_REVISION  optional Hugging Face revision, used only by the Hugging Face fallback
    TARGET_DIR      directory on the cache volume, e.g. /models/<name>
    VERIFY_HASHES   "true" (default) or "false": check sha256 as well as sizes
    HF_TOKEN        optional Hugging Face token for the fallback; never logged

Manifest: `<prefix>/llm-platform-manifest.json`, written last by `make stage-model`, so its presence
means the upload is complete:

    {"format": 1, "model": "mistral-7b-instruct", "source": "hf://org/model", "revision": "<sha or null>",
     "files": [{"path": "config.json", "size": 123, "sha256": "<hex>"}, ...],
     "totalBytes": 123, "stagedAt": "2026-11-21T08:30:00Z"}

With a manifest, files missing from the cache or of the wrong size are downloaded and everything is
verified. Without one, an hf:// source is downloaded from Hugging Face directly and an s3:// source is
copied object by object with size checks only; both log a warning.

Exit status: 0 the weights are complete in TARGET_DIR, 1 a download or verification failed, 2 the
environment is misconfigured.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping

import boto3
import huggingface_hub
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

MANIFEST_NAME = "llm-platform-manifest.json"
MANIFEST_FORMAT = 1

HF_SOURCE = re.compile(r"^hf://([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)$")
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")

# Weight shards are several GB each and GPU nodes have 25-100+ Gbps of network; boto3's default of
# 10 threads per transfer leaves much of that unused.
TRANSFER_CONFIG = TransferConfig(max_concurrency=16)
# A transient S3 error late in a 100 GB fetch should cost a retry, not a restart of the pod.
S3_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10})


class FetchError(Exception):
    """Stops the fetch; each argument is one problem, logged as one line."""


class ConfigError(FetchError):
    """The environment the init container was given is wrong."""


# -- manifest ------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _is_skipped(relative: PurePosixPath) -> bool:
    # snapshot_download(local_dir=...) keeps its bookkeeping (with *.lock files) in .cache/, and .git*
    # files describe the Hugging Face repository, not the model.
    if relative.as_posix() == MANIFEST_NAME or relative.name.endswith(".lock"):
        return True
    return any(part == ".cache" or part.startswith(".git") for part in relative.parts)


def model_files(root_dir: Path) -> list[str]:
    """Relative posix paths of the model's files under `root_dir`, sorted."""
    relatives = (PurePosixPath(path.relative_to(root_dir).as_posix()) for path in root_dir.rglob("*") if path.is_file())
    return sorted(relative.as_posix() for relative in relatives if not _is_skipped(relative))


def build_manifest(model: str, source: str, revision: str | None, root_dir: str | Path) -> dict[str, Any]:
    root = Path(root_dir)
    files = [{"path": path, "size": (root / path).stat().st_size, "sha256": sha256_file(root / path)} for path in model_files(root)]
    return {
        "format": MANIFEST_FORMAT,
        "model": model,
        "source": source,
        "revision": revision,
        "files": files,
        "totalBytes": sum(entry["size"] for entry in files),
        "stagedAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2) + "\n").encode()


def safe_relative_path(path: object) -> str:
    # Manifest paths and object keys become file names under TARGET_DIR; an absolute path or `..`
    # would write outside the cache volume.
    pure = PurePosixPath(path) if isinstance(path, str) and path else None
    if pure is None or pure.is_absolute() or ".." in pure.parts:
        raise FetchError(f"unsafe path {path!r}: must be relative and must not contain '..'")
    return pure.as_posix()


def parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as error:
        raise FetchError(f"the manifest is not JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise FetchError(f"unsupported manifest format {found!r}: this fetcher reads format {MANIFEST_FORMAT}")
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise FetchError("the manifest lists no files")
    for entry in files:
        if not (isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)):
            raise FetchError(f"malformed manifest entry {entry!r}: needs path, size and sha256")
        safe_relative_path(entry.get("path"))
    return manifest


@dataclass(frozen=True)
class RemoteFile:
    path: str
    """Relative posix path, the same under the S3 prefix and under TARGET_DIR."""
    size: int


def _size_problem(root: Path, remote: RemoteFile) -> str | None:
    local = root / remote.path
    if not local.is_file():
        return f"missing: {remote.path}"
    size = local.stat().st_size
    if size != remote.size:
        return f"size mismatch: {remote.path}: expected {remote.size} bytes, found {size}"
    return None


def _problems_by_path(manifest: dict[str, Any], root: Path, check_hashes: bool) -> dict[str, str]:
    problems: dict[str, str] = {}
    for entry in manifest["files"]:
        problem = _size_problem(root, RemoteFile(entry["path"], entry["size"]))
        if problem is None and check_hashes and (digest := sha256_file(root / entry["path"])) != entry["sha256"]:
            problem = f"sha256 mismatch: {entry['path']}: expected {entry['sha256']}, found {digest}"
        if problem is not None:
            problems[entry["path"]] = problem
    return problems


def verify_dir(manifest: dict[str, Any], root_dir: str | Path, *, check_hashes: bool) -> list[str]:
    """One line per manifest file that is missing, of the wrong size or (if asked) the wrong sha256.
    Files the manifest does not list are fine."""
    return list(_problems_by_path(manifest, Path(root_dir), check_hashes).values())


# -- locations and settings ----------------------------------------------------------------------


def parse_hf_source(source: str) -> str:
    """The repository id of an `hf://org/model` source."""
    match = HF_SOURCE.match(source)
    if not match:
        raise ValueError(f"source {source!r} must be hf://<org>/<model>, a Hugging Face repository id")
    return match.group(1)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    """Without leading or trailing '/'; empty for the whole bucket."""

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        match = S3_URI.match(uri)
        if not match:
            raise ValueError(f"{uri!r} must be s3://<bucket>[/<prefix>]")
        return cls(match.group(1), (match.group(2) or "").strip("/"))

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def uri(self, relative: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(relative) if relative else self.prefix}"


@dataclass(frozen=True)
class Settings:
    weights: S3Location
    source: str
    revision: str | None
    target_dir: Path
    verify_hashes: bool
    # Kept out of repr so that logging the settings can never show it.
    hf_token: str | None = field(default=None, repr=False)


def _required(env: Mapping[str, str], name: str, expected: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (expected {expected})")
    return value


def settings_from_env(env: Mapping[str, str]) -> Settings:
    weights_uri = _required(env, "WEIGHTS_URI", "s3://<bucket>/<prefix>")
    source = _required(env, "MODEL_SOURCE", "hf://<org>/<model> or s3://<bucket>/<prefix>")
    target_dir = _required(env, "TARGET_DIR", "the cache volume directory, e.g. /models/<name>")
    verify = env.get("VERIFY_HASHES", "true").strip().lower()
    if verify not in ("true", "false"):
        raise ConfigError(f"VERIFY_HASHES is {verify!r}; it must be 'true' or 'false'")
    try:
        weights = S3Location.parse(weights_uri)
        if source.startswith("s3://"):
            S3Location.parse(source)
        else:
            parse_hf_source(source)
    except ValueError as error:
        raise ConfigError(f"WEIGHTS_URI/MODEL_SOURCE: {error}") from None
    return Settings(
        weights=weights,
        source=source,
        revision=env.get("MODEL_REVISION", "").strip() or None,
        target_dir=Path(target_dir),
        verify_hashes=verify == "true",
        hf_token=env.get("HF_TOKEN", "").strip() or None,
    )


# -- fetching ------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, flush=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@dataclass(frozen=True)
class FetchResult:
    downloaded_files: int
    downloaded_bytes: int
    present_files: int


def read_manifest(s3: Any, location: S3Location) -> dict[str, Any] | None:
    """The manifest under `location`, or None if the weights were never staged there."""
    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key(MANIFEST_NAME))["Body"].read()
    except ClientError as error:
        # Only a missing manifest means "not staged": AccessDenied or a missing bucket is a
        # misconfiguration that a silent fallback to Hugging Face would hide.
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    try:
        return parse_manifest(body)
    except FetchError as error:
        raise FetchError(f"{location.uri(MANIFEST_NAME)}: {error}") from None


def _download(s3: Any, location: S3Location, files: list[RemoteFile], target: Path) -> int:
    for remote in files:
        local = target / remote.path
        local.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        # download_file writes to a temporary name and renames it when complete, so a container killed
        # mid-transfer never leaves a truncated file under the final name.
        s3.download_file(location.bucket, location.key(remote.path), str(local), Config=TRANSFER_CONFIG)
        log(f"downloaded {remote.path} ({human_size(remote.size)}) in {time.monotonic() - started:.1f}s")
    return sum(remote.size for remote in files)


def _stale(files: list[RemoteFile], target: Path) -> list[RemoteFile]:
    # The cache volume can outlive the container, so files of the right size are kept; the
    # verification that follows catches one whose content is wrong.
    return [remote for remote in files if _size_problem(target, remote) is not None]


def fetch_with_manifest(s3: Any, location: S3Location, manifest: dict[str, Any], target: Path, verify_hashes: bool) -> FetchResult:
    files = [RemoteFile(entry["path"], entry["size"]) for entry in manifest["files"]]
    log(
        f"manifest {location.uri(MANIFEST_NAME)}: {len(files)} files, {human_size(sum(f.size for f in files))}, "
        f"{manifest.get('source')} revision {manifest.get('revision') or '-'}, staged {manifest.get('stagedAt')}"
    )
    stale = _stale(files, target)
    log(f"{len(files) - len(stale)} of {len(files)} files already in {target}; downloading {len(stale)} ({human_size(sum(f.size for f in stale))})")
    downloaded = _download(s3, location, stale, target)

    started = time.monotonic()
    problems = _problems_by_path(manifest, target, verify_hashes)
    log(f"verified {len(files)} files ({'sizes and sha256' if verify_hashes else 'sizes only'}) in {time.monotonic() - started:.1f}s")
    again: list[RemoteFile] = []
    if problems:
        # A cached file of the right size but the wrong content (a node crash mid-write, a disk fault) is
        # fetched once more. If S3 itself holds other bytes than the manifest says, the check fails again.
        for problem in problems.values():
            log(f"{problem}; downloading it again")
        again = [remote for remote in files if remote.path in problems]
        downloaded += _download(s3, location, again, target)
        retry = {"files": [entry for entry in manifest["files"] if entry["path"] in problems]}
        problems = _problems_by_path(retry, target, verify_hashes)
    if problems:
        raise FetchError(*problems.values())
    return FetchResult(len(stale) + len(again), downloaded, len(files) - len(stale))


def _list_objects(s3: Any, location: S3Location) -> Iterator[RemoteFile]:
    prefix = f"{location.prefix}/" if location.prefix else ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix) :]
            # Keys ending in '/' are the empty "folder" objects the S3 console creates.
            if relative and not relative.endswith("/"):
                yield RemoteFile(safe_relative_path(relative), obj["Size"])


def sync_prefix(s3: Any, location: S3Location, target: Path) -> FetchResult:
    log(f"warning: no {MANIFEST_NAME} under {location.uri()}; copying every object under it, checking sizes only (no sha256)")
    files = list(_list_objects(s3, location))
    if not files:
        raise FetchError(f"no objects under {location.uri()}")
    stale = _stale(files, target)
    log(f"{len(files) - len(stale)} of {len(files)} objects already in {target}; downloading {len(stale)} ({human_size(sum(f.size for f in stale))})")
    downloaded = _download(s3, location, stale, target)
    problems = [problem for remote in files if (problem := _size_problem(target, remote))]
    if problems:
        raise FetchError(*problems)
    return FetchResult(len(stale), downloaded, len(files) - len(stale))


def download_from_hub(settings: Settings) -> FetchResult:
    location = settings.weights
    revision = f" --revision {settings.revision}" if settings.revision else ""
    log(
        f"warning: no {MANIFEST_NAME} under {location.uri()}: the weights were not staged in S3; downloading "
        f"{settings.source} from Hugging Face instead (slower, and fails whenever Hugging Face is unreachable)"
    )
    log(
        f"hint: stage them once with `make stage-model` (python -m tools.stage_model --bucket {location.bucket} "
        f"--model {PurePosixPath(location.prefix).name} --source {settings.source}{revision})"
    )
    started = time.monotonic()
    try:
        huggingface_hub.snapshot_download(
            parse_hf_source(settings.source), revision=settings.revision, local_dir=settings.target_dir, token=settings.hf_token
        )
    # Hub errors are OSError (HTTP, offline, missing files) or ValueError (a bad repository id).
    except (OSError, ValueError) as error:
        raise FetchError(f"download of {settings.source} from Hugging Face failed: {error}") from None
    files = model_files(settings.target_dir)
    size = sum((settings.target_dir / path).stat().st_size for path in files)
    log(f"downloaded {settings.source} from Hugging Face: {len(files)} files ({human_size(size)}) in {time.monotonic() - started:.1f}s")
    return FetchResult(len(files), size, 0)


def fetch(settings: Settings, s3: Any) -> FetchResult:
    manifest = read_manifest(s3, settings.weights)
    if manifest is not None:
        return fetch_with_manifest(s3, settings.weights, manifest, settings.target_dir, settings.verify_hashes)
    if settings.source.startswith("s3://"):
        return sync_prefix(s3, settings.weights, settings.target_dir)
    return download_from_hub(settings)


def main() -> int:
    started = time.monotonic()
    try:
        settings = settings_from_env(os.environ)
        settings.target_dir.mkdir(parents=True, exist_ok=True)
        result = fetch(settings, boto3.client("s3", config=S3_CLIENT_CONFIG))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    except FetchError as error:
        for problem in error.args:
            print(f"error: {problem}", file=sys.stderr, flush=True)
        return 1
    except (BotoCoreError, ClientError, OSError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    log(
        f"weights ready in {settings.target_dir}: {result.downloaded_files} files downloaded "
        f"({human_size(result.downloaded_bytes)}), {result.present_files} already present, {time.monotonic() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

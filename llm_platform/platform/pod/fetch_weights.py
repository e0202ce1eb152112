"""Load a model's weights into the pod's cache volume before vLLM starts (the `fetch-weights` init container).

This file runs with the python3 of the pinned vLLM image and reaches the pod as a ConfigMap, together with
`llm_platform/contract.py` (the model-source grammar), laid out as in this repository so that the import
below works in the pod as it does here. Besides that module it imports only the standard library, boto3
and huggingface_hub (both in the vLLM image). It is also the one definition of the weights manifest:
`tools.stage_model` imports it.

The weights are read from the object store WEIGHTS_URI names: Amazon S3 (boto3, with the pod's AWS
credentials) or Google Cloud Storage (its JSON API over urllib, with access tokens from the GKE metadata
server, i.e. Workload Identity). Everything below is the same for both.

Environment:
    WEIGHTS_URI     s3://bucket/prefix or gs://bucket/prefix holding the weights (the stack bucket's
                    models/<name>, or the bucket source)
    MODEL_SOURCE    hf://org/model, s3://bucket/prefix or gs://bucket/prefix: where the weights come from
    MODEL_REVISION  optional Hugging Face revision: the Hugging Face fallback downloads it, and a full
                    commit sha must be the revision the manifest records
    TARGET_DIR      directory on the cache volume, e.g. /models/<name>
    VERIFY_HASHES   "true" (default) or "false": check sha256 as well as sizes
    REQUIRE_MANIFEST "true" or "false" (default): without a manifest, fail instead of falling back
                    (production: a copy without a manifest may be incomplete)
    HF_TOKEN        optional Hugging Face token for the fallback; never logged
  For gs:// only, to point the fetcher at an emulator (the variables Google's client libraries read):
    STORAGE_EMULATOR_HOST  base URL of the Cloud Storage JSON API, with its scheme (default https://storage.googleapis.com)
    GCE_METADATA_HOST      host[:port] of the metadata server (default metadata.google.internal)
  Access tokens are never logged.

Manifest: `<prefix>/llm-platform-manifest.json`, written last by `make stage-model`, so its presence
means the upload is complete:

    {"format": 1, "model": "mistral-7b-instruct", "source": "hf://org/model", "revision": "<sha or null>",
     "files": [{"path": "config.json", "size": 123, "sha256": "<hex>"}, ...],
     "totalBytes": 123, "stagedAt": "2026-11-21T08:30:00Z"}

With a manifest, files missing from the cache or of the wrong size are downloaded and everything is
verified. Without one (and REQUIRE_MANIFEST false), an hf:// source's model files are downloaded from
Hugging Face directly and an s3:// or gs:// source is copied object by object with size checks only;
both log a warning. Downloads land in TARGET_DIR/.incomplete/ and are renamed into place when complete;
that directory is emptied on every start. Nothing is written outside TARGET_DIR: manifest paths and
object keys must be relative without '..', and symlinks found in the cache are removed, not followed. Transient store errors
(throttling, 5xx, dropped connections) are retried with exponential backoff.

Exit status: 0 the weights are complete in TARGET_DIR, 1 a download or verification failed (a store
refusing access, e.g. HTTP 403, included), 2 the environment is misconfigured.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import shutil
import ssl
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

import boto3
import huggingface_hub
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from llm_platform.contract import COMMIT_SHA, FETCH_CONNECTIONS, HASH_THREADS, SOURCE_RULE, GCSLocation, Location, is_bucket_source, parse_hf_source, parse_location, parse_model_source

MANIFEST_NAME = "llm-platform-manifest.json"
MANIFEST_FORMAT = 1

TRANSFER_CONFIG = TransferConfig(max_concurrency=FETCH_CONNECTIONS)
# A transient S3 error late in a 100 GB fetch should cost a retry, not a restart of the pod.
S3_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10})

# Cloud Storage JSON API: https://cloud.google.com/storage/docs/request-endpoints. google-cloud-storage
# replaces it with STORAGE_EMULATOR_HOST, a URL with its scheme (google/cloud/storage/_helpers.py).
GCS_ENDPOINT = "https://storage.googleapis.com"
# google-auth reads GCE_METADATA_HOST as host[:port] and prefixes http:// (google/auth/compute_engine/_metadata.py).
METADATA_HOST = "metadata.google.internal"
# The token of the pod's service account, {"access_token", "expires_in", "token_type"}: https://google.aip.dev/auth/4115.
# On GKE the GKE metadata server answers it with the Workload Identity of the pod
# (https://cloud.google.com/kubernetes-engine/docs/concepts/workload-identity). It can answer 503 for a
# moment during maintenance, so it is retried like storage: https://cloud.google.com/compute/docs/metadata/querying-metadata
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
# google-auth's REFRESH_THRESHOLD (google/auth/_helpers.py): the metadata server may hand out a cached token
# until about 4 minutes before it expires, so a token is renewed once it has less than this left.
TOKEN_REFRESH_MARGIN_SECONDS = 225
# https://cloud.google.com/storage/docs/retry-strategy: 408, 429, 5xx, socket timeouts and dropped connections
# are transient and are retried with truncated exponential backoff. A late hiccup in a 100 GB fetch must
# cost one retry, not a restart of the pod; the budget matches S3_CLIENT_CONFIG's.
HTTP_MAX_ATTEMPTS = 10
HTTP_FIRST_BACKOFF_SECONDS = 1.0
HTTP_MAX_BACKOFF_SECONDS = 32.0
# Without a timeout a stalled connection would hang the init container instead of being retried.
HTTP_TIMEOUT_SECONDS = 60
# Shards are several GB: they are streamed to disk in chunks of this size, never held in memory.
DOWNLOAD_CHUNK_BYTES = 8 * 1024 * 1024


class FetchError(Exception):
    """Stops the fetch; each argument is one problem, logged as one line."""


class ConfigError(FetchError):
    """The environment the init container was given is wrong."""


# -- manifest ------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# What vLLM reads of a Hugging Face snapshot: weights, configurations, tokenizers (tokenizer.model,
# merges.txt, *.tiktoken) and chat templates. Nothing else is staged or fetched: no README, no licence
# texts, no custom code (the platform does not pass --trust-remote-code).
MODEL_FILE_SUFFIXES = (".safetensors", ".json", ".model", ".txt", ".tiktoken", ".jinja")
# PyTorch pickles are the weights only of a model published without safetensors: vLLM's default loader
# takes the first of `*.safetensors`, `*.bin` that matches and never both, and Llama's
# original/consolidated.00.pth alone would double an 8B model's transfer.
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth")
# Where the fetcher writes files while they download, under TARGET_DIR; emptied on every start, so a
# fetcher killed mid-download leaves nothing behind that the next one would not remove.
INCOMPLETE_DIR = ".incomplete"


class UnsafeSnapshot(FetchError):
    """A snapshot directory holds model files that are symlinks leading out of it."""


def _is_skipped(relative: PurePosixPath) -> bool:
    # Dotfiles and dot-directories are never model files: snapshot_download(local_dir=...) keeps its
    # bookkeeping in .cache/, .git* describe the repository, and a saved Hugging Face token is a dotfile
    # in its folder (.cache/huggingface/token) or beside it.
    if relative.as_posix() == MANIFEST_NAME or relative.name.endswith(".lock"):
        return True
    return any(part.startswith(".") for part in relative.parts)


def select_model_files(paths: Iterable[str]) -> list[str]:
    """Of relative posix paths (a snapshot directory's files, a Hugging Face repository's), the ones vLLM
    serves from, sorted: by suffix, without dotfiles, and pickled weights only when there are no safetensors."""
    candidates = [path for path in paths if not _is_skipped(PurePosixPath(path))]
    has_safetensors = any(path.endswith(".safetensors") for path in candidates)
    suffixes = MODEL_FILE_SUFFIXES + (() if has_safetensors else PICKLE_WEIGHT_SUFFIXES)
    return sorted(path for path in candidates if PurePosixPath(path).suffix in suffixes)


def _link_roots(root: Path) -> tuple[Path, ...]:
    # A snapshot in the Hugging Face cache (<repo>/snapshots/<sha>/) is symlinks into <repo>/blobs/:
    # those stay inside the repository's cache and are read through. Any other link must stay in `root`.
    resolved = root.resolve()
    if resolved.parent.name == "snapshots":
        return resolved, resolved.parent.parent / "blobs"
    return (resolved,)


def model_files(root_dir: Path) -> list[str]:
    """Relative posix paths of the model's files under `root_dir`, sorted (see `select_model_files`).
    Symlinked directories are not followed; a model file or directory that is a symlink leading out of
    `root_dir` raises UnsafeSnapshot rather than publish whatever it points at."""
    root = Path(root_dir)
    roots = _link_roots(root)
    files: list[str] = []
    leaving: list[str] = []
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        for name in dirnames + filenames:
            path = base / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink() and not _is_skipped(PurePosixPath(relative)) and not any(path.resolve().is_relative_to(r) for r in roots):
                leaving.append(relative)
            elif name in filenames and path.is_file():
                files.append(relative)
    selected = select_model_files(files)
    leaving = [path for path in leaving if path in select_model_files([path]) or (root / path).is_dir()]
    if leaving:
        raise UnsafeSnapshot(*(f"{root / path} is a symlink leading out of {root}" for path in sorted(leaving)))
    return selected


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
    """Relative posix path, the same under the bucket prefix and under TARGET_DIR."""
    size: int


def _size_problem(root: Path, remote: RemoteFile) -> str | None:
    local = root / remote.path
    # A symlink left in the cache volume is not the file, whatever it points at: it is replaced.
    if local.is_symlink() or not local.is_file():
        return f"missing: {remote.path}"
    size = local.stat().st_size
    if size != remote.size:
        return f"size mismatch: {remote.path}: expected {remote.size} bytes, found {size}"
    return None


def _entry_problem(root: Path, entry: dict[str, Any], check_hashes: bool) -> str | None:
    problem = _size_problem(root, RemoteFile(entry["path"], entry["size"]))
    if problem is None and check_hashes and (digest := sha256_file(root / entry["path"])) != entry["sha256"]:
        problem = f"sha256 mismatch: {entry['path']}: expected {entry['sha256']}, found {digest}"
    return problem


def _problems_by_path(manifest: dict[str, Any], root: Path, check_hashes: bool) -> dict[str, str]:
    # hashlib releases the GIL while it hashes, so shards are hashed side by side: one core hashes about
    # 1 GB/s (make bench-weights), which alone would cost an 8B model some 15 s of its start.
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        found = pool.map(lambda entry: (entry["path"], _entry_problem(root, entry, check_hashes)), manifest["files"])
        return {path: problem for path, problem in found if problem is not None}


def verify_dir(manifest: dict[str, Any], root_dir: str | Path, *, check_hashes: bool) -> list[str]:
    """One line per manifest file that is missing, of the wrong size or (if asked) the wrong sha256.
    Files the manifest does not list are fine."""
    return list(_problems_by_path(manifest, Path(root_dir), check_hashes).values())


# -- locations and settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    weights: Location
    source: str
    revision: str | None
    target_dir: Path
    verify_hashes: bool
    require_manifest: bool = False
    """Fail when the weights carry no manifest instead of falling back (production)."""
    # Kept out of repr so that logging the settings can never show it.
    hf_token: str | None = field(default=None, repr=False)


def _required(env: Mapping[str, str], name: str, expected: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (expected {expected})")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, str(default)).strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{name} is {value!r}; it must be 'true' or 'false'")
    return value == "true"


def settings_from_env(env: Mapping[str, str]) -> Settings:
    weights_uri = _required(env, "WEIGHTS_URI", "s3://<bucket>/<prefix> or gs://<bucket>/<prefix>")
    source = _required(env, "MODEL_SOURCE", SOURCE_RULE)
    target_dir = _required(env, "TARGET_DIR", "the cache volume directory, e.g. /models/<name>")
    verify = _flag(env, "VERIFY_HASHES", True)
    try:
        weights = parse_location(weights_uri)
        parse_model_source(source)
    except ValueError as error:
        raise ConfigError(f"WEIGHTS_URI/MODEL_SOURCE: {error}") from None
    return Settings(
        weights=weights,
        source=source,
        revision=env.get("MODEL_REVISION", "").strip() or None,
        target_dir=Path(target_dir),
        verify_hashes=verify,
        require_manifest=_flag(env, "REQUIRE_MANIFEST", False),
        hf_token=env.get("HF_TOKEN", "").strip() or None,
    )


def log(message: str) -> None:
    print(message, flush=True)


# -- object stores -------------------------------------------------------------------------------


class ObjectStore(Protocol):
    """The three things the fetch needs of a bucket."""

    def read_object(self, bucket: str, key: str) -> bytes | None:
        """The object's content, or None if there is no such object. Anything else (a missing bucket,
        access denied) raises: a silent fallback to Hugging Face would hide a misconfiguration."""

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
        """The key and size of every object whose key starts with `prefix`."""

    def download_object(self, bucket: str, key: str, destination: Path) -> None:
        """Write the object to `destination`, a file under INCOMPLETE_DIR that the fetcher renames to the
        final name once it is complete, so that a container killed mid-transfer leaves no truncated file
        under the final name, and what it leaves is removed on the next start."""


class S3Store:
    def __init__(self, client: Any) -> None:
        self.client = client

    def read_object(self, bucket: str, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["Size"]

    def download_object(self, bucket: str, key: str, destination: Path) -> None:
        # download_file writes to `destination` plus a random suffix and renames it when complete: both
        # names are under INCOMPLETE_DIR.
        self.client.download_file(bucket, key, str(destination), Config=TRANSFER_CONFIG)


T = TypeVar("T")

# A transient failure of a connection that had been established (a reset, a TLS record cut short, a body
# ending early), or of the connection itself (URLError).
_TRANSIENT_ERRORS = (URLError, ConnectionError, TimeoutError, ssl.SSLError, http.client.HTTPException)


def _is_transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _http_error_message(error: HTTPError) -> str:
    # The JSON API explains an error as {"error": {"code": 403, "message": "..."}}:
    # https://cloud.google.com/storage/docs/json_api/v1/status-codes
    try:
        message = json.loads(error.read())["error"]["message"]
    except (ValueError, KeyError, TypeError, OSError):
        message = error.reason
    return " ".join(f"HTTP {error.code} {message}".split())


def with_retries(what: str, attempt: Callable[[], T], *, missing_ok: bool = False, denied_hint: str = "") -> T | None:
    """`attempt()`, repeated with truncated exponential backoff while it fails transiently. With
    `missing_ok`, HTTP 404 gives None. Any other HTTP error, and a transient failure that outlasts the
    attempts, raises FetchError naming `what`, which must therefore hold no secret."""
    number = 0
    while True:
        number += 1
        try:
            return attempt()
        except HTTPError as error:
            if error.code == 404 and missing_ok:
                return None
            if not _is_transient(error.code) or number == HTTP_MAX_ATTEMPTS:
                hint = f"; {denied_hint}" if denied_hint and error.code in (401, 403) else ""
                tries = f" (after {number} attempts)" if number > 1 else ""
                raise FetchError(f"{what}: {_http_error_message(error)}{tries}{hint}") from None
            reason = f"HTTP {error.code}"
        except _TRANSIENT_ERRORS as error:
            if number == HTTP_MAX_ATTEMPTS:
                raise FetchError(f"{what}: {error} (after {number} attempts)") from None
            reason = str(error) or type(error).__name__
        # Jitter keeps many pods that failed together from retrying in lockstep.
        delay = min(HTTP_MAX_BACKOFF_SECONDS, HTTP_FIRST_BACKOFF_SECONDS * 2 ** (number - 1)) * random.uniform(1, 1.5)
        log(f"retrying {what} in {delay:.1f}s: attempt {number} of {HTTP_MAX_ATTEMPTS} failed ({reason})")
        time.sleep(delay)


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        # The body is not quoted: a token response may hold the token.
        raise FetchError(f"{what}: the response is not JSON") from None


# The metadata server is local to the node: an HTTP(S)_PROXY the pod may have must not see its requests.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class CachedToken:
    """An access token, kept until it is due for renewal. `_fetch` gets a new one and says how many
    seconds from the request it may be kept."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        if self._token is None or self._clock() >= self._renew_at:
            requested_at = self._clock()
            self._token, keep_seconds = self._fetch()
            self._renew_at = requested_at + keep_seconds
        return self._token

    def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError


class MetadataCredentials(CachedToken):
    """Access tokens of the pod's service account from the metadata server, kept until shortly before
    they expire. On GKE this is the GKE metadata server, so the token is the pod's Workload Identity."""

    def __init__(self, host: str, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.url = f"http://{host}{METADATA_TOKEN_PATH}"

    def _fetch(self) -> tuple[str, float]:
        what = f"getting an access token from the metadata server {self.url}"
        body = _parse_json(with_retries(what, self._request), what)
        if not (isinstance(body, dict) and isinstance(body.get("access_token"), str) and isinstance(body.get("expires_in"), (int, float))):
            raise FetchError(f"{what}: the response has no access_token and expires_in")
        return body["access_token"], body["expires_in"] - TOKEN_REFRESH_MARGIN_SECONDS

    def _request(self) -> bytes:
        # The metadata server refuses requests without this header; google-auth sends it on each one
        # (google/auth/compute_engine/_metadata.py).
        request = urllib.request.Request(self.url, headers={"Metadata-Flavor": "Google"})
        with _DIRECT.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.read()


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would send the Authorization header on to wherever a redirect points; the bearer token must
    # reach Google only, so a redirect is answered as the HTTP error it is instead.
    def redirect_request(self, *args: Any) -> None:
        return None


_STORAGE = urllib.request.build_opener(_RefuseRedirects)


def _save(response: http.client.HTTPResponse, destination: Path) -> None:
    with destination.open("wb") as partial:
        # read1 hands over what has arrived (up to a chunk) rather than waiting for a full chunk.
        while chunk := response.read1(DOWNLOAD_CHUNK_BYTES):
            partial.write(chunk)
        written = partial.tell()
    expected = response.headers.get("Content-Length")
    # http.client ends a body that stops short of its Content-Length without an error, so a dropped
    # connection would otherwise pass for a complete download.
    if expected is not None and written != int(expected):
        raise ConnectionError(f"the connection closed after {written} of {expected} bytes")


class GCSStore:
    """Google Cloud Storage through its JSON API v1 with urllib: the vLLM image has no Google libraries."""

    DENIED_HINT = "the pod's Kubernetes service account needs read access to the bucket (roles/storage.objectViewer) through Workload Identity"

    def __init__(self, endpoint: str, credentials: CachedToken) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.credentials = credentials

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GCSStore:
        endpoint = env.get("STORAGE_EMULATOR_HOST", "").strip() or GCS_ENDPOINT
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"STORAGE_EMULATOR_HOST is {endpoint!r}; it must be a URL with its scheme, e.g. http://localhost:9023")
        return cls(endpoint, MetadataCredentials(env.get("GCE_METADATA_HOST", "").strip() or METADATA_HOST))

    def _url(self, bucket: str, key: str | None = None, **query: str) -> str:
        # An object name is one path segment, so '/' and everything else outside [A-Za-z0-9-._~] is
        # percent-encoded: https://cloud.google.com/storage/docs/request-endpoints#encoding
        url = f"{self.endpoint}/storage/v1/b/{quote(bucket, safe='')}/o"
        if key is not None:
            url += "/" + quote(key, safe="")
        return f"{url}?{urlencode(query)}" if query else url

    def _open(self, url: str, handle: Callable[[http.client.HTTPResponse], T], *, method: str = "GET", data: bytes | None = None, headers: Mapping[str, str] | None = None) -> T:
        # The token is asked for on every request: a long backoff or upload can outlast it.
        request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {self.credentials.token()}", **(headers or {})})
        with _STORAGE.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return handle(response)

    def _get(self, url: str, what: str, handle: Callable[[http.client.HTTPResponse], T], *, missing_ok: bool = False) -> T | None:
        return with_retries(what, lambda: self._open(url, handle), missing_ok=missing_ok, denied_hint=self.DENIED_HINT)

    def read_object(self, bucket: str, key: str) -> bytes | None:
        # objects.get with alt=media: https://cloud.google.com/storage/docs/json_api/v1/objects/get
        content = self._get(self._url(bucket, key, alt="media"), f"reading gs://{bucket}/{key}", lambda response: response.read(), missing_ok=True)
        if content is None:
            # A missing bucket is a 404 too; listing tells it apart from a missing object.
            self._get(self._url(bucket, prefix=key, maxResults="1"), f"listing gs://{bucket}", lambda response: response.read())
        return content

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
        # objects.list, a page at a time: items[].name and .size, nextPageToken until the last page.
        # https://cloud.google.com/storage/docs/json_api/v1/objects/list
        what = f"listing gs://{bucket}/{prefix}"
        page_token = ""
        while True:
            query = {"prefix": prefix, **({"pageToken": page_token} if page_token else {})}
            page = _parse_json(self._get(self._url(bucket, **query), what, lambda response: response.read()), what)
            for item in page.get("items", []):
                # size is an unsigned long, which the JSON API writes as a string:
                # https://cloud.google.com/storage/docs/json_api/v1/objects
                yield item["name"], int(item["size"])
            page_token = page.get("nextPageToken", "")
            if not page_token:
                return

    def download_object(self, bucket: str, key: str, destination: Path) -> None:
        # A retry after a dropped connection starts this object again; the objects already downloaded stay.
        self._get(self._url(bucket, key, alt="media"), f"downloading gs://{bucket}/{key}", lambda response: _save(response, destination))


def open_store(location: Location, env: Mapping[str, str]) -> ObjectStore:
    if isinstance(location, GCSLocation):
        return GCSStore.from_env(env)
    return S3Store(boto3.client("s3", config=S3_CLIENT_CONFIG))


# -- fetching ------------------------------------------------------------------------------------


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


def read_manifest(store: ObjectStore, location: Location) -> dict[str, Any] | None:
    """The manifest under `location`, or None if the weights were never staged there."""
    body = store.read_object(location.bucket, location.key(MANIFEST_NAME))
    if body is None:
        return None
    try:
        return parse_manifest(body)
    except FetchError as error:
        raise FetchError(f"{location.uri(MANIFEST_NAME)}: {error}") from None


def prepare_target(target: Path) -> None:
    """Make TARGET_DIR a real directory and remove whatever a fetcher killed mid-download left in it."""
    if target.is_symlink():
        log(f"warning: {target} is a symlink; removing it so that nothing is written where it points")
        target.unlink()
    target.mkdir(parents=True, exist_ok=True)
    incomplete = target / INCOMPLETE_DIR
    if incomplete.is_symlink():
        incomplete.unlink()
    elif incomplete.exists():
        left = [path for path in incomplete.rglob("*") if path.is_file() and not path.is_symlink()]
        log(f"removing {len(left)} incomplete download(s) ({human_size(sum(path.stat().st_size for path in left))}) an earlier fetch left")
        shutil.rmtree(incomplete)
    incomplete.mkdir()


def destination(target: Path, relative: str) -> Path:
    """`target/relative` with its directories created as real directories. A symlink met on the way (a
    directory of the cache volume replaced by a link) is removed rather than followed, so that nothing
    is ever written outside `target`."""
    parts = PurePosixPath(safe_relative_path(relative)).parts
    path = target
    for part in parts[:-1]:
        path = path / part
        if path.is_symlink():
            log(f"warning: {path} is a symlink; removing it so that nothing is written where it points")
            path.unlink()
        path.mkdir(exist_ok=True)
    return path / parts[-1]


def _download(store: ObjectStore, location: Location, files: list[RemoteFile], target: Path) -> int:
    for remote in files:
        local = destination(target, remote.path)
        handle, name = tempfile.mkstemp(dir=target / INCOMPLETE_DIR, suffix=".partial")
        os.close(handle)
        partial = Path(name)
        started = time.monotonic()
        try:
            store.download_object(location.bucket, location.key(remote.path), partial)
            # A rename replaces a symlink at the final name rather than writing through it.
            os.replace(partial, local)
        finally:
            partial.unlink(missing_ok=True)
        log(f"downloaded {remote.path} ({human_size(remote.size)}) in {time.monotonic() - started:.1f}s")
    return sum(remote.size for remote in files)


def _stale(files: list[RemoteFile], target: Path) -> list[RemoteFile]:
    # The cache volume can outlive the container, so files of the right size are kept; the
    # verification that follows catches one whose content is wrong.
    return [remote for remote in files if _size_problem(target, remote) is not None]


def fetch_with_manifest(store: ObjectStore, location: Location, manifest: dict[str, Any], target: Path, verify_hashes: bool) -> FetchResult:
    files = [RemoteFile(entry["path"], entry["size"]) for entry in manifest["files"]]
    log(
        f"manifest {location.uri(MANIFEST_NAME)}: {len(files)} files, {human_size(sum(f.size for f in files))}, "
        f"{manifest.get('source')} revision {manifest.get('revision') or '-'}, staged {manifest.get('stagedAt')}"
    )
    stale = _stale(files, target)
    log(f"{len(files) - len(stale)} of {len(files)} files already in {target}; downloading {len(stale)} ({human_size(sum(f.size for f in stale))})")
    downloaded = _download(store, location, stale, target)

    started = time.monotonic()
    problems = _problems_by_path(manifest, target, verify_hashes)
    log(f"verified {len(files)} files ({'sizes and sha256' if verify_hashes else 'sizes only'}) in {time.monotonic() - started:.1f}s")
    again: list[RemoteFile] = []
    if problems:
        # A cached file of the right size but the wrong content (a node crash mid-write, a disk fault) is
        # fetched once more. If the bucket itself holds other bytes than the manifest says, the check fails again.
        for problem in problems.values():
            log(f"{problem}; downloading it again")
        again = [remote for remote in files if remote.path in problems]
        downloaded += _download(store, location, again, target)
        retry = {"files": [entry for entry in manifest["files"] if entry["path"] in problems]}
        problems = _problems_by_path(retry, target, verify_hashes)
    if problems:
        raise FetchError(*problems.values())
    return FetchResult(len(stale) + len(again), downloaded, len(files) - len(stale))


def _remote_files(store: ObjectStore, location: Location) -> Iterator[RemoteFile]:
    prefix = f"{location.prefix}/" if location.prefix else ""
    for key, size in store.list_objects(location.bucket, prefix):
        relative = key[len(prefix) :]
        # Keys ending in '/' are the empty "folder" objects the S3 and Cloud Storage consoles create.
        if relative and not relative.endswith("/"):
            yield RemoteFile(safe_relative_path(relative), size)


def sync_prefix(store: ObjectStore, location: Location, target: Path) -> FetchResult:
    log(f"warning: no {MANIFEST_NAME} under {location.uri()}; copying every object under it, checking sizes only (no sha256)")
    files = list(_remote_files(store, location))
    if not files:
        raise FetchError(f"no objects under {location.uri()}")
    stale = _stale(files, target)
    log(f"{len(files) - len(stale)} of {len(files)} objects already in {target}; downloading {len(stale)} ({human_size(sum(f.size for f in stale))})")
    downloaded = _download(store, location, stale, target)
    problems = [problem for remote in files if (problem := _size_problem(target, remote))]
    if problems:
        raise FetchError(*problems)
    return FetchResult(len(stale), downloaded, len(files) - len(stale))


def download_from_hub(settings: Settings) -> FetchResult:
    location = settings.weights
    revision = f" --revision {settings.revision}" if settings.revision else ""
    log(
        f"warning: no {MANIFEST_NAME} under {location.uri()}: the weights were not staged in {location.STORE}; downloading "
        f"{settings.source} from Hugging Face instead (slower, and fails whenever Hugging Face is unreachable)"
    )
    log(
        f"hint: stage them once with `make stage-model` (python -m tools.stage_model --bucket {location.SCHEME}://{location.bucket} "
        f"--model {PurePosixPath(location.prefix).name} --source {settings.source}{revision})"
    )
    started = time.monotonic()
    repo_id = parse_hf_source(settings.source)
    try:
        wanted = select_model_files(huggingface_hub.list_repo_files(repo_id, revision=settings.revision, token=settings.hf_token))
        huggingface_hub.snapshot_download(repo_id, revision=settings.revision, local_dir=settings.target_dir, token=settings.hf_token, allow_patterns=wanted)
    # Hub errors are OSError (HTTP, offline, missing files) or ValueError (a bad repository id).
    except (OSError, ValueError) as error:
        raise FetchError(f"download of {settings.source} from Hugging Face failed: {error}") from None
    files = model_files(settings.target_dir)
    size = sum((settings.target_dir / path).stat().st_size for path in files)
    log(f"downloaded {settings.source} from Hugging Face: {len(files)} files ({human_size(size)}) in {time.monotonic() - started:.1f}s")
    return FetchResult(len(files), size, 0)


def _revision_problem(manifest: dict[str, Any], settings: Settings) -> str | None:
    # A pinned commit (what production requires) must be the one staged; a branch or tag is resolved by
    # stage-model, so only a full sha can be compared.
    pinned = settings.revision
    if pinned and COMMIT_SHA.fullmatch(pinned) and manifest.get("revision") != pinned:
        return (
            f"{settings.weights.uri(MANIFEST_NAME)} holds revision {manifest.get('revision')!r} of {manifest.get('source')}, "
            f"the model pins {pinned}: stage that revision with `make stage-model`"
        )
    return None


def fetch(settings: Settings, store: ObjectStore) -> FetchResult:
    prepare_target(settings.target_dir)
    manifest = read_manifest(store, settings.weights)
    if manifest is not None:
        if problem := _revision_problem(manifest, settings):
            raise FetchError(problem)
        return fetch_with_manifest(store, settings.weights, manifest, settings.target_dir, settings.verify_hashes)
    if settings.require_manifest:
        raise FetchError(
            f"no {MANIFEST_NAME} under {settings.weights.uri()}: the weights are not staged completely (a `make stage-model` "
            "that was interrupted writes none; run it again to finish) and REQUIRE_MANIFEST=true forbids serving them otherwise"
        )
    if is_bucket_source(settings.source):
        return sync_prefix(store, settings.weights, settings.target_dir)
    return download_from_hub(settings)


def main() -> int:
    started = time.monotonic()
    try:
        settings = settings_from_env(os.environ)
        store = open_store(settings.weights, os.environ)
        result = fetch(settings, store)
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

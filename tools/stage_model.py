"""Stage a Hugging Face model snapshot in the stack's weights bucket, so pods load it from S3 or Cloud Storage.

    python -m tools.stage_model --stack staging-gcp --model mistral-7b-instruct [--from-dir DIR] [--dry-run]
    python -m tools.stage_model --bucket gs://llm-staging-weights-llm-platform-staging --model mistral-7b-instruct \\
        --source hf://mistralai/Mistral-7B-Instruct-v0.3 [--revision REV] [--from-dir DIR] [--dry-run]
    python -m tools.stage_model --bucket llm-staging-weights-123456789012 --model mistral-7b-instruct \\
        --source hf://mistralai/Mistral-7B-Instruct-v0.3 [--revision REV] [--from-dir DIR] [--region REGION] [--dry-run]

The bucket: with --stack, the stack's weights bucket, which its `cloud` decides: on aws the S3 bucket
<clusterName>-weights-<awsAccountId> (the account of the current AWS credentials), on gcp the Cloud
Storage bucket <clusterName>-weights-<gcp.project>; the stack also gives the model's source and
revision. Without --stack, --bucket names it: gs://BUCKET is Google Cloud Storage, s3://BUCKET or a bare
BUCKET is Amazon S3.

Only model files are staged: weights (safetensors; PyTorch pickles only when a model has no safetensors),
configurations, tokenizers and chat templates; never dotfiles (a saved Hugging Face token, .cache/,
.git*) and never a symlink that leads out of the snapshot directory (a snapshot in the Hugging Face cache
may link into its repository's blobs/). Every file goes under `models/<model>/` carrying its sha256 as object metadata; a file already there with
the same size and sha256 is skipped, so a run that was interrupted can simply be repeated. The manifest
(its format is defined in `llm_platform.platform.pod.fetch_weights`) is uploaded last: pods take its presence to
mean the upload is complete, and an interrupted run leaves none (the previous one is withdrawn before the
first changed file goes up), which production pods refuse to serve; running again resumes. S3 objects are encrypted with SSE-KMS under the bucket's default key; Cloud
Storage encrypts them with the bucket's default KMS key by itself.

Credentials: for S3, whatever boto3 finds. For Cloud Storage, an OAuth access token: GOOGLE_OAUTH_ACCESS_TOKEN
if it is set (as for the Pulumi and Terraform Google providers; it cannot be renewed, so it must outlive
the upload), else the output of `gcloud auth print-access-token`, asked for again every few minutes. The
account needs roles/storage.objectAdmin on the bucket. STORAGE_EMULATOR_HOST (a URL) replaces the Cloud
Storage endpoint, as for Google's client libraries. Tokens are never printed.

Without --from-dir the snapshot is downloaded into a temporary directory first, with the token in
HF_TOKEN (never printed), and the manifest records the commit sha the revision resolved to. With
--from-dir the manifest records --revision as given. --dry-run checks everything and lists what would
be uploaded, but uploads nothing.

Exit status: 0 staged (or checked, with --dry-run), 1 a download or upload failed, 2 refused: a model
name that is not a DNS label, a source that is not hf://org/model, a bucket that does not exist, is not
reachable or may not be written with the current credentials, no Google access token, or a snapshot
directory without model files.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO, Callable, ClassVar, Mapping, Protocol
from urllib.error import HTTPError
from urllib.parse import quote, urlencode

import boto3
import huggingface_hub
from botocore.exceptions import BotoCoreError, ClientError

from llm_platform.contract import (
    NAME_RULE,
    GCSLocation,
    Location,
    S3Location,
    is_valid_name,
    parse_hf_source,
    parse_location,
    staged_weights_prefix,
    weights_bucket_name,
)
from llm_platform.platform.pod.fetch_weights import (
    MANIFEST_NAME,
    S3_CLIENT_CONFIG,
    TRANSFER_CONFIG,
    CachedToken,
    ConfigError,
    FetchError,
    GCSStore,
    UnsafeSnapshot,
    _parse_json,
    build_manifest,
    dump_manifest,
    human_size,
    select_model_files,
    with_retries,
)

# https://cloud.google.com/storage/docs/performing-resumable-uploads: every chunk of a resumable upload
# but the last is a multiple of 256 KiB.
RESUMABLE_CHUNK_MULTIPLE = 256 * 1024
# One PUT of a resumable upload, read from disk into memory: a 5 GB shard takes some 150 requests, and a
# failed one costs at most this much again.
UPLOAD_CHUNK_BYTES = 128 * RESUMABLE_CHUNK_MULTIPLE
# Reading object metadata, writing objects and replacing them: replacing an object (every manifest after
# the first) needs storage.objects.delete as well as .create
# (https://cloud.google.com/storage/docs/json_api/v1/objects/insert, "Required permissions").
STAGING_PERMISSIONS = ("storage.objects.create", "storage.objects.delete", "storage.objects.get")
STAGING_ROLE_HINT = (
    "staging needs roles/storage.objectAdmin on the bucket for your account "
    "(objectCreator with objectViewer is not enough: replacing the manifest needs storage.objects.delete)"
)
GCLOUD_TOKEN_COMMAND = ("gcloud", "auth", "print-access-token")
# gcloud hands out its cached token until less than 300 s of it are left (_CREDENTIALS_EXPIRY_WINDOW in
# googlecloudsdk/core/credentials/store.py), so a token younger than this is still valid; asking again
# keeps an upload of several hours authorized past the token's hour.
GCLOUD_TOKEN_REUSE_SECONDS = 240
# A gcloud that cannot reach Google must not hold up the run; stdin is closed, so it cannot prompt either.
GCLOUD_TIMEOUT_SECONDS = 60


class StageError(Exception):
    """A refusal; the message names the value and the rule it breaks."""


@dataclass(frozen=True)
class StageResult:
    manifest_uri: str
    uploaded: tuple[str, ...]
    """Relative paths uploaded (or, in a dry run, that would be)."""
    skipped: tuple[str, ...]
    """Relative paths already in the bucket with the same size and sha256."""
    uploaded_bytes: int
    total_bytes: int
    elapsed_seconds: float
    dry_run: bool


def check_model_and_source(model: str, source: str) -> str:
    """The Hugging Face repository id of `source`, once both values are known to be valid."""
    if not is_valid_name(model):
        raise StageError(f"model name {model!r} must be {NAME_RULE}, as the stack configuration requires")
    try:
        return parse_hf_source(source)
    except ValueError as error:
        raise StageError(str(error)) from None


# -- object stores -------------------------------------------------------------------------------


class StagingStore(Protocol):
    """What staging needs of a bucket; S3Staging and GCSStaging say how their store does it."""

    LOCATION: ClassVar[type[Location]]

    def check_bucket(self, bucket: str) -> None:
        """Raise StageError unless the bucket exists and the current credentials may stage into it."""

    def is_current(self, bucket: str, key: str, entry: dict[str, Any]) -> bool:
        """Whether the object exists with the size and sha256 of the manifest entry."""

    def upload_file(self, bucket: str, key: str, path: Path, entry: dict[str, Any]) -> None:
        """Upload `path`, recording the entry's sha256 in the object's metadata."""

    def put_manifest(self, bucket: str, key: str, body: bytes) -> None: ...

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete the object if it exists."""


class S3Staging:
    """Amazon S3 through boto3; every object is encrypted with SSE-KMS under the bucket's default key."""

    LOCATION = S3Location

    def __init__(self, client: Any) -> None:
        self.client = client
        # Read once per bucket, when it is checked, and sent with every write.
        self._encryption = functools.cache(self._encryption_args)

    def check_bucket(self, bucket: str) -> None:
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as error:
            details = error.response["Error"]
            if details["Code"] in ("404", "NoSuchBucket"):
                raise StageError(f"bucket {bucket!r} does not exist (a stack's bucket is <clusterName>-weights-<awsAccountId>)") from None
            reason = f"{details['Code']} {details.get('Message', '')}".rstrip()
            raise StageError(f"bucket {bucket!r} is not reachable with the current AWS credentials: {reason}") from None
        except BotoCoreError as error:
            raise StageError(f"bucket {bucket!r} is not reachable: {error}") from None
        self._encryption(bucket)

    def _encryption_args(self, bucket: str) -> dict[str, str]:
        """SSE-KMS request parameters that encrypt with the bucket's own default key."""
        # `ServerSideEncryption: aws:kms` without a key id makes S3 use the AWS managed key aws/s3, not the
        # bucket's default key (PutObject API reference), so the bucket's key is named explicitly.
        try:
            rules = self.client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError":
                return {"ServerSideEncryption": "aws:kms"}
            raise StageError(f"cannot read the default encryption of bucket {bucket!r}: {error}") from None
        defaults = [rule["ApplyServerSideEncryptionByDefault"] for rule in rules if "ApplyServerSideEncryptionByDefault" in rule]
        key_id = next((default["KMSMasterKeyID"] for default in defaults if default.get("KMSMasterKeyID")), None)
        return {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": key_id} if key_id else {})}

    def is_current(self, bucket: str, key: str, entry: dict[str, Any]) -> bool:
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return False
            raise
        return head["ContentLength"] == entry["size"] and head.get("Metadata", {}).get("sha256") == entry["sha256"]

    def upload_file(self, bucket: str, key: str, path: Path, entry: dict[str, Any]) -> None:
        extra = {**self._encryption(bucket), "Metadata": {"sha256": entry["sha256"]}}
        self.client.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=TRANSFER_CONFIG)

    def put_manifest(self, bucket: str, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **self._encryption(bucket))

    def delete_object(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)


def _gcloud_token() -> str:
    command = " ".join(GCLOUD_TOKEN_COMMAND)
    fallback = "run `gcloud auth login`, or set GOOGLE_OAUTH_ACCESS_TOKEN"
    try:
        done = subprocess.run(
            GCLOUD_TOKEN_COMMAND, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GCLOUD_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise StageError(f"`{command}` failed: gcloud is not installed (https://cloud.google.com/sdk/docs/install); or set GOOGLE_OAUTH_ACCESS_TOKEN") from None
    except subprocess.TimeoutExpired:
        raise StageError(f"`{command}` gave no token within {GCLOUD_TIMEOUT_SECONDS}s; {fallback}") from None
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        # The token is printed on stdout only; stderr says why there is none.
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise StageError(f"`{command}` failed: {reason}; {fallback}")
    return token


class UserCredentials(CachedToken):
    """The access token of the person staging. Never logged, like the fetcher's MetadataCredentials."""

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        # The variable the Terraform and Pulumi Google providers take a token from (Google's client libraries
        # have none): `access_token` in https://registry.terraform.io/providers/hashicorp/google/latest/docs/guides/provider_reference
        # and https://www.pulumi.com/docs/esc/providers/login/gcp-login/.
        self._given = env.get("GOOGLE_OAUTH_ACCESS_TOKEN", "").strip() or None

    def token(self) -> str:
        return self._given or super().token()

    def _fetch(self) -> tuple[str, float]:
        return _gcloud_token(), GCLOUD_TOKEN_REUSE_SECONDS


def _stored_bytes(range_header: str | None) -> int:
    # A 308 answer's `Range: bytes=0-N` says the first N+1 bytes are stored; without the header, none are.
    # https://cloud.google.com/storage/docs/performing-resumable-uploads#status-check
    if range_header is None:
        return 0
    match = re.fullmatch(r"bytes=0-(\d+)", range_header.strip())
    if not match:
        raise FetchError(f"unexpected Range {range_header!r} in a 308 Resume Incomplete answer")
    return int(match.group(1)) + 1


class _ResumableUpload:
    """The PUTs of one resumable upload session, each a chunk read from `source` where the server stands."""

    def __init__(self, store: GCSStaging, session: str, source: BinaryIO, size: int, content_type: str) -> None:
        self.store = store
        self.session = session
        self.source = source
        self.size = size
        self.content_type = content_type
        self.offset: int | None = 0
        """Bytes the server has; None while unknown, after a request failed."""

    def send_next(self) -> dict[str, Any] | None:
        """One request; the object resource once the server has every byte, else None."""
        if self.offset is None:
            # The failed request may have stored none, part or all of its chunk: an empty PUT asks which.
            return self._put(b"", f"bytes */{self.size}")
        start = self.offset
        self.source.seek(start)
        chunk = self.source.read(self.store.chunk_bytes)
        self.offset = None
        resource = self._put(chunk, f"bytes {start}-{start + len(chunk) - 1}/{self.size}" if chunk else f"bytes */{self.size}")
        if resource is None and self.offset is not None and self.offset <= start:
            # Retried like a dropped connection, within the same budget: a server that keeps answering 308
            # without taking any bytes must not keep the upload going forever.
            raise ConnectionError(f"Cloud Storage kept none of bytes {start}-{start + len(chunk) - 1}")
        return resource

    def _put(self, body: bytes, content_range: str) -> dict[str, Any] | None:
        try:
            _, response = self.store._send("PUT", self.session, body, {"Content-Range": content_range, "Content-Type": self.content_type})
        except HTTPError as error:
            # 308 Resume Incomplete is no error: the upload goes on from the bytes the server reports.
            if error.code != 308:
                raise
            self.offset = _stored_bytes(error.headers.get("Range"))
            error.close()
            return None
        # 200 or 201 with the object resource ends the upload.
        return _parse_json(response, "the answer to the last chunk of an upload")


class GCSStaging(GCSStore):
    """Google Cloud Storage through its JSON API with urllib, as the fetcher reads it, with a person's token."""

    LOCATION = GCSLocation
    DENIED_HINT = STAGING_ROLE_HINT

    def __init__(self, endpoint: str, credentials: UserCredentials, chunk_bytes: int = UPLOAD_CHUNK_BYTES) -> None:
        if chunk_bytes <= 0 or chunk_bytes % RESUMABLE_CHUNK_MULTIPLE:
            raise ValueError(f"chunk_bytes {chunk_bytes} must be a positive multiple of {RESUMABLE_CHUNK_MULTIPLE}")
        super().__init__(endpoint, credentials)
        self.chunk_bytes = chunk_bytes

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GCSStaging:
        # The fetcher's reading of STORAGE_EMULATOR_HOST, checks included; its credentials, a pod's, are not wanted.
        return cls(GCSStore.from_env(env).endpoint, UserCredentials(env))

    def _send(self, method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None) -> tuple[Message, bytes]:
        """One request with the token; the response's headers and body."""
        return self._open(url, lambda response: (response.headers, response.read()), method=method, data=body, headers=headers)

    def check_bucket(self, bucket: str) -> None:
        # buckets.testIamPermissions needs no permission of its own, so it tells a missing bucket (404) from
        # one these credentials may not stage into, before a download of many GB:
        # https://cloud.google.com/storage/docs/json_api/v1/buckets/testIamPermissions
        query = urlencode([("permissions", permission) for permission in STAGING_PERMISSIONS])
        url = f"{self.endpoint}/storage/v1/b/{quote(bucket, safe='')}/iam/testPermissions?{query}"
        what = f"checking access to bucket {bucket!r}"
        try:
            body = self._get(url, what, lambda response: response.read(), missing_ok=True)
        except FetchError as error:
            raise StageError(str(error)) from None
        if body is None:
            raise StageError(f"bucket {bucket!r} does not exist (a gcp stack's bucket is <clusterName>-weights-<gcp.project>)")
        held = _parse_json(body, what).get("permissions", [])
        missing = [permission for permission in STAGING_PERMISSIONS if permission not in held]
        if missing:
            raise StageError(f"bucket {bucket!r}: the current Google credentials lack {', '.join(missing)}; {STAGING_ROLE_HINT}")

    def is_current(self, bucket: str, key: str, entry: dict[str, Any]) -> bool:
        # objects.get without alt=media answers the object resource, with `size` (a string) and the custom
        # `metadata`: https://cloud.google.com/storage/docs/json_api/v1/objects/get
        what = f"reading the metadata of gs://{bucket}/{key}"
        body = self._get(self._url(bucket, key), what, lambda response: response.read(), missing_ok=True)
        if body is None:
            return False
        resource = _parse_json(body, what)
        return int(resource.get("size", -1)) == entry["size"] and (resource.get("metadata") or {}).get("sha256") == entry["sha256"]

    def upload_file(self, bucket: str, key: str, path: Path, entry: dict[str, Any]) -> None:
        with path.open("rb") as source:
            self._upload(bucket, key, source, entry["size"], "application/octet-stream", {"sha256": entry["sha256"]})

    def put_manifest(self, bucket: str, key: str, body: bytes) -> None:
        self._upload(bucket, key, io.BytesIO(body), len(body), "application/json", {})

    def delete_object(self, bucket: str, key: str) -> None:
        # objects.delete; a 404 means there is nothing to delete: https://cloud.google.com/storage/docs/json_api/v1/objects/delete
        what = f"deleting gs://{bucket}/{key}"
        with_retries(what, lambda: self._send("DELETE", self._url(bucket, key)), missing_ok=True, denied_hint=self.DENIED_HINT)

    def _upload(self, bucket: str, key: str, source: BinaryIO, size: int, content_type: str, metadata: dict[str, str]) -> None:
        uri = f"gs://{bucket}/{key}"
        session = with_retries(
            f"starting the upload of {uri}", lambda: self._start_upload(bucket, key, size, content_type, metadata), denied_hint=self.DENIED_HINT
        )
        upload = _ResumableUpload(self, session, source, size, content_type)
        resource = None
        # Each request gets the full retry budget: a multi-GB shard may meet more than one bad moment.
        while resource is None:
            resource = with_retries(f"uploading {uri}", upload.send_next, denied_hint=self.DENIED_HINT)
        if int(resource.get("size", -1)) != size:
            raise FetchError(f"uploading {uri}: Cloud Storage stored {resource.get('size')} bytes of {size}")

    def _start_upload(self, bucket: str, key: str, size: int, content_type: str, metadata: dict[str, str]) -> str:
        # objects.insert with uploadType=resumable opens a session and answers its URI in Location; the
        # object's metadata goes in the JSON body, its size in X-Upload-Content-Length so that Cloud Storage
        # refuses an object of another size. No encryption headers: the bucket's default KMS key applies.
        # https://cloud.google.com/storage/docs/json_api/v1/objects/insert
        # https://cloud.google.com/storage/docs/performing-resumable-uploads
        url = f"{self.endpoint}/upload/storage/v1/b/{quote(bucket, safe='')}/o?{urlencode({'uploadType': 'resumable', 'name': key})}"
        body = json.dumps({"contentType": content_type, "metadata": metadata}).encode()
        headers, _ = self._send("POST", url, body, {"Content-Type": "application/json; charset=UTF-8", "X-Upload-Content-Length": str(size)})
        session = headers.get("Location", "")
        # Every request of the session carries the token, which must reach the storage endpoint only. The
        # session URI is itself a credential, so it is not shown either.
        if not session.startswith(f"{self.endpoint}/"):
            raise FetchError(f"starting the upload of gs://{bucket}/{key}: the upload session is not on {self.endpoint}")
        return session


def open_store(bucket: str, region: str | None) -> tuple[S3Staging | GCSStaging, str]:
    """The store `--bucket` names, and the bucket's name."""
    try:
        location = parse_location(bucket if "://" in bucket else f"s3://{bucket}")
    except ValueError:
        location = None
    if location is None or location.prefix:
        raise StageError(f"--bucket {bucket!r} must be a bucket: gs://<bucket> for Cloud Storage, s3://<bucket> or <bucket> for S3")
    if isinstance(location, GCSLocation):
        return GCSStaging.from_env(os.environ), location.bucket
    return S3Staging(boto3.client("s3", region_name=region, config=S3_CLIENT_CONFIG)), location.bucket


# -- staging -------------------------------------------------------------------------------------


def stage(
    store: Any, *, bucket: str, model: str, source: str, revision: str | None, snapshot_dir: str | Path, dry_run: bool = False
) -> StageResult:
    """Upload the snapshot in `snapshot_dir` to `models/<model>/` in `bucket`, the manifest last. `store` is
    an S3Staging or a GCSStaging; a boto3 S3 client stands for S3Staging(client)."""
    started = time.monotonic()
    staging: StagingStore = store if isinstance(store, (S3Staging, GCSStaging)) else S3Staging(store)
    check_model_and_source(model, source)
    staging.check_bucket(bucket)
    snapshot = Path(snapshot_dir)
    if not snapshot.is_dir():
        raise StageError(f"snapshot directory {str(snapshot)!r} does not exist")
    try:
        manifest = build_manifest(model, source, revision, snapshot)
    except UnsafeSnapshot as error:
        raise StageError("; ".join(error.args) + ": only files inside the snapshot directory are staged") from None
    if not manifest["files"]:
        raise StageError(f"snapshot directory {str(snapshot)!r} holds no model files")
    location = staging.LOCATION(bucket, staged_weights_prefix(model))
    pending = [entry for entry in manifest["files"] if not staging.is_current(bucket, location.key(entry["path"]), entry)]

    if dry_run:
        for entry in pending:
            print(f"would upload {entry['path']} ({human_size(entry['size'])})", flush=True)
    else:
        if pending:
            # The old manifest would vouch for files that are about to change; until the new one is
            # written, pods fall back instead of loading a mix of two snapshots.
            staging.delete_object(bucket, location.key(MANIFEST_NAME))
        for entry in pending:
            file_started = time.monotonic()
            staging.upload_file(bucket, location.key(entry["path"]), snapshot / entry["path"], entry)
            print(f"uploaded {entry['path']} ({human_size(entry['size'])}) in {time.monotonic() - file_started:.1f}s", flush=True)
        staging.put_manifest(bucket, location.key(MANIFEST_NAME), dump_manifest(manifest))

    uploaded = {entry["path"] for entry in pending}
    return StageResult(
        manifest_uri=location.uri(MANIFEST_NAME),
        uploaded=tuple(entry["path"] for entry in pending),
        skipped=tuple(entry["path"] for entry in manifest["files"] if entry["path"] not in uploaded),
        uploaded_bytes=sum(entry["size"] for entry in pending),
        total_bytes=manifest["totalBytes"],
        elapsed_seconds=time.monotonic() - started,
        dry_run=dry_run,
    )


def download_snapshot(repo_id: str, revision: str | None, token: str | None, directory: Path) -> str | None:
    """Download `repo_id` into `directory`; returns the commit sha that was downloaded."""
    # Resolving first and downloading that sha keeps the manifest exact even if the branch moves meanwhile.
    info = huggingface_hub.HfApi().model_info(repo_id, revision=revision, token=token)
    sha = info.sha
    # Only what vLLM serves from: Llama's original/*.pth alone would double the download and every pod's fetch.
    wanted = select_model_files(sibling.rfilename for sibling in info.siblings)
    started = time.monotonic()
    huggingface_hub.snapshot_download(repo_id, revision=sha, local_dir=directory, token=token, allow_patterns=wanted)
    print(f"downloaded hf://{repo_id} at {sha} in {time.monotonic() - started:.1f}s", flush=True)
    return sha


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stage_model",
        description="Stage a Hugging Face snapshot in a stack's weights bucket, in Amazon S3 or Google Cloud Storage.",
        epilog=(
            "Cloud Storage credentials: GOOGLE_OAUTH_ACCESS_TOKEN if set, else `gcloud auth print-access-token`; "
            "the account needs roles/storage.objectAdmin on the bucket. S3 credentials: whatever boto3 finds."
        ),
    )
    parser.add_argument("--stack", help="take the bucket, source and revision of --model from this stack's configuration (its cloud picks S3 or Cloud Storage)")
    parser.add_argument("--bucket", help="gs://<bucket> for Cloud Storage, s3://<bucket> or <bucket> for S3 (with --stack: the stack's weights bucket)")
    parser.add_argument("--model", required=True, help="model name (DNS label); weights go under models/<model>/")
    parser.add_argument("--source", help="hf://<org>/<model>")
    parser.add_argument("--revision", help="branch, tag or commit (default: the repository's default branch)")
    parser.add_argument("--from-dir", type=Path, help="an already-downloaded snapshot instead of downloading one")
    parser.add_argument("--region", help="AWS region of an S3 bucket (default: the stack's, or the AWS configuration's)")
    parser.add_argument("--dry-run", action="store_true", help="check everything and list what would be uploaded; upload nothing")
    return parser


def _summary(result: StageResult) -> str:
    verb = "would upload" if result.dry_run else "uploaded"
    return (
        f"{'dry run: ' if result.dry_run else ''}{verb} {len(result.uploaded)} files ({human_size(result.uploaded_bytes)}), "
        f"skipped {len(result.skipped)} unchanged, {human_size(result.total_bytes)} in all, {result.elapsed_seconds:.1f}s; "
        f"manifest {result.manifest_uri}"
    )


def resolve_from_stack(args: argparse.Namespace) -> None:
    """Fill bucket, region, source and revision from the stack file's entry for the model."""
    from llm_platform.config import ConfigError as StackConfigError
    from llm_platform.config import decode_flat_config, parse
    from llm_platform.config.models import releases
    from llm_platform.config.stack_file import StackFileError
    from tools.preview import load_stack_file

    try:
        config = parse(decode_flat_config(load_stack_file(args.stack)[0]), stack=args.stack)
    except (FileNotFoundError, StackFileError, StackConfigError) as error:
        raise StageError(str(error)) from None
    # A canary with weights of its own is staged under its own name (`<model>-canary`).
    served = releases(config.models)
    model = next((m for m in served if m.name == args.model), None)
    if model is None:
        raise StageError(f"--model {args.model!r}: stack {args.stack} serves no such model (rule: one of {[m.name for m in served]})")
    args.source = args.source or model.source
    args.revision = args.revision or model.revision
    if config.cloud == "gcp":
        args.bucket = args.bucket or f"gs://{weights_bucket_name(config.cluster_name, config.gcp.project)}"
    else:
        args.region = args.region or config.region
        args.bucket = args.bucket or weights_bucket_name(config.cluster_name, boto3.client("sts", region_name=args.region).get_caller_identity()["Account"])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = os.environ.get("HF_TOKEN") or None
    try:
        if args.stack:
            resolve_from_stack(args)
        if not (args.bucket and args.source):
            raise StageError("--bucket and --source are required without --stack")
        store, bucket = open_store(args.bucket, args.region)
    except (StageError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        # Both checks run again in stage(); here they fail fast, before a snapshot of many GB is downloaded.
        repo_id = check_model_and_source(args.model, args.source)
        store.check_bucket(bucket)
        with tempfile.TemporaryDirectory(prefix="stage-model-") as directory:
            revision, snapshot = args.revision, args.from_dir
            if snapshot is None:
                snapshot = Path(directory)
                revision = download_snapshot(repo_id, args.revision, token, snapshot)
            result = stage(
                store, bucket=bucket, model=args.model, source=args.source, revision=revision, snapshot_dir=snapshot, dry_run=args.dry_run
            )
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Store errors name the object, never a token; Hub errors are OSError (HTTP, offline) or ValueError (a
    # bad repository id), and carry no token either.
    except (FetchError, BotoCoreError, ClientError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

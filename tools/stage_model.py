"""Stage a Hugging Face model snapshot in the stack's weights bucket, so pods load it from S3.

    python -m tools.stage_model --bucket llm-staging-weights-123456789012 --model mistral-7b-instruct \\
        --source hf://mistralai/Mistral-7B-Instruct-v0.3 [--revision REV] [--from-dir DIR] [--region REGION] [--dry-run]

Every file goes under `models/<model>/`, encrypted with SSE-KMS and carrying its sha256 as object
metadata; a file already there with the same size and sha256 is skipped, so a run that was interrupted
can simply be repeated. The manifest (its format is defined in `llm_platform.pod.fetch_weights`) is
uploaded last: pods take its presence to mean the upload is complete.

Without --from-dir the snapshot is downloaded into a temporary directory first, with the token in
HF_TOKEN (never printed), and the manifest records the commit sha the revision resolved to. With
--from-dir the manifest records --revision as given. --dry-run checks everything and lists what would
be uploaded, but uploads nothing.

Exit status: 0 staged (or checked, with --dry-run), 1 a download or upload failed, 2 refused: a model
name that is not a DNS label, a source that is not hf://org/model, a bucket that does not exist or is
not reachable, or a snapshot directory without model files.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import huggingface_hub
from botocore.exceptions import BotoCoreError, ClientError

from llm_platform.config import DNS_LABEL
from llm_platform.pod.fetch_weights import (
    MANIFEST_NAME,
    S3_CLIENT_CONFIG,
    TRANSFER_CONFIG,
    S3Location,
    build_manifest,
    dump_manifest,
    human_size,
    parse_hf_source,
)

# RFC 1123 label length; the name also becomes part of Kubernetes object names.
MODEL_NAME_MAX_LENGTH = 63


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
    if len(model) > MODEL_NAME_MAX_LENGTH or not DNS_LABEL.match(model):
        raise StageError(
            f"model name {model!r} must be a DNS label: lowercase letters, digits and '-', starting with a letter, "
            f"ending with a letter or digit, at most {MODEL_NAME_MAX_LENGTH} characters"
        )
    try:
        return parse_hf_source(source)
    except ValueError as error:
        raise StageError(str(error)) from None


def check_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        details = error.response["Error"]
        if details["Code"] in ("404", "NoSuchBucket"):
            raise StageError(f"bucket {bucket!r} does not exist (a stack's bucket is <clusterName>-weights-<awsAccountId>)") from None
        reason = f"{details['Code']} {details.get('Message', '')}".rstrip()
        raise StageError(f"bucket {bucket!r} is not reachable with the current AWS credentials: {reason}") from None
    except BotoCoreError as error:
        raise StageError(f"bucket {bucket!r} is not reachable: {error}") from None


def encryption_args(s3: Any, bucket: str) -> dict[str, str]:
    """SSE-KMS request parameters that encrypt with the bucket's own default key."""
    # `ServerSideEncryption: aws:kms` without a key id makes S3 use the AWS managed key aws/s3, not the
    # bucket's default key (PutObject API reference), so the bucket's key is named explicitly.
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError":
            return {"ServerSideEncryption": "aws:kms"}
        raise StageError(f"cannot read the default encryption of bucket {bucket!r}: {error}") from None
    defaults = [rule["ApplyServerSideEncryptionByDefault"] for rule in rules if "ApplyServerSideEncryptionByDefault" in rule]
    key_id = next((default["KMSMasterKeyID"] for default in defaults if default.get("KMSMasterKeyID")), None)
    return {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": key_id} if key_id else {})}


def _is_current(s3: Any, bucket: str, key: str, entry: dict[str, Any]) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return False
        raise
    return head["ContentLength"] == entry["size"] and head.get("Metadata", {}).get("sha256") == entry["sha256"]


def _upload(s3: Any, location: S3Location, snapshot: Path, entries: list[dict[str, Any]], encryption: dict[str, str]) -> None:
    for entry in entries:
        started = time.monotonic()
        s3.upload_file(
            str(snapshot / entry["path"]),
            location.bucket,
            location.key(entry["path"]),
            ExtraArgs={**encryption, "Metadata": {"sha256": entry["sha256"]}},
            Config=TRANSFER_CONFIG,
        )
        print(f"uploaded {entry['path']} ({human_size(entry['size'])}) in {time.monotonic() - started:.1f}s", flush=True)


def stage(
    s3_client: Any, *, bucket: str, model: str, source: str, revision: str | None, snapshot_dir: str | Path, dry_run: bool = False
) -> StageResult:
    """Upload the snapshot in `snapshot_dir` to `s3://<bucket>/models/<model>/`, the manifest last."""
    started = time.monotonic()
    check_model_and_source(model, source)
    check_bucket(s3_client, bucket)
    snapshot = Path(snapshot_dir)
    if not snapshot.is_dir():
        raise StageError(f"snapshot directory {str(snapshot)!r} does not exist")
    manifest = build_manifest(model, source, revision, snapshot)
    if not manifest["files"]:
        raise StageError(f"snapshot directory {str(snapshot)!r} holds no model files")
    location = S3Location(bucket, f"models/{model}")
    encryption = encryption_args(s3_client, bucket)
    pending = [entry for entry in manifest["files"] if not _is_current(s3_client, bucket, location.key(entry["path"]), entry)]

    if dry_run:
        for entry in pending:
            print(f"would upload {entry['path']} ({human_size(entry['size'])})", flush=True)
    else:
        if pending:
            # The old manifest would vouch for files that are about to change; until the new one is
            # written, pods fall back instead of loading a mix of two snapshots.
            s3_client.delete_object(Bucket=bucket, Key=location.key(MANIFEST_NAME))
        _upload(s3_client, location, snapshot, pending, encryption)
        s3_client.put_object(
            Bucket=bucket, Key=location.key(MANIFEST_NAME), Body=dump_manifest(manifest), ContentType="application/json", **encryption
        )

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
    sha = huggingface_hub.HfApi().model_info(repo_id, revision=revision, token=token).sha
    started = time.monotonic()
    huggingface_hub.snapshot_download(repo_id, revision=sha, local_dir=directory, token=token)
    print(f"downloaded hf://{repo_id} at {sha} in {time.monotonic() - started:.1f}s", flush=True)
    return sha


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.stage_model", description="Stage a Hugging Face snapshot in a stack's weights bucket.")
    parser.add_argument("--stack", help="take the bucket, region, source and revision of --model from this stack's configuration")
    parser.add_argument("--bucket", help="the stack's weights bucket, <clusterName>-weights-<awsAccountId>")
    parser.add_argument("--model", required=True, help="model name (DNS label); weights go under models/<model>/")
    parser.add_argument("--source", help="hf://<org>/<model>")
    parser.add_argument("--revision", help="branch, tag or commit (default: the repository's default branch)")
    parser.add_argument("--from-dir", type=Path, help="an already-downloaded snapshot instead of downloading one")
    parser.add_argument("--region", help="AWS region of the bucket (default: the AWS configuration's)")
    parser.add_argument("--dry-run", action="store_true", help="check everything and list what would be uploaded; upload nothing")
    return parser


def _summary(result: StageResult) -> str:
    verb = "would upload" if result.dry_run else "uploaded"
    return (
        f"{'dry run: ' if result.dry_run else ''}{verb} {len(result.uploaded)} files ({human_size(result.uploaded_bytes)}), "
        f"skipped {len(result.skipped)} unchanged, {human_size(result.total_bytes)} in all, {result.elapsed_seconds:.1f}s; "
        f"manifest {result.manifest_uri}"
    )


def resolve_from_stack(args: argparse.Namespace, sts: Any) -> None:
    """Fill bucket, region, source and revision from the stack file's entry for the model."""
    from components.model_store import bucket_name
    from llm_platform.config import ConfigError, decode_flat_config, parse_stack_config
    from tools.preview import load_stack_file

    try:
        config = parse_stack_config(decode_flat_config(load_stack_file(args.stack)[0]))
    except (FileNotFoundError, ConfigError) as error:
        raise StageError(str(error)) from None
    model = next((m for m in config.models if m.name == args.model), None)
    if model is None:
        raise StageError(f"--model {args.model!r}: stack {args.stack} serves no such model (rule: one of {[m.name for m in config.models]})")
    args.source = args.source or model.source
    args.revision = args.revision or model.revision
    args.region = args.region or config.region
    args.bucket = args.bucket or bucket_name(config.cluster_name, sts.get_caller_identity()["Account"])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = os.environ.get("HF_TOKEN") or None
    try:
        if args.stack:
            resolve_from_stack(args, boto3.client("sts", region_name=args.region))
        if not (args.bucket and args.source):
            raise StageError("--bucket and --source are required without --stack")
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    s3 = boto3.client("s3", region_name=args.region, config=S3_CLIENT_CONFIG)
    try:
        # Both checks run again in stage(); here they fail fast, before a snapshot of many GB is downloaded.
        repo_id = check_model_and_source(args.model, args.source)
        check_bucket(s3, args.bucket)
        with tempfile.TemporaryDirectory(prefix="stage-model-") as directory:
            revision, snapshot = args.revision, args.from_dir
            if snapshot is None:
                snapshot = Path(directory)
                revision = download_snapshot(repo_id, args.revision, token, snapshot)
            result = stage(
                s3, bucket=args.bucket, model=args.model, source=args.source, revision=revision, snapshot_dir=snapshot, dry_run=args.dry_run
            )
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Hub errors are OSError (HTTP, offline) or ValueError (a bad repository id); none carries the token.
    except (BotoCoreError, ClientError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

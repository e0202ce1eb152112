"""A moto S3 with one bucket and fake credentials, for the tests of code that reads or writes weights."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws


@contextmanager
def moto_bucket(monkeypatch: pytest.MonkeyPatch, bucket: str, region: str) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name=region)
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        yield client

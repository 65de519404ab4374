"""S3 copies of a job's folders: upload (retried through brief failures), download, and the
removal of uploaded checkpoints once a run no longer needs them."""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from metrics_store import RetryPolicy
from trainer.errors import ConfigError, FitError

log = logging.getLogger(__name__)


def split_s3_uri(uri: str, option: str = "--upload-uri") -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri.removeprefix("s3://").partition("/")[0]:
        raise ConfigError(f"{option} must be an s3:// URI (s3://bucket/prefix), got {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


UPLOAD_RETRY = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=8.0)
"""Attempts per file beyond botocore's own: a brief S3 failure (refused, reset or silent
connections, 5xx) is waited out for about 15 s before an upload counts as failed; training
then goes on and the upload is tried again later (callbacks.RecordingCallback)."""


def _s3(s3_client: Any) -> Any:
    if s3_client is not None:
        return s3_client
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", config=Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=5, read_timeout=10)
    )


def _with_retries(action: Any, what: str, *, policy: RetryPolicy = UPLOAD_RETRY, sleep: Any = time.sleep) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    rng = random.Random()
    for attempt in range(policy.max_attempts):
        try:
            return action()
        except (BotoCoreError, ClientError, OSError) as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId") or attempt == policy.max_attempts - 1:
                raise
            log.warning("%s failed (%s); retrying", what, type(exc).__name__)
            sleep(policy.delay(attempt, rng))
    raise AssertionError("unreachable")


def upload_folder(folder: Path, uri: str, *, s3_client: Any = None, name: str | None = None) -> str:
    """Copy a folder to `s3://bucket/prefix/<name or folder name>/`; returns that URI. Each file
    is retried through a brief S3 failure (`UPLOAD_RETRY`)."""
    bucket, prefix = split_s3_uri(uri)
    s3_client = _s3(s3_client)
    target = "/".join(p for p in (prefix, name or folder.name) if p)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{target}/{path.relative_to(folder).as_posix()}"
        _with_retries(lambda p=path, k=key: s3_client.upload_file(str(p), bucket, k), f"upload of s3://{bucket}/{key}")
    return f"s3://{bucket}/{target}/"


def delete_uploaded_checkpoints(uri: str, run_name: str, *, s3_client: Any = None) -> int:
    """Remove the run's uploaded `checkpoint-N/` copies under `uri/<run name>/` (its `best/`
    stays). Returns how many objects went."""
    bucket, prefix = split_s3_uri(uri)
    s3_client = _s3(s3_client)
    base = "/".join(p for p in (prefix, run_name) if p) + "/checkpoint-"
    keys = [
        entry["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base)
        for entry in page.get("Contents", [])
    ]
    for start in range(0, len(keys), 1000):
        s3_client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True}
        )
    return len(keys)


def download_folder(uri: str, folder: Path, *, s3_client: Any = None) -> Path:
    """Copy `s3://bucket/prefix/` into `folder` (written beside it, then renamed into place)."""
    bucket, prefix = split_s3_uri(uri, "checkpoint uri")
    s3_client = _s3(s3_client)
    staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    found = 0
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for entry in page.get("Contents", []):
            target = staging / entry["Key"][len(prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            _with_retries(
                lambda k=entry["Key"], t=target: s3_client.download_file(bucket, k, str(t)),
                f"download of s3://{bucket}/{entry['Key']}",
            )
            found += 1
    if not found:
        raise FitError(
            f"checkpoint {uri} is empty or gone: resume cannot continue from it (pass --restart to start over)"
        )
    os.replace(staging, folder)
    return folder


def check_upload_destination(uri: str, *, s3_client: Any = None) -> None:
    """Fail before training when the best model could not be uploaded at the end: the bucket
    must exist and accept a write (a probe object, removed again)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3_uri(uri)
    s3_client = _s3(s3_client)
    probe = "/".join(p for p in (prefix, f".receipt-ml-write-probe-{uuid.uuid4().hex}") if p)
    try:
        s3_client.put_object(Bucket=bucket, Key=probe, Body=b"")
        s3_client.delete_object(Bucket=bucket, Key=probe)
    except (ClientError, BotoCoreError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ConfigError(
            f"--upload-uri {uri}: cannot write to bucket {bucket!r} ({code}); check the bucket and the credentials"
        ) from exc

"""`--model` of `trainer predict` and `trainer export`: a folder, a job, or an S3 URI, to the
local folder of a model package.

- RUN_DIR: a run's folder (its `best/` is taken) or a package folder itself (`best/`, or what
  `trainer export` wrote);
- JOB_ID (or a job name, or an 8+ character id prefix): the job's recorded
  `results.best_checkpoint_s3_path`, a local path or an s3:// URI;
- s3://bucket/prefix/: the package copied there by `trainer fit --upload-uri`, downloaded to
  CACHE/<bucket>/<prefix>/ (downloaded again each time: a prefix may have been rewritten).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.config import looks_like_path
from trainer.inference.options import DEFAULT_CACHE
from trainer.model.package import BEST_DIR, PACKAGE_FILE, PackageError


def package_folder(path: Path) -> Path:
    """The package folder in `path`: `path` itself when it holds receipt_ml.json, else its best/."""
    if (path / PACKAGE_FILE).is_file() or not (path / BEST_DIR).is_dir():
        return path
    return path / BEST_DIR


def resolve_model(
    ref: str, *, queries: Callable[[], Any] | None = None, cache_dir: Path = DEFAULT_CACHE, s3_client: Any = None
) -> Path:
    """The local package folder `ref` names. `queries` builds a metrics_store.Queries when a
    job id has to be looked up (the table is only touched then)."""
    if ref.startswith("s3://"):
        return package_folder(download_prefix(ref, cache_dir, s3_client=s3_client))
    path = Path(ref).expanduser()
    if path.is_dir():
        return package_folder(path)
    if looks_like_path(ref):
        raise FileNotFoundError(f"model folder {ref} does not exist")
    if queries is None:
        raise PackageError(f"--model {ref}: no folder of that name, and no table to look a job up in")
    job = queries().find_job(ref)
    uri = job.outcome.best_checkpoint_uri
    if not uri:
        raise PackageError(
            f"job {job.job_id} ({job.status}) recorded no best model (results.best_checkpoint_s3_path): "
            "only a finished `trainer fit` run has one"
        )
    if not uri.startswith("s3://") and not Path(uri).is_dir():
        raise FileNotFoundError(
            f"job {job.job_id} saved its best model in {uri}, which is not on this machine "
            "(train with --upload-uri s3://... to share models between machines)"
        )
    return resolve_model(uri, cache_dir=cache_dir, s3_client=s3_client)


def download_prefix(uri: str, cache_dir: Path, *, s3_client: Any = None) -> Path:
    """Every object under s3://bucket/prefix/ into cache_dir/bucket/prefix/; returns that folder."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if not bucket:
        raise PackageError(f"--model {uri}: not an s3://bucket/prefix URI")
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    target = Path(cache_dir).expanduser() / bucket / prefix
    keys = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
    ):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    if not keys:
        raise PackageError(f"--model {uri}: nothing is stored under that prefix")
    for key in keys:
        local = target / key.removeprefix(f"{prefix}/" if prefix else "")
        local.parent.mkdir(parents=True, exist_ok=True)
        s3_client.download_file(bucket, key, str(local))
    return target

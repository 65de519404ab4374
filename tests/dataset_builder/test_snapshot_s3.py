"""Snapshots under an s3:// root (moto's S3 server): the same promises as a local folder."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from dataset_builder import BuildConfig, S3Backend, create_snapshot
from dataset_builder.snapshot import (
    SnapshotCorrupted,
    SnapshotExists,
    SnapshotNotFound,
    list_snapshots,
    open_snapshot,
)

from .receipts_fixture import simple_receipt, write_receipts


def test_build_publish_and_open_on_s3(table, s3_bucket):
    client, bucket = s3_bucket
    write_receipts(table, [simple_receipt(n) for n in range(1, 9)])
    backend = S3Backend(f"s3://{bucket}/datasets/receipts", client)
    config = BuildConfig(val_fraction=0.25)
    with ThreadPoolExecutor(2) as pool:
        ids = sorted(
            pool.map(
                lambda _: create_snapshot(table=table, backend=backend, config=config, source={}).snapshot_id, range(2)
            )
        )
    assert ids == ["v1", "v2"]
    snap = open_snapshot("", "latest", backend=backend)
    assert snap.id == "v2" and snap.uri == f"s3://{bucket}/datasets/receipts/v2"
    assert snap.words.height == 80
    assert [r["id"] for r in list_snapshots("", backend=backend)] == ["v1", "v2"]
    with pytest.raises(SnapshotExists):
        backend.publish("v1", {"manifest.json": b"{}"})

    client.put_object(Bucket=bucket, Key="datasets/receipts/v1/labels.parquet", Body=b"changed")
    with pytest.raises(SnapshotCorrupted, match="labels.parquet was modified"):
        open_snapshot("", "v1", backend=backend)


def test_unpublished_prefix_is_invisible(s3_bucket):
    client, bucket = s3_bucket
    backend = S3Backend(f"s3://{bucket}/snaps", client)
    client.put_object(Bucket=bucket, Key="snaps/v1/words.parquet", Body=b"partial upload, no manifest")
    assert backend.published_ids() == []
    with pytest.raises(SnapshotNotFound, match="no snapshot"):
        open_snapshot("", "latest", backend=backend)
    assert backend.reserve_id() == "v1" and backend.reserve_id() == "v2"


def test_missing_bucket_is_one_clear_error(s3_bucket, tmp_path):
    from typer.testing import CliRunner

    from dataset_builder.cli import app

    client, _ = s3_bucket
    endpoint = client.meta.endpoint_url
    env = {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }
    result = CliRunner().invoke(app, ["snapshot", "list", "--root", "s3://no-such-bucket/snaps"], env=env)
    assert result.exit_code == 2 and "bucket of s3://no-such-bucket/snaps does not exist" in result.output
    assert "Traceback" not in result.output

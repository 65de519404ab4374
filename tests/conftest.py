"""Shared fixtures: one DynamoDB Local per test session (in memory), a fresh table per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests never reach the model hub (none is reachable here, and a test must not depend on one):
# huggingface_hub reads this when it is first imported, so it is set before anything imports it.
# The test of downloading on first use runs its own fake hub in a subprocess without it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from metrics_store import StoreConfig, TableRef, connect, create_table, delete_table
from metrics_store.local import DynamoDBLocal, LocalDynamoConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
CORD_JSONL = REPO_ROOT.parent / "shared" / "datasets" / "cord" / "cord.jsonl"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """A DynamoDB Local endpoint for the whole session (or DYNAMODB_TEST_ENDPOINT if set)."""
    if os.environ.get("DYNAMODB_TEST_ENDPOINT"):
        yield os.environ["DYNAMODB_TEST_ENDPOINT"]
        return
    install_dir = Path(os.environ.get("RECEIPT_ML_DYNAMODB_LOCAL_DIR", REPO_ROOT / ".local" / "dynamodb"))
    with DynamoDBLocal(LocalDynamoConfig(install_dir=install_dir)) as local:
        yield local.endpoint_url


@pytest.fixture
def store_config(dynamodb_endpoint: str) -> StoreConfig:
    """Config for a table of this test's own (not created yet)."""
    return StoreConfig(table=f"test-{uuid.uuid4().hex[:12]}", region="us-east-1", endpoint_url=dynamodb_endpoint)


@pytest.fixture
def table(store_config: StoreConfig) -> Iterator[TableRef]:
    """A fresh, empty receipts table, deleted after the test."""
    ref = connect(store_config)
    create_table(ref, stream=False)
    yield ref
    delete_table(ref)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode (S3 only: no real local S3 server exists here)."""
    from moto.server import ThreadedMotoServer

    from metrics_store.local import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str):
    """A fresh bucket and an S3 client for it."""
    import boto3

    client = boto3.client(
        "s3", region_name="us-east-1", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )
    bucket = f"bucket-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket

"""Shared fixtures: one DynamoDB Local per test session (in memory), a fresh table per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    create_table(ref)
    yield ref
    delete_table(ref)

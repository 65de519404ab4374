"""A table of generated receipts and a snapshot of them, shared by the end-to-end tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dataset_builder import BuildConfig, LocalBackend, create_snapshot
from dataset_builder.receipts import LabelMix, generate_receipts, write_bundles
from metrics_store import StoreConfig, connect, create_table, delete_table

# The user's own label set (seeds/003): seven labels, totals merged into AMOUNT.
USER_LABELS = ("MERCHANT_NAME", "PHONE_NUMBER", "ADDRESS_LINE", "DATE", "TIME", "PRODUCT_NAME", "AMOUNT")
CLEAN_MIX = LabelMix(
    status_probabilities={"VALID": 0.96, "INVALID": 0.01, "NEEDS_REVIEW": 0.01, "PENDING": 0.01, "NONE": 0.01}
)


@pytest.fixture(scope="module")
def e2e_table(dynamodb_endpoint):
    config = StoreConfig(table=f"e2e-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    ref = connect(config)
    create_table(ref, stream=False)
    write_bundles(ref, list(generate_receipts(11, 80, CLEAN_MIX)))
    yield config, ref
    delete_table(ref)


@pytest.fixture(scope="module")
def e2e_snapshot(e2e_table, tmp_path_factory) -> Path:
    """Snapshot root holding v1: 80 receipts, 20% validation, the user's seven labels."""
    _, ref = e2e_table
    root = tmp_path_factory.mktemp("snapshots")
    create_snapshot(
        table=ref,
        backend=LocalBackend(root),
        source={"table": ref.name},
        config=BuildConfig(merge_preset="amounts", allowed_labels=USER_LABELS, val_fraction=0.2, seed=1),
    )
    return root

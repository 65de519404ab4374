"""Every receipt item we write (the generator's, the importer's) is the item the user's own
client writes for the same entity: the client reads it, and writing it back with the client
gives the same attributes with the same values; no attribute their items lack. And the table we
create is defined as theirs is (stream, TTL)."""

from __future__ import annotations

import json
import math

import pytest
from receipt_dynamo.entities import (
    Receipt,
    ReceiptLine,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
)
from typer.testing import CliRunner

from dataset_builder import generate_receipts
from dataset_builder.receipts.importer import to_bundle
from dataset_builder.receipts.jsonl import read_receipts
from metrics_store.codec import decode_item

CLIENT_TYPES = {
    "RECEIPT": Receipt,
    "RECEIPT_LINE": ReceiptLine,
    "RECEIPT_WORD": ReceiptWord,
    "RECEIPT_WORD_LABEL": ReceiptWordLabel,
    "RECEIPT_PLACE": ReceiptPlace,
}


def same_value(a, b) -> bool:
    """Equal as stored values: numbers by value (the client writes 0.10000000000000000000, we 0.1)."""
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def assert_client_writes_the_same_item(item: dict) -> None:
    entity = CLIENT_TYPES[item["TYPE"]["S"]].from_item(item)
    theirs, ours = decode_item(entity.to_item()), decode_item(item)
    assert set(ours) == set(theirs), (item["SK"], sorted(set(ours) ^ set(theirs)))
    different = {k: (ours[k], theirs[k]) for k in ours if not same_value(ours[k], theirs[k])}
    assert not different, (item["SK"], different)


def test_generated_receipts_are_what_the_clients_pipeline_writes():
    kinds = set()
    for bundle in generate_receipts(5, 20):
        for record in bundle.records():
            item = record.to_item()
            kinds.add(item["TYPE"]["S"])
            assert_client_writes_the_same_item(item)
    assert kinds == set(CLIENT_TYPES)


def test_imported_receipts_are_what_the_clients_pipeline_writes(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(
        json.dumps(
            {
                "receipt_id": "r1",
                "width": 400,
                "height": 800,
                "merchant_name": "Corner Deli",
                "words": [
                    {"text": "Corner", "box": [10, 10, 90, 30], "label": "MERCHANT_NAME"},
                    {"text": "12.50", "box": [300, 700, 380, 720], "label": "GRAND_TOTAL"},
                ],
            }
        )
        + "\n"
    )
    sources, problems = read_receipts(path)
    assert not problems
    bundle = to_bundle(sources[0], source_name="test.jsonl", status="VALID", timestamp="2026-01-01T00:00:00+00:00")
    assert bundle.place is not None and bundle.place.merchant_name == "Corner Deli"
    for record in bundle.records():
        assert_client_writes_the_same_item(record.to_item())


def test_table_create_makes_the_users_table_definition(store_config):
    from metrics_store.cli import app

    result = CliRunner().invoke(
        app,
        [
            "table",
            "create",
            "--table",
            store_config.table,
            "--endpoint-url",
            str(store_config.endpoint_url),
            "--region",
            "us-east-1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created == {
        "table": store_config.table,
        "created": True,
        "stream": "NEW_AND_OLD_IMAGES",
        "ttl_attribute": "time_to_live",
        "missing": [],
    }
    again = json.loads(
        CliRunner()
        .invoke(
            app,
            [
                "table",
                "create",
                "--table",
                store_config.table,
                "--endpoint-url",
                str(store_config.endpoint_url),
                "--region",
                "us-east-1",
                "--json",
            ],
        )
        .stdout
    )
    assert again["created"] is False and again["missing"] == []


@pytest.fixture(autouse=True)
def _drop_table(store_config):
    yield
    from metrics_store import connect, delete_table, table_exists

    table = connect(store_config)
    if table_exists(table):
        delete_table(table)

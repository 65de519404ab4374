"""Receipts laid out for prediction (dataset_builder.layout): a JSONL file and receipts read
from the table get the boxes and reading order a snapshot build gives the same receipts;
off-page corners, unknown keys and bad lines are named."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import polars as pl
import pytest

from dataset_builder import BuildConfig, LocalBackend, create_snapshot, import_jsonl
from dataset_builder.layout import (
    BoxOutsideConvention,
    ReceiptNotFound,
    from_jsonl,
    from_table_read,
    lay_out,
    parse_receipt_keys,
)
from dataset_builder.receipts.importer import ImportRejected
from dataset_builder.sources.dynamo import TableReader, frames_from_items
from metrics_store.records import Geometry, Point, Receipt, ReceiptWord
from tests.conftest import CORD_JSONL, REPO_ROOT

LABEL_MAP = REPO_ROOT / "bench" / "cord_label_map.json"
COMPARED = ["receipt_key", "line_id", "word_id", "position", "text", "x0", "y0", "x1", "y1"]
needs_cord = pytest.mark.skipif(not CORD_JSONL.exists(), reason="CORD receipts not present in ../shared/datasets/cord")


def cord_lines(path: Path, n: int) -> Path:
    with CORD_JSONL.open() as source:
        path.write_text("".join(islice(source, n)))
    return path


@needs_cord
def test_jsonl_and_table_receipts_are_laid_out_as_the_snapshot_build_lays_them(table, tmp_path):
    jsonl = cord_lines(tmp_path / "cord-head.jsonl", 12)
    import_jsonl(table, jsonl, label_map=LABEL_MAP, strict=True)
    result = create_snapshot(
        table=table,
        backend=LocalBackend(tmp_path / "snapshots"),
        config=BuildConfig(val_fraction=0.3),
        source={"table": table.name},
    )
    from dataset_builder import open_snapshot

    built = (
        open_snapshot(tmp_path / "snapshots", result.snapshot_id).words.select(COMPARED).sort("receipt_key", "position")
    )
    laid = from_jsonl(jsonl)
    assert len(laid.keys) == 12 and laid.problems == ()
    assert laid.words.select(COMPARED).equals(built)
    first = json.loads(jsonl.read_text().splitlines()[0])
    ours = laid.words.filter(pl.col("receipt_key") == laid.keys[0]).sort("source_index")
    assert ours["text"].to_list() == [w["text"] for w in first["words"]]  # every source word, traceable by index

    keys = parse_receipt_keys(laid.keys[:3])
    from_table = from_table_read(TableReader(table).read_receipts(keys), keys)
    assert from_table.keys == laid.keys[:3]
    assert from_table.words.select(COMPARED).equals(built.filter(pl.col("receipt_key").is_in(list(laid.keys[:3]))))
    with pytest.raises(ReceiptNotFound, match="no receipt 0000-missing#00001"):
        from_table_read(TableReader(table).read_receipts([("0000-missing", 1)]), [("0000-missing", 1)])


def _word(
    receipt_key: tuple[str, int], line: int, word: int, text: str, corners: tuple[float, float, float, float]
) -> ReceiptWord:
    left, top, right, bottom = corners
    geometry = Geometry(Point(left, top), Point(right, top), Point(left, bottom), Point(right, bottom))
    return ReceiptWord(*receipt_key, line, word, text, geometry)


def test_a_corner_off_the_receipt_names_the_receipt_and_word_and_an_empty_receipt_stays():
    key = ("7d0c6f4e-0000-4000-8000-000000000001", 1)
    good = _word(key, 1, 1, "TOTAL", (0.1, 0.9, 0.3, 0.85))
    edge = _word(key, 1, 2, "9.99", (0.7, 1.0004, 1.0, 0.85))  # rounds onto the 0..1000 grid: accepted
    empty = Receipt("7d0c6f4e-0000-4000-8000-000000000002", 1, 100, 200, "")
    receipts, words, _ = frames_from_items(
        [Receipt(*key, 100, 200, "").to_item(), empty.to_item(), good.to_item(), edge.to_item()]
    )
    keys, laid = lay_out(receipts, words)
    assert len(keys) == 2 and laid.height == 2 and laid["y0"].to_list() == [100, 0]
    off = _word(key, 2, 1, "CASH", (0.1, 0.5, 1.2, 0.45))
    receipts, words, _ = frames_from_items([Receipt(*key, 100, 200, "").to_item(), good.to_item(), off.to_item()])
    with pytest.raises(
        BoxOutsideConvention,
        match=r"receipt 7d0c6f4e-0000-4000-8000-000000000001#00001: word 1 of line 2 \('CASH'\).*tr_x=1.2",
    ):
        lay_out(receipts, words)


def test_bad_jsonl_lines_are_reported_as_the_importer_reports_them(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = {
        "receipt_id": "a",
        "width": 100,
        "height": 100,
        "words": [{"text": "TOTAL", "box": [10, 10, 40, 20], "label": "any.label"}],
    }
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({**good, "receipt_id": "b", "words": []}),
                json.dumps({**good, "receipt_id": "c", "words": [{"text": "x", "box": [10, 10, 400, 20]}]}),
            ]
        )
        + "\n"
    )
    laid = from_jsonl(path)
    assert [laid.source_ids[k] for k in laid.keys] == ["a", "b"]  # b has no words: kept, to be predicted as empty
    assert [(p.line_number, p.receipt_id) for p in laid.problems] == [(2, None), (4, "c")]
    assert "outside the 100x100 page" in laid.problems[1].message
    with pytest.raises(ImportRejected, match="2 problem"):
        from_jsonl(path, strict=True)


def test_receipt_keys_are_parsed_or_named(table):
    assert parse_receipt_keys(["abc#1", "IMAGE#abc#RECEIPT#00002"]) == [("abc", 1), ("abc", 2)]
    with pytest.raises(ValueError, match="--receipt 'abc': expected IMAGE_ID#RECEIPT_ID"):
        parse_receipt_keys(["abc"])
    key = ("7d0c6f4e-0000-4000-8000-000000000003", 1)
    raw = TableReader(table).read_receipts([key])
    assert raw.receipts.height == 0 and raw.words.height == 0

"""The receipt JSONL importer: coordinates, line numbering, labels, entity ids, bad lines,
strict mode, idempotent re-imports, the held-out keys file, and the real CORD file."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from dataset_builder.receipts.importer import (
    ImportRejected,
    import_image_id,
    import_jsonl,
    plan_import,
)
from dataset_builder.receipts.jsonl import load_label_map
from metrics_store.queries import Queries
from metrics_store.records import RECORD_TYPES
from tests.conftest import CORD_JSONL, REPO_ROOT

CORD_LABEL_MAP = REPO_ROOT / "bench" / "cord_label_map.json"


def write_jsonl(path: Path, receipts: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in receipts))
    return path


def word(text, box, label=None, **extra):
    return {"text": text, "box": box, "label": label, **extra}


def item_count(table) -> int:
    return table.client.scan(TableName=table.name, Select="COUNT")["Count"]


def read_back(table, image_id: str) -> dict[str, list]:
    page = table.client.query(
        TableName=table.name,
        IndexName="GSI4",
        KeyConditionExpression="GSI4PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"IMAGE#{image_id}#RECEIPT#00001"}},
    )
    by_type = defaultdict(list)
    for item in page["Items"]:
        by_type[item["TYPE"]["S"]].append(RECORD_TYPES[item["TYPE"]["S"]].from_item(item))
    return by_type


EDGES = {
    "receipt_id": "edges",
    "width": 200,
    "height": 100,
    "split": "test",
    "words": [
        word("TOTAL", [0, 0, 50, 20], "GRAND_TOTAL", line_id=7),  # touches the top-left corner
        word("|", [100, 40, 100, 60]),  # zero width
        word("9.99", [150, 80, 200, 100], "GRAND_TOTAL", line_id=8),  # touches the bottom-right corner
    ],
}


def test_pixel_boxes_become_normalized_bottom_left_geometry(table, tmp_path):
    report = import_jsonl(table, write_jsonl(tmp_path / "edges.jsonl", [EDGES]))
    assert report.summary.receipts == 1 and not report.plan.problems
    stored = read_back(table, import_image_id("edges.jsonl", "edges"))
    assert stored["RECEIPT"][0].width == 200 and stored["RECEIPT"][0].height == 100
    words = {w.text: w for w in stored["RECEIPT_WORD"]}
    top_left_word = words["TOTAL"].geometry
    assert (top_left_word.top_left.x, top_left_word.top_left.y) == (0.0, 1.0)
    assert (top_left_word.bottom_right.x, top_left_word.bottom_right.y) == pytest.approx((0.25, 0.8))
    corner = words["9.99"].geometry
    assert (corner.bottom_right.x, corner.bottom_right.y) == (1.0, 0.0)
    assert (corner.top_left.x, corner.top_left.y) == pytest.approx((0.75, 0.2))
    bar = words["|"].geometry
    assert bar.top_left.x == bar.top_right.x == 0.5 and bar.bounding_box["width"] == 0.0
    assert bar.top_left.y == pytest.approx(0.6) and bar.bottom_left.y == pytest.approx(0.4)
    for w in words.values():
        assert w.geometry.top_left.y >= w.geometry.bottom_left.y
    # three text rows: numbered top to bottom
    assert [(w.line_id, w.word_id) for w in (words["TOTAL"], words["|"], words["9.99"])] == [(1, 1), (2, 1), (3, 1)]
    assert words["TOTAL"].extracted_data == {"entity_id": 7} and words["|"].extracted_data is None
    assert {(lab.line_id, lab.label, lab.validation_status) for lab in stored["RECEIPT_WORD_LABEL"]} == {
        (1, "GRAND_TOTAL", "VALID"),
        (3, "GRAND_TOTAL", "VALID"),
    }


def test_lines_come_from_row_ids_in_page_order_and_words_left_to_right(tmp_path):
    receipt = {
        "receipt_id": 5,
        "width": 400,
        "height": 400,
        "words": [
            word("b", [200, 300, 240, 320], row_id="first-in-file"),  # lower on the page
            word("a", [10, 302, 50, 322], row_id="first-in-file"),
            word("2", [300, 100, 340, 125], row_id="second-in-file"),  # higher on the page
            word("1", [20, 98, 60, 118], row_id="second-in-file"),
        ],
    }
    bundle = plan_import(write_jsonl(tmp_path / "rows.jsonl", [receipt])).bundles[0]
    assert [line.text for line in bundle.lines] == ["1 2", "a b"]
    assert [(w.text, w.line_id, w.word_id) for w in bundle.words] == [
        ("1", 1, 1),
        ("2", 1, 2),
        ("a", 2, 1),
        ("b", 2, 2),
    ]
    assert bundle.receipt.image_id == str(uuid.uuid5(uuid.NAMESPACE_URL, "rows.jsonl/5"))


def test_lines_come_from_geometry_without_row_ids(tmp_path):
    receipt = {
        "receipt_id": "g",
        "width": 400,
        "height": 400,
        "words": [
            word("TOTAL", [10, 200, 80, 220]),
            word("12.00", [300, 205, 360, 224]),  # a little lower, same text row
            word("CASH", [10, 240, 70, 260]),
            word("HELLO", [150, 20, 250, 50]),
            word("tiny", [100, 210, 100, 210]),  # a zero-size box inside the TOTAL row
        ],
    }
    bundle = plan_import(write_jsonl(tmp_path / "geo.jsonl", [receipt])).bundles[0]
    assert [line.text for line in bundle.lines] == ["HELLO", "TOTAL tiny 12.00", "CASH"]
    line = bundle.lines[1].geometry
    assert (line.top_left.x, line.bottom_right.x) == pytest.approx((10 / 400, 360 / 400))
    assert (line.top_left.y, line.bottom_right.y) == pytest.approx((1 - 200 / 400, 1 - 224 / 400))


def test_label_map_status_keys_and_entity_ids(table, tmp_path):
    label_map = tmp_path / "map.json"
    label_map.write_text(
        json.dumps(
            {
                "menu.nm": "PRODUCT_NAME",
                "menu.price": "LINE_TOTAL",
                "menu.sub_nm": None,
                "total.total_price": "GRAND_TOTAL",
            }
        )
    )
    receipt = {
        "receipt_id": "m",
        "width": 300,
        "height": 100,
        "words": [
            word("Ice", [10, 10, 40, 20], "menu.nm", line_id=1),
            word("Tea", [45, 10, 80, 20], "menu.nm", line_id=1),
            word("Lemon", [85, 10, 130, 20], "menu.nm", line_id=2),  # next entity, same label
            word("18,000", [200, 10, 260, 20], "menu.price", line_id=3),
            word("no-ice", [10, 30, 60, 40], "menu.sub_nm", line_id=4),
            word("TOTAL", [10, 60, 60, 70], "total.total_price", line_id=5, is_key=1),
            word("18,000", [200, 60, 260, 70], "total.total_price", line_id=5, is_key=0),
        ],
    }
    report = import_jsonl(
        table, write_jsonl(tmp_path / "m.jsonl", [receipt]), label_map=label_map, status="NEEDS_REVIEW"
    )
    stored = read_back(table, import_image_id("m.jsonl", "m"))
    labels = {(lab.line_id, lab.word_id): (lab.label, lab.validation_status) for lab in stored["RECEIPT_WORD_LABEL"]}
    words = {(w.line_id, w.word_id): w for w in stored["RECEIPT_WORD"]}
    assert [words[(1, i)].extracted_data["entity_id"] for i in (1, 2, 3)] == [1, 1, 2]
    assert labels == {
        (1, 1): ("PRODUCT_NAME", "NEEDS_REVIEW"),
        (1, 2): ("PRODUCT_NAME", "NEEDS_REVIEW"),
        (1, 3): ("PRODUCT_NAME", "NEEDS_REVIEW"),
        (1, 4): ("LINE_TOTAL", "NEEDS_REVIEW"),
        (3, 2): ("GRAND_TOTAL", "NEEDS_REVIEW"),  # the caption word TOTAL (is_key) stays O
    }
    assert report.summary.labels_by_status["NEEDS_REVIEW"] == 5 and report.summary.words == 7


BAD_FILE = [
    {"receipt_id": "ok-1", "width": 100, "height": 100, "words": [word("A", [1, 1, 10, 10], "DATE")]},
    '{"receipt_id": "broken", "width": 100,',
    {"receipt_id": "no-text", "width": 100, "height": 100, "words": [{"box": [1, 1, 10, 10]}]},
    {"receipt_id": "outside", "width": 100, "height": 100, "words": [word("A", [50, 50, 101, 60])]},
    {"receipt_id": "inverted", "width": 100, "height": 100, "words": [word("A", [50, 60, 60, 50])]},
    {"receipt_id": "unknown", "width": 100, "height": 100, "words": [word("A", [1, 1, 10, 10], "menu.nm")]},
    {"receipt_id": "ok-2", "width": 100, "height": 100, "words": [word("B", [0, 0, 100, 100], "TAX")]},
]


def test_bad_lines_are_reported_by_line_and_receipt_and_skipped(table, tmp_path):
    report = import_jsonl(table, write_jsonl(tmp_path / "bad.jsonl", BAD_FILE))
    found = {(p.line_number, p.receipt_id) for p in report.plan.problems}
    assert found == {(2, None), (3, "no-text"), (4, "outside"), (5, "inverted"), (6, "unknown")}
    messages = " | ".join(str(p) for p in report.plan.problems)
    for fragment in (
        "invalid JSON",
        "missing text",
        "outside the 100x100 page",
        "inverted box",
        "unknown label 'menu.nm'",
    ):
        assert fragment in messages
    assert report.plan.skipped_lines == (2, 3, 4, 5, 6)
    assert [r.source_id for r in report.plan.imported] == ["ok-1", "ok-2"]
    assert Queries(table).count_receipts() == 2


def test_strict_import_of_a_bad_file_writes_nothing(table, tmp_path):
    with pytest.raises(ImportRejected) as rejected:
        import_jsonl(table, write_jsonl(tmp_path / "bad.jsonl", BAD_FILE), strict=True)
    assert "line 3 (receipt no-text)" in str(rejected.value) and len(rejected.value.problems) == 5
    assert item_count(table) == 0


def test_reimport_overwrites_and_writes_held_out_keys(table, tmp_path):
    receipts = [
        {**EDGES, "receipt_id": "r-train", "split": "train"},
        {**EDGES, "receipt_id": "r-test", "split": "test"},
        {**EDGES, "receipt_id": "r-val", "split": "val"},
        {**EDGES, "receipt_id": "r-none", "split": None},
    ]
    path = write_jsonl(tmp_path / "splits.jsonl", receipts)
    keys_file = tmp_path / "val_keys.txt"
    import_jsonl(table, path, split_keys_out=keys_file)
    before = item_count(table)
    report = import_jsonl(table, path, split_keys_out=keys_file)
    assert item_count(table) == before == 4 * (1 + 3 + 3 + 2)
    expected = [f"{import_image_id('splits.jsonl', rid)}#00001" for rid in ("r-test", "r-val")]
    assert keys_file.read_text().splitlines() == expected == list(report.plan.held_out_keys)


def test_label_map_must_name_table_labels(tmp_path):
    bad = tmp_path / "map.json"
    bad.write_text(json.dumps({"menu.nm": "product_name"}))
    with pytest.raises(ValueError, match="not table labels"):
        load_label_map(bad)


@pytest.mark.slow
@pytest.mark.skipif(not CORD_JSONL.exists(), reason="CORD receipts not present in ../shared/datasets/cord")
def test_import_all_of_cord(table, tmp_path):
    label_map = load_label_map(CORD_LABEL_MAP)
    present = Counter(w["label"] for line in CORD_JSONL.open() for w in json.loads(line)["words"])
    assert set(present) <= set(label_map), "the CORD label map names every CORD label"
    keys_file = tmp_path / "cord_test_keys.txt"
    report = import_jsonl(table, CORD_JSONL, label_map=label_map, strict=True, split_keys_out=keys_file)
    words_by_split = Counter()
    for imported, bundle in zip(report.plan.imported, report.plan.bundles, strict=True):
        words_by_split[imported.split] += len(bundle.words)
    assert words_by_split == {"train": 19_370, "test": 2_186}
    queries = Queries(table)
    assert queries.count_receipts() == 900
    assert queries.count_by_type("RECEIPT_WORD") == 21_556
    assert queries.count_by_type("RECEIPT_WORD_LABEL") == report.summary.labels > 10_000
    assert len(keys_file.read_text().splitlines()) == 100
    first = report.plan.bundles[0]
    assert all(w.extracted_data and "entity_id" in w.extracted_data for w in first.words)

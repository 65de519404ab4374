"""Receipts, words, labels and places written by the user's own client become a snapshot whose
words, labels, label states and merchants are what was written (compatibility item (a)), and
what their table holds that a model cannot use is refused or counted, never silently changed:
legacy label names, label keys that name no single label, empty words, boxes off the page,
receipts without a place."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from receipt_dynamo.entities import (
    Receipt,
    ReceiptLine,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
)

from dataset_builder import (
    BuildConfig,
    ConfigError,
    LocalBackend,
    contract_gate,
    create_snapshot,
    generate_receipts,
)

from .client import client_for

ADDED = datetime(2026, 3, 1, tzinfo=UTC)
PLACES = {0: "Sprouts Farmers Market", 1: "Sprouts Farmers Market", 2: "Corner Deli", 3: "Corner Deli", 4: "Fuel Stop"}
"""Receipt index -> the place the pipeline matched it to; the others have none."""


def _point(p) -> dict[str, float]:
    return {"x": p.x, "y": p.y}


def _geometry(g) -> dict:
    box = g.bounding_box
    return {
        "bounding_box": box,
        "top_left": _point(g.top_left),
        "top_right": _point(g.top_right),
        "bottom_left": _point(g.bottom_left),
        "bottom_right": _point(g.bottom_right),
        "angle_degrees": g.angle_degrees,
        "angle_radians": g.angle_radians,
        "confidence": g.confidence,
    }


def client_receipts(n: int = 12):
    """Receipt content from our generator, as the user's client's own entities: every label
    item VALID (the first label of each word), and the oddities a real table holds."""
    receipts = []
    for index, bundle in enumerate(generate_receipts(17, n)):
        image_id = bundle.receipt.image_id
        receipt = Receipt(
            image_id,
            1,
            bundle.receipt.width,
            bundle.receipt.height,
            ADDED,
            "raw-bucket",
            f"raw/{image_id}.png",
            {"x": 0.0, "y": 1.0},
            {"x": 1.0, "y": 1.0},
            {"x": 0.0, "y": 0.0},
            {"x": 1.0, "y": 0.0},
        )
        lines = [
            ReceiptLine(
                image_id=image_id, receipt_id=1, line_id=line.line_id, text=line.text, **_geometry(line.geometry)
            )
            for line in bundle.lines
        ]
        words = [
            ReceiptWord(
                image_id=image_id,
                receipt_id=1,
                line_id=w.line_id,
                word_id=w.word_id,
                text=w.text,
                **_geometry(w.geometry),
            )
            for w in bundle.words
        ]
        truth = {k: v for k, v in bundle.truth.items() if v}
        labels = [
            ReceiptWordLabel(
                image_id, 1, lid, wid, label, None, ADDED, validation_status="VALID", label_proposed_by="human"
            )
            for (lid, wid), label in sorted(truth.items())
        ]
        place = (
            ReceiptPlace(
                image_id=image_id,
                receipt_id=1,
                place_id=f"ChIJ{index % 3}",
                merchant_name=PLACES[index],
                confidence=0.9,
                validation_status="MATCHED",
                validated_by="PHONE_LOOKUP",
            )
            if index in PLACES
            else None
        )
        receipts.append((receipt, place, lines, words, labels, truth))
    return receipts


@pytest.fixture(scope="module")
def written(dynamodb_endpoint):
    """A table the user's client wrote: receipts, places, lines, words, VALID labels; then, as
    raw items the client writes for rows its minting guard no longer allows (legacy rows): a
    CARD_NUMBER and a BUSINESS_NAME label, an `O` label, a label key `...#LABEL#LINE_TOTAL#2`,
    an empty word labelled PRODUCT_NAME and a word whose box runs off the page."""
    import uuid

    from metrics_store import Store, StoreConfig, connect, create_table, delete_table

    table = connect(
        StoreConfig(table=f"compat-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    )
    create_table(table, stream=False)
    client = client_for(table)
    receipts = client_receipts()
    for receipt, place, lines, words, labels, _ in receipts:
        client.add_receipt(receipt)
        if place is not None:
            client.add_receipt_place(place)
        client.add_receipt_lines(lines)
        client.add_receipt_words(words)
        client.add_receipt_word_labels(labels)

    receipt, _, _, words, labels, truth = receipts[5]  # no place: its merchant comes from its MERCHANT_NAME words
    legacy = {}
    payment = next(k for k, v in truth.items() if v == "PAYMENT_METHOD")
    product = next(k for k, v in truth.items() if v == "PRODUCT_NAME")
    merchant_word = next(k for k, v in sorted(truth.items()) if v == "MERCHANT_NAME")
    other = [k for k in sorted(truth) if k not in (payment, product, merchant_word)]
    raw_items = []
    for key, name in ((payment, "CARD_NUMBER"), (merchant_word, "BUSINESS_NAME")):
        # the legacy row replaces the core-named one: the word's only label has the old name
        client.delete_receipt_word_label(next(lab for lab in labels if (lab.line_id, lab.word_id) == key))
        raw_items.append(
            ReceiptWordLabel(receipt.image_id, 1, *key, name, None, ADDED, validation_status="VALID").to_item()
        )
        legacy[key] = name
    o_word = next(w for w in words if (w.line_id, w.word_id) not in truth)
    raw_items.append(
        ReceiptWordLabel(
            receipt.image_id, 1, o_word.line_id, o_word.word_id, "O", None, ADDED, validation_status="VALID"
        ).to_item()
    )
    bad = ReceiptWordLabel(
        receipt.image_id, 1, *other[0], "LINE_TOTAL", None, ADDED, validation_status="VALID"
    ).to_item()
    bad["SK"] = {"S": bad["SK"]["S"] + "#2"}  # a label key that names no single label
    raw_items.append(bad)
    empty = next(
        w
        for w in receipts[6][3]
        if (w.line_id, w.word_id) == next(k for k, v in receipts[6][5].items() if v == "PRODUCT_NAME")
    )
    empty_item = empty.to_item()
    empty_item["text"] = {"S": ""}
    off = receipts[7][3][0].to_item()
    off["top_right"] = {"M": {"x": {"N": "1.25"}, "y": off["top_right"]["M"]["y"]}}
    off["bottom_right"] = {"M": {"x": {"N": "1.25"}, "y": off["bottom_right"]["M"]["y"]}}
    Store(table).batch_put([*raw_items, empty_item, off])  # the items as the client encodes them, written as they are
    yield (
        table,
        receipts,
        {
            "legacy": legacy,
            "o_word": (o_word.line_id, o_word.word_id),
            "bad_key": bad["SK"]["S"],
            "empty": (receipts[6][0].image_id, empty.line_id, empty.word_id),
            "off": (receipts[7][0].image_id, receipts[7][3][0].line_id, receipts[7][3][0].word_id),
        },
    )
    delete_table(table)


def build(table, tmp_path, **spec):
    return create_snapshot(
        table=table,
        backend=LocalBackend(tmp_path),
        source={"table": table.name},
        config=BuildConfig(val_fraction=0.3, seed=3, **spec),
        check_contracts=contract_gate(),
    )


def test_words_labels_states_and_merchants_are_what_the_client_wrote(written, tmp_path):
    table, receipts, odd = written
    result = build(table, tmp_path, split_by="merchant")
    from dataset_builder import open_snapshot

    snap = open_snapshot(str(tmp_path), result.snapshot_id)
    words = {(r["image_id"], r["line_id"], r["word_id"]): r for r in snap.words.iter_rows(named=True)}
    assert len(words) == sum(len(r[3]) for r in receipts)
    o_word = (receipts[5][0].image_id, *odd["o_word"])
    for receipt, _, _, client_words, _, truth in receipts:
        for w in client_words:
            key = (receipt.image_id, w.line_id, w.word_id)
            row = words[key]
            assert row["text"] == ("" if key == odd["empty"] else w.text)
            expected = truth.get((w.line_id, w.word_id))  # legacy names read as the client's aliases; `O` names nothing
            assert row["label"] == (expected or "O"), (key, row["label"], expected)
            assert row["label_state"] == ("labelled" if expected or key == o_word else "unlabelled")
    assert [words[(receipts[5][0].image_id, *k)]["label"] for k in odd["legacy"]] == ["PAYMENT_METHOD", "MERCHANT_NAME"]

    merchants = {r["image_id"]: (r["merchant"], r["merchant_source"]) for r in snap.receipts.iter_rows(named=True)}
    for index, (receipt, place, _, client_words, _, truth) in enumerate(receipts):
        if place is not None:
            assert merchants[receipt.image_id] == (PLACES[index], "place")
        else:  # the previous trainer's fallback: VALID MERCHANT_NAME words in (line, word) order
            texts = {(w.line_id, w.word_id): w.text for w in client_words}
            expected = " ".join(texts[k] for k, v in sorted(truth.items()) if v == "MERCHANT_NAME")
            assert merchants[receipt.image_id] == (expected, "labelled_words")
    counts = snap.lock.merchants
    assert (counts.place, counts.labelled_words, counts.none) == (5, 7, 0)
    assert counts.distinct == len({m.lower() for m, _ in merchants.values()})
    # a merchant split keeps every merchant's receipts together, and has both splits
    splits = snap.receipts.group_by(pl.col("merchant").str.to_lowercase()).agg(pl.col("split").n_unique())
    assert splits["split"].max() == 1 and set(snap.receipts["split"]) == {"train", "val"}


def test_what_cannot_be_used_is_refused_or_counted_and_named_in_the_contract_report(written, tmp_path):
    table, _, odd = written
    result = build(table, tmp_path)
    quality = result.manifest.lock.data_quality
    assert quality.refused_label_items == 1 and quality.empty_text_words == 1 and quality.empty_text_entity_words == 1
    assert quality.clipped_boxes == 1
    report = result.manifest.lock.contracts
    warned = {
        r["kwargs"]["value_set"][0]: r for r in report.results if r["frame"] == "data_quality" and not r["success"]
    }
    assert set(warned) == {"refused_label_item", "empty_text_word", "clipped_box"}
    assert all(r["severity"] == "warn" for r in warned.values()) and report.status == "warned"
    assert odd["bad_key"] in str(warned["refused_label_item"]["failing_rows"])
    assert odd["empty"][0] in str(warned["empty_text_word"]["failing_rows"])
    assert odd["off"][0] in str(warned["clipped_box"]["failing_rows"])


def test_merchant_options_refuse_to_run_when_no_receipt_has_a_merchant(dynamodb_endpoint, tmp_path):
    import uuid

    from metrics_store import StoreConfig, connect, create_table, delete_table

    table = connect(
        StoreConfig(table=f"compat-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    )
    create_table(table, stream=False)
    try:
        client = client_for(table)
        for receipt, _place, lines, words, labels, _ in client_receipts(6):
            client.add_receipt(receipt)
            client.add_receipt_lines(lines)
            client.add_receipt_words(words)
            client.add_receipt_word_labels([lab for lab in labels if lab.label != "MERCHANT_NAME"])
        with pytest.raises(ConfigError, match="no receipt has a merchant"):
            build(table, tmp_path, split_by="merchant")
        with pytest.raises(ConfigError, match="no receipt has a merchant"):
            build(table, tmp_path, holdout_merchants=("Corner Deli",))
        assert (
            not list(tmp_path.iterdir()) or not LocalBackend(tmp_path).published_ids()
        )  # a refused build publishes nothing
    finally:
        delete_table(table)


def test_a_held_out_merchant_no_receipt_has_is_refused_with_the_known_ones(written, tmp_path):
    table, _, _ = written
    with pytest.raises(
        ConfigError, match=r"--holdout-merchant 'Costco': no receipt has that merchant; merchants: .*'corner deli'"
    ):
        build(table, tmp_path, holdout_merchants=("Costco",))
    result = build(table, tmp_path, holdout_merchants=("corner deli",))
    from dataset_builder import open_snapshot

    receipts = open_snapshot(str(tmp_path), result.snapshot_id).receipts
    assert set(receipts.filter(pl.col("merchant") == "Corner Deli")["split"]) == {"val"}

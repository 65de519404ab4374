"""Each labelling rule on small hand-made frames."""

import polars as pl
import pytest

from dataset_builder import BuildConfig, ConfigError, rules
from dataset_builder.labels import CORE_LABELS

IMG = "00000000-0000-4000-8000-00000000000a"


def labels_frame(rows):
    """rows: (line, word, label, status, timestamp)"""
    return pl.DataFrame(
        [(IMG, 1, line, w, lab, st, ts) for line, w, lab, st, ts in rows],
        schema={
            "image_id": pl.Utf8,
            "receipt_id": pl.Int32,
            "line_id": pl.Int32,
            "word_id": pl.Int32,
            "label": pl.Utf8,
            "validation_status": pl.Utf8,
            "timestamp_added": pl.Utf8,
        },
        orient="row",
    )


def test_receipt_keys_are_canonical():
    assert rules.canonical_receipt_key(f"{IMG}#1") == f"{IMG}#00001"
    assert rules.canonical_receipt_key(f"IMAGE#{IMG}#RECEIPT#00002") == f"{IMG}#00002"
    with pytest.raises(ValueError, match="not a receipt key"):
        rules.canonical_receipt_key("nonsense")


def test_legacy_names_are_aliased_and_unknown_names_counted():
    frame = labels_frame(
        [
            (1, 1, "ADDRESS", "VALID", "t"),
            (1, 2, "O", "VALID", "t"),
            (1, 3, "MENU_ITEM", "VALID", "t"),
            (1, 4, "DATE", "VALID", "t"),
        ]
    )
    kept, dropped = rules.alias_labels(frame, CORE_LABELS)
    assert sorted(kept["label"]) == ["ADDRESS_LINE", "DATE"]
    assert dropped == {"O": 1, "MENU_ITEM": 1}


def test_only_requested_statuses_supervise_and_merge_applies():
    frame = labels_frame(
        [
            (1, 1, "SUBTOTAL", "VALID", "t1"),
            (1, 2, "TAX", "INVALID", "t1"),
            (1, 3, "TAX", "NEEDS_REVIEW", "t1"),
            (1, 4, "TIME", "VALID", "t1"),
        ]
    )
    chosen, conflicts = rules.resolve_word_labels(frame, ["VALID"], {"SUBTOTAL": "AMOUNT", "TAX": "AMOUNT"})
    assert sorted(zip(chosen["word_id"], chosen["source_label"], chosen["label"], strict=True)) == [
        (1, "SUBTOTAL", "AMOUNT"),
        (4, "TIME", "TIME"),
    ]
    assert conflicts == 0
    chosen, _ = rules.resolve_word_labels(frame, ["VALID", "NEEDS_REVIEW"], {})
    assert sorted(chosen["word_id"]) == [1, 3, 4]


def test_several_valid_labels_on_one_word():
    frame = labels_frame(
        [
            (1, 1, "LINE_TOTAL", "VALID", "2025-01-01T00:00:00"),
            (1, 1, "GRAND_TOTAL", "VALID", "2025-02-01T00:00:00"),  # same merge target
            (1, 2, "DATE", "VALID", "2025-01-01T00:00:00"),
            (1, 2, "TIME", "VALID", "2025-03-01T00:00:00"),  # conflict: latest wins
            (1, 3, "TAX", "VALID", "2025-01-01"),
            (1, 3, "TIP", "VALID", "2025-01-01"),  # tie: by name
        ]
    )
    chosen, conflicts = rules.resolve_word_labels(frame, ["VALID"], {"LINE_TOTAL": "AMOUNT", "GRAND_TOTAL": "AMOUNT"})
    got = {w: (s, lab) for w, s, lab in zip(chosen["word_id"], chosen["source_label"], chosen["label"], strict=True)}
    assert got == {1: ("GRAND_TOTAL", "AMOUNT"), 2: ("TIME", "TIME"), 3: ("TAX", "TAX")}
    assert conflicts == 2


def test_allowed_list_turns_other_labels_into_o():
    chosen = pl.DataFrame(
        {
            "image_id": [IMG] * 2,
            "receipt_id": [1, 1],
            "line_id": [1, 1],
            "word_id": [1, 2],
            "source_label": ["DATE", "TAX"],
            "label": ["DATE", "TAX"],
        }
    )
    assert rules.apply_allowed(chosen, ["DATE"])["label"].to_list() == ["DATE"]
    assert rules.apply_allowed(chosen, None).height == 2


def test_allowed_labels_must_exist_after_merging():
    with pytest.raises(ConfigError, match="unknown label\\(s\\) AMOUNT"):
        BuildConfig(allowed_labels=("AMOUNT",))
    assert BuildConfig(merge_preset="amounts", allowed_labels=("AMOUNT", "DATE")).allowed_labels == ("AMOUNT", "DATE")
    with pytest.raises(ConfigError, match="unknown preset"):
        BuildConfig(merge_preset="everything")
    assert "ADDRESS" in BuildConfig(merge_preset="sroie").output_vocabulary
    assert "CORD_ONLY" in BuildConfig(extra_labels=("CORD_ONLY",), allowed_labels=("CORD_ONLY",)).output_vocabulary


def corners(x, y, w, h):
    """A box by its top-left corner in bottom-left-origin coordinates."""
    return {"tl_x": x, "tl_y": y, "tr_x": x + w, "tr_y": y, "bl_x": x, "bl_y": y - h, "br_x": x + w, "br_y": y - h}


def test_boxes_flip_y_scale_and_clamp():
    rows = [corners(0.1, 0.9, 0.2, 0.05), corners(-0.01, 1.02, 0.05, 0.04), corners(0.5, 0.5, 0.0, 0.0)]
    out = rules.layout_boxes(pl.DataFrame(rows))
    assert out.select("x0", "y0", "x1", "y1").rows() == [(100, 100, 300, 150), (0, 0, 40, 20), (500, 500, 500, 500)]
    assert out["x0"].dtype == pl.Int32


def test_rotated_corners_give_the_enclosing_box():
    rotated = {
        "tl_x": 0.1,
        "tl_y": 0.52,
        "tr_x": 0.3,
        "tr_y": 0.54,
        "bl_x": 0.101,
        "bl_y": 0.5,
        "br_x": 0.301,
        "br_y": 0.52,
    }
    ((x0, y0, x1, y1),) = rules.layout_boxes(pl.DataFrame([rotated])).select("x0", "y0", "x1", "y1").rows()
    assert (x0, y0, x1, y1) == (100, 460, 301, 500)


def words_frame(rows):
    """rows: (line_id, word_id, x0, y0, label, source_label)"""
    return pl.DataFrame(
        [("k", line, w, x, y, x + 10, y + 10, lab, src, None) for line, w, x, y, lab, src in rows],
        schema={
            "receipt_key": pl.Utf8,
            "line_id": pl.Int32,
            "word_id": pl.Int32,
            "x0": pl.Int32,
            "y0": pl.Int32,
            "x1": pl.Int32,
            "y1": pl.Int32,
            "label": pl.Utf8,
            "source_label": pl.Utf8,
            "entity_id": pl.Utf8,
        },
        orient="row",
    )


def test_reading_order_is_top_to_bottom_then_left_to_right():
    frame = words_frame(
        [(2, 1, 500, 100, "O", None), (1, 2, 300, 50, "O", None), (1, 1, 100, 52, "O", None), (3, 1, 10, 90, "O", None)]
    )
    ordered = rules.reading_order(frame).sort("position")
    assert list(zip(ordered["line_id"], ordered["word_id"], strict=True)) == [(1, 1), (1, 2), (3, 1), (2, 1)]


def test_bio_keeps_merged_neighbours_apart_and_breaks_at_lines():
    frame = words_frame(
        [
            (1, 1, 0, 0, "PRODUCT_NAME", "PRODUCT_NAME"),
            (1, 2, 20, 0, "PRODUCT_NAME", "PRODUCT_NAME"),
            (1, 3, 40, 0, "AMOUNT", "SUBTOTAL"),
            (1, 4, 60, 0, "AMOUNT", "TAX"),
            (1, 5, 80, 0, "AMOUNT", "TAX"),
            (2, 1, 0, 50, "PRODUCT_NAME", "PRODUCT_NAME"),
            (2, 2, 20, 50, "O", None),
            (2, 3, 40, 50, "DATE", "DATE"),
        ]
    )
    tagged = rules.bio_tags(rules.reading_order(frame))
    assert tagged["tag"].to_list() == [
        "B-PRODUCT_NAME",
        "I-PRODUCT_NAME",
        "B-AMOUNT",
        "B-AMOUNT",
        "I-AMOUNT",
        "B-PRODUCT_NAME",
        "O",
        "B-DATE",
    ]


def test_bio_breaks_at_a_new_source_entity():
    frame = words_frame(
        [
            (1, 1, 0, 0, "QUANTITY", "QUANTITY"),
            (1, 2, 20, 0, "QUANTITY", "QUANTITY"),
            (1, 3, 40, 0, "QUANTITY", "QUANTITY"),
        ]
    )
    frame = frame.with_columns(pl.Series("entity_id", ["a", "a", "b"]))
    assert rules.bio_tags(rules.reading_order(frame))["tag"].to_list() == ["B-QUANTITY", "I-QUANTITY", "B-QUANTITY"]


def receipts(n, merchants=None):
    return pl.DataFrame(
        {
            "receipt_key": [f"img{i:04d}#00001" for i in range(n)],
            "merchant": merchants or [f"m{i % 10}" for i in range(n)],
        }
    )


def test_seeded_split_is_deterministic_stable_and_near_the_fraction():
    first, _ = rules.assign_splits(receipts(2000), val_fraction=0.2, seed=7)
    again, _ = rules.assign_splits(receipts(2000), val_fraction=0.2, seed=7)
    assert first["split"].to_list() == again["split"].to_list()
    assert 0.17 < (first["split"] == "val").mean() < 0.23
    grown, _ = rules.assign_splits(receipts(2500), val_fraction=0.2, seed=7)
    assert grown["split"].head(2000).to_list() == first["split"].to_list()  # adding receipts moves none
    other, _ = rules.assign_splits(receipts(2000), val_fraction=0.2, seed=8)
    assert other["split"].to_list() != first["split"].to_list()


def test_merchant_split_holds_out_whole_merchants():
    out, _ = rules.assign_splits(receipts(500), val_fraction=0.3, seed=1, split_by="merchant")
    per_merchant = out.group_by("merchant").agg(pl.col("split").n_unique().alias("n"))
    assert per_merchant["n"].max() == 1
    assert 0 < (out["split"] == "val").sum() < 500


def test_frozen_split_and_held_out_merchants():
    frame = receipts(10)
    out, missing = rules.assign_splits(
        frame, val_fraction=0.5, seed=1, val_keys=["img0001#1", "img0003#00001", "gone#7"], holdout_merchants=["M9"]
    )
    assert out.filter(pl.col("split") == "val")["receipt_key"].to_list() == [
        "img0001#00001",
        "img0003#00001",
        "img0009#00001",
    ]
    assert missing == ["gone#00007"]


def ratio_words():
    """Two train receipts: 4 entity words, 16 O words (8 in O-only lines); one val receipt."""
    rows = []
    for r in ("a", "b"):
        rows += [(r, 1, i, "DATE" if i < 2 else "O", "train") for i in range(6)]  # mixed line: 2 entity, 4 O
        rows += [(r, 2, i, "O", "train") for i in range(4)]  # O-only line
    rows += [("v", 1, i, "O", "val") for i in range(9)] + [("v", 1, 9, "DATE", "val")]
    frame = pl.DataFrame(rows, schema=["receipt_key", "line_id", "position", "label", "split"], orient="row")
    return frame.with_columns(pl.lit(True).alias("supervised"), pl.col("position").cast(pl.Int32))


@pytest.mark.parametrize("mechanism", ["mask", "drop"])
def test_ratio_control_touches_only_train_and_meets_the_target(mechanism):
    words = ratio_words()
    assert rules.o_entity_ratio(words.filter(pl.col("split") == "train")) == 4.0
    out = rules.control_o_entity_ratio(words, target=2.0, mechanism=mechanism, seed=3)
    train = out.filter(pl.col("split") == "train")
    assert rules.o_entity_ratio(train) == 2.0  # both O-only lines taken, mixed lines kept
    assert rules.o_entity_ratio(out.filter(pl.col("split") == "val")) == 9.0
    if mechanism == "mask":
        assert out.height == words.height and (~train["supervised"]).sum() == 8
    else:
        assert out.height == words.height - 8
        assert out.filter(pl.col("receipt_key") == "a")["position"].to_list() == list(range(6))
    assert rules.control_o_entity_ratio(words, target=10.0, mechanism=mechanism, seed=3).equals(words)


def test_ratio_control_is_seeded():
    rows = [(f"r{i}", line, p, "O", "train") for i in range(20) for line in (1, 2, 3) for p in range(3)]
    rows += [(f"r{i}", 4, 0, "DATE", "train") for i in range(20)]
    words = pl.DataFrame(
        rows, schema=["receipt_key", "line_id", "position", "label", "split"], orient="row"
    ).with_columns(pl.lit(True).alias("supervised"))
    a = rules.control_o_entity_ratio(words, target=1.5, mechanism="mask", seed=1)
    b = rules.control_o_entity_ratio(words, target=1.5, mechanism="mask", seed=1)
    c = rules.control_o_entity_ratio(words, target=1.5, mechanism="mask", seed=2)
    assert a.equals(b) and not a.equals(c)
    assert rules.o_entity_ratio(a) <= 1.5

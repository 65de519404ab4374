"""Cross-fitting folds of a snapshot (dataset_builder.review) on DynamoDB Local: every word of the
snapshot's receipts, the ratio-dropped lines included, lands in exactly one held-out fold; folds
are seeded, stratified by merchant, content-addressed and reused; a table that changed under
the snapshot stops the review."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest

from dataset_builder import BuildConfig, ConfigError, LocalBackend, create_snapshot, open_snapshot
from dataset_builder.receipts import LabelMix, generate_receipts, write_bundles
from dataset_builder.review import (
    ReviewDataError,
    assign_folds,
    check_reproduces,
    fold_root,
    open_or_publish_fold,
    plan_folds,
    read_review_words,
    snapshot_label,
    table_names,
)
from metrics_store import ReceiptWord, Store

USER = ("MERCHANT_NAME", "PHONE_NUMBER", "ADDRESS_LINE", "DATE", "TIME", "PRODUCT_NAME", "AMOUNT")
SPEC = BuildConfig(merge_preset="amounts", allowed_labels=USER, o_entity_ratio=1.0, val_fraction=0.2, seed=1)
WORD = ["receipt_key", "line_id", "word_id"]


@pytest.fixture
def built(table, tmp_path):
    bundles = list(generate_receipts(4, 18, LabelMix()))
    write_bundles(table, bundles)
    result = create_snapshot(
        table=table, backend=LocalBackend(tmp_path / "snapshots"), config=SPEC, source={"table": table.name}
    )
    return table, open_snapshot(tmp_path / "snapshots", result.snapshot_id), bundles


def test_folds_are_seeded_balanced_and_spread_each_merchant():
    receipts = pl.DataFrame(
        {
            "receipt_key": [f"r{i:03d}#00001" for i in range(23)],
            "merchant": [["A", "B", "C"][i % 3] if i < 21 else None for i in range(23)],
        }
    )
    folds = assign_folds(receipts, 5, seed=3)
    assert sorted(folds["receipt_key"]) == sorted(receipts["receipt_key"])
    sizes = Counter(folds["fold"].to_list())
    assert set(sizes) == {1, 2, 3, 4, 5} and max(sizes.values()) - min(sizes.values()) <= 1
    by_merchant = folds.join(receipts, on="receipt_key").group_by("merchant", "fold").len()
    for merchant in ("A", "B", "C"):  # 7 receipts each over 5 folds: 1 or 2 in every fold
        counts = by_merchant.filter(pl.col("merchant") == merchant)["len"].to_list()
        assert len(counts) == 5 and set(counts) <= {1, 2}
    assert folds.equals(assign_folds(receipts, 5, seed=3))
    assert not folds.sort("receipt_key").equals(assign_folds(receipts, 5, seed=4).sort("receipt_key"))
    with pytest.raises(ConfigError, match="at least 2"):
        assign_folds(receipts, 1, seed=3)
    with pytest.raises(ConfigError, match="only 23 receipts"):
        assign_folds(receipts, 24, seed=3)


def test_every_word_is_held_out_exactly_once_even_those_the_ratio_control_dropped(built, tmp_path):
    table, snap, bundles = built
    raw = read_review_words(table, snap)
    check_reproduces(snap, raw)  # the table still holds what v1 was built from
    assert snap.lock.o_entity_ratio.after["train"] < snap.lock.o_entity_ratio.before["train"]
    all_words = sum(len(b.words) for b in bundles)
    assert snap.words.height < all_words  # the ratio control dropped O-only training lines
    folds = plan_folds(snap, 3, seed=0, ratio="snapshot")  # folds trained under the parent's ratio control
    assert sorted(k for f in folds for k in f.keys) == sorted(snap.receipts["receipt_key"])
    held_out = []
    reads = []
    for fold in folds:
        fold_snap = open_or_publish_fold(
            tmp_path / "folds", fold, lambda: reads.append(1) or raw, {"table": table.name}
        )
        assert fold_snap.tags == snap.tags and fold_snap.spec.val_keys == fold.keys
        assert fold_snap.lock.source.model_extra["review_fold"]["definition_sha256"] == fold.definition_sha256
        val = fold_snap.words.filter(pl.col("split") == "val")
        assert set(val["receipt_key"]) == set(fold.keys)
        held_out.append(val)
        # the training side is the other folds, under the parent's ratio control
        train = fold_snap.words.filter(pl.col("split") == "train")
        assert (
            set(train["receipt_key"]).isdisjoint(fold.keys)
            and fold_snap.lock.o_entity_ratio.after["train"] <= 1.0 + 1e-9
        )
    words = pl.concat(held_out)
    assert words.height == all_words and words.select(WORD).n_unique() == all_words
    # the snapshot's own words carry the same labels in the folds
    same = snap.words.select(*WORD, "label", "label_state").join(
        words.select(*WORD, "label", "label_state"), on=WORD, suffix="_fold"
    )
    assert same.height == snap.words.height and (same["label"] == same["label_fold"]).all()
    # published once: opened again without building, at the place its definition names
    again = open_or_publish_fold(tmp_path / "folds", folds[0], lambda: pytest.fail("rebuilt a published fold"), {})
    assert again.content_sha256 == open_snapshot(fold_root(tmp_path / "folds", folds[0]), "v1").content_sha256
    assert len(reads) == 3
    other_seed = plan_folds(snap, 3, seed=1, ratio="snapshot")
    assert {f.definition_sha256 for f in other_seed}.isdisjoint({f.definition_sha256 for f in folds})
    default = plan_folds(snap, 3, seed=0)  # the default: fold models train on every word
    assert all(f.spec.o_entity_ratio is None for f in default) and [f.keys for f in default] == [f.keys for f in folds]


def test_a_table_whose_words_changed_since_the_snapshot_stops_the_review(built):
    table, snap, bundles = built
    word = bundles[0].words[0]
    Store(table).put_records(
        [ReceiptWord(word.image_id, word.receipt_id, word.line_id, word.word_id, word.text + "X", word.geometry)]
    )
    with pytest.raises(ReviewDataError, match="text"):
        check_reproduces(snap, read_review_words(table, snap))


def test_label_names_between_the_table_and_the_snapshot():
    assert snapshot_label("GRAND_TOTAL", SPEC) == "AMOUNT"
    assert snapshot_label("BUSINESS_NAME", SPEC) == "MERCHANT_NAME"  # a legacy name
    assert snapshot_label("WEBSITE", SPEC) is None and snapshot_label("CARD_NUMBER", SPEC) is None
    assert snapshot_label("NO_SUCH_LABEL", SPEC) is None
    assert table_names("MERCHANT_NAME", SPEC) == ("MERCHANT_NAME",)
    assert table_names("AMOUNT", SPEC) == ("LINE_TOTAL", "SUBTOTAL", "TAX", "GRAND_TOTAL")

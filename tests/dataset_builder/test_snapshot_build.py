"""Snapshots built from DynamoDB Local: selection, rules end to end, manifest, immutability,
concurrency, crashes, verification and diff."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest

from dataset_builder import (
    LocalBackend,
    SnapshotCorrupted,
    SnapshotExists,
    create_snapshot,
    diff_snapshots,
    open_snapshot,
)
from dataset_builder.config import BuildConfig, BuildOptions
from dataset_builder.sources.dynamo import read_table
from metrics_store import Queries, ReceiptWordLabel, Store

from .receipts_fixture import image_id, simple_receipt, write_receipts

SOURCE = {"table": "test", "region": "us-east-1", "endpoint_url": None}


def build(table, root, options=None, **config):
    return create_snapshot(
        table=table, backend=LocalBackend(root), config=BuildConfig(**config), options=options, source=SOURCE
    )


@pytest.fixture
def filled(table):
    receipts = [simple_receipt(n) for n in range(1, 21)]
    receipts.append(simple_receipt(99, status="INVALID"))  # no VALID label: not selected
    write_receipts(table, receipts)
    return table


@pytest.mark.parametrize("strategy", ["query", "scan"])
def test_reader_strategies_read_the_same_items(filled, strategy):
    raw = read_table(filled, ("VALID",), strategy=strategy, concurrency=4)
    assert raw.started_at <= raw.finished_at
    selected = raw.receipts.filter(pl.col("image_id") != image_id(99))
    assert selected.height == 20
    assert raw.words.filter(pl.col("image_id") == image_id(1)).height == 10
    labels = raw.labels.filter(pl.col("image_id") == image_id(1))
    assert sorted(labels["validation_status"]) == ["INVALID"] + ["VALID"] * 6


def test_build_applies_the_rules_end_to_end(filled, tmp_path):
    result = build(filled, tmp_path, merge_preset="amounts", val_fraction=0.25, seed=3)
    snap = open_snapshot(tmp_path, result.snapshot_id)
    assert result.snapshot_id == "v1" and snap.id == "v1"
    assert image_id(99) not in set(snap.receipts["image_id"])
    assert snap.receipts.height == 20 and snap.words.height == 200
    assert snap.label_list == ["AMOUNT", "DATE", "MERCHANT_NAME", "PRODUCT_NAME"]
    assert snap.tags[:3] == ["O", "B-AMOUNT", "I-AMOUNT"]

    one = snap.words.filter(pl.col("image_id") == image_id(1)).sort("position")
    assert one["text"].to_list() == [
        "Corner",
        "Deli",
        "Date:",
        "2026-01-02",
        "Bagel",
        "2.50",
        "TOTAL",
        "2.50",
        "Thank",
        "you",
    ]
    assert one["tag"].to_list() == [
        "B-MERCHANT_NAME",
        "I-MERCHANT_NAME",
        "O",
        "B-DATE",
        "B-PRODUCT_NAME",
        "B-AMOUNT",
        "O",
        "B-AMOUNT",
        "O",
        "O",
    ]
    assert one.filter(pl.col("text") == "TOTAL")["source_label"].to_list() == [None]
    total = one.filter((pl.col("line_id") == 4) & (pl.col("word_id") == 2))
    assert total["source_label"].to_list() == ["GRAND_TOTAL"] and total["label"].to_list() == ["AMOUNT"]
    first = one.row(0, named=True)
    assert (first["x0"], first["y0"], first["x1"], first["y1"]) == (50, 50, 150, 80)  # y flipped to top-left

    lock = snap.lock
    assert lock.source.read_started_at <= lock.source.read_finished_at
    assert lock.coordinate_convention["name"] == "layoutlm-0-1000-top-left"
    assert snap.spec.merge_preset == "amounts" and snap.spec.seed == 3
    assert lock.counts.labels_by_status["LINE_TOTAL"] == {"INVALID": 20, "VALID": 20}
    splits = lock.counts.splits
    assert splits["train"].receipts + splits["val"].receipts == 20 and splits["val"].receipts > 0
    assert set(lock.files) == {"words.parquet", "receipts.parquet", "labels.parquet"}
    assert set(lock.split_hashes) == {"train", "val"}
    assert snap.labels.height == 20 * 7  # every label item read, every status
    record = Queries(filled).snapshot_records("v1")
    assert (
        len(record) == 1
        and record[0].manifest_sha256 == snap.manifest_sha256
        and record[0].content_sha256 == lock.content_sha256
    )


def test_allowed_labels_and_statuses(filled, tmp_path):
    snap = open_snapshot(tmp_path, build(filled, tmp_path, allowed_labels=("DATE",)).snapshot_id)
    assert snap.label_list == ["DATE"]
    assert set(snap.words["label"]) == {"O", "DATE"}
    with_invalid = open_snapshot(tmp_path, build(filled, tmp_path, statuses=("VALID", "INVALID")).snapshot_id)
    assert with_invalid.receipts.height == 21


def test_ratio_control_is_recorded(filled, tmp_path):
    snap = open_snapshot(
        tmp_path, build(filled, tmp_path, o_entity_ratio=0.5, val_fraction=0.25, ratio_mechanism="mask").snapshot_id
    )
    ratio = snap.lock.o_entity_ratio
    assert ratio.before["train"] == pytest.approx(4 / 6)
    assert ratio.after["train"] <= 0.5
    assert ratio.after["val"] == ratio.before["val"]
    assert (~snap.words.filter(pl.col("split") == "train")["supervised"]).sum() > 0
    assert snap.words.filter(pl.col("split") == "val")["supervised"].all()


def test_frozen_split_from_keys(filled, tmp_path):
    keys = (f"{image_id(2)}#1", f"{image_id(5)}#00001")
    snap = open_snapshot(tmp_path, build(filled, tmp_path, val_keys=keys).snapshot_id)
    assert sorted(snap.receipts.filter(pl.col("split") == "val")["image_id"]) == sorted([image_id(2), image_id(5)])


def test_snapshots_are_immutable_and_verified(filled, tmp_path):
    build(filled, tmp_path)
    backend = LocalBackend(tmp_path)
    with pytest.raises(SnapshotExists):
        backend.publish("v1", {"words.parquet": b"x"})
    words = tmp_path / "v1" / "words.parquet"
    assert not os.access(words, os.W_OK) or os.geteuid() == 0  # read-only (root may still write)
    words.chmod(0o644)
    words.write_bytes(words.read_bytes() + b"tampered")
    with pytest.raises(SnapshotCorrupted, match="words.parquet was modified after publishing"):
        open_snapshot(tmp_path, "v1")
    assert open_snapshot(tmp_path, "v1", verify=False).id == "v1"


def test_concurrent_builds_get_distinct_ids(filled, tmp_path):
    with ThreadPoolExecutor(3) as pool:
        ids = list(pool.map(lambda _: build(filled, tmp_path, BuildOptions(concurrency=2)).snapshot_id, range(3)))
    assert sorted(ids) == ["v1", "v2", "v3"]
    assert LocalBackend(tmp_path).published_ids() == ["v1", "v2", "v3"]
    contents = {open_snapshot(tmp_path, i).content_sha256 for i in ids}
    assert len(contents) == 1  # the same data gives the same content hash


def test_a_crash_mid_publish_leaves_no_snapshot(filled, tmp_path, monkeypatch):
    import dataset_builder.storage as storage

    def crash(*_args):
        raise OSError("disk vanished")

    monkeypatch.setattr(storage.os, "rename", crash)
    with pytest.raises(OSError, match="disk vanished"):
        build(filled, tmp_path)
    assert LocalBackend(tmp_path).published_ids() == []
    assert not any((tmp_path / ".staging").iterdir())
    monkeypatch.undo()
    assert build(filled, tmp_path).snapshot_id == "v2"  # v1 stays a gap, never reused


def test_diff_between_two_builds(filled, tmp_path):
    build(filled, tmp_path, val_fraction=0.25)
    store = Store(filled)
    img = image_id(3)
    store.put_records(
        [
            ReceiptWordLabel(img, 1, 2, 2, "DATE", "INVALID", "2026-02-01T00:00:00+00:00"),  # VALID -> INVALID
            ReceiptWordLabel(img, 1, 5, 1, "TIME", "VALID", "2026-02-01T00:00:00+00:00"),  # O -> TIME
        ]
    )
    write_receipts(filled, [simple_receipt(50)])
    build(filled, tmp_path, val_fraction=0.25)
    result = diff_snapshots(open_snapshot(tmp_path, "v1"), open_snapshot(tmp_path, "v2"))
    assert result["receipts"]["added"] == 1 and result["receipts"]["removed"] == 0
    assert result["receipts"]["added_examples"] == [f"{image_id(50)}#00001"]
    assert {"from": "VALID", "to": "INVALID", "labels": 1} in result["status_transitions"]
    changes = {(c["from"], c["to"]): c["words"] for c in result["relabelled_words"]["by_change"]}
    assert changes == {("DATE", "(unknown)"): 1, ("O", "TIME"): 1}  # its only label item is INVALID now: unknown, not O
    assert result["label_counts"]["TIME"] == {"a": 0, "b": 1, "change": 1}
    assert result["split"]["moved"] == []
    assert result["config_changes"] == {}
    assert result["content_changed"]
    assert json.dumps(result)  # JSON-able for --json


def test_drift_compares_like_with_like(filled, tmp_path):
    from dataset_builder import contract_gate

    gate = contract_gate()
    backend = LocalBackend(tmp_path)
    first = create_snapshot(
        table=filled, backend=backend, config=BuildConfig(val_fraction=0.25), source=SOURCE, check_contracts=gate
    )
    assert first.manifest.contracts.drift["status"] == "skipped"
    same = create_snapshot(
        table=filled, backend=backend, config=BuildConfig(val_fraction=0.25), source=SOURCE, check_contracts=gate
    )
    assert same.manifest.contracts.drift["status"] == "passed"
    narrowed = create_snapshot(
        table=filled,
        backend=backend,
        config=BuildConfig(val_fraction=0.25, allowed_labels=("DATE",)),
        source=SOURCE,
        check_contracts=gate,
    )
    drift = narrowed.manifest.contracts.drift
    assert drift["status"] == "skipped" and "allowed_labels" in drift["reason"]
    assert narrowed.manifest.contracts.status != "failed"

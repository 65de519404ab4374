"""What changed between two snapshots: a pure function of the two, for `dsb snapshot diff`
and for explaining why two training runs differ."""

from __future__ import annotations

from typing import Any

import polars as pl

from . import rules
from .config import BuildConfig
from .snapshot import Snapshot

WORD_ID = ["receipt_key", "line_id", "word_id"]
UNKNOWN_TARGET = "(unknown)"
"""What a word kept out of training and scoring as unknown (`--unvalidated ignore`) is, in
`relabelled_words`: not O, which is what it would have been before."""


def training_target() -> pl.Expr:
    """A word's training target: its label, or `(unknown)` for an unknown word the build left
    unsupervised (on frames with `label_state`: see `rules.with_label_state`)."""
    ignored = (pl.col("label_state") == rules.UNKNOWN) & ~pl.col("supervised")
    return pl.when(ignored).then(pl.lit(UNKNOWN_TARGET)).otherwise(pl.col("label"))


def _entity_words(words: pl.DataFrame) -> dict[str, int]:
    counts = words.filter(pl.col("supervised") & (pl.col("label") != "O")).group_by("label").len()
    return dict(zip(counts["label"], counts["len"], strict=True))


def spec_changes(a: BuildConfig, b: BuildConfig) -> dict[str, dict[str, Any]]:
    """The data options (the manifests' specs) that differ: run options are not in a spec,
    so a different concurrency or contract gate is never reported as a data change."""
    before, after = a.to_dict(), b.to_dict()
    return {
        k: {"from": before.get(k), "to": after.get(k)}
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }


def diff_snapshots(a: Snapshot, b: Snapshot, *, examples: int = 10) -> dict[str, Any]:
    keys_a, keys_b = set(a.receipts["receipt_key"]), set(b.receipts["receipt_key"])
    count_a, count_b = _entity_words(a.words), _entity_words(b.words)
    labels = sorted(set(count_a) | set(count_b))

    words_a, words_b = rules.with_label_state(a.words), rules.with_label_state(b.words)
    relabelled = (
        words_a.select(*WORD_ID, training_target().alias("from"))
        .join(words_b.select(*WORD_ID, training_target().alias("to")), on=WORD_ID)
        .filter(pl.col("from") != pl.col("to"))
    )
    pairs = relabelled.group_by("from", "to").len().sort("len", descending=True)
    transitions = (
        a.labels.select(*WORD_ID, "label", pl.col("validation_status").alias("from"))
        .join(b.labels.select(*WORD_ID, "label", pl.col("validation_status").alias("to")), on=[*WORD_ID, "label"])
        .filter(pl.col("from") != pl.col("to"))
        .group_by("from", "to")
        .len()
        .sort("len", descending=True)
    )
    splits = a.receipts.select("receipt_key", pl.col("split").alias("a")).join(
        b.receipts.select("receipt_key", pl.col("split").alias("b")), on="receipt_key"
    )
    moved = splits.filter(pl.col("a") != pl.col("b")).group_by("a", "b").len()
    return {
        "a": a.id,
        "b": b.id,
        "receipts": {
            "a": len(keys_a),
            "b": len(keys_b),
            "added": len(keys_b - keys_a),
            "removed": len(keys_a - keys_b),
            "added_examples": sorted(keys_b - keys_a)[:examples],
            "removed_examples": sorted(keys_a - keys_b)[:examples],
        },
        "label_counts": {
            label: {
                "a": count_a.get(label, 0),
                "b": count_b.get(label, 0),
                "change": count_b.get(label, 0) - count_a.get(label, 0),
            }
            for label in labels
        },
        "label_list": {"a": a.label_list, "b": b.label_list, "same": a.label_list == b.label_list},
        "relabelled_words": {
            "count": relabelled.height,
            "by_change": [{"from": f, "to": t, "words": n} for f, t, n in pairs.iter_rows()],
            "examples": relabelled.head(examples).to_dicts(),
        },
        "status_transitions": [{"from": f, "to": t, "labels": n} for f, t, n in transitions.iter_rows()],
        "split": {
            "same_val_split": a.split_hash("val") == b.split_hash("val"),
            "shared_receipts": splits.height,
            "moved": [{"from": f, "to": t, "receipts": n} for f, t, n in moved.sort("a").iter_rows()],
            "val_overlap": splits.filter((pl.col("a") == "val") & (pl.col("b") == "val")).height,
        },
        "config_changes": spec_changes(a.spec, b.spec),
        "content_changed": a.content_sha256 != b.content_sha256,
    }

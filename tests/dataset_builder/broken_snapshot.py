"""A published-looking snapshot with bad data, to prove in CI that the contracts fail it.

    python -m tests.dataset_builder.broken_snapshot ROOT
    dsb contracts check --root ROOT --snapshot v1    # exits 1, listing the failures below

The snapshot is built by the real rules from a healthy read (`healthy_read`, also used by
tests/dataset_builder/test_contracts.py), then broken on purpose, then published with a valid
manifest and valid hashes: only the contracts can tell.

What is broken (each one an error-level expectation):
- a box out of range (x1 = 1200)                    snapshot_words: x1 between 0 and 1000
- an I- tag without a B- before it                  snapshot_words: bio_valid
- a receipt in both splits                          snapshot: receipt_splits.n_splits
- a supervised word whose only label item is INVALID snapshot_words: supervision_valid
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import polars as pl

from dataset_builder import BuildConfig, LocalBackend
from dataset_builder.build import draft_manifest
from dataset_builder.dataset import Dataset, RawRead, build_dataset
from dataset_builder.manifest import ContractReport, Manifest
from dataset_builder.snapshot import MANIFEST, encode_dataset, manifest_bytes

MERCHANTS = ("Corner Deli", "Bagel Barn", "Green Grocer", "Fuel Stop", "Noodle Bar")
HEALTHY_CONFIG = BuildConfig(o_entity_ratio=0.6, val_fraction=0.1, seed=7)
"""150 receipts with this config pass every default contract (train ~135, val ~15)."""

BROKEN = {
    "box_out_of_range": ("snapshot_words", "expect_column_values_to_be_between", "x1"),
    "i_tag_without_b": ("snapshot_words", "expect_column_values_to_be_in_set", "bio_valid"),
    "receipt_in_both_splits": ("snapshot", "expect_column_values_to_be_in_set", "n_splits"),
    "supervised_by_invalid_label": ("snapshot_words", "expect_column_values_to_be_in_set", "supervision_valid"),
}
"""The breakages and the (suite, expectation, column) each must fail."""


def image_id(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def receipt_lines(n: int) -> list[list[tuple[str, str | None]]]:
    """(text, label) words per line: merchant, address (a legacy name), date, items, total, footer."""
    items = [[(f"Item{k}", "PRODUCT_NAME"), (f"{k + 1}.50", "LINE_TOTAL")] for k in range(1 + n % 3)]
    return [
        [("Corner", "MERCHANT_NAME"), ("Deli", "MERCHANT_NAME")],
        [("1", "ADDRESS"), ("Main", "ADDRESS"), ("St", "ADDRESS")],
        [("Date:", None), (f"2026-01-0{1 + n % 9}", "DATE")],
        *items,
        [("TOTAL", None), ("9.50", "GRAND_TOTAL")],
        [("Thank", None), ("you", None), ("for", None), ("shopping", None)],
        [("Visit", None), ("again", None), ("soon", None)],
    ]


def healthy_read(n_receipts: int = 150, *, first: int = 1) -> RawRead:
    """What `sources.dynamo.read_table` would return for `n_receipts` clean receipts."""
    receipts, words, labels = [], [], []
    for n in range(first, first + n_receipts):
        img = image_id(n)
        receipts.append((img, 1, 500, 1000, MERCHANTS[n % len(MERCHANTS)]))
        for line_id, line in enumerate(receipt_lines(n), start=1):
            top = 1.0 - 0.05 * line_id
            for word_id, (text, label) in enumerate(line, start=1):
                left = 0.05 + 0.15 * (word_id - 1)
                corners = (left, top, left + 0.1, top, left, top - 0.03, left + 0.1, top - 0.03)
                entity = f"{line_id}:{label}" if label else None
                words.append((img, 1, line_id, word_id, text, *corners, entity))
                if label:
                    labels.append((img, 1, line_id, word_id, label, "VALID", "2026-01-01T00:00:00+00:00"))
                if label == "GRAND_TOTAL":
                    labels.append((img, 1, line_id, word_id, "LINE_TOTAL", "INVALID", "2026-01-01T00:00:00+00:00"))
    ints = {"receipt_id": pl.Int32, "line_id": pl.Int32, "word_id": pl.Int32}
    corner_names = ("tl_x", "tl_y", "tr_x", "tr_y", "bl_x", "bl_y", "br_x", "br_y")
    return RawRead(
        receipts=pl.DataFrame(
            receipts,
            schema={
                "image_id": pl.Utf8,
                "receipt_id": pl.Int32,
                "width": pl.Int32,
                "height": pl.Int32,
                "merchant": pl.Utf8,
            },
            orient="row",
        ),
        words=pl.DataFrame(
            words,
            schema={
                "image_id": pl.Utf8,
                **ints,
                "text": pl.Utf8,
                **dict.fromkeys(corner_names, pl.Float64),
                "entity_id": pl.Utf8,
            },
            orient="row",
        ),
        labels=pl.DataFrame(
            labels,
            schema={
                "image_id": pl.Utf8,
                **ints,
                "label": pl.Utf8,
                "validation_status": pl.Utf8,
                "timestamp_added": pl.Utf8,
            },
            orient="row",
        ),
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
    )


def healthy_dataset(n_receipts: int = 150, config: BuildConfig = HEALTHY_CONFIG, *, first: int = 1) -> Dataset:
    return build_dataset(healthy_read(n_receipts, first=first), config)


def manifest_for(dataset: Dataset, config: BuildConfig = HEALTHY_CONFIG, *, parent_id: str | None = None) -> Manifest:
    """The draft manifest `build.create_snapshot` would hand to the contracts."""
    return draft_manifest(
        dataset,
        config,
        encode_dataset(dataset),
        source={"table": "fixture", "region": None, "endpoint_url": None},
        parent_id=parent_id,
        read_window=("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00"),
        read_stats={},
    )


def publish(
    root: Path, dataset: Dataset, config: BuildConfig = HEALTHY_CONFIG, *, contracts: dict | None = None
) -> str:
    """Publish `dataset` as the next snapshot under `root`, as the build does (valid hashes)."""
    backend = LocalBackend(Path(root))
    published = backend.published_ids()
    files = encode_dataset(dataset)
    manifest = manifest_for(dataset, config, parent_id=published[-1] if published else None)
    manifest = manifest.with_contracts(ContractReport.model_validate(contracts or {"status": "unchecked"}))
    snapshot_id = backend.reserve_id()
    files[MANIFEST] = manifest_bytes(manifest.with_id(snapshot_id))
    backend.publish(snapshot_id, files)
    return snapshot_id


def _word(words: pl.DataFrame, split: str, label: str, nth: int = 0) -> dict:
    return words.filter((pl.col("split") == split) & (pl.col("label") == label)).row(nth, named=True)


def _is(row: dict) -> pl.Expr:
    return (
        (pl.col("receipt_key") == row["receipt_key"])
        & (pl.col("line_id") == row["line_id"])
        & (pl.col("word_id") == row["word_id"])
    )


def broken_dataset() -> Dataset:
    """The healthy dataset with the four breakages of `BROKEN`, one receipt each."""
    good = healthy_dataset()
    words, receipts, labels = good.words, good.receipts, good.labels
    out_of_range = _word(words, "train", "DATE")
    words = words.with_columns(
        pl.when(_is(out_of_range)).then(pl.lit(1200, pl.Int32)).otherwise(pl.col("x1")).alias("x1")
    )
    orphan_i = _word(words, "train", "DATE", 1)
    words = words.with_columns(pl.when(_is(orphan_i)).then(pl.lit("I-DATE")).otherwise(pl.col("tag")).alias("tag"))
    leaked = receipts.filter(pl.col("split") == "train")["receipt_key"][2]
    words = words.with_columns(
        pl.when((pl.col("receipt_key") == leaked) & (pl.col("line_id") == 1))
        .then(pl.lit("val"))
        .otherwise(pl.col("split"))
        .alias("split")
    )
    invalid = _word(words, "train", "DATE", 3)
    labels = labels.with_columns(
        pl.when(_is(invalid)).then(pl.lit("INVALID")).otherwise(pl.col("validation_status")).alias("validation_status")
    )
    return Dataset(words.sort(["split", "receipt_key", "position"]), receipts, labels, good.label_list, good.summary)


def main(root: str | Path) -> str:
    """Write the broken snapshot as the next id under `root` and return its id."""
    return publish(Path(root), broken_dataset())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.dataset_builder.broken_snapshot ROOT")
    print(main(sys.argv[1]))

"""The edges of `trainer predict`: receipts in (a snapshot split, a receipt JSONL file, receipts
read from the table) and predictions out (JSONL or Parquet).

Snapshot words are already in the model's box convention. JSONL and table receipts are put in
it by dataset_builder.layout, with the rules a snapshot build applies; the table is only read
(dataset_builder's TableReader).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from trainer.errors import DataError
from trainer.inference.options import SPLITS
from trainer.inference.predict import PredictInput, Progress
from trainer.model.features import ReceiptExample, examples_from_frame
from trainer.model.package import ModelPackage


def _word_key(row: dict[str, Any]) -> str:
    return f"{row['receipt_key']}#{row['line_id']:05d}#{row['word_id']:05d}"


def _word_rows(words: pl.DataFrame, keys: Sequence[str], extra: Sequence[str] = ()) -> list[list[dict[str, Any]]]:
    """Per receipt (in `keys` order), per word in reading order: key, line_id, word_id, position."""
    by_receipt: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    for row in words.sort("receipt_key", "position").iter_rows(named=True):
        by_receipt[row["receipt_key"]].append(
            {
                "key": _word_key(row),
                "line_id": row["line_id"],
                "word_id": row["word_id"],
                "position": row["position"],
                **{c: row[c] for c in extra},
            }
        )
    return [by_receipt[key] for key in keys]


def snapshot_input(root: str, ref: str, split: str, package: ModelPackage) -> PredictInput:
    """A snapshot split, labelled: predictions are scored. Tags the model does not know (a
    snapshot with other labels) are scored as words the model cannot get right."""
    from dataset_builder.snapshot import SnapshotError, open_snapshot

    if split not in SPLITS:
        raise DataError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    try:
        snapshot = open_snapshot(root, ref)
    except SnapshotError as exc:
        raise DataError(str(exc)) from exc
    tags = list(package.tags) + [t for t in snapshot.tags if t not in package.tags]
    words = snapshot.words if split == "all" else snapshot.words.filter(pl.col("split") == split)
    examples = examples_from_frame(words, tags)
    source = {
        "kind": "snapshot",
        "snapshot": snapshot.id,
        "split": split,
        "content_sha256": snapshot.content_sha256,
        "same_snapshot_as_training": snapshot.content_sha256 == package.snapshot.content_sha256,
    }
    return PredictInput(examples, _word_rows(words, [e.receipt_key for e in examples]), tags, True, source)


def layout_input(laid: Any, source: dict[str, Any]) -> PredictInput:
    """Receipts laid out by dataset_builder.layout (unlabelled); receipts without words stay,
    as empty predictions."""
    words = laid.words.with_columns(
        pl.lit("O").alias("tag"), pl.lit(False).alias("supervised"), pl.lit("predict").alias("split")
    )
    by_key = {e.receipt_key: e for e in examples_from_frame(words, ["O"])}

    examples = [by_key.get(key) or ReceiptExample(key, [], [], [], []) for key in laid.keys]
    extra = ("source_index",) if "source_index" in laid.words.columns else ()
    problems = [p.to_dict() for p in laid.problems]
    return PredictInput(
        examples, _word_rows(laid.words, laid.keys, extra), ["O"], False, source, dict(laid.source_ids), problems
    )


def jsonl_input(path: Path, *, strict: bool = False) -> PredictInput:
    from dataset_builder.layout import from_jsonl

    laid = from_jsonl(Path(path), strict=strict)
    return layout_input(
        laid,
        {
            "kind": "jsonl",
            "path": str(path),
            "receipts": len(laid.keys),
            "skipped_lines": len({p.line_number for p in laid.problems}),
        },
    )


def table_input(
    table: Any, *, receipt_keys: Sequence[str] = (), statuses: Sequence[str] = (), progress: Progress | None = None
) -> PredictInput:
    """Receipts read from the table: the given keys (every one must exist) or every receipt
    with a label in one of `statuses`."""
    from dataset_builder.layout import from_table_read, parse_receipt_keys
    from dataset_builder.sources.dynamo import TableReader

    reader = TableReader(table)
    if receipt_keys:
        wanted = parse_receipt_keys(receipt_keys)
        laid = from_table_read(reader.read_receipts(wanted, progress=progress), wanted)
    else:
        laid = from_table_read(reader.read(tuple(statuses), progress=progress))
    source = {
        "kind": "table",
        "table": table.name,
        "receipts": len(laid.keys),
        **({"receipt_keys": list(receipt_keys)} if receipt_keys else {"statuses": list(statuses)}),
    }
    return layout_input(laid, source)


def write_predictions(receipts: list[dict[str, Any]], out: Path) -> Path:
    """One record per receipt: `.jsonl` (one JSON object a line) or `.parquet` (nested columns)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        pl.DataFrame(receipts, infer_schema_length=None).write_parquet(out)
    elif out.suffix in (".jsonl", ".ndjson", ".json"):
        with out.open("w", encoding="utf-8") as handle:
            for record in receipts:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        raise DataError(f"--out {out}: name a .jsonl or .parquet file")
    return out

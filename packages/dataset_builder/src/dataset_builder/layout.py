"""Receipts as a model sees them, outside a snapshot: the words of receipts read from the table
or from a receipt JSONL file, with boxes in the snapshot's coordinate convention
(`rules.COORDINATE_CONVENTION`) and in reading order, by the very rules a snapshot build
applies (`rules.layout_boxes`, `rules.reading_order`). A JSONL receipt goes the way an import
and a build would take it: `importer.to_bundle` (lines and word ids, pixel boxes to the
table's geometry), then the table reader's own row parsing (`sources.dynamo.frames_from_items`).

What predicts on these (the trainer) needs no table write and no torch here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from . import rules
from .config import ConfigError
from .dataset import RawRead
from .receipts.importer import ImportRejected, import_image_id, number_lines, to_bundle
from .receipts.jsonl import Problem, read_receipts
from .sources.dynamo import frames_from_items

CORNERS = ("tl_x", "tl_y", "tr_x", "tr_y", "bl_x", "bl_y", "br_x", "br_y")
LAYOUT_COLUMNS = [
    "receipt_key",
    "image_id",
    "receipt_id",
    "line_id",
    "word_id",
    "position",
    "text",
    "x0",
    "y0",
    "x1",
    "y1",
]
_SCALE = 1000


class BoxOutsideConvention(ConfigError):
    """A word whose corners do not lie on the receipt (normalized 0..1): its box cannot be put
    in the model's 0..1000 convention without clipping it."""


class ReceiptNotFound(ConfigError):
    """Receipt keys that the table does not hold."""


class _AnyLabel(dict):
    """A label map that takes every source label and maps it to nothing: a prediction reads
    the words and boxes of a JSONL file, never its labels (a file labelled with another
    vocabulary, CORD's, is predicted on as it is)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> None:
        return None


@dataclass(frozen=True)
class LaidOutReceipts:
    """Receipts to predict on: their keys in input order (receipts without words included)
    and their words (LAYOUT_COLUMNS, plus `source_index` for JSONL input), sorted by
    receipt key and position."""

    keys: tuple[str, ...]
    words: pl.DataFrame
    source_ids: dict[str, str]
    """receipt key -> the receipt's id in the source file (JSONL input only)."""
    problems: tuple[Problem, ...] = ()


def check_corners(words: pl.DataFrame) -> None:
    """Every corner must lie on the receipt: 0..1 once rounded to the convention's 1/1000
    grid (what `rules.layout_boxes` would have to clip otherwise). The first bad word is named
    by receipt, line, word and text."""
    scaled = [(pl.col(c) * _SCALE).round(0) for c in CORNERS]
    outside = pl.any_horizontal(*(~s.is_between(0, _SCALE) | s.is_nan() | s.is_null() for s in scaled))
    bad = words.filter(outside)
    if bad.height:
        row = bad.row(0, named=True)
        corners = ", ".join(f"{c}={row[c]}" for c in CORNERS if not _on_page(row[c]))
        more = f" ({bad.height - 1} more such words)" if bad.height > 1 else ""
        raise BoxOutsideConvention(
            f"receipt {row['receipt_key']}: word {row['word_id']} of line {row['line_id']} ({row['text']!r}) has "
            "corners "
            f"off the receipt ({corners}; the table's corners are 0..1): its box is outside "
            f"{rules.COORDINATE_CONVENTION['name']}{more}"
        )


def _on_page(value: Any) -> bool:
    return value is not None and math.isfinite(value) and 0 <= round(value * _SCALE) <= _SCALE


def lay_out(receipts: pl.DataFrame, words: pl.DataFrame) -> tuple[tuple[str, ...], pl.DataFrame]:
    """Receipt keys (receipts frame order) and their words in the model's convention and
    reading order; a box off the receipt raises `BoxOutsideConvention`."""
    keys = tuple(rules.with_receipt_key(receipts)["receipt_key"].to_list())
    keyed = rules.with_receipt_key(words)
    check_corners(keyed)
    laid = rules.reading_order(rules.layout_boxes(keyed))
    return keys, laid.select(LAYOUT_COLUMNS).sort("receipt_key", "position")


def from_table_read(raw: RawRead, wanted: Sequence[tuple[str, int]] | None = None) -> LaidOutReceipts:
    """Receipts read from the table; with `wanted`, every key must be there (one
    `ReceiptNotFound` names those that are not) and the keys keep that order."""
    keys, words = lay_out(raw.receipts, raw.words)
    if wanted is not None:
        order = [f"{image_id}#{receipt_id:05d}" for image_id, receipt_id in wanted]
        missing = [key for key in order if key not in set(keys)]
        if missing:
            raise ReceiptNotFound(
                f"the table holds no receipt {', '.join(missing[:10])}"
                + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
            )
        keys = tuple(dict.fromkeys(order))
    return LaidOutReceipts(keys, words, {})


def parse_receipt_keys(keys: Iterable[str]) -> list[tuple[str, int]]:
    """`IMAGE_ID#RECEIPT_ID` (or `IMAGE#..#RECEIPT#..`) -> (image_id, receipt_id)."""
    parsed = []
    for key in keys:
        try:
            image_id, _, receipt_id = rules.canonical_receipt_key(key).rpartition("#")
        except ValueError as exc:
            raise ConfigError(f"--receipt {key!r}: expected IMAGE_ID#RECEIPT_ID, e.g. 3f2a...#1") from exc
        parsed.append((image_id, int(receipt_id)))
    return parsed


def from_jsonl(path: Path, *, strict: bool = False) -> LaidOutReceipts:
    """Receipts of a receipt JSONL file (docs/receipt_jsonl.md), keyed as an import of the file
    would key them. Bad lines are problems, as the importer reports them: left out and
    returned, or, with `strict`, the whole file refused (`ImportRejected`). Labels are ignored.
    Each word keeps `source_index`, its index in the line's `words` list."""
    path = Path(path)
    sources, problems = read_receipts(path, _AnyLabel())
    problems = sorted(problems, key=lambda p: p.line_number)
    if strict and problems:
        raise ImportRejected(path, problems)
    items: list[dict[str, Any]] = []
    index_rows: list[tuple[str, int, int, int]] = []
    source_ids = {}
    for source in sources:
        bundle = to_bundle(source, source_name=path.name, status="VALID", timestamp="")
        items += [bundle.receipt.to_item(), *(word.to_item() for word in bundle.words)]
        source_ids[bundle.key] = source.receipt_id
        where = {id(word): index for index, word in enumerate(source.words)}
        image_id = import_image_id(path.name, source.receipt_id)
        for line_id, row in enumerate(number_lines(source.words), start=1):
            index_rows += [(image_id, line_id, word_id, where[id(word)]) for word_id, word in enumerate(row, start=1)]
    receipts, words, _ = frames_from_items(items)
    keys, laid = lay_out(receipts, words)
    index = pl.DataFrame(
        index_rows,
        schema={"image_id": pl.Utf8, "line_id": pl.Int32, "word_id": pl.Int32, "source_index": pl.Int32},
        orient="row",
    )
    laid = laid.join(index, on=["image_id", "line_id", "word_id"], how="left").sort("receipt_key", "position")
    return LaidOutReceipts(keys, laid, source_ids, tuple(problems))

"""Import a receipt JSONL file (docs/receipt_jsonl.md) into the table.

Pixel boxes (top-left origin) become the table's normalized, bottom-left geometry; words are
numbered into lines the way the OCR would (lines top to bottom, words left to right); each
word keeps its source entity id in `extracted_data` so that two adjacent entities with the
same label stay apart. Ids come from the file name and the receipt id, so importing the
same file again overwrites the same items instead of adding receipts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset_builder.receipts.bundle import ensure_table
from metrics_store import TableRef, keys
from metrics_store.codec import MAX_ITEM_BYTES, item_size
from metrics_store.records import (
    VALIDATION_STATUSES,
    PlaceDetails,
    Receipt,
    ReceiptLine,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
    merchant_slug,
)

from ..config import ConfigError
from ..errors import DatasetBuilderError
from .bundle import LoadSummary, ProgressFn, ReceiptBundle, summarize, write_bundles
from .geometry import enclosing_box, pixel_box_geometry
from .jsonl import LabelMap, Problem, SourceReceipt, SourceWord, load_label_map, read_receipts

HELD_OUT_SPLITS = frozenset({"test", "val", "validation", "dev"})
"""Source splits whose receipts go into the `--split-keys-out` file (a frozen val split)."""
RECEIPT_ID = 1


class ImportRejected(DatasetBuilderError, ValueError):
    """`strict` import of a file with problems: nothing was written."""

    def __init__(self, path: Path, problems: Sequence[Problem], shown: int = 20):
        lines = [str(p) for p in problems[:shown]]
        more = f"\n... and {len(problems) - shown} more" if len(problems) > shown else ""
        super().__init__(f"{path}: {len(problems)} problem(s), nothing imported:\n" + "\n".join(lines) + more)
        self.problems = tuple(problems)


@dataclass(frozen=True)
class ImportedReceipt:
    source_id: str
    line_number: int
    key: str
    """`<image_id>#<receipt_id, 5 digits>` in the table."""
    split: str | None


@dataclass(frozen=True)
class ImportPlan:
    """What an import would write (pure: nothing written yet)."""

    bundles: tuple[ReceiptBundle, ...]
    imported: tuple[ImportedReceipt, ...]
    problems: tuple[Problem, ...]

    @property
    def skipped_lines(self) -> tuple[int, ...]:
        return tuple(sorted({p.line_number for p in self.problems}))

    @property
    def held_out_keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.imported if r.split in HELD_OUT_SPLITS)


@dataclass(frozen=True)
class ImportReport:
    plan: ImportPlan
    summary: LoadSummary
    split_keys_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "skipped_lines": list(self.plan.skipped_lines),
            "problems": [p.to_dict() for p in self.plan.problems],
            "held_out_receipts": len(self.plan.held_out_keys),
            "split_keys_out": str(self.split_keys_path) if self.split_keys_path else None,
            "receipts": [{"source_id": r.source_id, "key": r.key, "split": r.split} for r in self.plan.imported],
        }


def import_image_id(source_name: str, receipt_id: str) -> str:
    """uuid5 of `<file name>/<receipt id>`: the same receipt always lands on the same keys."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source_name}/{receipt_id}"))


def _centre_y(word: SourceWord) -> float:
    return (word.box[1] + word.box[3]) / 2


def _rows_by_geometry(words: Sequence[SourceWord]) -> list[list[int]]:
    """Group words into text rows: walking down the page, a word joins the current row when
    its vertical centre lies within the row's mean span, or the row's centre within its own."""
    rows: list[list[int]] = []
    top = bottom = 0.0
    for index in sorted(range(len(words)), key=lambda i: (_centre_y(words[i]), i)):
        word = words[index]
        row_centre = (top + bottom) / 2
        if rows and (top <= _centre_y(word) <= bottom or word.box[1] <= row_centre <= word.box[3]):
            row = rows[-1]
            row.append(index)
            top += (word.box[1] - top) / len(row)
            bottom += (word.box[3] - bottom) / len(row)
        else:
            rows.append([index])
            top, bottom = word.box[1], word.box[3]
    return rows


def number_lines(words: Sequence[SourceWord]) -> list[list[SourceWord]]:
    """Words grouped into lines, top to bottom, each left to right: by `row_id` when every
    word has one, otherwise by geometry."""
    if words and all(w.row_id is not None for w in words):
        grouped: dict[Any, list[int]] = {}
        for index, word in enumerate(words):
            grouped.setdefault(word.row_id, []).append(index)
        rows = list(grouped.values())
    else:
        rows = _rows_by_geometry(words)

    def row_order(row: list[int]) -> tuple[float, int]:
        return sum(_centre_y(words[i]) for i in row) / len(row), min(row)

    return [
        [words[i] for i in sorted(row, key=lambda i: ((words[i].box[0] + words[i].box[2]) / 2, i))]
        for row in sorted(rows, key=row_order)
    ]


def to_bundle(source: SourceReceipt, *, source_name: str, status: str, timestamp: str) -> ReceiptBundle:
    """One source receipt as table records (receipt id 1 on its own image id)."""
    image_id = import_image_id(source_name, source.receipt_id)
    lines, words, labels = [], [], []
    for line_id, row in enumerate(number_lines(source.words), start=1):
        line_box = enclosing_box([w.box for w in row])
        lines.append(
            ReceiptLine(
                image_id,
                RECEIPT_ID,
                line_id,
                " ".join(w.text for w in row),
                pixel_box_geometry(line_box, source.width, source.height),
            )
        )
        for word_id, word in enumerate(row, start=1):
            extracted = {"entity_id": word.entity_id} if word.entity_id is not None else None
            geometry = pixel_box_geometry(word.box, source.width, source.height)
            words.append(
                ReceiptWord(image_id, RECEIPT_ID, line_id, word_id, word.text, geometry, extracted_data=extracted)
            )
            if word.label:
                labels.append(
                    ReceiptWordLabel(
                        image_id,
                        RECEIPT_ID,
                        line_id,
                        word_id,
                        word.label,
                        status,
                        timestamp,
                        label_proposed_by=f"import:{source_name}",
                    )
                )
    receipt = Receipt(image_id, RECEIPT_ID, source.width, source.height, timestamp)
    return ReceiptBundle(
        receipt, tuple(lines), tuple(words), tuple(labels), imported_place(image_id, source.merchant_name, timestamp)
    )


def imported_place(image_id: str, merchant_name: str | None, timestamp: str) -> ReceiptPlace | None:
    """A file's `merchant_name` becomes the receipt's ReceiptPlace, where the user's table keeps
    a merchant (no Places match: no place id). A name without a letter or digit names nothing."""
    if not merchant_name or not merchant_slug(merchant_name):
        return None
    return ReceiptPlace(
        image_id,
        RECEIPT_ID,
        "",
        merchant_name.strip(),
        "",
        timestamp,
        1.0,
        PlaceDetails(texts=(("reasoning", "merchant_name of the imported file"),)),
    )


def oversize_items(source: SourceReceipt, bundle: ReceiptBundle) -> list[Problem]:
    """Items of the receipt that DynamoDB would refuse (over 400 KB), found before anything is
    written, reported like every other bad line."""
    problems = []
    for record in bundle.records():
        size = item_size(record.to_item())
        if size > MAX_ITEM_BYTES:
            where = type(record).__name__
            if hasattr(record, "word_id"):
                where += f" line {record.line_id} word {record.word_id}"
            elif hasattr(record, "line_id"):
                where += f" line {record.line_id}"
            problems.append(
                Problem(
                    source.line_number,
                    source.receipt_id,
                    f"{where} would be a {size:,}-byte item, over DynamoDB's {MAX_ITEM_BYTES:,}-byte limit "
                    f"(text of {len(getattr(record, 'text', '')):,} characters)",
                )
            )
    return problems


def plan_import(
    path: Path, *, label_map: LabelMap | None = None, status: str = "VALID", timestamp: str | None = None
) -> ImportPlan:
    """Read and convert the whole file; bad receipts are left out and reported."""
    if status not in VALIDATION_STATUSES:
        raise ConfigError(f"--status must be one of {', '.join(VALIDATION_STATUSES)}; got {status!r}")
    path = Path(path)
    sources, problems = read_receipts(path, label_map)
    timestamp = timestamp or keys.utc_now_iso()
    converted = [(s, to_bundle(s, source_name=path.name, status=status, timestamp=timestamp)) for s in sources]
    oversize = {id(s): too_large for s, b in converted if (too_large := oversize_items(s, b))}
    problems = [*problems, *(p for s, _ in converted for p in oversize.get(id(s), []))]
    kept = [(s, b) for s, b in converted if id(s) not in oversize]
    bundles = tuple(b for _, b in kept)
    imported = tuple(ImportedReceipt(s.receipt_id, s.line_number, b.key, s.split) for s, b in kept)
    return ImportPlan(bundles, imported, tuple(sorted(problems, key=lambda p: p.line_number)))


def import_jsonl(
    table: TableRef,
    path: Path,
    *,
    label_map: LabelMap | Path | None = None,
    status: str = "VALID",
    strict: bool = False,
    split_keys_out: Path | None = None,
    on_progress: ProgressFn | None = None,
    create_table: bool = False,
) -> ImportReport:
    """Import a receipt JSONL file. With `strict`, any problem rejects the file before a
    single item is written (`ImportRejected`); otherwise bad receipts are skipped and
    reported. `split_keys_out` gets the keys of receipts from a held-out split."""

    if isinstance(label_map, str | Path):
        label_map = load_label_map(Path(label_map))
    if not create_table:
        ensure_table(table, create=False)  # a typo in the table name fails now, before the file is read
    plan = plan_import(path, label_map=label_map, status=status)
    if strict and plan.problems:
        raise ImportRejected(Path(path), plan.problems)
    ensure_table(table, create=create_table)  # made only once there is something to write
    summary = write_bundles(table, plan.bundles, on_progress=on_progress) if plan.bundles else summarize(())
    if split_keys_out is not None:
        Path(split_keys_out).write_text("".join(f"{key}\n" for key in plan.held_out_keys), encoding="utf-8")
    return ImportReport(plan, summary, Path(split_keys_out) if split_keys_out is not None else None)

"""One receipt's records (receipt, its place, lines, words, labels) and their writing: generation and
import build bundles purely; `write_bundles` is the only step that touches the table."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from metrics_store import Store, TableNotFound, TableRef, create_table, table_exists
from metrics_store.records import (
    VALIDATION_STATUSES,
    Receipt,
    ReceiptLine,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
)

ProgressFn = Callable[[int, int], None]
"""Called with (items written so far, items in all) while writing."""


@dataclass(frozen=True)
class ReceiptBundle:
    receipt: Receipt
    lines: tuple[ReceiptLine, ...]
    words: tuple[ReceiptWord, ...]
    labels: tuple[ReceiptWordLabel, ...]
    place: ReceiptPlace | None = None
    """The place the receipt was matched to, which names its merchant (the user's pipeline
    matches most receipts; one without a place takes its merchant from its labelled words)."""

    @property
    def key(self) -> str:
        """`<image_id>#<receipt_id, 5 digits>`, the form snapshot key files use."""
        return f"{self.receipt.image_id}#{self.receipt.receipt_id:05d}"

    @property
    def item_count(self) -> int:
        return 1 + (self.place is not None) + len(self.lines) + len(self.words) + len(self.labels)

    def records(self) -> Iterator[Any]:
        yield self.receipt
        if self.place is not None:
            yield self.place
        yield from self.lines
        yield from self.words
        yield from self.labels


@dataclass(frozen=True)
class LoadSummary:
    """What went into the table (or would have): counts, labels by validation status."""

    receipts: int
    lines: int
    words: int
    labels: int
    labels_by_status: dict[str, int]
    items_written: int = 0
    seconds: float = 0.0
    labeled_words: int = 0
    label_names: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "receipts": self.receipts,
            "lines": self.lines,
            "words": self.words,
            "labeled_words": self.labeled_words,
            "labels": self.labels,
            "labels_by_status": self.labels_by_status,
            "label_names": self.label_names,
            "items_written": self.items_written,
            "seconds": round(self.seconds, 3),
        }


def summarize(bundles: Sequence[ReceiptBundle], *, items_written: int = 0, seconds: float = 0.0) -> LoadSummary:
    statuses: Counter[str] = Counter({s: 0 for s in VALIDATION_STATUSES})
    names: Counter[str] = Counter()
    labeled: set[tuple[str, int, int, int]] = set()
    for bundle in bundles:
        for label in bundle.labels:
            statuses[label.validation_status] += 1
            names[label.label] += 1
            labeled.add((label.image_id, label.receipt_id, label.line_id, label.word_id))
    return LoadSummary(
        receipts=len(bundles),
        lines=sum(len(b.lines) for b in bundles),
        words=sum(len(b.words) for b in bundles),
        labels=sum(len(b.labels) for b in bundles),
        labels_by_status=dict(statuses),
        items_written=items_written,
        seconds=seconds,
        labeled_words=len(labeled),
        label_names=dict(sorted(names.items())),
    )


def ensure_table(table: TableRef, *, create: bool) -> None:
    """The table exists, or is created when `create` (`--create-table`). A table that does not
    exist is otherwise an error: a typo in the name must not fill a new table. DescribeTable
    only, so a writer need not be allowed CreateTable."""
    if table_exists(table):
        return
    if not create:
        raise TableNotFound(table.name, table.endpoint_url, hint="pass --create-table to create it")
    create_table(table)


def write_bundles(
    table: TableRef,
    bundles: Sequence[ReceiptBundle],
    *,
    on_progress: ProgressFn | None = None,
    concurrency: int = 8,
    create_table: bool = False,
) -> LoadSummary:
    """Write every record (25 per request, concurrently, retried by `Store`) to the table, which
    must exist unless `create_table`. Keys are deterministic, so writing the same bundles twice
    overwrites."""
    ensure_table(table, create=create_table)
    total = sum(b.item_count for b in bundles)
    written = 0

    def progress(count: int) -> None:
        nonlocal written
        written += count
        if on_progress:
            on_progress(written, total)

    if on_progress:
        on_progress(0, total)
    started = time.perf_counter()
    records = (record for bundle in bundles for record in bundle.records())
    count = Store(table, concurrency=concurrency).put_records(records, on_progress=progress)
    return summarize(bundles, items_written=count, seconds=time.perf_counter() - started)

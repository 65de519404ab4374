"""Hand-made receipts written to a test table, for tests that need exact, known content."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from metrics_store import (
    Geometry,
    Point,
    Receipt,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
    Store,
    TableRef,
)

# A line is a list of words; a word is (text, [(label, status), ...]).
Word = tuple[str, Sequence[tuple[str, str]]]


def image_id(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def receipt_records(
    img: str,
    lines: Sequence[Sequence[Word]],
    *,
    rid: int = 1,
    merchant: str | None = None,
    ts: str = "2026-01-01T00:00:00+00:00",
) -> list:
    records: list = [Receipt(img, rid, 500, 1000, ts)]
    if merchant is not None:  # where the user's table keeps a receipt's merchant
        records.append(ReceiptPlace(img, rid, f"place-{merchant}", merchant, "MATCHED", ts, 0.9))
    for line_no, line in enumerate(lines, start=1):
        top = 1.0 - 0.05 * line_no
        for word_no, (text, labels) in enumerate(line, start=1):
            left = 0.05 + 0.15 * (word_no - 1)
            geometry = Geometry(
                Point(left, top), Point(left + 0.1, top), Point(left, top - 0.03), Point(left + 0.1, top - 0.03)
            )
            records.append(ReceiptWord(img, rid, line_no, word_no, text, geometry))
            records += [ReceiptWordLabel(img, rid, line_no, word_no, label, status, ts) for label, status in labels]
    return records


def write_receipts(table: TableRef, receipts: Sequence[tuple[str, Sequence[Sequence[Word]]]], **kw) -> None:
    Store(table).put_records([r for img, lines in receipts for r in receipt_records(img, lines, **kw)])


def simple_receipt(
    n: int, *, status: str = "VALID", merchant_label: str = "MERCHANT_NAME"
) -> tuple[str, list[list[Word]]]:
    """Merchant line, a date line, an item line, a total line; one O-only footer line."""
    v = status
    return image_id(n), [
        [("Corner", [(merchant_label, v)]), ("Deli", [(merchant_label, v)])],
        [("Date:", []), (f"2026-01-0{1 + n % 9}", [("DATE", v)])],
        [("Bagel", [("PRODUCT_NAME", v)]), ("2.50", [("LINE_TOTAL", v)])],
        [("TOTAL", []), ("2.50", [("GRAND_TOTAL", v), ("LINE_TOTAL", "INVALID")])],
        [("Thank", []), ("you", [])],
    ]

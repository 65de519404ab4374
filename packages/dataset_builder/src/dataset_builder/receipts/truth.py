"""The ground truth of synthetic receipts: every word with the label it should carry, all
VALID, under the same image, line and word ids as the receipts `synthetic` wrote, so a model
trained on the labelled copy can be scored on the truth of the very same receipts.

- `truth_bundle`: the same receipt, lines and words, with one VALID label item per word whose
  true label is not O (a second table, built into a snapshot like any other);
- `write_truth_jsonl`: one JSON object per word (`receipt_key`, `image_id`, `receipt_id`,
  `line_id`, `word_id`, `text`, `label`; `label` null for O), for scoring outside the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from metrics_store.records import ReceiptWordLabel

from .bundle import ReceiptBundle
from .synthetic import SyntheticReceipt

TRUTH_PROPOSER = "ground_truth"


def truth_bundle(receipt: SyntheticReceipt) -> ReceiptBundle:
    """The receipt with its true labels only, under their core names."""
    header = receipt.receipt
    labels = tuple(
        ReceiptWordLabel(
            header.image_id,
            header.receipt_id,
            line_id,
            word_id,
            label,
            "VALID",
            header.timestamp_added,
            label_proposed_by=TRUTH_PROPOSER,
        )
        for (line_id, word_id), label in sorted(receipt.truth.items())
        if label
    )
    return ReceiptBundle(header, receipt.lines, receipt.words, labels, receipt.place)


def truth_rows(receipts: Iterable[SyntheticReceipt]) -> Iterable[dict]:
    for receipt in receipts:
        header = receipt.receipt
        for word in receipt.words:
            yield {
                "receipt_key": receipt.key,
                "image_id": header.image_id,
                "receipt_id": header.receipt_id,
                "line_id": word.line_id,
                "word_id": word.word_id,
                "text": word.text,
                "label": receipt.truth.get((word.line_id, word.word_id)),
            }


def write_truth_jsonl(receipts: Iterable[SyntheticReceipt], path: Path) -> int:
    """Write one line per word; returns how many words were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for row in truth_rows(receipts):
            out.write(json.dumps(row) + "\n")
            count += 1
    return count

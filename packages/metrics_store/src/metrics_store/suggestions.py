"""Label suggestions: ReceiptWordLabel items a model proposes (status PENDING), written so that
nothing a person or another proposer wrote is ever touched.

A suggestion is written only when the table holds no item for that word and label, or when
the item there is this proposer's own and still PENDING (a rerun of the same review rewrites
its own suggestions and creates none twice). A VALID or INVALID item, or anyone else's, fails
the condition and is left as it is.

Why one conditional PutItem per suggestion: BatchWriteItem takes no conditions, and
TransactWriteItems (up to 100 items) is all-or-nothing: one existing VALID item would cancel
the other 99, which would then have to be found in the cancellation reasons and sent again,
at twice the write capacity per item. The suggestions are independent of each other, so each
gets its own condition and its own answer (written, rewritten, left alone); they are sent
concurrently and throttling is retried with backoff, as every write is (`TableWriter`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .codec import Item
from .records import ReceiptWordLabel
from .table_writer import TableWriter, check_size, key_of

SUGGESTED_STATUS = "PENDING"
WordLabelKey = tuple[str, str]
"""(PK, SK) of a ReceiptWordLabel item."""


def label_key(label: ReceiptWordLabel) -> WordLabelKey:
    keys = label.item_keys()
    return keys["PK"], keys["SK"]


@dataclass(frozen=True)
class SuggestionOutcome:
    """What happened to each suggestion, by key."""

    written: list[WordLabelKey] = field(default_factory=list)
    """No item existed: a new PENDING item."""
    rewritten: list[WordLabelKey] = field(default_factory=list)
    """The proposer's own PENDING item was there: overwritten (a rerun)."""
    left_alone: list[WordLabelKey] = field(default_factory=list)
    """Another item was there (VALID, INVALID, or another proposer's): untouched."""

    def counts(self) -> dict[str, int]:
        return {"written": len(self.written), "rewritten": len(self.rewritten), "left_alone": len(self.left_alone)}


class LabelSuggestions:
    """Writes label suggestions under their conditions (module docstring)."""

    def __init__(self, writer: TableWriter):
        self.writer = writer

    def put_label_suggestions(
        self, labels: Sequence[ReceiptWordLabel], *, on_progress: Callable[[int], None] | None = None
    ) -> SuggestionOutcome:
        """Write each suggestion under its condition. Every label must be PENDING and name its
        proposer (`label_proposed_by`); keys must be distinct."""
        seen: set[WordLabelKey] = set()
        for label in labels:
            if label.validation_status != SUGGESTED_STATUS or not label.label_proposed_by:
                raise ValueError(f"a suggestion must be {SUGGESTED_STATUS} and name its proposer: {label_key(label)}")
            if label_key(label) in seen:
                raise ValueError(f"suggestion {label_key(label)} given twice")
            seen.add(label_key(label))
        items = [check_size(label.to_item()) for label in labels]
        outcome = SuggestionOutcome()
        with ThreadPoolExecutor(self.writer.concurrency) as pool:
            for item, result in zip(items, pool.map(self._put_suggestion, items), strict=True):
                {"written": outcome.written, "rewritten": outcome.rewritten}.get(result, outcome.left_alone).append(
                    key_of(item)
                )
                if on_progress:
                    on_progress(1)
        return outcome

    def _put_suggestion(self, item: Item) -> str:
        response = self.writer.conditional(
            "put_item",
            TableName=self.writer.table.name,
            Item=item,
            ReturnValues="ALL_OLD",
            ConditionExpression="attribute_not_exists(PK) OR (label_proposed_by = :me AND validation_status = "
            ":pending)",
            ExpressionAttributeValues={":me": item["label_proposed_by"], ":pending": {"S": SUGGESTED_STATUS}},
        )
        if response is None:
            return "left_alone"
        return "rewritten" if response.get("Attributes") else "written"

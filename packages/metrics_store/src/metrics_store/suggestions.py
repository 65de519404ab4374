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
concurrently and throttling is retried with backoff, as every write of `Store` is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .codec import Item
from .connection import TableRef, translate_errors
from .errors import StoreError
from .records import ReceiptWordLabel

SUGGESTED_STATUS = "PENDING"
BATCH_GET_LIMIT = 100
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


class SuggestionsMixin:
    """The suggestion writes of `Store` (which provides `_with_backoff`, `table`, `concurrency`)."""

    table: TableRef
    concurrency: int

    def put_label_suggestions(self, labels: Sequence[ReceiptWordLabel], *,
                              on_progress: Callable[[int], None] | None = None) -> SuggestionOutcome:
        """Write each suggestion under its condition (module docstring). Every label must be
        PENDING and name its proposer (`label_proposed_by`); keys must be distinct."""
        from .store import check_size

        seen: set[WordLabelKey] = set()
        for label in labels:
            if label.validation_status != SUGGESTED_STATUS or not label.label_proposed_by:
                raise ValueError(f"a suggestion must be {SUGGESTED_STATUS} and name its proposer: {label_key(label)}")
            if label_key(label) in seen:
                raise ValueError(f"suggestion {label_key(label)} given twice")
            seen.add(label_key(label))
        items = [check_size(label.to_item()) for label in labels]
        outcome = SuggestionOutcome()
        with ThreadPoolExecutor(max(1, self.concurrency)) as pool:
            for key, result in zip(map(_key, items), pool.map(self._put_suggestion, items), strict=True):
                (outcome.written if result == "written" else outcome.rewritten if result == "rewritten" else outcome.left_alone).append(key)
                if on_progress:
                    on_progress(1)
        return outcome

    def _put_suggestion(self, item: Item) -> str:
        from botocore.exceptions import ClientError

        try:
            response = self._with_backoff(  # type: ignore[attr-defined]
                "put_item", TableName=self.table.name, Item=item, ReturnValues="ALL_OLD",
                ConditionExpression="attribute_not_exists(PK) OR (label_proposed_by = :me AND validation_status = :pending)",
                ExpressionAttributeValues={":me": item["label_proposed_by"], ":pending": {"S": SUGGESTED_STATUS}},
            )
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return "left_alone"
            raise
        return "rewritten" if response.get("Attributes") else "written"


def _key(item: Item) -> WordLabelKey:
    return item["PK"]["S"], item["SK"]["S"]


def read_word_labels(table: TableRef, keys: Iterable[WordLabelKey], *, max_attempts: int = 10) -> dict[WordLabelKey, ReceiptWordLabel]:
    """The ReceiptWordLabel items at `keys` that exist (BatchGetItem, 100 keys a request,
    unprocessed keys asked again), consistent reads."""
    import time

    wanted = list(dict.fromkeys(keys))
    found: dict[WordLabelKey, ReceiptWordLabel] = {}
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        pending: list[dict[str, Any]] = [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in wanted[start:start + BATCH_GET_LIMIT]]
        for attempt in range(max_attempts):
            with translate_errors(table.name, table.endpoint_url):
                response = table.client.batch_get_item(RequestItems={table.name: {"Keys": pending, "ConsistentRead": True}})
            for item in response.get("Responses", {}).get(table.name, []):
                found[_key(item)] = ReceiptWordLabel.from_item(item)
            pending = response.get("UnprocessedKeys", {}).get(table.name, {}).get("Keys", [])
            if not pending:
                break
            time.sleep(min(5.0, 0.05 * 2**attempt))
        else:
            raise StoreError(f"BatchGetItem kept returning {len(pending)} unprocessed keys")
    return found

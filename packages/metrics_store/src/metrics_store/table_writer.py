"""`TableWriter`: the write primitives every writer of the table is built on (`Store`,
`JobStates`, `LabelSuggestions`): one place where a request is sent, its errors translated,
throttling retried under one `RetryPolicy`, items measured against the 400 KB limit and
BatchWriteItem held to 25 items."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .codec import MAX_ITEM_BYTES, Item, item_size
from .connection import TableRef, translate_errors
from .errors import ItemTooLarge, StoreError, WriteFailed
from .retry import TRANSIENT_CODES, RetryPolicy, error_code, is_conditional_failure

BATCH_LIMIT = 25


def key_of(item: Item) -> tuple[str, str]:
    return item["PK"]["S"], item["SK"]["S"]


def check_size(item: Item) -> Item:
    """The item, or `ItemTooLarge` naming it when DynamoDB would refuse it (over 400 KB)."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        pk, sk = key_of(item)
        raise ItemTooLarge(f"{pk}/{sk}", size, MAX_ITEM_BYTES)
    return item


class TableWriter:
    """Sends writes to one table. Thread-safe; `requests` counts the API calls made."""

    def __init__(
        self,
        table: TableRef,
        *,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ):
        self.table = table
        self.retry = retry or RetryPolicy()
        self.concurrency = max(1, concurrency)
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One request, its errors translated, throttling that outlasted botocore's own
        retries retried with backoff (`RetryPolicy`)."""
        for attempt in range(self.retry.max_attempts):
            with self._lock:
                self.requests += 1
            try:
                with translate_errors(self.table.name, self.table.endpoint_url):
                    return getattr(self.table.client, operation)(**kwargs)
            except StoreError as exc:
                if error_code(exc) not in TRANSIENT_CODES or attempt == self.retry.max_attempts - 1:
                    raise
                self._sleep(self.retry.delay(attempt, self._rng))
        raise AssertionError("unreachable")

    def conditional(self, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        """A conditional write: its response, or None when its condition did not hold."""
        try:
            return self.call(operation, **kwargs)
        except StoreError as exc:
            if is_conditional_failure(exc):
                return None
            raise

    def put(self, item: Item) -> None:
        """Unconditional put of one item (its key makes a retry an overwrite)."""
        self.call("put_item", TableName=self.table.name, Item=check_size(item))

    def put_new(self, item: Item) -> bool:
        """Conditional put: True if written, False if an item with that key already exists."""
        return (
            self.conditional(
                "put_item",
                TableName=self.table.name,
                Item=check_size(item),
                ConditionExpression="attribute_not_exists(PK)",
            )
            is not None
        )

    def batch_put(self, items: Iterable[Item], *, on_progress: Callable[[int], None] | None = None) -> int:
        """Write items in batches of 25, concurrently, each exactly once (duplicate keys folded
        first; unprocessed items retried with backoff, then `WriteFailed` naming what is left).
        Returns the count."""
        unique: dict[tuple[str, str], Item] = {}
        for item in items:
            unique[key_of(check_size(item))] = item
        requests = [{"PutRequest": {"Item": item}} for item in unique.values()]
        chunks = [requests[i : i + BATCH_LIMIT] for i in range(0, len(requests), BATCH_LIMIT)]
        if self.concurrency == 1 or len(chunks) <= 1:
            for chunk in chunks:
                self._write_chunk(chunk)
                if on_progress:
                    on_progress(len(chunk))
        else:
            with ThreadPoolExecutor(self.concurrency) as pool:
                for written in pool.map(self._write_chunk, chunks):
                    if on_progress:
                        on_progress(written)
        return len(requests)

    def _write_chunk(self, chunk: list[dict[str, Any]]) -> int:
        pending = chunk
        for attempt in range(self.retry.max_attempts):
            response = self.call("batch_write_item", RequestItems={self.table.name: pending})
            pending = response.get("UnprocessedItems", {}).get(self.table.name, [])
            if not pending:
                return len(chunk)
            self._sleep(self.retry.delay(attempt, self._rng))
        raise WriteFailed(
            "BatchWriteItem kept returning unprocessed items",
            ["/".join(key_of(r["PutRequest"]["Item"])) for r in pending],
        )

    def get(self, key: dict[str, Any], *, consistent: bool = True) -> Item | None:
        """One item by key (a read a write depends on: a condition that failed, why)."""
        return self.call("get_item", TableName=self.table.name, Key=key, ConsistentRead=consistent).get("Item")

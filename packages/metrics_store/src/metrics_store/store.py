"""`Store`: every write to the receipts table goes through here.

Rules it keeps so callers need not think about them:
- batches of at most 25 items (BatchWriteItem's limit), duplicate keys folded first;
- unprocessed items and throttling retried with exponential backoff and full jitter,
  bounded, and a `WriteFailed` naming what is left if the bound is reached (nothing dropped);
- every key is deterministic, so a retried write overwrites itself and never duplicates;
  creates that must not clobber (jobs, snapshot records) are conditional puts;
- items are measured against the 400 KB limit before sending; a log message too big for one
  item is kept whole in part items (`records.log_items`) and joined again by `Queries`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import keys
from .codec import MAX_ITEM_BYTES, Item, item_size, to_attribute
from .connection import TableRef, translate_errors
from .errors import ItemTooLarge, JobNotFound, StoreError, WriteFailed
from .job_state import JobStateMixin
from .records import (
    DatasetSnapshotRecord,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    checkpoint_record,
    log_items,
)
from .suggestions import SuggestionsMixin

BATCH_LIMIT = 25
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
    and Jitter"): attempt n waits uniform(0, min(max_delay, base_delay * 2**n)) seconds."""

    max_attempts: int = 10
    base_delay: float = 0.05
    max_delay: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def _key_of(item: Item) -> tuple[str, str]:
    return item["PK"]["S"], item["SK"]["S"]


def check_size(item: Item) -> Item:
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        pk, sk = _key_of(item)
        raise ItemTooLarge(f"{pk}/{sk}", size, MAX_ITEM_BYTES)
    return item


class Store(SuggestionsMixin, JobStateMixin):
    """Writes records to one table. Thread-safe; `requests` counts the API calls made.
    Job status and lease changes come from `job_state.JobStateMixin`, label suggestions from
    `suggestions.SuggestionsMixin`."""

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

    # --- primitives -------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
        with translate_errors(self.table.name, self.table.endpoint_url):
            return getattr(self.table.client, operation)(**kwargs)

    def _with_backoff(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Call, retrying throttling that outlasted botocore's own retries."""
        for attempt in range(self.retry.max_attempts):
            try:
                return self._call(operation, **kwargs)
            except StoreError as exc:
                code = getattr(exc.__cause__, "response", {}).get("Error", {}).get("Code")
                if code not in RETRYABLE_ERROR_CODES or attempt == self.retry.max_attempts - 1:
                    raise
                self._sleep(self.retry.delay(attempt, self._rng))
        raise AssertionError("unreachable")

    def put_new(self, item: Item) -> bool:
        """Conditional put: True if written, False if an item with that key already exists."""
        from botocore.exceptions import ClientError

        check_size(item)
        try:
            self._with_backoff(
                "put_item",
                TableName=self.table.name,
                Item=item,
                ConditionExpression="attribute_not_exists(PK)",
            )
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put(self, item: Item) -> None:
        """Unconditional put of one item (its key makes a retry an overwrite)."""
        self._with_backoff("put_item", TableName=self.table.name, Item=check_size(item))

    def batch_put(self, items: Iterable[Item], *, on_progress: Callable[[int], None] | None = None) -> int:
        """Write items in batches of 25, concurrently, each exactly once. Returns the count."""
        unique: dict[tuple[str, str], Item] = {}
        for item in items:
            unique[_key_of(check_size(item))] = item
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
            response = self._with_backoff("batch_write_item", RequestItems={self.table.name: pending})
            pending = response.get("UnprocessedItems", {}).get(self.table.name, [])
            if not pending:
                return len(chunk)
            self._sleep(self.retry.delay(attempt, self._rng))
        raise WriteFailed(
            "BatchWriteItem kept returning unprocessed items",
            ["/".join(_key_of(r["PutRequest"]["Item"])) for r in pending],
        )

    # --- jobs ---------------------------------------------------------------------------

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set top-level attributes of a job (results, tags, storage, description...)."""
        forbidden = {"PK", "SK", "TYPE", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "status", "job_id", "name", "created_at",
                     "lease_owner", "heartbeat_at"}
        bad = forbidden & fields.keys()
        if bad:
            raise ValueError(f"update_job cannot set {sorted(bad)}; use set_job_status for status")
        if not fields:
            return
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": to_attribute(value, name) for i, (name, value) in enumerate(fields.items())}
        probe = {"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": "JOB"}, **{n: values[f":v{i}"] for i, n in enumerate(fields)}}
        check_size(probe)
        from botocore.exceptions import ClientError

        try:
            self._with_backoff(
                "update_item",
                TableName=self.table.name,
                Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": "JOB"}},
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise JobNotFound(job_id) from exc
            raise

    def add_metrics(self, metrics: Sequence[JobMetric]) -> int:
        return self.batch_put(m.to_item() for m in metrics)

    def add_logs(self, logs: Sequence[JobLog]) -> int:
        return self.batch_put(item for log in logs for item in log_items(log))

    def add_checkpoint(self, checkpoint: JobCheckpoint) -> None:
        """A JobCheckpoint item when it was uploaded, else a LocalCheckpoint (records.jobs)."""
        self.put(checkpoint_record(checkpoint).to_item())

    def add_resource(self, resource: JobResource) -> None:
        self.put(resource.to_item())

    # --- receipts and datasets -----------------------------------------------------------

    def put_records(self, records: Iterable[Any], *, on_progress: Callable[[int], None] | None = None) -> int:
        """Batch-write any records (receipts, lines, words, labels...)."""
        return self.batch_put((r.to_item() for r in records), on_progress=on_progress)

    def put_snapshot_record(self, record: DatasetSnapshotRecord) -> bool:
        """Record a published snapshot. Idempotent: False if this build was recorded already."""
        return self.put_new(record.to_item())

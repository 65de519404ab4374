"""`Store`: every write to the receipts table goes through here.

It is composed of three writers sharing one `TableWriter` (the primitives: one retry policy, one
set of transient errors, the 25-item batch and 400 KB item limits): records in batches, the
job lifecycle (`job_state.JobStates`: status changes, the lease) and label suggestions
(`suggestions.LabelSuggestions`). Rules callers need not think about:
- batches of at most 25 items (BatchWriteItem's limit), duplicate keys folded first;
- unprocessed items and throttling retried with exponential backoff and full jitter,
  bounded, and a `WriteFailed` naming what is left if the bound is reached (nothing dropped);
- every key is deterministic, so a retried write overwrites itself and never duplicates;
  creates that must not clobber (jobs, snapshot records) are conditional puts;
- items are measured against the 400 KB limit before sending; a log message too big for one
  item is kept whole in part items (`records.log_items`) and joined again by `Queries`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .codec import Item
from .connection import TableRef
from .job_state import JobStates
from .records import (
    DatasetSnapshotRecord,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    checkpoint_record,
    log_items,
)
from .retry import RetryPolicy
from .suggestions import LabelSuggestions
from .table_writer import TableWriter


class Store:
    """Writes records to one table. Thread-safe; `requests` counts the API calls made. The job
    lifecycle is `store.jobs` (create, update, status, lease), label suggestions
    `store.suggestions`."""

    def __init__(
        self,
        table: TableRef,
        *,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ):
        self.writer = TableWriter(table, retry=retry, concurrency=concurrency, sleep=sleep, seed=seed)
        self.jobs = JobStates(self.writer)
        self.suggestions = LabelSuggestions(self.writer)

    @property
    def table(self) -> TableRef:
        return self.writer.table

    @property
    def requests(self) -> int:
        return self.writer.requests

    # --- items ------------------------------------------------------------------------------

    def put(self, item: Item) -> None:
        self.writer.put(item)

    def put_new(self, item: Item) -> bool:
        return self.writer.put_new(item)

    def batch_put(self, items: Iterable[Item], *, on_progress: Callable[[int], None] | None = None) -> int:
        return self.writer.batch_put(items, on_progress=on_progress)

    def put_records(self, records: Iterable[Any], *, on_progress: Callable[[int], None] | None = None) -> int:
        """Batch-write any records (receipts, lines, words, labels...)."""
        return self.writer.batch_put((r.to_item() for r in records), on_progress=on_progress)

    def put_snapshot_record(self, record: DatasetSnapshotRecord) -> bool:
        """Record a published snapshot. Idempotent: False if this build was recorded already."""
        return self.writer.put_new(record.to_item())

    # --- a run's records -------------------------------------------------------------------

    def add_metrics(self, metrics: Sequence[JobMetric]) -> int:
        return self.writer.batch_put(m.to_item() for m in metrics)

    def add_logs(self, logs: Sequence[JobLog]) -> int:
        return self.writer.batch_put(item for log in logs for item in log_items(log))

    def add_checkpoint(self, checkpoint: JobCheckpoint) -> None:
        """A JobCheckpoint item when it was uploaded, else a LocalCheckpoint (records.jobs)."""
        self.writer.put(checkpoint_record(checkpoint).to_item())

    def add_resource(self, resource: JobResource) -> None:
        self.writer.put(resource.to_item())

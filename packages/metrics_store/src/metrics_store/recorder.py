"""What the trainer records through, without knowing about DynamoDB.

`RunRecorder` is the whole interface a run needs, reading back included: `DynamoRecorder`
writes to the table through `Store` (batched, idempotent, through short outages, under the
job's lease); `MemoryRecorder` keeps records in lists (tests, and code that records without a
table); `NullRecorder` keeps nothing (the processes of a distributed run other than rank 0).
metrics_store owns all three (recorder_memory.py), so callers never check which one they hold.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .codec import Item, to_attribute
from .connection import TableRef
from .errors import LeaseLost
from .job_state import HEARTBEAT_SECONDS, STALE_AFTER_SECONDS, new_lease_owner
from .queries import Queries
from .records import (
    Job,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    JobStatus,
    MetricValue,
    checkpoint_record,
    log_items,
)
from .retry import is_transient
from .store import Store
from .table_writer import check_size
from .writer import OUTAGE_BUDGET_SECONDS, BackgroundWriter, PendingWrite, spool


class MonotonicClock:
    """ISO timestamps that strictly increase within a process, so two records written in the
    same microsecond still get distinct sort keys."""

    def __init__(self) -> None:
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> str:
        with self._lock:
            current = datetime.now(UTC)
            if self._last is not None and current <= self._last:
                current = self._last + timedelta(microseconds=1)
            self._last = current
            return current.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class RecordedRun:
    """Everything recorded for one job (of its current attempt), as read back."""

    job: Job
    metrics: tuple[JobMetric, ...] = ()
    logs: tuple[JobLog, ...] = ()
    statuses: tuple[JobStatus, ...] = ()
    checkpoints: tuple[JobCheckpoint, ...] = ()


def current_attempt(job: Job, metrics: Iterable[JobMetric]) -> list[JobMetric]:
    """The metrics of the job's current attempt: after a `--restart`, earlier ones are not."""
    return [m for m in metrics if not job.restarted_at or m.timestamp >= job.restarted_at]


@runtime_checkable
class RunRecorder(Protocol):
    job_id: str

    @property
    def queries(self) -> Queries | None:
        """The table's read API, for analyses that look across jobs; None without a table."""
        ...

    def open(self, job: Job) -> tuple[Job, bool]:
        """Create the job, or find it when resuming. Returns (job, created)."""
        ...

    def acquire(self, *, message: str | None = None) -> None:
        """Take the job's lease and mark it running. A job running elsewhere with a fresh
        heartbeat is refused (`JobLeased`); from here on the lease is renewed in the background."""
        ...

    def restart(self, *, reason: str) -> None:
        """Start the job's history again: what earlier attempts recorded is left out of
        `recorded_metrics` and of every analysis (they stay in the table)."""
        ...

    def status(self, status: str, *, message: str | None = None, progress: float | None = None) -> None: ...

    def metrics(
        self,
        values: Mapping[str, MetricValue],
        *,
        epoch: float | None = None,
        step: int | None = None,
        units: Mapping[str, str] | None = None,
    ) -> int:
        """Record metrics in one batch; returns how many were new (resumes skip repeats)."""
        ...

    def log(self, message: str | Mapping[str, Any], *, level: str = "INFO", exception: str | None = None) -> None: ...

    def checkpoint(self, checkpoint: JobCheckpoint) -> None: ...

    def resource(self, resource: JobResource) -> None: ...

    def results(self, results: Mapping[str, Any]) -> None: ...

    def health(self) -> str | None:
        """Why this run must stop (its writes failed for longer than the outage budget, or
        another process took its lease), or None."""
        ...

    @property
    def lease_lost(self) -> bool:
        """Another process took the job (or it was marked interrupted): this one must stop at
        once and write nothing more, to the table or to the run's folder."""
        ...

    def confirm_lease(self) -> None:
        """Renew the lease now (before touching the run's folder); `LeaseLost` if it is gone."""
        ...

    def check_lease(self) -> None:
        """`confirm_lease` when the lease may have run out (no renewal for half the stale
        time: the process was paused): before a checkpoint is written to the run's folder."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Wait (up to `timeout` seconds) until every record so far reached the store; True
        when it did. Records are written in the background, in order."""
        ...

    def close(self, timeout: float | None = None) -> bool:
        """`flush` (after an outage longer than the budget, the table gets `timeout` more to
        answer), then stop writing in the background (and renewing the lease)."""
        ...

    def spool(self, path: Path) -> int:
        """Keep what was not written in `path` (after `close` returned False), to be written
        by `writer.replay` at the next contact. Returns how many records wait."""
        ...

    def recorded_metrics(self) -> list[JobMetric]:
        """This job's metrics of its current attempt (a resume rebuilds its history from them)."""
        ...

    def read_back(self) -> RecordedRun | None:
        """Everything recorded for this job, or None for a recorder that keeps nothing."""


class JobRecorders(Protocol):
    """Makes the recorder of a job (`source`: who writes its logs): `functools.partial(DynamoRecorder,
    table)` on a table, `MemoryJobs` in memory. Jobs that start other jobs take one."""

    def __call__(self, job_id: str, *, source: str = "trainer") -> RunRecorder: ...


def message_text(message: str | Mapping[str, Any]) -> str:
    return message if isinstance(message, str) else json.dumps(message, default=str, sort_keys=False)


class DynamoRecorder:
    """Records one job in the receipts table.

    Writes are encoded (validated) when they are made and written in order by a
    `BackgroundWriter`, which rides out an outage of up to `outage_budget_s` and keeps what it
    could not write (`spool`); after `acquire()` the job's lease is renewed every
    `heartbeat_s`, and a write after `stale_after_s / 2` without a renewal first checks the
    lease (a paused process never writes over a job another process took). `close()` waits
    for the queue."""

    def __init__(
        self,
        table: TableRef,
        job_id: str,
        *,
        source: str = "trainer",
        owner: str | None = None,
        outage_budget_s: float = OUTAGE_BUDGET_SECONDS,
        heartbeat_s: float = HEARTBEAT_SECONDS,
        stale_after_s: float = STALE_AFTER_SECONDS,
    ):
        self.job_id = job_id
        self.store = Store(table)
        self._queries = Queries(table)
        self.source = source
        self.owner = owner or new_lease_owner()
        self.stale_after_s = stale_after_s
        self.clock = MonotonicClock()
        self._recorded: set[tuple[str, int | None, float | None]] | None = None
        self._leased = False
        self._writer = BackgroundWriter(
            self._apply,
            outage_budget_s=outage_budget_s,
            tick=self._heartbeat,
            tick_seconds=heartbeat_s,
            fence=self._heartbeat,
            fence_after_s=stale_after_s / 2,
        )

    @property
    def queries(self) -> Queries:
        return self._queries

    def _apply(self, write: PendingWrite) -> None:
        write.apply(self.store)
        if write.status is not None and self._leased:
            self._writer.renewed()  # a status change under the lease renews the heartbeat with it

    def open(self, job: Job) -> tuple[Job, bool]:
        if job.job_id != self.job_id:
            raise ValueError(f"recorder is for job {self.job_id}, not {job.job_id}")
        created = self.store.jobs.create_job(job)
        return (job if created else self._queries.get_job(self.job_id)), created

    def acquire(self, *, message: str | None = None) -> None:
        self.store.jobs.acquire_lease(
            self.job_id, self.owner, message=message, now=self.clock.now(), stale_after_s=self.stale_after_s
        )
        self._leased = True
        self._writer.renewed()

    def restart(self, *, reason: str) -> None:
        self._writer.flush()
        self.store.jobs.update_job(self.job_id, restarted_at=self.clock.now())
        self._recorded = set()
        self.log({"type": "restart", "reason": reason}, level="WARNING")

    def _heartbeat(self) -> None:
        if self._leased:
            self.store.jobs.heartbeat(self.job_id, self.owner, now=self.clock.now())

    def confirm_lease(self) -> None:
        try:
            self._heartbeat()
        except LeaseLost:
            raise
        except Exception as exc:  # noqa: BLE001 - unreachable: it cannot be checked now; nobody can take a lease
            if not is_transient(
                exc
            ):  # whose heartbeat is fresh, and the final status is written under it or not at all
                raise
            return
        self._writer.renewed()

    def check_lease(self) -> None:
        self._writer.fence_now()

    def status(self, status: str, *, message: str | None = None, progress: float | None = None) -> None:
        at = self.clock.now()
        JobStatus(self.job_id, status, at, progress, message)  # validates now, in the caller's thread
        self._writer.submit(
            PendingWrite(
                f"status {status}",
                self.job_id,
                status={
                    "status": status,
                    "message": message,
                    "progress": progress,
                    "updated_by": self.owner,
                    "updated_at": at,
                    "owner": self.owner if self._leased else None,
                },
            )
        )

    def _already_recorded(self) -> set[tuple[str, int | None, float | None]]:
        if self._recorded is None:
            self._recorded = {(m.metric_name, m.step, m.epoch) for m in self.recorded_metrics()}
        return self._recorded

    def _put(self, items: list[Item], what: str) -> None:
        for item in items:
            check_size(item)
        if items:
            self._writer.submit(PendingWrite(what, self.job_id, items=items))

    def metrics(self, values, *, epoch=None, step=None, units=None) -> int:
        timestamp = self.clock.now()
        seen = self._already_recorded()
        fresh = [
            JobMetric(self.job_id, name, timestamp, value, (units or {}).get(name), step, epoch)
            for name, value in values.items()
            if (name, step, epoch) not in seen
        ]
        self._put([m.to_item() for m in fresh], f"{len(fresh)} metric(s)")
        seen.update((m.metric_name, step, epoch) for m in fresh)
        return len(fresh)

    def log(self, message, *, level="INFO", exception=None) -> None:
        entry = JobLog(self.job_id, self.clock.now(), message_text(message), level, self.source, exception)
        self._put(log_items(entry), "a log")

    def checkpoint(self, checkpoint: JobCheckpoint) -> None:
        self._put([checkpoint_record(checkpoint).to_item()], "a checkpoint")

    def resource(self, resource: JobResource) -> None:
        self._put([resource.to_item()], "a resource")

    def results(self, results: Mapping[str, Any]) -> None:
        payload = dict(results)
        to_attribute(payload, "results")  # a non-finite value fails here, not in the writer
        self._writer.submit(PendingWrite("results", self.job_id, update={"results": payload}))

    def health(self) -> str | None:
        failure = self._writer.failure
        return None if failure is None else str(failure)

    @property
    def lease_lost(self) -> bool:
        return isinstance(self._writer.failure, LeaseLost)

    def flush(self, timeout: float | None = None) -> bool:
        return self._writer.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        if self._writer.failure is not None:
            self._writer.retry()  # after a long outage, the table gets one more chance before the records are spooled
        done = self._writer.close(timeout)
        self._leased = False
        return done

    def spool(self, path: Path) -> int:
        unwritten = self._writer.unwritten()
        return spool(path, unwritten) if unwritten else 0

    def recorded_metrics(self) -> list[JobMetric]:
        self._writer.flush()
        return current_attempt(self._queries.get_job(self.job_id), self._queries.iter_job_metrics(self.job_id))

    def read_back(self) -> RecordedRun:
        self._writer.flush()
        q = self._queries
        job = q.get_job(self.job_id)
        return RecordedRun(
            job,
            tuple(current_attempt(job, q.iter_job_metrics(self.job_id))),
            tuple(q.iter_job_logs(self.job_id)),
            tuple(q.status_history(self.job_id)),
            tuple(q.checkpoints(self.job_id)),
        )

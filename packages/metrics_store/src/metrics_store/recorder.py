"""What the trainer records through, without knowing about DynamoDB.

`RunRecorder` is the whole interface a run needs, reading back included: `DynamoRecorder`
writes to the table through `Store` (batched, idempotent, safe to call again after a resume);
`MemoryRecorder` keeps records in lists (tests, and code that records without a table);
`NullRecorder` keeps nothing (the processes of a distributed run other than rank 0).
metrics_store owns all three, so callers never check which one they hold.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from .connection import TableRef
from .errors import JobNotFound
from .queries import Queries
from .records import Job, JobCheckpoint, JobLog, JobMetric, JobResource, JobStatus, MetricValue
from .store import Store


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
    """Everything recorded for one job, as read back."""

    job: Job
    metrics: tuple[JobMetric, ...] = ()
    logs: tuple[JobLog, ...] = ()
    statuses: tuple[JobStatus, ...] = ()
    checkpoints: tuple[JobCheckpoint, ...] = ()


@runtime_checkable
class RunRecorder(Protocol):
    job_id: str

    @property
    def queries(self) -> Queries | None:
        """The table's read API, for analyses that look across jobs; None without a table."""

    def open(self, job: Job) -> tuple[Job, bool]:
        """Create the job, or find it when resuming. Returns (job, created)."""

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

    def log(self, message: str | Mapping[str, Any], *, level: str = "INFO", exception: str | None = None) -> None: ...

    def checkpoint(self, checkpoint: JobCheckpoint) -> None: ...

    def resource(self, resource: JobResource) -> None: ...

    def results(self, results: Mapping[str, Any]) -> None: ...

    def recorded_metrics(self) -> list[JobMetric]:
        """This job's metrics recorded so far, by any attempt (a resume rebuilds its history)."""

    def read_back(self) -> RecordedRun | None:
        """Everything recorded for this job, or None for a recorder that keeps nothing."""


def _message_text(message: str | Mapping[str, Any]) -> str:
    return message if isinstance(message, str) else json.dumps(message, default=str, sort_keys=False)


class DynamoRecorder:
    """Records one job in the receipts table."""

    def __init__(self, table: TableRef, job_id: str, *, source: str = "trainer", updated_by: str | None = None):
        self.job_id = job_id
        self.store = Store(table)
        self._queries = Queries(table)
        self.source = source
        self.updated_by = updated_by
        self.clock = MonotonicClock()
        self._recorded: set[tuple[str, int | None, float | None]] | None = None

    def open(self, job: Job) -> tuple[Job, bool]:
        if job.job_id != self.job_id:
            raise ValueError(f"recorder is for job {self.job_id}, not {job.job_id}")
        created = self.store.create_job(job)
        return (job if created else self._queries.get_job(self.job_id)), created

    @property
    def queries(self) -> Queries:
        return self._queries

    def status(self, status: str, *, message: str | None = None, progress: float | None = None) -> None:
        self.store.set_job_status(
            self.job_id, status, message=message, progress=progress,
            updated_by=self.updated_by, updated_at=self.clock.now(),
        )

    def _already_recorded(self) -> set[tuple[str, int | None, float | None]]:
        if self._recorded is None:
            self._recorded = {
                (m.metric_name, m.step, m.epoch) for m in self._queries.iter_job_metrics(self.job_id)
            }
        return self._recorded

    def metrics(self, values, *, epoch=None, step=None, units=None) -> int:
        timestamp = self.clock.now()
        seen = self._already_recorded()
        fresh = [
            JobMetric(self.job_id, name, timestamp, value, (units or {}).get(name), step, epoch)
            for name, value in values.items()
            if (name, step, epoch) not in seen
        ]
        self.store.add_metrics(fresh)
        seen.update((m.metric_name, step, epoch) for m in fresh)
        return len(fresh)

    def log(self, message, *, level="INFO", exception=None) -> None:
        self.store.add_logs([JobLog(self.job_id, self.clock.now(), _message_text(message), level, self.source, exception)])

    def checkpoint(self, checkpoint: JobCheckpoint) -> None:
        self.store.add_checkpoint(checkpoint)

    def resource(self, resource: JobResource) -> None:
        self.store.add_resource(resource)

    def results(self, results: Mapping[str, Any]) -> None:
        self.store.update_job(self.job_id, results=dict(results))

    def recorded_metrics(self) -> list[JobMetric]:
        return list(self._queries.iter_job_metrics(self.job_id))

    def read_back(self) -> RecordedRun:
        q = self._queries
        return RecordedRun(q.get_job(self.job_id), tuple(q.iter_job_metrics(self.job_id)), tuple(q.iter_job_logs(self.job_id)),
                           tuple(q.status_history(self.job_id)), tuple(q.checkpoints(self.job_id)))


class MemoryRecorder:
    """In-memory stand-in with the same behaviour, for tests that do not need a table."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.clock = MonotonicClock()
        self.job: Job | None = None
        self.statuses: list[JobStatus] = []
        self.metric_records: list[JobMetric] = []
        self.logs: list[JobLog] = []
        self.checkpoints: list[JobCheckpoint] = []
        self.resources: list[JobResource] = []

    def open(self, job: Job) -> tuple[Job, bool]:
        if self.job is not None:
            return self.job, False
        self.job = job
        self.statuses.append(JobStatus(job.job_id, job.status, job.created_at, message="created"))
        return job, True

    def status(self, status, *, message=None, progress=None) -> None:
        if self.job is None:
            raise JobNotFound(self.job_id)
        self.statuses.append(JobStatus(self.job_id, status, self.clock.now(), progress, message))
        self.job = replace(self.job, status=status)

    def metrics(self, values, *, epoch=None, step=None, units=None) -> int:
        seen = {(m.metric_name, m.step, m.epoch) for m in self.metric_records}
        timestamp = self.clock.now()
        fresh = [
            JobMetric(self.job_id, n, timestamp, v, (units or {}).get(n), step, epoch)
            for n, v in values.items() if (n, step, epoch) not in seen
        ]
        self.metric_records.extend(fresh)
        return len(fresh)

    def log(self, message, *, level="INFO", exception=None) -> None:
        self.logs.append(JobLog(self.job_id, self.clock.now(), _message_text(message), level, "trainer", exception))

    def checkpoint(self, checkpoint: JobCheckpoint) -> None:
        self.checkpoints.append(checkpoint)

    def resource(self, resource: JobResource) -> None:
        self.resources.append(resource)

    def results(self, results) -> None:
        if self.job is None:
            raise JobNotFound(self.job_id)
        self.job = replace(self.job, results=dict(results))

    @property
    def queries(self) -> None:
        return None

    def recorded_metrics(self) -> list[JobMetric]:
        return list(self.metric_records)

    def read_back(self) -> RecordedRun | None:
        if self.job is None:
            return None
        return RecordedRun(self.job, tuple(self.metric_records), tuple(self.logs), tuple(self.statuses), tuple(self.checkpoints))


class NullRecorder:
    """Records nothing and reads back nothing: for the processes of a distributed run other
    than rank 0 (one process records a run)."""

    def __init__(self, job_id: str):
        self.job_id = job_id

    @property
    def queries(self) -> None:
        return None

    def open(self, job: Job) -> tuple[Job, bool]:
        return job, True

    def status(self, status: str, *, message: str | None = None, progress: float | None = None) -> None:
        return None

    def metrics(self, values, *, epoch=None, step=None, units=None) -> int:
        return 0

    def log(self, message, *, level="INFO", exception=None) -> None:
        return None

    def checkpoint(self, checkpoint: JobCheckpoint) -> None:
        return None

    def resource(self, resource: JobResource) -> None:
        return None

    def results(self, results: Mapping[str, Any]) -> None:
        return None

    def recorded_metrics(self) -> list[JobMetric]:
        return []

    def read_back(self) -> None:
        return None

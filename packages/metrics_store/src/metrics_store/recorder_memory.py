"""The recorders that keep records in memory or not at all (the owner ships the fakes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import JobLeased, JobNotFound
from .recorder import MonotonicClock, RecordedRun, current_attempt, message_text
from .records import (
    Job,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    JobStatus,
    checkpoint_record,
    log_items,
)


class MemoryRecorder:
    """In-memory stand-in with the same behaviour, for tests and code without a table."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.clock = MonotonicClock()
        self.job: Job | None = None
        self.statuses: list[JobStatus] = []
        self.metric_records: list[JobMetric] = []
        self.logs: list[JobLog] = []
        self.checkpoints: list[JobCheckpoint] = []
        self.resources: list[JobResource] = []

    @property
    def queries(self) -> None:
        return None

    def open(self, job: Job) -> tuple[Job, bool]:
        if self.job is not None:
            return self.job, False
        job.to_item()  # the same validation as the table (what the user's client can read)
        self.job = job
        self.statuses.append(JobStatus(job.job_id, job.status, job.created_at, message="created"))
        return job, True

    def _job(self) -> Job:
        if self.job is None:
            raise JobNotFound(self.job_id)
        return self.job

    def acquire(self, *, message: str | None = None) -> None:
        if self._job().status == "running":
            raise JobLeased(self.job_id, "this process", None)
        self.status("running", message=message)

    def restart(self, *, reason: str) -> None:
        self.job = replace(self._job(), restarted_at=self.clock.now())
        self.log({"type": "restart", "reason": reason}, level="WARNING")

    def status(self, status, *, message=None, progress=None) -> None:
        self.statuses.append(JobStatus(self.job_id, status, self.clock.now(), progress, message))
        self.job = replace(self._job(), status=status)

    def metrics(self, values, *, epoch=None, step=None, units=None) -> int:
        seen = {(m.metric_name, m.step, m.epoch) for m in self.recorded_metrics()}
        timestamp = self.clock.now()
        fresh = [JobMetric(self.job_id, n, timestamp, v, (units or {}).get(n), step, epoch)
                 for n, v in values.items() if (n, step, epoch) not in seen]
        for metric in fresh:
            metric.to_item()  # the same validation as the table (finite numbers...)
        self.metric_records.extend(fresh)
        return len(fresh)

    def log(self, message, *, level="INFO", exception=None) -> None:
        entry = JobLog(self.job_id, self.clock.now(), message_text(message), level, "trainer", exception)
        log_items(entry)
        self.logs.append(entry)

    def checkpoint(self, checkpoint: JobCheckpoint) -> None:
        checkpoint_record(checkpoint).to_item()
        self.checkpoints.append(checkpoint)

    def resource(self, resource: JobResource) -> None:
        resource.to_item()
        self.resources.append(resource)

    def results(self, results) -> None:
        self.job = replace(self._job(), results=dict(results))

    def health(self) -> str | None:
        return None

    @property
    def lease_lost(self) -> bool:
        return False

    def confirm_lease(self) -> None:
        return None

    def check_lease(self) -> None:
        return None

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> bool:
        return True

    def spool(self, path: Path) -> int:
        return 0

    def recorded_metrics(self) -> list[JobMetric]:
        return current_attempt(self.job, self.metric_records) if self.job else list(self.metric_records)

    def read_back(self) -> RecordedRun | None:
        if self.job is None:
            return None
        return RecordedRun(self.job, tuple(self.recorded_metrics()), tuple(self.logs), tuple(self.statuses), tuple(self.checkpoints))


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

    def acquire(self, *, message: str | None = None) -> None:
        return None

    def restart(self, *, reason: str) -> None:
        return None

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

    def health(self) -> str | None:
        return None

    @property
    def lease_lost(self) -> bool:
        return False

    def confirm_lease(self) -> None:
        return None

    def check_lease(self) -> None:
        return None

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> bool:
        return True

    def spool(self, path: Path) -> int:
        return 0

    def recorded_metrics(self) -> list[JobMetric]:
        return []

    def read_back(self) -> None:
        return None

"""The recorders that keep records in memory or not at all (the owner ships the fakes):

- `MemoryRecorder`: one job's records, with the behaviour and validation of the table's;
- `MemoryJobs`: many jobs in one memory, for code that runs jobs which start other jobs (a
  sweep, a review): it makes their recorders (`recorder_for`) and reads them back as
  `Queries` does (`JobReader`), leases included, so two workers of a sweep can be tested
  without a table;
- `NullRecorder`: records nothing (the ranks of a distributed run other than the first)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import AmbiguousJob, JobLeased, JobNotFound
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


@dataclass
class _JobMemory:
    """Everything recorded for one job."""

    job: Job | None = None
    statuses: list[JobStatus] = field(default_factory=list)
    metrics: list[JobMetric] = field(default_factory=list)
    logs: list[JobLog] = field(default_factory=list)
    checkpoints: list[JobCheckpoint] = field(default_factory=list)
    resources: list[JobResource] = field(default_factory=list)
    holder: object | None = None  # the recorder whose lease is live


class MemoryRecorder:
    """In-memory stand-in with the same behaviour, for tests and code without a table. Alone it
    keeps one job; made by `MemoryJobs.recorder_for`, it shares that memory with every other
    recorder (and reader) of it."""

    def __init__(self, job_id: str, *, memory: _JobMemory | None = None, source: str = "trainer"):
        self.job_id, self.source = job_id, source
        self.clock = MonotonicClock()
        self._memory = memory or _JobMemory()

    @property
    def job(self) -> Job | None:
        return self._memory.job

    @job.setter
    def job(self, job: Job | None) -> None:
        self._memory.job = job

    @property
    def statuses(self) -> list[JobStatus]:
        return self._memory.statuses

    @property
    def metric_records(self) -> list[JobMetric]:
        return self._memory.metrics

    @property
    def logs(self) -> list[JobLog]:
        return self._memory.logs

    @property
    def checkpoints(self) -> list[JobCheckpoint]:
        return self._memory.checkpoints

    @property
    def resources(self) -> list[JobResource]:
        return self._memory.resources

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
        """A running job's lease is live (in memory, a lease never goes stale): refused."""
        if self._job().status == "running":
            raise JobLeased(
                self.job_id, "this process" if self._memory.holder in (None, self) else "another worker", None
            )
        self._memory.holder = self
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
        fresh = [
            JobMetric(self.job_id, n, timestamp, v, (units or {}).get(n), step, epoch)
            for n, v in values.items()
            if (n, step, epoch) not in seen
        ]
        for metric in fresh:
            metric.to_item()  # the same validation as the table (finite numbers...)
        self.metric_records.extend(fresh)
        return len(fresh)

    def log(self, message, *, level="INFO", exception=None) -> None:
        entry = JobLog(self.job_id, self.clock.now(), message_text(message), level, self.source, exception)
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
        if self._memory.holder is self:
            self._memory.holder = None  # the lease ends with the process that held it
        return True

    def spool(self, path: Path) -> int:
        return 0

    def recorded_metrics(self) -> list[JobMetric]:
        return current_attempt(self.job, self.metric_records) if self.job else list(self.metric_records)

    def read_back(self) -> RecordedRun | None:
        if self.job is None:
            return None
        return RecordedRun(
            self.job, tuple(self.recorded_metrics()), tuple(self.logs), tuple(self.statuses), tuple(self.checkpoints)
        )


class MemoryJobs:
    """Many jobs in memory: `recorder_for(job_id)` makes a job's recorder (as `DynamoRecorder`
    would on a table) and the reads are `Queries`' (`JobReader`), over the same records."""

    def __init__(self) -> None:
        self._jobs: dict[str, _JobMemory] = {}

    def recorder_for(self, job_id: str, *, source: str = "trainer") -> MemoryRecorder:
        return MemoryRecorder(job_id, memory=self._jobs.setdefault(job_id, _JobMemory()), source=source)

    def __call__(self, job_id: str, *, source: str = "trainer") -> MemoryRecorder:
        return self.recorder_for(job_id, source=source)

    def _all(self) -> list[Job]:
        return [m.job for m in self._jobs.values() if m.job is not None]

    def get_job(self, job_id: str) -> Job:
        memory = self._jobs.get(job_id)
        if memory is None or memory.job is None:
            raise JobNotFound(job_id)
        return memory.job

    def find_job(self, job_ref: str) -> Job:
        """By id, name or unique id prefix (8+ characters), refusing ambiguity as `Queries` does."""
        memory = self._jobs.get(job_ref)
        if memory is not None and memory.job is not None:
            return memory.job
        by_name = [j for j in self._all() if j.name == job_ref]
        by_prefix = [j for j in self._all() if len(job_ref) >= 8 and j.job_id.startswith(job_ref)]
        for by, matches in (("name", by_name), ("id prefix", by_prefix)):
            if len(matches) > 1:
                raise AmbiguousJob(job_ref, by, matches)
            if matches:
                return matches[0]
        raise JobNotFound(job_ref)

    def jobs_by_parent(self, parent_job_id: str) -> list[Job]:
        return sorted(
            (j for j in self._all() if j.parent_job_id == parent_job_id), key=lambda j: (j.created_at, j.job_id)
        )

    def iter_job_metrics(self, job_id: str, metric_name: str | None = None) -> Iterator[JobMetric]:
        memory = self._jobs.get(job_id)
        return iter([m for m in (memory.metrics if memory else []) if metric_name in (None, m.metric_name)])

    def iter_job_logs(self, job_id: str) -> Iterator[JobLog]:
        memory = self._jobs.get(job_id)
        return iter(list(memory.logs) if memory else [])

    def latest_status(self, job_id: str) -> JobStatus | None:
        memory = self._jobs.get(job_id)
        return memory.statuses[-1] if memory and memory.statuses else None


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

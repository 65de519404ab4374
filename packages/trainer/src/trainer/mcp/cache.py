"""The server's reads of the table: `Queries`, without reading the same thing twice.

- A `trainer fit` job that `succeeded` or was `cancelled` never changes again (docs/runs.md,
  statuses), so its metrics, logs, statuses and checkpoints are read once per server; every other
  job's are read again at each call (a finished review's logs and results still change: its
  suggestions are recorded on it later). A job's status is learnt from the job items the domain
  code reads anyway (`find_job`, listings), before its records, so a job seen running and then
  finished is read fresh once more.
- Within one tool call (`call()`), a job item read by a listing is not read again by id: the
  call sees the table as its listing found it, as the CLI does a moment apart.

The answers are the ones `Queries` gives: only repeated reads are saved."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from metrics_store import Job, JobCheckpoint, JobLog, JobMetric, JobStatus, Page, Queries, TableRef
from metrics_store.records import FINAL_JOB_STATUSES

FINAL_STATUSES = frozenset(FINAL_JOB_STATUSES)


class CachedQueries(Queries):
    def __init__(self, table: TableRef):
        super().__init__(table)
        self._final: set[str] = set()
        self._memo: dict[tuple, list[Any]] = {}
        self._call = threading.local()

    @contextmanager
    def call(self) -> Iterator[None]:
        """One tool call, in this thread: a job item it listed is not read again by id."""
        self._call.listed = {}
        try:
            yield
        finally:
            self._call.listed = None

    def _note(self, job: Job) -> Job:
        if job.status in FINAL_STATUSES and job.config.kind == "fit":
            self._final.add(job.job_id)
        else:
            self._final.discard(job.job_id)
        listed = getattr(self._call, "listed", None)
        if listed is not None:
            listed[job.job_id] = job
        return job

    def _remembered(self, key: tuple, job_id: str, read: Callable[[], Any]) -> list[Any]:
        if job_id not in self._final:
            return list(read())
        if key not in self._memo:
            self._memo[key] = list(read())
        return self._memo[key]

    # --- job items: where finality is learnt ------------------------------------------

    def get_job(self, job_id: str) -> Job:
        listed = getattr(self._call, "listed", None)
        if listed is not None and job_id in listed:
            return listed[job_id]
        return self._note(super().get_job(job_id))

    def iter_all_jobs(self) -> Iterator[Job]:
        return (self._note(job) for job in super().iter_all_jobs())

    def iter_jobs_by_status(self, status: str) -> Iterator[Job]:
        return (self._note(job) for job in super().iter_jobs_by_status(status))

    def jobs_by_parent(self, parent_job_id: str) -> list[Job]:
        return [self._note(job) for job in super().jobs_by_parent(parent_job_id)]

    def jobs_by_name(self, name: str, *, limit: int | None = 50, token: str | None = None) -> Page[Job]:
        found = super().jobs_by_name(name, limit=limit, token=token)
        for job in found.items:
            self._note(job)
        return found

    # --- a job's own records: remembered once it is final ------------------------------

    def iter_job_metrics(self, job_id: str, metric_name: str | None = None) -> Iterator[JobMetric]:
        return iter(self._remembered(("metrics", job_id, metric_name), job_id, lambda: super(CachedQueries, self).iter_job_metrics(job_id, metric_name)))

    def iter_job_logs(self, job_id: str) -> Iterator[JobLog]:
        return iter(self._remembered(("logs", job_id), job_id, lambda: super(CachedQueries, self).iter_job_logs(job_id)))

    def status_history(self, job_id: str) -> list[JobStatus]:
        return list(self._remembered(("statuses", job_id), job_id, lambda: super(CachedQueries, self).status_history(job_id)))

    def checkpoints(self, job_id: str) -> list[JobCheckpoint]:
        return list(self._remembered(("checkpoints", job_id), job_id, lambda: super(CachedQueries, self).checkpoints(job_id)))

    def latest_status(self, job_id: str) -> JobStatus | None:
        found = self._remembered(("latest_status", job_id), job_id, lambda: [super(CachedQueries, self).latest_status(job_id)])
        return found[0]

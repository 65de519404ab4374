"""A sweep's trials as the table records them, and the optuna study rebuilt from them.

The table is the only record of a sweep: every trial is a child job of the sweep job
(`parent_job_id`, tags `kind` and `sweep_trial`), its config is its recorded request, its
value its best val_f1, its intermediate values its val_f1 at each evaluation. A worker
rebuilds an in-memory optuna study from these before every trial it starts (`build_study`),
so workers on other GPUs, and a resumed sweep, see every trial that any of them finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from metrics_store import (
    STALE_AFTER_SECONDS,
    Job,
    JobMetric,
    JobReader,
    current_attempt,
    heartbeat_age,
)
from trainer.jobs.children import ChildJob
from trainer.sweep.config import SweepConfig, epoch_step
from trainer.sweep.space import SearchSpace

TRIAL, REPEAT = "sweep_trial", "sweep_repeat"
DONE_STATES = ("complete", "pruned", "failed", "cancelled")
"""A trial in one of these counts and is never run again."""
RESUMABLE_STATES = ("interrupted", "stale")
"""Stopped, or its process died (a running or pending job whose heartbeat went stale): a worker resumes it."""


def trial_child(sweep_job_id: str, number: int) -> ChildJob:
    return ChildJob.of(sweep_job_id, f"trial-{number:04d}", kind=TRIAL, sweep_trial=str(number))


def repeat_child(sweep_job_id: str, best: TrialRecord, repeat: int) -> ChildJob:
    return ChildJob.of(
        sweep_job_id,
        f"repeat-{best.number:04d}-{repeat}",
        kind=REPEAT,
        sweep_repeat=str(repeat),
        repeat_of=best.job.job_id,
    )


@dataclass(frozen=True)
class TrialRecord:
    """One child job of a sweep, read back."""

    job: Job
    kind: str  # TRIAL or REPEAT
    number: int | None  # the trial's number (a repeat: the number of the trial it repeats)
    state: str  # complete, pruned, failed, cancelled, running, pending, interrupted, stale
    params: Mapping[str, Any]
    value: float | None  # best val_f1 over its evaluations
    intermediate: Mapping[int, float] = field(default_factory=dict)  # epoch_step -> val_f1

    @property
    def trial_number(self) -> int:
        """The number of a trial (`trials_only` keeps only records that have one)."""
        assert self.number is not None, f"{self.job.job_id} records no trial number"
        return self.number

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES

    @property
    def seed(self) -> int | None:
        return (self.request.get("train") or {}).get("seed")

    @property
    def request(self) -> dict[str, Any]:
        return dict(self.job.config.request)

    @property
    def pruned_at(self) -> dict[str, Any] | None:
        trial = self.job.outcome.get("trial")
        return dict(trial) if self.state == "pruned" and isinstance(trial, Mapping) else None


def trial_state(job: Job, now: datetime | None = None, stale_after_s: float = STALE_AFTER_SECONDS) -> str:
    """What a child job's status means for the sweep."""
    trial = job.outcome.get("trial")
    if job.status == "succeeded":
        return "complete"
    if job.status == "cancelled":
        return "pruned" if isinstance(trial, Mapping) and trial.get("state") == "pruned" else "cancelled"
    if job.status in ("running", "pending"):
        age = heartbeat_age(job, now)
        return "stale" if age is None or age > stale_after_s else job.status
    return job.status  # failed, interrupted


def val_f1_by_epoch(job: Job, metrics: Iterable[JobMetric]) -> dict[int, float]:
    values: dict[int, float] = {}
    for metric in sorted(current_attempt(job, metrics), key=lambda m: m.timestamp):
        if metric.metric_name == "val_f1" and metric.epoch is not None and isinstance(metric.value, int | float):
            values[epoch_step(metric.epoch)] = float(metric.value)
    return values


def trial_record(
    job: Job, space: SearchSpace, metrics: Iterable[JobMetric], now: datetime | None = None
) -> TrialRecord:
    tags = job.tags or {}
    kind = REPEAT if tags.get("kind") == REPEAT else TRIAL
    intermediate = val_f1_by_epoch(job, metrics)
    recorded = job.outcome.best_f1
    value = max(intermediate.values()) if intermediate else recorded
    number = tags.get("sweep_trial")
    request = dict(job.config.request)
    return TrialRecord(
        job,
        kind,
        int(number) if number is not None and str(number).isdigit() else None,
        trial_state(job, now),
        space.values_of(request) if request else {},
        value,
        intermediate,
    )


class TrialReader:
    """Reads a sweep's children; a finished trial's metrics are read once per worker."""

    def __init__(self, queries: JobReader, sweep_job_id: str, space: SearchSpace):
        self.queries, self.sweep_job_id, self.space = queries, sweep_job_id, space
        self._finished: dict[str, TrialRecord] = {}

    def read(self, now: datetime | None = None) -> list[TrialRecord]:
        records = []
        for job in self.queries.jobs_by_parent(self.sweep_job_id):
            known = self._finished.get(job.job_id)
            if known is not None and known.job.status == job.status:
                records.append(known)
                continue
            record = trial_record(job, self.space, self.queries.iter_job_metrics(job.job_id, "val_f1"), now)
            if record.done:
                self._finished[job.job_id] = record
            records.append(record)
        return records


def trials_only(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    return sorted((r for r in records if r.kind == TRIAL and r.number is not None), key=lambda r: r.trial_number)


def frozen_trial(record: TrialRecord, space: SearchSpace) -> Any:
    """The optuna trial a recorded one stands for (COMPLETE, PRUNED, FAIL or RUNNING)."""
    from optuna.trial import TrialState, create_trial

    distributions = space.distributions()
    params = {k: v for k, v in record.params.items() if k in distributions and space.param(k).contains(v)}
    distributions = {k: distributions[k] for k in params}
    attrs = {"job_id": record.job.job_id, "number": record.number}
    if record.state == "complete" and record.value is not None:
        return create_trial(
            state=TrialState.COMPLETE,
            value=record.value,
            params=params,
            distributions=distributions,
            intermediate_values=dict(record.intermediate),
            user_attrs=attrs,
        )
    if record.state == "pruned":
        return create_trial(
            state=TrialState.PRUNED,
            params=params,
            distributions=distributions,
            intermediate_values=dict(record.intermediate),
            user_attrs=attrs,
        )
    if record.done:
        return create_trial(state=TrialState.FAIL, params=params, distributions=distributions, user_attrs=attrs)
    return create_trial(state=TrialState.RUNNING, params=params, distributions=distributions, user_attrs=attrs)


def build_study(config: SweepConfig, space: SearchSpace, trials: Iterable[TrialRecord], number: int) -> Any:
    """An in-memory study holding the recorded trials, whose sampler will propose trial `number`.
    Trials that other workers run now are in it as RUNNING (TPE's constant liar steers away from them)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=config.sampler_for(number), pruner=config.pruner_for())
    for record in trials_only(trials):
        if record.number != number:
            study.add_trial(frozen_trial(record, space))
    return study

"""A run as plain data: the job, its evaluations, dataset metrics, logs, statuses and
checkpoints. Loading is the only I/O; every analysis after it is a pure function of `RunData`,
so the trainer (which holds the same records in memory) and tests need no table."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metrics_store import (
    Job,
    JobCheckpoint,
    JobConfig,
    JobLog,
    JobMetric,
    JobResults,
    JobStatus,
    Queries,
    RunConfigLog,
    RunSummary,
    SnapshotLineage,
    current_attempt,
    parse_structured,
    per_label_metrics,
)
from trainer.analysis.values import number
from trainer.jobs.spool import sync_pending, waiting

PER_LABEL_FIELDS = ("f1", "precision", "recall", "support")


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the model: its scalar metrics and per-label figures."""

    epoch: float | None
    step: int | None
    values: Mapping[str, float]
    per_label: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)  # None: not recorded
    timestamp: str = ""

    def get(self, name: str) -> float | None:
        return self.values.get(name)


def _label_figures(raw: Mapping[str, Any]) -> dict[str, float | None]:
    figures = {k: number(raw.get(k)) for k in PER_LABEL_FIELDS}
    if figures["support"] is not None:
        figures["support"] = int(figures["support"])
    return figures


def _sort_key(evaluation: Evaluation) -> tuple[float, float]:
    return (
        evaluation.epoch if evaluation.epoch is not None else -1.0,
        evaluation.step if evaluation.step is not None else -1,
    )


STEP_SERIES_PREFIX = "step_"
"""Metrics recorded at every logging step (`step_train_loss`, `step_learning_rate`), not at evaluations."""


@dataclass(frozen=True)
class StepPoint:
    """One logging step: train loss and learning rate between evaluations."""

    step: int
    epoch: float | None
    values: Mapping[str, float]


def step_points(metrics: Iterable[JobMetric]) -> list[StepPoint]:
    by_step: dict[int, dict[str, Any]] = {}
    for metric in metrics:
        if (
            metric.metric_name.startswith(STEP_SERIES_PREFIX)
            and metric.step is not None
            and number(metric.value) is not None
        ):
            row = by_step.setdefault(metric.step, {"epoch": metric.epoch, "values": {}})
            row["values"][metric.metric_name.removeprefix(STEP_SERIES_PREFIX)] = number(metric.value)
    return [StepPoint(step, row["epoch"], row["values"]) for step, row in sorted(by_step.items())]


def evaluations_from_metrics(metrics: Iterable[JobMetric]) -> tuple[list[Evaluation], dict[str, Any]]:
    """Group JobMetrics into evaluations (same step, or same epoch when rows have no step);
    rows with neither are the dataset metrics written once at the start; logging-step series
    (`step_*`) are not evaluations (see `step_points`)."""
    groups: dict[tuple, list[JobMetric]] = {}
    dataset: dict[str, Any] = {}
    for metric in sorted(metrics, key=lambda m: m.timestamp):
        if metric.metric_name.startswith(STEP_SERIES_PREFIX):
            continue
        if metric.epoch is None and metric.step is None:
            dataset[metric.metric_name] = metric.value
            continue
        key = ("step", metric.step) if metric.step is not None else ("epoch", metric.epoch)
        groups.setdefault(key, []).append(metric)
    step_of_epoch = {
        rows[0].epoch: key for key, rows in groups.items() if key[0] == "step" and rows[0].epoch is not None
    }
    for key in [k for k in groups if k[0] == "epoch" and k[1] in step_of_epoch]:
        groups[step_of_epoch[key[1]]].extend(
            groups.pop(key)
        )  # legacy rows without a step join their epoch's evaluation
    evaluations = []
    for rows in groups.values():
        epoch = next((r.epoch for r in rows if r.epoch is not None), None)
        step = next((r.step for r in rows if r.step is not None), None)
        scalars = {r.metric_name: number(r.value) for r in rows if not r.metric_name.startswith("label_")}
        labels = {label: _label_figures(fig) for (_, label), fig in per_label_metrics(rows).items()}
        evaluations.append(
            Evaluation(
                epoch=float(epoch) if epoch is not None else None,
                step=int(step) if step is not None else None,
                values={k: v for k, v in scalars.items() if v is not None},
                per_label=labels,
                timestamp=min(r.timestamp for r in rows),
            )
        )
    return sorted(evaluations, key=_sort_key), dataset


def evaluations_from_summary(summary: RunSummary) -> list[Evaluation]:
    """Evaluations rebuilt from a `run_summary` log, for runs whose JobMetrics lack epochs."""
    evaluations = [
        Evaluation(row.epoch, row.step, dict(row.values), {k: _label_figures(v) for k, v in row.per_label.items()})
        for row in summary.epoch_rows
    ]
    return sorted(evaluations, key=_sort_key)


@dataclass(frozen=True)
class RunData:
    """Everything recorded about one run, read-only."""

    job: Job
    evaluations: tuple[Evaluation, ...] = ()
    dataset_metrics: Mapping[str, Any] = field(default_factory=dict)
    logs: tuple[JobLog, ...] = ()
    statuses: tuple[JobStatus, ...] = ()
    checkpoints: tuple[JobCheckpoint, ...] = ()
    steps: tuple[StepPoint, ...] = ()

    @classmethod
    def from_records(
        cls,
        job: Job,
        metrics: Iterable[JobMetric],
        logs: Iterable[JobLog] = (),
        statuses: Iterable[JobStatus] = (),
        checkpoints: Iterable[JobCheckpoint] = (),
    ) -> RunData:
        metrics = current_attempt(job, metrics)  # after a --restart, the earlier attempt's records are superseded
        evaluations, dataset = evaluations_from_metrics(metrics)
        logs = tuple(sorted(logs, key=lambda log: log.timestamp))
        if not evaluations:
            summaries = [
                p for p in (parse_structured(log.message) for log in logs) if p and p.get("type") == "run_summary"
            ]
            if summaries:
                evaluations = evaluations_from_summary(RunSummary.parse(summaries[-1]))
        return cls(
            job,
            tuple(evaluations),
            dataset,
            logs,
            tuple(sorted(statuses, key=lambda s: s.updated_at)),
            tuple(sorted(checkpoints, key=lambda c: c.timestamp)),
            tuple(step_points(metrics)),
        )

    # --- what was asked ---------------------------------------------------------------

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def job_config(self) -> JobConfig:
        """The job's config as its writer meant it (ours, or the previous trainer's, translated)."""
        return self.job.config

    @property
    def results(self) -> JobResults:
        return self.job.outcome

    @property
    def config(self) -> dict[str, Any]:
        """What the run was asked for, in `trainer fit`'s request shape (`model.*`, `train.*`)."""
        return dict(self.job_config.request)

    @property
    def train_config(self) -> dict[str, Any]:
        return self.job_config.part("train")

    @property
    def pretraining(self) -> dict[str, Any] | None:
        """The pretraining of the model folder a fine-tune started from, as its job recorded it
        (`trainer.model.pretrained.PretrainingRef`: job, corpus, steps...); None: not pretrained."""
        found = self.job_config.extra.get("pretraining")
        return dict(found) if isinstance(found, Mapping) and found else None

    @property
    def corpus(self) -> dict[str, Any] | None:
        """The corpus a `pretrain` job read (id, content hash, the val split it left out); None otherwise."""
        found = self.job_config.extra.get("corpus") if self.job_config.kind == "pretrain" else None
        return dict(found) if isinstance(found, Mapping) and found else None

    @property
    def snapshot_lineage(self) -> SnapshotLineage:
        lineage = self.job_config.snapshot or SnapshotLineage()
        if not lineage.id and (self.job.tags or {}).get("snapshot_id"):
            lineage = SnapshotLineage(id=(self.job.tags or {})["snapshot_id"])
        return lineage

    @property
    def snapshot_id(self) -> str | None:
        return self.snapshot_lineage.id

    @property
    def model(self) -> str | None:
        return model_of(self.job)

    @property
    def label_list(self) -> list[str]:
        """The snapshot's entity labels, else the labels the job recorded, else every label an
        evaluation reported."""
        if self.snapshot_lineage.label_list:
            return list(self.snapshot_lineage.label_list)
        configs = self.structured_logs("run_config")
        recorded = RunConfigLog.parse(configs[0]).label_list if configs else ()
        return list(recorded) or sorted({label for e in self.evaluations for label in e.per_label})

    @property
    def checkpoint_metric(self) -> str:
        return str(self.train_config.get("checkpoint_metric") or "val_f1")

    @property
    def greater_is_better(self) -> bool:
        return not self.checkpoint_metric.endswith("loss")

    # --- what happened ------------------------------------------------------------------

    def structured_logs(self, log_type: str) -> list[dict[str, Any]]:
        return [p for p in (parse_structured(log.message) for log in self.logs) if p and p.get("type") == log_type]

    @property
    def run_summary(self) -> RunSummary | None:
        found = self.structured_logs("run_summary")
        return RunSummary.parse(found[-1]) if found else None

    def series(self, name: str) -> list[tuple[Evaluation, float]]:
        return [(e, e.values[name]) for e in self.evaluations if name in e.values]

    def best(self, metric: str | None = None) -> Evaluation | None:
        """The evaluation with the best value of `metric` (default: the checkpoint metric);
        the earliest wins a tie, as the Trainer's best checkpoint does."""
        metric = metric or self.checkpoint_metric
        scored = self.series(metric)
        if not scored and metric != "val_f1":
            metric, scored = "val_f1", self.series("val_f1")
        if not scored:
            return None
        best_value = (min if metric.endswith("loss") else max)(v for _, v in scored)
        return next(e for e, v in scored if v == best_value)

    @property
    def best_metric_name(self) -> str:
        """The metric `best()` ranks by: the checkpoint metric when recorded, else val_f1."""
        return self.checkpoint_metric if self.series(self.checkpoint_metric) else "val_f1"

    @property
    def last(self) -> Evaluation | None:
        return self.evaluations[-1] if self.evaluations else None

    @property
    def best_f1(self) -> float | None:
        """The highest val_f1 over all evaluations (not the last one), else the recorded result."""
        f1s = [v for _, v in self.series("val_f1")]
        return max(f1s) if f1s else self.results.best_f1

    def at_epoch(self, epoch: float) -> Evaluation | None:
        """The evaluation at `epoch`, or the nearest one when none sits exactly there."""
        timed = [e for e in self.evaluations if e.epoch is not None]
        if not timed:
            return None
        return min(timed, key=lambda e: (abs((e.epoch or 0.0) - epoch), e.epoch or 0.0))

    @property
    def planned_schedule(self) -> dict[str, Any]:
        """The optimiser schedule the trainer recorded in `run_config` (empty for older runs)."""
        configs = self.structured_logs("run_config")
        return dict(RunConfigLog.parse(configs[0]).schedule) if configs else {}

    @property
    def steps_per_epoch(self) -> float | None:
        if self.planned_schedule.get("steps_per_epoch"):
            return float(self.planned_schedule["steps_per_epoch"])
        ratios = [e.step / e.epoch for e in self.evaluations if e.step and e.epoch]
        return statistics.median(ratios) if ratios else None

    @property
    def latest_progress(self) -> float | None:
        for status in reversed(self.statuses):
            if status.progress is not None:
                return float(status.progress)
        return None


def model_of(job: Job) -> str | None:
    """What a job trained from (a hub id, a folder, `tiny`; the previous trainer's `layoutlm-v1`),
    else the model source its tags name."""
    return job.config.model or (job.tags or {}).get("model")


def load_run(queries: Queries, job_ref: str, *, sync: bool = True) -> RunData:
    """A job by id, unique id prefix or name, with everything recorded about it (records its
    run could not write, waiting in its folder on this machine, are written first: trainer.jobs.spool;
    `sync=False` reads the table as it is and writes nothing, as the read-only MCP server must)."""

    job = queries.find_job(job_ref)
    if sync and waiting(job) is not None:
        sync_pending(queries.table, job)
        job = queries.get_job(job.job_id)
    return RunData.from_records(
        job,
        queries.iter_job_metrics(job.job_id),
        queries.iter_job_logs(job.job_id),
        queries.status_history(job.job_id),
        queries.checkpoints(job.job_id),
    )


def iter_jobs(queries: Queries, statuses: Iterable[str] | None = None) -> Iterable[Job]:
    if not statuses:
        return queries.iter_all_jobs()
    return (job for status in statuses for job in queries.iter_jobs_by_status(status))


def metric_by_job(queries: Queries, metric_name: str) -> dict[str, list[JobMetric]]:
    """One metric for every job (one GSI2 walk), grouped by job id."""
    grouped: dict[str, list[JobMetric]] = {}
    for metric in queries.metric_by_job(metric_name, limit=None).items:
        grouped.setdefault(metric.job_id, []).append(metric)
    return grouped

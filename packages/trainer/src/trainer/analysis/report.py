"""run_report.json: one run's diagnoses with their evidence, for people and agents.

`write_run_report(run_data, path)` is what the trainer calls when a run ends (the plots go
beside the report); `trainer runs report JOB` builds the same report on demand, for a
running job too."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from metrics_store import Queries, RunRecorder
from trainer.analysis.compare import run_summary
from trainer.analysis.data_needs import TRAIN_SUPPORT, VAL_SUPPORT_PROXY, LabelPoint
from trainer.analysis.diagnose import Thresholds, diagnose_run, label_rows
from trainer.analysis.lineage import SnapshotInfo, resolve_snapshot
from trainer.analysis.plots import write_plots
from trainer.analysis.runs import RunData, metric_by_job
from trainer.analysis.values import number
from trainer.analysis.views import epoch_rows, stamped, throughput

REPORT_NAME = "run_report.json"


def _evaluation_key(step: int | None, epoch: float | None) -> tuple:
    return ("step", step) if step is not None else ("epoch", epoch)


def label_points_across_runs(
    queries: Queries,
    labels: Iterable[str],
    *,
    exclude_job: str | None = None,
    cache: dict[tuple, SnapshotInfo] | None = None,
) -> list[LabelPoint]:
    """(train support, F1) of each label at each recorded run's best val_f1 evaluation.

    One GSI2 query for val_f1 and a few per label cover every run; train support comes from
    each run's snapshot manifest when it can be opened, else the label's val support."""
    cache = {} if cache is None else cache
    best_key: dict[str, tuple] = {}
    for job_id, metrics in metric_by_job(queries, "val_f1").items():
        scored = [m for m in metrics if number(m.value) is not None]
        if scored and job_id != exclude_job:
            top = max(scored, key=lambda m: number(m.value) or 0.0)
            best_key[job_id] = _evaluation_key(top.step, top.epoch)
    if not best_key:
        return []
    jobs = {job.job_id: job for job in queries.iter_all_jobs() if job.job_id in best_key}
    train_support = {
        job_id: resolve_snapshot(RunData(job), queries, cache=cache).train_entity_words()
        for job_id, job in jobs.items()
    }
    points = []
    for label in labels:
        figures: dict[str, dict[str, Any]] = {}
        for name, field in (
            (f"label_{label}", None),
            (f"label_{label}_f1", "f1"),
            (f"label_{label}_support", "support"),
        ):
            for job_id, metrics in metric_by_job(queries, name).items():
                for metric in metrics:
                    if job_id not in jobs or _evaluation_key(metric.step, metric.epoch) != best_key[job_id]:
                        continue
                    if field is None and isinstance(metric.value, dict):
                        figures.setdefault(job_id, {}).update(metric.value)
                    elif field is not None:
                        figures.setdefault(job_id, {})[field] = metric.value
        for job_id, fig in figures.items():
            f1, support = number(fig.get("f1")), number(fig.get("support"))
            counts = train_support.get(job_id)
            if f1 is None:
                continue
            if counts is not None:
                points.append(LabelPoint(job_id, label, f1, float(counts.get(label, 0)), TRAIN_SUPPORT))
            elif support is not None:
                points.append(LabelPoint(job_id, label, f1, support, VAL_SUPPORT_PROXY))
    return points


def build_run_report(
    run: RunData,
    *,
    snapshot: SnapshotInfo | None = None,
    pool: Iterable[LabelPoint] = (),
    thresholds: Thresholds = Thresholds(),
) -> dict[str, Any]:
    """The report as a dict following docs/schemas/run_report.json."""
    train_support = snapshot.train_entity_words() if snapshot is not None else None
    diagnoses = diagnose_run(run, pool=list(pool), train_support=train_support, thresholds=thresholds)
    best = run.best()
    findings = [
        d["explanation"]
        for d in diagnoses
        if d["verdict"] is True or (d["name"] == "best_vs_last" and d["verdict"] == "last_worse")
    ]
    return stamped(
        "run_report",
        {
            "run": run_summary(run),
            "config": run.config,
            "snapshot": snapshot.to_dict() if snapshot is not None else None,
            "support_source": TRAIN_SUPPORT if train_support is not None else VAL_SUPPORT_PROXY,
            "best": {
                "metric": run.best_metric_name,
                "epoch": best.epoch if best else None,
                "step": best.step if best else None,
                "value": best.values.get(run.best_metric_name) if best else None,
                "best_f1": run.best_f1,
                "labels": label_rows(best),
            },
            "last": {"epoch": run.last.epoch, "step": run.last.step, "metrics": dict(run.last.values)}
            if run.last
            else None,
            "results": run.job.results or {},
            "throughput": throughput(run),
            "findings": findings,
            "diagnoses": diagnoses,
            "epochs": epoch_rows(run),
            "plots": [],
        },
    )


def write_run_report(
    run_data: RunData,
    path: str | Path,
    *,
    queries: Queries | None = None,
    plots: bool = True,
    thresholds: Thresholds = Thresholds(),
) -> dict[str, Any]:
    """Write run_report.json at `path` and, with `plots`, the PNGs beside it; return the report.

    With `queries`, the data-needs ranking learns from every run on record and the snapshot
    is also looked up in the table; without, it uses this run and its recorded snapshot uri."""
    path = Path(path)
    cache: dict[tuple, SnapshotInfo] = {}
    snapshot = resolve_snapshot(run_data, queries, cache=cache)
    pool = (
        label_points_across_runs(queries, run_data.label_list, exclude_job=run_data.job_id, cache=cache)
        if queries
        else []
    )
    report = build_run_report(run_data, snapshot=snapshot, pool=pool, thresholds=thresholds)
    if plots:
        report["plots"] = [p.name for p in write_plots(run_data, path.parent, thresholds)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return report


def write_run_report_from_recorder(
    recorder: RunRecorder, out_dir: str | Path, *, plots: bool = True
) -> dict[str, Any] | None:
    """For `fit.cleanup`: the report of the recorder's job, from what it reads back (the
    table, or memory); None for a recorder that keeps nothing (other ranks)."""
    recorded = recorder.read_back()
    if recorded is None:
        return None
    run = RunData.from_records(recorded.job, recorded.metrics, recorded.logs, recorded.statuses, recorded.checkpoints)
    return write_run_report(run, Path(out_dir) / REPORT_NAME, queries=recorder.queries, plots=plots)

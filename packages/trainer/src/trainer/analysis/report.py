"""run_report.json: one run's diagnoses with their evidence, for people and agents.

`write_run_report(run_data, path)` is what the trainer calls when a run ends (the plots go
beside the report); `trainer runs report JOB` builds the same report on demand, for a
running job too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metrics_store import Queries, RunRecorder

from .compare import run_summary
from .data_needs import TRAIN_SUPPORT, VAL_SUPPORT_PROXY, CurveSeries
from .diagnose import Thresholds, diagnose_run, label_rows
from .lineage import SnapshotInfo, resolve_snapshot
from .runs import RunData
from .views import epoch_rows, stamped, throughput

REPORT_NAME = "run_report.json"


def learning_curves(queries: Queries | None, run: RunData, snapshot: SnapshotInfo,
                    cache: dict[tuple, SnapshotInfo] | None = None) -> tuple[CurveSeries | None, str | None]:
    """The runs that measure this run's per-label learning curves (curve_evidence.py), or why none do."""
    if queries is None:
        return None, "no table to look for learning-curve runs in (the report was written without one)"
    from .curve_evidence import find_series

    return find_series(queries, run, snapshot, cache=cache)


def build_run_report(run: RunData, *, snapshot: SnapshotInfo | None = None, curves: CurveSeries | None = None,
                     curves_reason: str | None = None, thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """The report as a dict following docs/schemas/run_report.json."""
    train_support = snapshot.train_entity_words() if snapshot is not None else None
    diagnoses = diagnose_run(run, curves=curves, curves_reason=curves_reason or "no learning-curve runs were looked up",
                             thresholds=thresholds)
    best = run.best()
    findings = [d["explanation"] for d in diagnoses
                if d["verdict"] is True or (d["name"] == "best_vs_last" and d["verdict"] == "last_worse")]
    return stamped("run_report", {
        "run": run_summary(run),
        "config": run.config,
        "snapshot": snapshot.to_dict() if snapshot is not None else None,
        "support_source": TRAIN_SUPPORT if train_support is not None else VAL_SUPPORT_PROXY,
        "best": {"metric": run.best_metric_name, "epoch": best.epoch if best else None, "step": best.step if best else None,
                 "value": best.values.get(run.best_metric_name) if best else None, "best_f1": run.best_f1,
                 "labels": label_rows(best)},
        "last": {"epoch": run.last.epoch, "step": run.last.step, "metrics": dict(run.last.values)} if run.last else None,
        "results": run.job.results or {},
        "throughput": throughput(run),
        "findings": findings,
        "diagnoses": diagnoses,
        "epochs": epoch_rows(run),
        "plots": [],
    })


def write_run_report(run_data: RunData, path: str | Path, *, queries: Queries | None = None, plots: bool = True,
                     thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """Write run_report.json at `path` and, with `plots`, the PNGs beside it; return the report.

    With `queries`, data needs are measured on the learning-curve runs on record and the
    snapshot is also looked up in the table; without, only the recorded snapshot uri is used."""
    path = Path(path)
    cache: dict[tuple, SnapshotInfo] = {}
    snapshot = resolve_snapshot(run_data, queries, cache=cache)
    curves, reason = learning_curves(queries, run_data, snapshot, cache)
    report = build_run_report(run_data, snapshot=snapshot, curves=curves, curves_reason=reason, thresholds=thresholds)
    if plots:
        from .plots import write_plots

        report["plots"] = [p.name for p in write_plots(run_data, path.parent, thresholds)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return report


def write_run_report_from_recorder(recorder: RunRecorder, out_dir: str | Path, *, plots: bool = True) -> dict[str, Any] | None:
    """For `fit.cleanup`: the report of the recorder's job, from what it reads back (the
    table, or memory); None for a recorder that keeps nothing (other ranks)."""
    recorded = recorder.read_back()
    if recorded is None:
        return None
    run = RunData.from_records(recorded.job, recorded.metrics, recorded.logs, recorded.statuses, recorded.checkpoints)
    return write_run_report(run, Path(out_dir) / REPORT_NAME, queries=recorder.queries, plots=plots)

"""One domain call per `trainer runs` command: read what the command needs through
metrics_store.Queries, hand it to the pure analysis, return the payload the CLI prints.

`sync=False` (the MCP server's reads) loads runs without writing the records a run left waiting
in its folder (trainer.jobs.spool); the CLI keeps the default and writes them at this contact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metrics_store import Queries
from trainer.analysis.compare import compare_runs, explain
from trainer.analysis.diagnose import Thresholds
from trainer.analysis.lineage import SnapshotInfo, resolve_snapshot, snapshot_changes
from trainer.analysis.plots import write_plots
from trainer.analysis.report import REPORT_NAME, build_run_report, learning_curves, write_run_report
from trainer.analysis.runs import RunData, iter_jobs, load_run, metric_by_job
from trainer.analysis.views import (
    history_payload,
    last_activity,
    list_payload,
    list_row,
    monitor_frame,
    show_payload,
    stamped,
)
from trainer.errors import ConfigError
from trainer.jobs.lifecycle import JOB_COMMANDS, resume_command
from trainer.jobs.spool import sync_pending

SORT_KEYS = ("best_f1", "created", "name")


def list_runs(
    queries: Queries,
    *,
    statuses: list[str] | None = None,
    name: str | None = None,
    snapshot: str | None = None,
    min_f1: float | None = None,
    sort: str = "best_f1",
    limit: int | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    """Jobs with their best val_f1 (the max over evaluations), filtered and sorted; with
    `parent`, only the jobs that job started (a sweep's trials and seed repeats)."""
    if sort not in SORT_KEYS:
        raise ConfigError(f"--sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
    f1_by_job = metric_by_job(queries, "val_f1")
    parent = queries.find_job(parent).job_id if parent else None
    jobs = (
        [j for j in queries.jobs_by_parent(parent) if not statuses or j.status in statuses]
        if parent
        else iter_jobs(queries, statuses)
    )
    rows = [list_row(job, f1_by_job.get(job.job_id, [])) for job in jobs]
    if name:
        rows = [r for r in rows if name.lower() in r["name"].lower()]
    if snapshot:
        rows = [r for r in rows if r["snapshot_id"] == snapshot]
    if min_f1 is not None:
        rows = [r for r in rows if r["best_f1"] is not None and r["best_f1"] >= min_f1]
    if sort == "best_f1":
        rows.sort(key=lambda r: (r["best_f1"] is None, -(r["best_f1"] or 0.0), r["created_at"]))
    elif sort == "created":
        rows.sort(key=lambda r: r["created_at"], reverse=True)
    else:
        rows.sort(key=lambda r: (r["name"], r["created_at"]))
    filters = {
        "statuses": statuses or [],
        "name": name,
        "snapshot": snapshot,
        "min_f1": min_f1,
        "sort": sort,
        "limit": limit,
        "parent": parent,
    }
    return list_payload(rows[:limit] if limit else rows, filters, len(rows))


def show_run(queries: Queries, job_ref: str, *, epoch: float | None = None, sync: bool = True) -> dict[str, Any]:
    run = load_run(queries, job_ref, sync=sync)
    return show_payload(run, resolve_snapshot(run, queries).to_dict(), epoch=epoch)


def compare_jobs(queries: Queries, job_refs: list[str], *, sync: bool = True) -> dict[str, Any]:
    if len(job_refs) < 2:
        raise ConfigError("compare needs at least two jobs")
    runs = [load_run(queries, ref, sync=sync) for ref in job_refs]
    cache: dict[tuple, SnapshotInfo] = {}
    return stamped("runs_compare", compare_runs(runs, [resolve_snapshot(r, queries, cache=cache) for r in runs]))


def explain_jobs(queries: Queries, job_a: str, job_b: str, *, sync: bool = True) -> dict[str, Any]:
    a, b = load_run(queries, job_a, sync=sync), load_run(queries, job_b, sync=sync)
    cache: dict[tuple, SnapshotInfo] = {}
    snapshot_a, snapshot_b = resolve_snapshot(a, queries, cache=cache), resolve_snapshot(b, queries, cache=cache)
    return stamped("runs_explain", explain(a, b, snapshot_a, snapshot_b, snapshot_changes(snapshot_a, snapshot_b)))


def mark_interrupted(queries: Queries, job_ref: str) -> dict[str, Any]:
    """A stale running job (its process is gone) becomes `interrupted`, so `trainer fit
    --resume` (`trainer pretrain --resume`, ... by its kind) continues it; a job whose heartbeat
    is fresh is refused (metrics_store.JobLeased)."""
    from metrics_store import JobLeased, Store, heartbeat_age, is_stale

    job = queries.find_job(job_ref)
    run = load_run(queries, job.job_id)
    if job.status == "running" and not is_stale(job, last_activity=last_activity(run)):
        raise JobLeased(
            job.job_id, job.lease_owner, job.heartbeat_at, heartbeat_age(job, last_activity=last_activity(run))
        )
    resume = resume_command(job.config.kind if job.config.kind in JOB_COMMANDS else "fit", job.job_id)
    entry = Store(queries.table).jobs.mark_stale_interrupted(
        job.job_id,
        message=f"marked interrupted: no heartbeat since {job.heartbeat_at or 'it started'}; resume with `{resume}`",
        updated_by="trainer runs mark-interrupted",
    )
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": entry.status,
        "updated_at": entry.updated_at,
        "previous_heartbeat_at": job.heartbeat_at,
        "resume": resume,
    }


def sync_run(queries: Queries, job_ref: str) -> dict[str, Any]:
    """Write the records a run could not write (they wait in its folder: trainer.jobs.spool)."""

    return sync_pending(queries.table, queries.find_job(job_ref)).to_dict()


def running_job(queries: Queries, *, sync: bool = True) -> RunData | None:
    """The newest running job, if any."""
    job = next(iter(queries.iter_jobs_by_status("running")), None)
    return load_run(queries, job.job_id, sync=sync) if job else None


def monitor_job(queries: Queries, job_ref: str | None = None, *, sync: bool = True) -> dict[str, Any]:
    return monitor_frame(load_run(queries, job_ref, sync=sync) if job_ref else running_job(queries, sync=sync))


def training_history(
    queries: Queries,
    *,
    statuses: list[str] | None = None,
    limit: int | None = None,
    group_by: str | None = None,
    sync: bool = True,
) -> dict[str, Any]:
    """Every run (newest `limit` when given) with config, best F1 and its curve."""
    jobs = sorted(iter_jobs(queries, statuses), key=lambda j: j.created_at, reverse=True)
    runs = [load_run(queries, job.job_id, sync=sync) for job in (jobs[:limit] if limit else jobs)]
    return history_payload(runs, group_by)


def report_run(
    queries: Queries,
    job_ref: str,
    *,
    out_dir: Path | None = None,
    plots: bool = True,
    thresholds: Thresholds = Thresholds(),
    sync: bool = True,
) -> dict[str, Any]:
    """The run report, written to OUT_DIR/run_report.json (with plots) when asked."""
    run = load_run(queries, job_ref, sync=sync)
    if out_dir is not None:
        return write_run_report(run, Path(out_dir) / REPORT_NAME, queries=queries, plots=plots, thresholds=thresholds)
    cache: dict[tuple, SnapshotInfo] = {}
    snapshot = resolve_snapshot(run, queries, cache=cache)
    curves, reason = learning_curves(queries, run, snapshot, cache)
    return build_run_report(run, snapshot=snapshot, curves=curves, curves_reason=reason, thresholds=thresholds)


def plot_run(queries: Queries, job_ref: str, out_dir: Path) -> dict[str, Any]:

    run = load_run(queries, job_ref)
    files = write_plots(run, Path(out_dir))
    return stamped(
        "run_plot",
        {
            "job_id": run.job_id,
            "name": run.job.name,
            "files": [{"path": str(p), "bytes": p.stat().st_size} for p in files],
        },
    )

"""The payloads `trainer runs list/show/history/monitor` print: pure functions of runs.

Each payload carries `schema` and `schema_version`, and follows docs/schemas/<schema>.json;
the tables people read are rendered from these same payloads."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from metrics_store import Job, JobMetric
from trainer.analysis.compare import run_summary, training_config
from trainer.analysis.diagnose import label_rows
from trainer.analysis.runs import RunData, model_of, parse_structured
from trainer.analysis.values import json_safe, number

SCHEMA_VERSION = 1
RUNNING_STATUSES = ("running", "pending")


def stamped(schema: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Name the schema a payload follows and make it strict JSON."""
    return {"schema": schema, "schema_version": SCHEMA_VERSION, **json_safe(payload)}


def epoch_rows(run: RunData) -> list[dict[str, Any]]:
    """One row per evaluation with every scalar metric (learning rate, losses, F1, speed)."""
    return [{"epoch": e.epoch, "step": e.step, **dict(e.values)} for e in run.evaluations]


def throughput(run: RunData) -> dict[str, Any]:
    """Speed and memory, as recorded per evaluation, plus the run's totals."""

    def mean(name: str) -> float | None:
        values = [v for _, v in run.series(name)]
        return statistics.fmean(values) if values else None

    steps_per_second = mean("steps_per_second")
    memory = [(v, kind) for kind in ("gpu", "rss") for _, v in run.series(f"peak_memory_mb_{kind}")]
    per_epoch = run.steps_per_epoch
    results = run.results
    return {
        "samples_per_second": mean("samples_per_second"),
        "steps_per_second": steps_per_second,
        "seconds_per_epoch": per_epoch / steps_per_second if per_epoch and steps_per_second else None,
        "steps_per_epoch": per_epoch,
        "peak_memory_mb": max(memory)[0] if memory else None,
        "memory_kind": max(memory)[1] if memory else None,
        "gpu_utilization": mean("gpu_utilization"),
        "train_runtime": results.train_runtime,
        "total_flos": results.total_flos,
    }


def lease_view(job: Job, now: datetime | None = None, last_activity: str | None = None) -> dict[str, Any]:
    """A running job's lease: its last heartbeat (or, for jobs of trainers without leases,
    its latest record) and whether it went stale (the process that trained it is gone:
    `trainer runs mark-interrupted` makes it resumable)."""
    from metrics_store import STALE_AFTER_SECONDS, heartbeat_age, is_stale

    age = heartbeat_age(job, now, last_activity)
    return {
        "heartbeat_at": job.heartbeat_at,
        "heartbeat_age_seconds": round(age, 1) if age is not None else None,
        "owner": job.lease_owner,
        "stale": is_stale(job, now, last_activity=last_activity),
        "stale_after_seconds": STALE_AFTER_SECONDS,
    }


def last_activity(run: RunData) -> str | None:
    """The newest timestamp among the run's status entries and evaluations."""
    times = [s.updated_at for s in run.statuses] + [e.timestamp for e in run.evaluations if e.timestamp]
    return max(times, default=None)


def list_row(job: Job, f1_metrics: Sequence[JobMetric]) -> dict[str, Any]:
    """A listing row from the job and its val_f1 rows only (one GSI query for all jobs)."""
    scored = sorted((m for m in f1_metrics if number(m.value) is not None), key=lambda m: (m.step or 0, m.epoch or 0))
    best = max(scored, key=lambda m: number(m.value) or 0.0) if scored else None
    outcome, lineage = job.outcome, job.config.snapshot
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": job.status,
        "created_at": job.created_at,
        "snapshot_id": (lineage.id if lineage else None) or (job.tags or {}).get("snapshot_id"),
        "model": model_of(job),
        "best_f1": best.value if best else outcome.best_f1,
        "best_epoch": best.epoch if best else outcome.best_epoch,
        "last_f1": scored[-1].value if scored else None,
        "last_epoch": scored[-1].epoch if scored else None,
        "evaluations": len(scored),
        "lease": lease_view(job, last_activity=max((m.timestamp for m in scored), default=None)),
        "parent_job_id": job.parent_job_id,
    }


def list_payload(rows: list[dict[str, Any]], filters: dict[str, Any], total: int) -> dict[str, Any]:
    return stamped("runs_list", {"filters": filters, "matched": total, "runs": rows})


def _logs(run: RunData, levels: Iterable[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    chosen = [log for log in run.logs if levels is None or log.log_level in levels]
    rows = []
    for log in chosen[-limit:] if limit else chosen:
        payload = parse_structured(log.message)
        text = payload.get("error") or payload.get("type") if payload else log.message
        rows.append(
            {
                "timestamp": log.timestamp,
                "level": log.log_level,
                "type": payload.get("type") if payload else None,
                "message": str(text)[:300],
            }
        )
    return rows


def show_payload(run: RunData, snapshot: dict[str, Any], epoch: float | None = None) -> dict[str, Any]:
    """Everything about one run: config, lineage, per-epoch table, per-label table, results."""
    best = run.best()
    selected = run.at_epoch(epoch) if epoch is not None else best
    job = run.job
    return stamped(
        "run_show",
        {
            "job": {
                "job_id": job.job_id,
                "name": job.name,
                "status": job.status,
                "created_at": job.created_at,
                "created_by": job.created_by,
                "description": job.description,
                "tags": job.tags or {},
                "storage": job.storage or {},
            },
            "config": run.config,
            "pretraining": run.pretraining,
            "corpus": run.corpus,
            "snapshot": snapshot,
            "dataset": dict(run.dataset_metrics),
            "epochs": epoch_rows(run),
            "best": {
                "metric": run.best_metric_name,
                "epoch": best.epoch if best else None,
                "step": best.step if best else None,
                "value": best.values.get(run.best_metric_name) if best else None,
                "best_f1": run.best_f1,
            },
            "selected": None
            if selected is None
            else {
                "epoch": selected.epoch,
                "step": selected.step,
                "is_best": selected is best,
                "metrics": dict(selected.values),
                "labels": label_rows(selected),
            },
            "results": job.results or {},
            "throughput": throughput(run),
            "checkpoints": [
                {"epoch": c.epoch, "step": c.step, "uri": c.uri, "is_best": c.is_best, "metrics": c.metrics}
                for c in run.checkpoints
            ],
            "status_history": [
                {"status": s.status, "updated_at": s.updated_at, "progress": s.progress, "message": s.message}
                for s in run.statuses
            ],
            "problems": _logs(run, levels=("WARNING", "ERROR", "CRITICAL")),
            "lease": lease_view(job, last_activity=last_activity(run)),
        },
    )


def history_payload(runs: Sequence[RunData], group_by: str | None = None) -> dict[str, Any]:
    """Every run with its config and best F1, best first; optionally grouped by a config key."""
    entries = []
    for run in runs:
        entries.append(
            {
                **run_summary(run),
                "config": training_config(run),
                "epochs": [
                    {k: row.get(k) for k in ("epoch", "step", "val_f1", "eval_loss", "train_loss", "learning_rate")}
                    for row in epoch_rows(run)
                ],
            }
        )
    entries.sort(key=lambda e: (e["best_f1"] is None, -(e["best_f1"] or 0.0), e["created_at"]))
    return stamped(
        "runs_history",
        {
            "total_runs": len(entries),
            "group_by": group_by,
            "groups": _groups(entries, group_by) if group_by else None,
            "runs": entries,
        },
    )


def _config_value(config: dict[str, Any], key: str) -> Any:
    """`batch_size` finds `train.batch_size`: the unique flattened key ending in it."""
    if key in config:
        return config[key]
    matches = [k for k in config if k.endswith("." + key)]
    return config[matches[0]] if len(matches) == 1 else None


def _groups(entries: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    buckets: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        buckets.setdefault(repr(_config_value(entry["config"], key)), []).append(entry)
    groups = []
    for members in buckets.values():
        f1s = [m["best_f1"] for m in members if m["best_f1"] is not None]
        groups.append(
            {
                "value": _config_value(members[0]["config"], key),
                "runs": len(members),
                "best_f1_mean": statistics.fmean(f1s) if f1s else None,
                "best_f1_max": max(f1s) if f1s else None,
                "best_f1_min": min(f1s) if f1s else None,
                "job_ids": [m["job_id"] for m in members],
            }
        )
    return sorted(groups, key=lambda g: (g["best_f1_mean"] is None, -(g["best_f1_mean"] or 0.0)))


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def monitor_frame(run: RunData | None, now: datetime | None = None) -> dict[str, Any]:
    """One frame of `trainer runs monitor`: where a job is, how fast it goes, when it ends."""
    now = now or datetime.now(UTC)
    if run is None:
        return stamped(
            "run_monitor", {"job": None, "finished": True, "message": "no running job", "observed_at": now.isoformat()}
        )
    last, best = run.last, run.best()
    started = next((_parse_time(s.updated_at) for s in run.statuses if s.status == "running"), None) or _parse_time(
        run.job.created_at
    )
    steps_per_second = last.values.get("steps_per_second") if last else None
    progress = run.latest_progress
    max_steps = run.planned_schedule.get("max_steps")
    if not max_steps and last and last.step and progress:
        max_steps = round(last.step * 100.0 / progress)
    elif not max_steps and run.steps_per_epoch and run.train_config.get("epochs"):
        max_steps = round(run.steps_per_epoch * run.train_config["epochs"])
    eta_seconds = eta_at = None
    if last and last.step is not None and max_steps and steps_per_second:
        evaluated_at = _parse_time(last.timestamp) or now
        finish = evaluated_at.timestamp() + max(max_steps - last.step, 0) / steps_per_second
        eta_seconds, eta_at = max(finish - now.timestamp(), 0.0), datetime.fromtimestamp(finish, UTC).isoformat()
    latest_status = run.statuses[-1] if run.statuses else None
    lease = lease_view(run.job, now, last_activity(run))
    return stamped(
        "run_monitor",
        {
            "job": run_summary(run),
            "status": run.job.status,
            "lease": lease,
            "finished": run.job.status not in RUNNING_STATUSES or lease["stale"],  # a dead job is not followed forever
            "observed_at": now.isoformat(),
            "started_at": started.isoformat() if started else None,
            "elapsed_seconds": (now - started).total_seconds() if started else None,
            "status_message": latest_status.message if latest_status else None,
            "progress": progress,
            "epoch": last.epoch if last else None,
            "step": last.step if last else None,
            "max_steps": max_steps,
            "configured_epochs": run.train_config.get("epochs"),
            "latest": dict(last.values) if last else {},
            "latest_labels": label_rows(last),
            "best": {
                "metric": run.best_metric_name,
                "epoch": best.epoch if best else None,
                "value": best.values.get(run.best_metric_name) if best else None,
            },
            "throughput": {
                "samples_per_second": last.values.get("samples_per_second") if last else None,
                "steps_per_second": steps_per_second,
            },
            "eta_seconds": eta_seconds,
            "eta_at": eta_at,
            "recent_logs": _logs(run, limit=8),
        },
    )

"""`trainer runs sweep SWEEP_JOB`: a sweep read back from the table. Trials ranked by best
F1, optuna's parameter importances, the best config as a `trainer fit` command line, the seed
noise of the best config and a verdict per parameter (sweep_verdict.py). `load_sweep` is the
only I/O; `sweep_payload` is a pure function of what it read (plus optuna's fANOVA, seeded)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metrics_store import Job, JobStatus, Queries

from ..sweep.options import fit_command_line
from ..sweep.plan import SweepPlan
from ..sweep.study import TRIAL, TrialRecord, frozen_trial, trial_record, trials_only
from .sweep_verdict import Point, VerdictThresholds, parameter_verdict, seed_noise, summary_sentence
from .views import lease_view, stamped

REPORT_NAME = "sweep_report.json"
STATE_ORDER = ("complete", "pruned", "running", "pending", "interrupted", "stale", "failed", "cancelled")


@dataclass(frozen=True)
class SweepData:
    job: Job
    plan: SweepPlan
    children: tuple[TrialRecord, ...]
    ended_at: dict[str, str | None]  # child job id -> its last status time


def load_sweep(queries: Queries, job_ref: str) -> SweepData:
    job = queries.find_job(job_ref)
    plan = SweepPlan.from_job(job)
    children, ended = [], {}
    for child in queries.jobs_by_parent(job.job_id):
        children.append(trial_record(child, plan.space, queries.iter_job_metrics(child.job_id, "val_f1")))
        last: JobStatus | None = queries.latest_status(child.job_id)
        ended[child.job_id] = last.updated_at if last and child.status not in ("running", "pending") else None
    return SweepData(job, plan, tuple(children), ended)


def _seconds(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


def trial_row(record: TrialRecord, ended_at: str | None) -> dict[str, Any]:
    return {"number": record.number, "job_id": record.job.job_id, "name": record.job.name, "status": record.job.status,
            "state": record.state, "best_f1": record.value, "best_epoch": record.job.outcome.best_epoch,
            "evaluations": len(record.intermediate), "params": dict(record.params), "seed": record.seed,
            "pruned_at": record.pruned_at, "created_at": record.job.created_at, "ended_at": ended_at,
            "duration_seconds": _seconds(record.job.created_at, ended_at)}


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Completed trials by best F1, then pruned ones, then the rest; the trial number breaks ties."""
    def key(row: dict[str, Any]) -> tuple:
        order = STATE_ORDER.index(row["state"]) if row["state"] in STATE_ORDER else len(STATE_ORDER)
        return (min(order, 2), -(row["best_f1"] if row["best_f1"] is not None else -1.0), order, row["number"])

    out = sorted(rows, key=key)
    for rank, row in enumerate(out, 1):
        row["rank"] = rank
    return out


def importances(data: SweepData) -> dict[str, Any]:
    """optuna's fANOVA importances (seeded) over the completed trials."""
    import optuna

    complete = [r for r in trials_only(data.children) if r.state == "complete" and r.value is not None]
    varied = [p.name for p in data.plan.space.params if len({json.dumps(r.params.get(p.name)) for r in complete}) > 1]
    if len(complete) < 2 or not varied:
        return {"method": "fanova", "values": {}, "note": f"needs 2 completed trials with a varied parameter ({len(complete)} completed)"}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for record in complete:
        study.add_trial(frozen_trial(record, data.plan.space))
    try:
        values = optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), params=varied)
    except (ValueError, RuntimeError) as exc:
        return {"method": "fanova", "values": {}, "note": f"not computed: {exc}"}
    return {"method": "fanova", "values": {k: round(float(v), 4) for k, v in values.items()},
            "note": f"optuna FanovaImportanceEvaluator(seed=0) over {len(complete)} completed trials; pruned and failed ones left out"}


def verdicts(data: SweepData, margin: float | None, thresholds: VerdictThresholds) -> list[dict[str, Any]]:
    trials = trials_only(data.children)
    usable = [r for r in trials if r.state in ("complete", "pruned") and r.value is not None]
    failed = sum(r.state == "failed" for r in trials)
    out = []
    for param in data.plan.space.params:
        points = [Point(r.number, r.params.get(param.name), r.pruned_at.get("value", r.value) if r.pruned_at else r.value,
                        r.state == "pruned") for r in usable if param.name in r.params]
        out.append(parameter_verdict(param.name, points, margin, failed, thresholds))
    return out


@dataclass(frozen=True)
class SweepEvidence:
    """What a sweep says about its parameters: its ranked trials, the best trial and its seed
    repeats, the seed noise and a verdict per parameter (no importances: optuna stays unloaded)."""

    rows: list[dict[str, Any]]
    best: TrialRecord | None
    repeats: list[TrialRecord]
    noise: dict[str, Any]
    verdicts: list[dict[str, Any]]


def sweep_evidence(data: SweepData, thresholds: VerdictThresholds = VerdictThresholds()) -> SweepEvidence:
    trials = trials_only(data.children)
    rows = ranked([trial_row(r, data.ended_at.get(r.job.job_id)) for r in trials])
    best_row = rows[0] if rows and rows[0]["state"] == "complete" else None
    best = next((r for r in trials if best_row and r.job.job_id == best_row["job_id"]), None)
    repeats = [r for r in data.children if r.kind != TRIAL and best and (r.job.tags or {}).get("repeat_of") == best.job.job_id]
    noise_runs = [(best.seed, best.value)] + [(r.seed, r.value) for r in repeats if r.state == "complete" and r.value is not None] if best else []
    noise = {**seed_noise(noise_runs), "jobs": [{"job_id": r.job.job_id, "name": r.job.name, "seed": r.seed, "state": r.state,
                                                  "best_f1": r.value} for r in ([best] if best else []) + repeats]}
    return SweepEvidence(rows, best, repeats, noise, verdicts(data, noise["margin"], thresholds))


def sweep_payload(data: SweepData, thresholds: VerdictThresholds = VerdictThresholds()) -> dict[str, Any]:
    job, plan = data.job, data.plan
    trials = trials_only(data.children)
    found = sweep_evidence(data, thresholds)
    rows, best, repeats, noise, judged = found.rows, found.best, found.repeats, found.noise, found.verdicts
    best_row = rows[0] if rows and rows[0]["state"] == "complete" else None
    margin = noise["margin"]
    near = [r["number"] for r in rows[1:] if best_row and r["state"] == "complete" and margin is not None
            and best_row["best_f1"] - r["best_f1"] <= margin]
    sweep_results = job.outcome.get("sweep") or {}
    config = plan.config
    return stamped("sweep_report", {
        "sweep": {"job_id": job.job_id, "name": job.name, "status": job.status, "created_at": job.created_at,
                  "lease": lease_view(job), "output_dir": (job.storage or {}).get("output_dir"), "snapshots": plan.snapshots,
                  "objective": "best val_f1 of a trial (the maximum over its evaluations)", "config": config.to_dict(),
                  "space": plan.space.to_dict(), "stopped_by": sweep_results.get("stopped_by"),
                  "elapsed_seconds": sweep_results.get("elapsed_seconds")},
        "counts": {"planned": config.trials, "trials": len(trials),
                   **{s: sum(r.state == s for r in trials) for s in STATE_ORDER}, "seed_repeats": len(repeats)},
        "trials": rows,
        "best": None if best is None else {"number": best.number, "job_id": best.job.job_id, "name": best.job.name, "best_f1": best.value,
                                           "params": dict(best.params), "command": fit_command_line(best.request)},
        "seed_noise": noise,
        "within_noise_of_best": near,
        "importances": importances(data),
        "verdicts": judged,
        "summary": summary_sentence(judged, noise) if best else "No trial has completed yet.",
    })


def sweep_report(queries: Queries, job_ref: str, out_dir: Path | None = None, plots: bool = True) -> dict[str, Any]:
    """The report; with `out_dir`, also written there as sweep_report.json with the PNGs."""
    data = load_sweep(queries, job_ref)
    payload = sweep_payload(data)
    if out_dir is not None:
        payload = write_payload(data, payload, Path(out_dir), plots)
    return payload


def write_payload(data: SweepData, payload: dict[str, Any], out_dir: Path, plots: bool = True) -> dict[str, Any]:
    from .sweep_plots import write_sweep_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    files: Sequence[Path] = write_sweep_plots(data, payload, out_dir) if plots else []
    payload = {**payload, "plots": [str(p) for p in files]}
    (out_dir / REPORT_NAME).write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def write_sweep_report(queries: Queries, sweep_job_id: str, out_dir: Path) -> dict[str, Any]:
    return sweep_report(queries, sweep_job_id, out_dir)

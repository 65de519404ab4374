"""What to train next: the best config found so far on a snapshot as an exact `trainer fit`
command, with the evidence behind each choice (`trainer runs next`, the MCP `what_next` tool).

- **Runs considered**: `trainer fit` runs on one snapshot (the id given, else the newest run's),
  by content, so a fold or subset snapshot that shares the id is not mixed in; a review's fold
  models and a data curve's points are left out (they train on other data). Sweep trials and
  seed repeats count: they are runs like any other.
- **Best config found**: the succeeded run with the highest best val_f1 (the maximum over its
  evaluations); its recorded request, as a command, is the answer. Configs are never mixed
  from several runs: a combination nobody trained is a guess, not a finding.
- **Evidence per option** (every `trainer fit` option the runs varied or a sweep searched): best
  F1 by value over the runs (mean, max, how many), and each sweep's verdict on it (did it
  matter beyond seed noise). Options no run varied are listed as untested.
- **Adjustments**, each from a diagnosis of the best run and nothing else: still improving at
  its last epoch (no plateau, no early stop): 50% more epochs; overfitting with early stopping
  off: patience 3 (the best checkpoint stays the same, the epochs after it are saved).
Every sentence is a deterministic function of the recorded numbers."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from metrics_store import Job, Queries, SnapshotLineage
from trainer.analysis.diagnose import diagnose_run
from trainer.analysis.runs import load_run, metric_by_job
from trainer.analysis.views import list_row, stamped
from trainer.errors import FitError
from trainer.sweep.options import SWEPT as FIT_OPTIONS
from trainer.sweep.report import load_sweep, sweep_evidence
from trainer.sweep.verdict import fmt_value
from trainer.training.options import fit_command_line

DERIVED_KINDS = ("review_fold", "data_curve_point")
"""Child jobs that train on data derived from the snapshot (a fold, a subset), not on it."""
SKIPPED_OPTIONS = ("snapshot", "seed", "num_workers", "fp16", "bf16")
"""Not configs to choose between: the data, the seed (noise), and how the machine runs it."""
MORE_EPOCHS = 1.5
PATIENCE = 3


def _lineage(job: Job) -> SnapshotLineage:
    """The snapshot a job recorded (empty when it recorded none)."""
    return job.config.snapshot or SnapshotLineage()


def _candidates(queries: Queries, snapshot: str | None) -> tuple[list[Job], dict[str, Any] | None]:
    fits = [
        j
        for j in queries.iter_all_jobs()
        if j.config.kind == "fit"
        and (j.tags or {}).get("kind") not in DERIVED_KINDS
        and j.config.snapshot is not None
        and j.config.snapshot.id
    ]
    if snapshot is not None:
        fits = [j for j in fits if _lineage(j).id == snapshot]
    if not fits:
        return [], None
    newest = _lineage(max(fits, key=lambda j: j.created_at))
    return [j for j in fits if _lineage(j).content_sha256 == newest.content_sha256], newest.to_dict()


def _groups(option: str, rows: Sequence[dict[str, Any]], requests: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    spec = FIT_OPTIONS[option]
    buckets: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["best_f1"] is not None:
            buckets.setdefault(repr(spec.read(requests[row["job_id"]])), []).append(row)
    groups = [
        {
            "value": spec.read(requests[members[0]["job_id"]]),
            "runs": len(members),
            "best_f1_mean": statistics.fmean(m["best_f1"] for m in members),
            "best_f1_max": max(m["best_f1"] for m in members),
            "job_ids": [m["job_id"] for m in members],
        }
        for members in buckets.values()
    ]
    return sorted(groups, key=lambda g: -g["best_f1_mean"])


def _history_sentence(option: str, chosen: Any, groups: list[dict[str, Any]]) -> str:
    parts = [
        f"{fmt_value(g['value'])}{' (chosen)' if g['value'] == chosen else ''}: mean best F1 {g['best_f1_mean']:.3f} "
        "over "
        f"{g['runs']} run(s), max {g['best_f1_max']:.3f}"
        for g in groups
    ]
    lead = groups[0]["value"] == chosen
    return (
        f"{option} by value, best mean first: "
        + "; ".join(parts)
        + "."
        + (
            ""
            if lead
            else " The chosen value comes from the single best run, not the best mean: other options varied too."
        )
    )


def _sweep_evidence(queries: Queries, content: str | None) -> list[dict[str, Any]]:
    """Each finished or running sweep on this snapshot's content: its seed noise and verdicts."""

    found = []
    for job in queries.iter_all_jobs():
        if job.config.kind != "sweep":
            continue
        data = load_sweep(queries, job.job_id)
        children = [r for r in data.children if r.job.config.snapshot is not None]
        if not any(_lineage(r.job).content_sha256 == content for r in children):
            continue
        evidence = sweep_evidence(data)
        found.append(
            {
                "job_id": job.job_id,
                "name": job.name,
                "status": job.status,
                "trials": len(evidence.rows),
                "seed_noise": evidence.noise.get("margin"),
                "verdicts": evidence.verdicts,
            }
        )
    return found


def _adjustments(
    queries: Queries, best: Job, request: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The changes the best run's diagnoses call for, the request with them, and those diagnoses."""
    run = load_run(queries, best.job_id, sync=False)
    found = {d["name"]: d for d in diagnose_run(run)}
    train = dict(request.get("train") or {})
    changes = []
    stopping, plateau, overfit = found["early_stopping"], found["plateau"], found["overfitting"]
    best_epoch, last = stopping["evidence"].get("best_epoch"), run.last.epoch if run.last else None
    epochs = train.get("epochs")
    if (
        epochs
        and best_epoch is not None
        and last is not None
        and best_epoch == last
        and last >= epochs
        and plateau["verdict"] is not True
        and stopping["verdict"] is not True
    ):
        more = math.ceil(epochs * MORE_EPOCHS)
        changes.append(
            {
                "option": "epochs",
                "flag": "--epochs",
                "from": epochs,
                "to": more,
                "reason": f"the best run was still improving at its last epoch ({last:g} of {epochs}): "
                f"{stopping['explanation']}",
            }
        )
        train["epochs"] = more
    if overfit["verdict"] is True and not train.get("early_stopping_patience"):
        changes.append(
            {
                "option": "early_stopping_patience",
                "flag": "--early-stopping-patience",
                "from": 0,
                "to": PATIENCE,
                "reason": f"{overfit['explanation']} Early stopping was off: patience {PATIENCE} keeps the same best "
                "checkpoint and saves the epochs after it.",
            }
        )
        train["early_stopping_patience"] = PATIENCE
    diagnoses = {
        k: {"verdict": v["verdict"], "explanation": v["explanation"]}
        for k, v in found.items()
        if k in ("overfitting", "plateau", "early_stopping", "best_vs_last")
    }
    return changes, {**request, "train": train} if changes else request, diagnoses


def what_next(queries: Queries, *, snapshot: str | None = None) -> dict[str, Any]:
    """The best config found so far on `snapshot` (default: the newest run's) as a command,
    the evidence behind each of its choices, and the adjustments its diagnoses call for."""
    jobs, lineage = _candidates(queries, snapshot)
    base = {"snapshot": lineage, "runs_considered": len(jobs)}
    if not jobs:
        where = f"on snapshot {snapshot}" if snapshot else "in the table"
        raise FitError(f"no `trainer fit` run {where} to learn from: train one first (`trainer fit --snapshot ...`)")
    f1_by_job = metric_by_job(queries, "val_f1")
    rows = [list_row(j, f1_by_job.get(j.job_id, [])) for j in jobs]
    requests = {j.job_id: {**dict(j.config.request), "snapshot": _lineage(j).id} for j in jobs}
    done = [r for r in rows if r["status"] == "succeeded" and r["best_f1"] is not None]
    if not done:
        return stamped(
            "next_run",
            {
                **base,
                "best": None,
                "choices": [],
                "untested": [],
                "sweeps": [],
                "adjustments": [],
                "diagnoses": {},
                "command": None,
                "summary": f"None of the {len(rows)} run(s) on this snapshot has succeeded yet: nothing to build on.",
            },
        )
    best_row = max(done, key=lambda r: (r["best_f1"], r["created_at"]))
    best_job = next(j for j in jobs if j.job_id == best_row["job_id"])
    request = requests[best_job.job_id]
    sweeps = _sweep_evidence(queries, lineage["content_sha256"] if lineage else None)
    swept = {v["parameter"] for s in sweeps for v in s["verdicts"]}
    choices, untested = [], []
    for option in FIT_OPTIONS:
        if option in SKIPPED_OPTIONS:
            continue
        chosen = FIT_OPTIONS[option].read(request)
        groups = _groups(option, done, requests)
        if len(groups) < 2 and option not in swept:
            untested.append({"option": option, "value": chosen})
            continue
        evidence = []
        if len(groups) >= 2:
            evidence.append(
                {"kind": "history", "groups": groups, "sentence": _history_sentence(option, chosen, groups)}
            )
        for sweep in sweeps:
            for verdict in sweep["verdicts"]:
                if verdict["parameter"] == option:
                    evidence.append(
                        {
                            "kind": "sweep",
                            "sweep_job_id": sweep["job_id"],
                            "sweep": sweep["name"],
                            "verdict": verdict["verdict"],
                            "sentence": verdict["sentence"],
                        }
                    )
        choices.append({"option": option, "flag": FIT_OPTIONS[option].flag, "value": chosen, "evidence": evidence})
    changes, adjusted, diagnoses = _adjustments(queries, best_job, request)
    noise = [s["seed_noise"] for s in sweeps if s["seed_noise"] is not None]
    command = fit_command_line(adjusted)
    summary = (
        f"Best config found so far on {lineage['id'] if lineage else '?'}: {best_job.name} ({best_job.job_id[:8]}), "
        "best val_f1 "
        f"{best_row['best_f1']:.4f} over {len(done)} succeeded run(s)"
        + (
            f"; seed noise {max(noise):.3f} (differences below it are not real)"
            if noise
            else "; seed noise not measured"
        )
        + (
            f"; adjusted: {', '.join(c['option'] for c in changes)}"
            if changes
            else "; train it as it is, or vary an untested option"
        )
        + "."
    )
    return stamped(
        "next_run",
        {
            **base,
            "best": {**best_row, "command": fit_command_line(request)},
            "choices": choices,
            "untested": untested,
            "sweeps": [{k: v for k, v in s.items() if k != "verdicts"} for s in sweeps],
            "adjustments": changes,
            "diagnoses": diagnoses,
            "command": command,
            "summary": summary,
        },
    )

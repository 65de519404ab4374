"""The run summary: pure functions of what the evaluations recorded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from metrics_store import JobMetric

RESULT_KEYS = (
    "best_f1",
    "best_epoch",
    "best_step",
    "checkpoint_metric",
    "best_metric",
    "train_runtime",
    "total_flos",
    "early_stopping_triggered",
    "epochs_since_best",
)
"""What goes into `Job.results` (the user's dashboards read these names)."""


def history_from_metrics(metrics: Iterable[JobMetric]) -> list[dict[str, Any]]:
    """Evaluation rows (one per step) rebuilt from recorded JobMetrics; rows without a step
    (the dataset metrics written once at the start) are not evaluations."""
    by_step: dict[int, dict[str, Any]] = {}
    for metric in metrics:
        if metric.step is None:
            continue
        row = by_step.setdefault(metric.step, {"epoch": metric.epoch, "step": metric.step, "per_label_metrics": {}})
        if metric.metric_name.startswith("label_") and isinstance(metric.value, dict):
            row["per_label_metrics"][metric.metric_name.removeprefix("label_")] = metric.value
        else:
            row[metric.metric_name] = metric.value
    return sorted(by_step.values(), key=lambda h: h["step"])


def merge_history(earlier: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This attempt's evaluations, plus those earlier attempts of the job recorded (a step
    evaluated again after a resume counts once, as this attempt saw it)."""
    steps = {h["step"] for h in fresh}
    return sorted([h for h in earlier if h["step"] not in steps] + fresh, key=lambda h: h["step"])


def summarize(
    history: list[dict[str, Any]],
    *,
    job_id: str,
    snapshot_id: str,
    checkpoint_metric: str,
    greater_is_better: bool,
    early_stopping_triggered: bool,
    train_runtime: float | None,
    total_flos: float | None,
) -> dict[str, Any]:
    """The `run_summary` log: best evaluation, early stopping, per-evaluation metrics."""
    scored = [h for h in history if checkpoint_metric in h]
    best = (max if greater_is_better else min)(scored, key=lambda h: h[checkpoint_metric]) if scored else None
    f1s = [h["val_f1"] for h in history if "val_f1" in h]
    last_epoch = history[-1]["epoch"] if history else None
    return {
        "type": "run_summary",
        "job_id": job_id,
        "snapshot_id": snapshot_id,
        "checkpoint_metric": checkpoint_metric,
        "best_f1": max(f1s) if f1s else None,
        "best_epoch": best["epoch"] if best else None,
        "best_step": best["step"] if best else None,
        "best_metric": best[checkpoint_metric] if best else None,
        "early_stopping_triggered": early_stopping_triggered,
        "epochs_since_best": round(last_epoch - best["epoch"], 4) if best and last_epoch is not None else None,
        "train_runtime": train_runtime,
        "total_flos": total_flos,
        "epoch_metrics": history,
    }


def results_of(summary: dict[str, Any], best_uri: str | None) -> dict[str, Any]:
    """`Job.results` from the summary (None values left out: DynamoDB items omit them)."""
    results = {k: summary[k] for k in RESULT_KEYS}
    results["best_checkpoint_s3_path"] = best_uri
    return {k: v for k, v in results.items() if v is not None}

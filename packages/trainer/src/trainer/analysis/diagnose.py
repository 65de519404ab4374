"""Deterministic diagnoses of one run, each explained: overfitting, plateau, the observed
learning-rate schedule, early stopping, best vs last epoch, weak labels, and which labels
need more data.

Every diagnosis is `{name, verdict, evidence, explanation, thresholds}`: a verdict an agent
can branch on (a bool, an enum, a label, or null when the data cannot tell), the numbers
behind it, and one sentence a person can read. Thresholds are parameters (`Thresholds`)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from .data_needs import CurveSeries, data_needs_evidence
from .runs import Evaluation, RunData
from .schedule import observe_schedule


@dataclass(frozen=True)
class Thresholds:
    """Defaults, with units; every one is documented in docs/runs.md."""

    overfit_evaluations: int = 3  # consecutive evaluations with train loss down and eval loss up
    overfit_min_rise: float = 0.0  # eval loss rise (loss units) per evaluation that counts as rising
    plateau_evaluations: int = 3  # evaluations without a real improvement of the best metric
    plateau_epsilon: float = 0.005  # smallest improvement that counts (metric units; F1 is 0..1)
    best_vs_last_tolerance: float = 0.005  # last within this of best counts as "close"
    weak_label_f1: float = 0.5  # a label under this F1 at the best evaluation is weak
    weak_label_gap: float = 0.25  # ...as is one this far under the median label F1
    weakest_count: int = 3  # labels listed as the weakest
    lr_constant_tolerance: float = 0.05  # (max-min)/peak under which the LR is constant
    lr_fit_tolerance: float = 0.05  # fit RMSE/peak above which the decay shape is "other"
    lr_config_tolerance: float = 0.1  # relative gap between observed and configured peak/warmup that still matches
    data_needs_min_gain: float = 0.02  # measured F1 per doubling of a label's examples above which it still rises

    def pick(self, *names: str) -> dict[str, Any]:
        values = asdict(self)
        return {n: values[n] for n in names}


def _diagnosis(name: str, verdict: Any, evidence: dict[str, Any], explanation: str, thresholds: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "verdict": verdict, "evidence": evidence, "explanation": explanation, "thresholds": thresholds}


def _diff(a: float, b: float) -> float:
    """a - b without binary-float noise in the report (0.36, not 0.36000000000000004)."""
    return round(a - b, 6)


def _epoch(e: Evaluation | None) -> str:
    if e is None:
        return "?"
    return f"{e.epoch:g}" if e.epoch is not None else f"step {e.step}"


def overfitting(run: RunData, t: Thresholds = Thresholds()) -> dict[str, Any]:
    """Train loss falling while eval loss rises, for k consecutive evaluations."""
    th = t.pick("overfit_evaluations", "overfit_min_rise")
    rows = [(e, e.values["train_loss"], e.values["eval_loss"]) for e in run.evaluations if "train_loss" in e.values and "eval_loss" in e.values]
    if len(rows) < 2:
        return _diagnosis("overfitting", None, {"evaluations_with_both_losses": len(rows)},
                          "Cannot tell: needs train_loss and eval_loss from at least 2 evaluations.", th)
    longest, start, streak_start = 0, 0, 0
    for i in range(1, len(rows)):
        diverging = rows[i][1] < rows[i - 1][1] and rows[i][2] > rows[i - 1][2] + t.overfit_min_rise
        if not diverging:
            streak_start = i
        elif i - streak_start > longest:
            longest, start = i - streak_start, streak_start
    end = start + longest
    ongoing = longest > 0 and end == len(rows) - 1
    best_eval = min(rows, key=lambda r: r[2])
    evidence = {
        "diverging_evaluations": longest, "onset_epoch": rows[start][0].epoch if longest else None,
        "until_epoch": rows[end][0].epoch if longest else None, "ongoing_at_end": ongoing,
        "train_loss_change": _diff(rows[end][1], rows[start][1]), "eval_loss_change": _diff(rows[end][2], rows[start][2]),
        "gap_at_onset": _diff(rows[start][2], rows[start][1]), "gap_at_end": _diff(rows[end][2], rows[end][1]),
        "gap_last": _diff(rows[-1][2], rows[-1][1]), "min_eval_loss": best_eval[2], "min_eval_loss_epoch": best_eval[0].epoch,
    }
    if longest >= t.overfit_evaluations:
        text = (f"Overfitting from epoch {_epoch(rows[start][0])}: over {longest} evaluations train loss fell "
                f"{-evidence['train_loss_change']:.3f} while eval loss rose {evidence['eval_loss_change']:.3f} "
                f"(gap {evidence['gap_at_onset']:.3f} -> {evidence['gap_at_end']:.3f}){'; still diverging at the end' if ongoing else ''}.")
        return _diagnosis("overfitting", True, evidence, text, th)
    text = (f"No overfitting: train and eval loss never diverged for {t.overfit_evaluations} evaluations in a row "
            f"(longest: {longest}); eval loss was lowest at epoch {_epoch(best_eval[0])}.")
    return _diagnosis("overfitting", False, evidence, text, th)


def plateau(run: RunData, t: Thresholds = Thresholds()) -> dict[str, Any]:
    """The best metric not improving by more than epsilon for k evaluations, at the end of the run."""
    th = t.pick("plateau_evaluations", "plateau_epsilon")
    metric = run.best_metric_name
    scored = run.series(metric)
    if len(scored) < 2:
        return _diagnosis("plateau", None, {"metric": metric, "evaluations": len(scored)},
                          f"Cannot tell: needs {metric} from at least 2 evaluations.", th)
    sign = -1.0 if metric.endswith("loss") else 1.0
    reference, last_gain = scored[0][1], 0
    for i, (_, value) in enumerate(scored[1:], start=1):
        if sign * (value - reference) > t.plateau_epsilon:
            reference, last_gain = value, i
    since = len(scored) - 1 - last_gain
    tail = [v for _, v in scored[last_gain:]]
    best_value = (max if sign > 0 else min)(v for _, v in scored)
    evidence = {"metric": metric, "evaluations_without_improvement": since, "last_improvement_epoch": scored[last_gain][0].epoch,
                "value_at_last_improvement": scored[last_gain][1], "best_value": best_value, "last_value": scored[-1][1],
                "range_since_improvement": _diff(max(tail), min(tail))}
    if since >= t.plateau_evaluations:
        text = (f"Plateau: {metric} has not improved by more than {t.plateau_epsilon:g} for {since} evaluations "
                f"(since epoch {_epoch(scored[last_gain][0])}); it stayed within {evidence['range_since_improvement']:.4f} "
                f"around {best_value:.4f}.")
        return _diagnosis("plateau", True, evidence, text, th)
    text = (f"No plateau: {metric} last improved by more than {t.plateau_epsilon:g} at epoch "
            f"{_epoch(scored[last_gain][0])}, {since} evaluation(s) before the end.")
    return _diagnosis("plateau", False, evidence, text, th)


def learning_rate_schedule(run: RunData, t: Thresholds = Thresholds()) -> dict[str, Any]:
    """Warmup length (steps and epochs), peak, and decay shape by fit, beside the config."""
    th = t.pick("lr_constant_tolerance", "lr_fit_tolerance", "lr_config_tolerance")
    step_lrs = [(p.step, p.values["learning_rate"]) for p in run.steps if "learning_rate" in p.values]
    points = step_lrs or [(e.step, lr) for e, lr in run.series("learning_rate") if e.step is not None]
    observed = observe_schedule(points, constant_tolerance=t.lr_constant_tolerance, fit_tolerance=t.lr_fit_tolerance)
    per_epoch = run.steps_per_epoch
    train = run.train_config
    epochs = train.get("epochs")
    total_steps = per_epoch * epochs if per_epoch and epochs else None
    warmup_ratio = train.get("warmup_ratio")
    evidence = {
        **observed,
        "warmup_epochs": observed["warmup_steps"] / per_epoch if per_epoch and observed["warmup_steps"] is not None else None,
        "steps_per_epoch": per_epoch, "configured_peak_lr": train.get("learning_rate"),
        "configured_warmup_ratio": warmup_ratio,
        "expected_warmup_steps": warmup_ratio * total_steps if total_steps and warmup_ratio is not None else None,
        "by_epoch": [{"epoch": e.epoch, "step": e.step, "learning_rate": lr} for e, lr in run.series("learning_rate")],
        "sampled_at": "logging_steps" if step_lrs else "evaluations",
        "first_sample_step": min((s for s, _ in points), default=None),
    }
    # A warm-up that ended before the first sample leaves no trace: "no warmup" needs a sample at step 1.
    first = evidence["first_sample_step"]
    evidence["warmup_observable"] = bool(observed["warmup"]) or (first is not None and first <= 1)
    evidence["matches_config"] = _schedule_matches_config(evidence, [s for s, _ in points], t.lr_config_tolerance)
    shape = observed["shape"]
    if shape == "unknown":
        text = f"Cannot tell the schedule: {len(points)} learning-rate sample(s); at least 3 evaluations are needed."
        return _diagnosis("learning_rate_schedule", "unknown", evidence, text, th)
    warm = "no warmup" if evidence["warmup_observable"] else f"warmup not observable (first learning-rate sample at step {first:.0f})"
    if observed["warmup"]:
        epochs_text = f", {evidence['warmup_epochs']:.2f} epochs" if evidence["warmup_epochs"] is not None else ""
        warm = f"warmup over ~{observed['warmup_steps']:.0f} steps{epochs_text}"
    decay = {"constant": "stays constant", "other": "then follows no linear or cosine decay",
             "linear": "then decays linearly", "cosine": "then decays along a cosine"}[shape]
    expected = evidence["expected_warmup_steps"]
    config = (f" (configured: peak {evidence['configured_peak_lr']:g}, warmup_ratio {warmup_ratio:g} -> ~{expected:.0f} steps)"
              if expected is not None and evidence["configured_peak_lr"] else "")
    mismatch = "; this does NOT match the config" if evidence["matches_config"] is False else ""
    text = f"LR: {warm}, peak {observed['peak_lr_estimated']:.3g}, {decay}{config}{mismatch}."
    return _diagnosis("learning_rate_schedule", shape, evidence, text, th)


def _schedule_matches_config(evidence: dict[str, Any], steps: list[float], tolerance: float) -> bool | None:
    """Observed peak within `tolerance` of the configured one, and warmup within `tolerance`
    (or one evaluation interval, the resolution of the samples) of warmup_ratio x steps."""
    configured, observed = evidence["configured_peak_lr"], evidence["peak_lr_estimated"]
    if not configured or observed is None:
        return None
    matches = abs(observed - configured) <= tolerance * configured
    expected, warmup = evidence["expected_warmup_steps"], evidence["warmup_steps"]
    if expected is not None and warmup is not None and evidence.get("warmup_observable", True):
        gaps = [b - a for a, b in zip(steps, steps[1:], strict=False)]
        interval = statistics.median(gaps) if gaps else 0.0
        matches = matches and abs(warmup - expected) <= max(tolerance * expected, interval)
    return matches


def early_stopping(run: RunData, t: Thresholds = Thresholds()) -> dict[str, Any]:
    """Whether early stopping ended the run, the best epoch, and how long since the best."""
    results, summary = run.results, run.run_summary
    best, last = run.best(), run.last
    metric = run.best_metric_name
    patience, epochs = run.train_config.get("early_stopping_patience"), run.train_config.get("epochs")
    after_best = [e for e in run.evaluations if best is not None and _later(e, best)]
    recorded = results.early_stopping_triggered if results.early_stopping_triggered is not None else \
        (summary.early_stopping_triggered if summary else None)
    stopped_short = bool(last and last.epoch is not None and epochs and last.epoch < epochs - 1e-6)
    inferred = bool(patience and len(after_best) >= patience and stopped_short and run.job.status == "succeeded")
    triggered = bool(recorded) if recorded is not None else inferred
    evidence = {
        "triggered": triggered, "source": "recorded" if recorded is not None else "inferred",
        "metric": metric, "best_epoch": best.epoch if best else None, "best_step": best.step if best else None,
        "best_value": best.values.get(metric) if best else None, "last_epoch": last.epoch if last else None,
        "epochs_since_best": _diff(last.epoch, best.epoch) if best and last and best.epoch is not None and last.epoch is not None else None,
        "evaluations_since_best": len(after_best), "patience": patience, "configured_epochs": epochs,
        "recorded_best_epoch": results.best_epoch if results.best_epoch is not None else (summary.best_epoch if summary else None),
    }
    if best is None:
        return _diagnosis("early_stopping", None, evidence, f"Cannot tell: no evaluation recorded {metric}.", {})
    best_text = f"{metric} peaked at {evidence['best_value']:.4f} in epoch {_epoch(best)}"
    if run.job.status in ("running", "pending"):
        text = f"Still running: {best_text}; {len(after_best)} of {patience or '-'} evaluations without improvement so far."
        return _diagnosis("early_stopping", triggered, evidence, text, {})
    if not triggered and run.job.status in ("failed", "cancelled", "interrupted"):
        text = f"The run was {run.job.status} at epoch {_epoch(last)} of {epochs or '?'}, before early stopping could decide; {best_text}."
    elif triggered:
        text = (f"Early stopping triggered at epoch {_epoch(last)} of {epochs}: {best_text} and did not improve "
                f"for {len(after_best)} evaluations (patience {patience}).")
    else:
        ran = f"training ran to epoch {_epoch(last)} of {epochs}" if epochs else f"training ended at epoch {_epoch(last)}"
        text = f"Early stopping did not trigger: {ran}; {best_text}, {len(after_best)} evaluation(s) before the end."
    return _diagnosis("early_stopping", triggered, evidence, text, {})


def _later(e: Evaluation, best: Evaluation) -> bool:
    return (e.step or 0, e.epoch or 0) > (best.step or 0, best.epoch or 0)


def best_vs_last(run: RunData, t: Thresholds = Thresholds()) -> dict[str, Any]:
    """How much the last evaluation lost against the best one (the deployed model is the best)."""
    th = t.pick("best_vs_last_tolerance")
    metric = run.best_metric_name
    best, last = run.best(), run.last
    if best is None or last is None or metric not in last.values:
        return _diagnosis("best_vs_last", None, {"metric": metric}, f"Cannot tell: no {metric} recorded.", th)
    sign = -1.0 if metric.endswith("loss") else 1.0
    drop = _diff(sign * best.values[metric], sign * last.values[metric])
    verdict = "last_is_best" if best is last else "close" if drop <= t.best_vs_last_tolerance else "last_worse"
    evidence = {"metric": metric, "best_epoch": best.epoch, "best_value": best.values[metric], "last_epoch": last.epoch,
                "last_value": last.values[metric], "drop": drop, "best_f1": run.best_f1, "last_f1": last.values.get("val_f1")}
    text = {
        "last_is_best": f"The last evaluation (epoch {_epoch(last)}) is the best: {metric} {best.values[metric]:.4f}; more epochs may still help.",
        "close": f"Best {metric} {best.values[metric]:.4f} at epoch {_epoch(best)}; the last (epoch {_epoch(last)}) is within {t.best_vs_last_tolerance:g}.",
        "last_worse": f"Best {metric} {best.values[metric]:.4f} at epoch {_epoch(best)}; the last (epoch {_epoch(last)}) is {drop:.4f} worse, so keep the best checkpoint.",
    }[verdict]
    return _diagnosis("best_vs_last", verdict, evidence, text, th)


def label_rows(evaluation: Evaluation | None) -> list[dict[str, Any]]:
    """Per-label figures of one evaluation, weakest first."""
    if evaluation is None:
        return []
    rows = [{"label": label, **{k: fig.get(k) for k in ("f1", "precision", "recall", "support")}}
            for label, fig in evaluation.per_label.items() if fig.get("f1") is not None]
    return sorted(rows, key=lambda r: (r["f1"], r["label"]))


def weak_labels(run: RunData, t: Thresholds = Thresholds()) -> dict[str, Any]:
    """Labels with a low F1 at the best evaluation, absolutely or against the other labels."""
    th = t.pick("weak_label_f1", "weak_label_gap", "weakest_count")
    best = run.best()
    rows = label_rows(best)
    if not rows:
        return _diagnosis("weak_labels", None, {"epoch": best.epoch if best else None, "weakest": [], "weak": []},
                          "Cannot tell: no per-label metrics were recorded.", th)
    median = statistics.median(r["f1"] for r in rows)
    weak = [r for r in rows if r["f1"] < t.weak_label_f1 or r["f1"] < median - t.weak_label_gap]
    evidence = {"epoch": best.epoch, "median_f1": median, "weakest": rows[: t.weakest_count], "weak": weak}
    first = rows[0]
    support = f" on {first['support']} val entities" if first.get("support") is not None else ""
    if weak:
        text = (f"{first['label']} is the weakest label: F1 {first['f1']:.3f}{support} at epoch {_epoch(best)} "
                f"(median label F1 {median:.3f}); weak: {', '.join(r['label'] for r in weak)}.")
    else:
        text = (f"No weak label: every label has F1 >= {t.weak_label_f1:g} and within {t.weak_label_gap:g} of the median "
                f"{median:.3f}; the weakest is {first['label']} ({first['f1']:.3f}{support}).")
    return _diagnosis("weak_labels", bool(weak), evidence, text, th)


def data_needs(run: RunData, series: CurveSeries | None, reason: str | None = None, t: Thresholds = Thresholds()) -> dict[str, Any]:
    """The label whose F1 rose most per doubling of its training examples, on measured learning
    curves (data_needs.py); `None` with the reason when nothing measures it."""
    th = t.pick("data_needs_min_gain")
    evidence = data_needs_evidence(series, reason=reason, min_gain=t.data_needs_min_gain)
    if series is None:
        return _diagnosis("data_needs", None, evidence, f"Not measured: {reason or 'no learning-curve runs for this data'}.", th)
    ranking = evidence["ranking"]
    where = (f"the data-curve job {series.data_curve_job_id}" if series.data_curve_job_id else
             f"{len(series.points)} runs on nested snapshots") + f" (train receipts {', '.join(map(str, series.sizes))})"
    if not series.same_recipe:
        keys = ", ".join(d["key"] for d in series.config_differences) or "the seed"
        where += f", trained with another recipe than this run (differs in {keys})"
    rising = [r for r in ranking if r["verdict"] == "rising"]
    flat = [r["label"] for r in ranking if r["verdict"] == "flat"]
    if not rising:
        text = (f"No label is still rising: between the two largest sizes none gained more than {t.data_needs_min_gain:g} F1 per "
                f"doubling of its examples (measured on {where}); more of the same data is unlikely to help much.")
        return _diagnosis("data_needs", None, evidence, text, th)
    top = rising[0]
    low, high = top["points"][-2], top["points"][-1]
    text = (f"{top['label']} would gain most from more data, measured: F1 {low['f1']:.3f} -> {high['f1']:.3f} when its training "
            f"examples went {low['train_examples']} -> {high['train_examples']} ({top['gain_per_doubling']:+.3f} per doubling), "
            f"on {where}" + (f"; also rising: {', '.join(r['label'] for r in rising[1:])}" if len(rising) > 1 else "")
            + (f"; flat: {', '.join(flat)}" if flat else "") + ".")
    return _diagnosis("data_needs", top["label"], evidence, text, th)


def diagnose_run(run: RunData, *, curves: CurveSeries | None = None, curves_reason: str | None = None,
                 thresholds: Thresholds = Thresholds()) -> list[dict[str, Any]]:
    """Every diagnosis, in a fixed order."""
    return [
        overfitting(run, thresholds), plateau(run, thresholds), learning_rate_schedule(run, thresholds),
        early_stopping(run, thresholds), best_vs_last(run, thresholds), weak_labels(run, thresholds),
        data_needs(run, curves, curves_reason, thresholds),
    ]

"""Which labels need more data, measured rather than guessed.

A label's learning curve is its F1 against how many training examples it had, taken from runs
that differ only in how much data they trained on: the same training recipe (seeds aside) on
snapshots whose train receipts are nested (each a subset of the next) and whose val split, label
set and build spec are otherwise the same. `trainer data-curve` makes such runs on purpose (25,
50 and 100% of the train receipts, child jobs of one job); runs on a snapshot and on a grown copy
of it are the same evidence, found (curve_evidence.py finds both).

What is reported is what was measured: each label's F1 at each size, and its change between the
two largest sizes per doubling of the label's training examples. Nothing is extrapolated past the
largest size, and labels are never pooled into one curve: how hard a label is differs from how
much data it has, so one label's F1 says nothing about another's curve. Without such runs the
answer is "not measured", with the command that measures it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TRAIN_SUPPORT = "train_entity_words"  # the snapshot manifest's counts.splits.train.entity_words
VAL_SUPPORT_PROXY = "val_support"  # the label's val support, when the snapshot is unreachable
DATA_CURVE = "data_curve"  # the series is a `trainer data-curve` job's children
NESTED = "nested_snapshots"  # the series is runs found on nested snapshots


@dataclass(frozen=True)
class CurvePoint:
    """One run of a series: how much it trained on and how each label scored at its best val_f1."""

    job_id: str
    name: str
    snapshot_id: str | None
    train_receipts: int
    seed: int | None
    f1: Mapping[str, float]
    train_examples: Mapping[str, int]
    """Entity words of each label in the run's train split (its snapshot's manifest)."""
    best_f1: float | None = None


@dataclass(frozen=True)
class CurveSeries:
    """Runs of one recipe on nested snapshots of one run's data, smallest first."""

    source: str  # DATA_CURVE or NESTED
    points: tuple[CurvePoint, ...]
    data_curve_job_id: str | None = None
    same_recipe: bool = False
    """Whether the series was trained with the diagnosed run's own recipe (else see config_differences)."""
    config_differences: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    """Training config keys where the series' recipe differs from the run's: `{key, series, run}`."""

    @property
    def sizes(self) -> list[int]:
        return sorted({p.train_receipts for p in self.points})


def _size_rows(label: str, points: Sequence[CurvePoint]) -> list[dict[str, Any]]:
    """The label's mean F1 (over seeds) and examples at each size, smallest first."""
    by_size: dict[int, list[CurvePoint]] = {}
    for point in points:
        if label in point.f1:
            by_size.setdefault(point.train_receipts, []).append(point)
    rows = []
    for size, group in sorted(by_size.items()):
        f1s = [p.f1[label] for p in group]
        rows.append({"train_receipts": size, "train_examples": max(int(p.train_examples.get(label, 0)) for p in group),
                     "f1": statistics.fmean(f1s), "f1_range": max(f1s) - min(f1s) if len(f1s) > 1 else None, "runs": len(group),
                     "job_ids": [p.job_id for p in group]})
    return rows


def label_curve(label: str, points: Sequence[CurvePoint], min_gain: float) -> dict[str, Any]:
    """One label's measured curve and its verdict: `rising` (more examples bought more than
    `min_gain` F1 per doubling, and more than the seed noise when repeats exist), `flat`,
    `not_measured` (one size only) or `no_examples` (none at the largest size)."""
    sizes = _size_rows(label, points)
    ranges = [r["f1_range"] for r in sizes if r["f1_range"] is not None]
    noise = max(ranges) if ranges else None
    row: dict[str, Any] = {"label": label, "verdict": "not_measured", "f1": sizes[-1]["f1"] if sizes else None,
                           "support": sizes[-1]["train_examples"] if sizes else None, "expected_f1": None, "residual": None,
                           "expected_gain": None, "gain": None, "doublings": None, "gain_per_doubling": None, "noise": noise,
                           "score": -1.0, "points": sizes}
    if not sizes or sizes[-1]["train_examples"] <= 0:
        row.update(verdict="no_examples", advice="no training examples of this label at the largest size: add some")
        return row
    usable = [r for r in sizes if r["train_examples"] > 0]
    if len(usable) < 2 or usable[-1]["train_examples"] <= usable[-2]["train_examples"]:
        row["advice"] = "measured at one size only: no curve"
        return row
    low, high = usable[-2], usable[-1]
    doublings = math.log2(high["train_examples"] / low["train_examples"])
    gain = high["f1"] - low["f1"]
    per_doubling = gain / doublings
    bar = max(min_gain, noise or 0.0)
    verdict = "rising" if per_doubling > bar else "flat"
    moved = (f"F1 {low['f1']:.3f} -> {high['f1']:.3f} ({gain:+.3f}) when its training examples went "
             f"{low['train_examples']} -> {high['train_examples']}")
    advice = (f"still rising: {moved}; more examples of this label should help" if verdict == "rising" else
              f"flat: {moved}; more of the same data is unlikely to help much, look at label quality or ambiguity (`trainer review`)")
    row.update(verdict=verdict, gain=gain, doublings=doublings, gain_per_doubling=per_doubling, score=per_doubling, advice=advice)
    return row


def rank_labels(series: CurveSeries, min_gain: float) -> list[dict[str, Any]]:
    """Every label of the series, the most F1 per doubling first."""
    labels = sorted({label for p in series.points for label in p.f1})
    rows = [label_curve(label, series.points, min_gain) for label in labels]
    return sorted(rows, key=lambda r: (-r["score"], r["f1"] if r["f1"] is not None else 1.0, r["label"]))


def series_summary(series: CurveSeries) -> dict[str, Any]:
    return {"source": series.source, "data_curve_job_id": series.data_curve_job_id, "same_recipe": series.same_recipe,
            "sizes": series.sizes, "config_differences": [dict(d) for d in series.config_differences],
            "runs": [{"job_id": p.job_id, "name": p.name, "snapshot_id": p.snapshot_id, "train_receipts": p.train_receipts,
                      "seed": p.seed, "best_f1": p.best_f1} for p in sorted(series.points, key=lambda p: (p.train_receipts, p.seed or 0))]}


def data_needs_evidence(series: CurveSeries | None, *, reason: str | None, min_gain: float) -> dict[str, Any]:
    """The evidence of the `data_needs` diagnosis. `fit` and `added` stay (always null) for
    readers of run_report schema version 1: the log fit across labels they described is gone."""
    if series is None:
        return {"method": "none", "fit": None, "added": None, "support_source": TRAIN_SUPPORT, "reason": reason, "series": None,
                "ranking": []}
    return {"method": series.source, "fit": None, "added": None, "support_source": TRAIN_SUPPORT, "reason": None,
            "series": series_summary(series), "ranking": rank_labels(series, min_gain)}

"""Which labels would gain most from more training data.

Across every run on record, each label at its run's best evaluation is one point
(train support, F1). F1 tends to grow with the log of the number of examples, so we fit
F1 ~ a + b*ln(support) over all points and ask, for this run's labels, how much F1 adding
`added` examples would buy: b*ln((support + added)/support), capped by the room left
(1 - F1). A label far below the fitted curve has enough data for its F1 and a different
problem (ambiguous or noisy labels); it is flagged rather than ranked high."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TRAIN_SUPPORT = "train_entity_words"  # the snapshot manifest's counts.splits.train.entity_words
VAL_SUPPORT_PROXY = "val_support"  # the label's val support, when the snapshot is unreachable


@dataclass(frozen=True)
class LabelPoint:
    job_id: str
    label: str
    f1: float
    support: float
    support_source: str  # TRAIN_SUPPORT or VAL_SUPPORT_PROXY


@dataclass(frozen=True)
class LogFit:
    intercept: float
    slope: float
    r_squared: float
    points: int
    runs: int

    def predict(self, support: float) -> float:
        return self.intercept + self.slope * math.log(support)


def fit_log_support(points: Sequence[LabelPoint], min_points: int = 4) -> LogFit | None:
    """Least squares F1 = a + b*ln(support), or None when the points cannot support a fit."""
    usable = [p for p in points if p.support > 0]
    if len(usable) < min_points:
        return None
    xs = [math.log(p.support) for p in usable]
    ys = [p.f1 for p in usable]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    var_x = sum((x - mean_x) ** 2 for x in xs)
    if var_x < 1e-12:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var_x
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    r_squared = 1 - residual / total if total > 0 else 1.0
    return LogFit(intercept, slope, r_squared, len(usable), len({p.job_id for p in usable}))


def rank_data_needs(
    current: Sequence[LabelPoint],
    pool: Sequence[LabelPoint],
    *,
    added: float | None = None,
    min_points: int = 4,
    below_trend: float = 0.15,
) -> dict[str, Any]:
    """The ranking, best candidate first, with the fit (or the fallback) that produced it.

    `added`: examples added per label in the what-if (default: the median support of the
    run's labels). `below_trend`: how far under the fitted F1 a label must sit to be flagged
    as needing better labels rather than more of them."""
    if not current:
        return {"method": "none", "fit": None, "added": None, "ranking": []}
    source = current[0].support_source
    same_units = [p for p in pool if p.support_source == source]
    fit = fit_log_support(same_units, min_points)
    supports = [p.support for p in current if p.support > 0]
    added = float(added if added is not None else (statistics.median(supports) if supports else 1.0))
    rows = []
    for point in current:
        row: dict[str, Any] = {
            "label": point.label,
            "f1": point.f1,
            "support": point.support,
            "expected_f1": None,
            "residual": None,
            "expected_gain": None,
        }
        if fit is not None and fit.slope > 0 and point.support > 0:
            expected = fit.predict(point.support)
            gain = min(1.0 - point.f1, fit.slope * math.log((point.support + added) / point.support))
            row.update(expected_f1=expected, residual=point.f1 - expected, expected_gain=max(gain, 0.0))
            row["score"] = row["expected_gain"]
        else:
            row["score"] = (1.0 - point.f1) / math.log(math.e + max(point.support, 0.0))
        below = row["residual"] is not None and row["residual"] < -below_trend
        if point.support <= 0:
            row["advice"] = "no training examples on record for this label: add some"
        elif below:
            row["advice"] = "below the trend for its support: check label quality or ambiguity before adding data"
        else:
            row["advice"] = "more examples should help" if row["score"] > 0.02 else "little to gain from more data"
        rows.append(row)
    rows.sort(key=lambda r: (-(r["score"] * (0.5 if r["advice"].startswith("below") else 1.0)), r["f1"]))
    method = "log_fit" if fit is not None and fit.slope > 0 else "heuristic"
    fit_dict = (
        None
        if fit is None
        else {
            "intercept": fit.intercept,
            "slope": fit.slope,
            "r_squared": fit.r_squared,
            "points": fit.points,
            "runs": fit.runs,
        }
    )
    return {"method": method, "fit": fit_dict, "added": added, "support_source": source, "ranking": rows}

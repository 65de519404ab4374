"""The learning-rate schedule as observed: warmup length, peak, and the decay shape that best
fits the recorded values (linear, cosine, constant or other).

The trainer records one learning rate per evaluation, so the schedule is sampled sparsely;
the fits below use only those samples and the (step, lr) pairs, never the config, which is
reported beside them so a mismatch stands out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Point = tuple[float, float]  # (step, learning rate)


def _rmse(points: Sequence[Point], predict) -> float:
    return math.sqrt(sum((lr - predict(s)) ** 2 for s, lr in points) / len(points))


def _line(points: Sequence[Point]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    n = len(points)
    mean_s = sum(s for s, _ in points) / n
    mean_lr = sum(lr for _, lr in points) / n
    var = sum((s - mean_s) ** 2 for s, _ in points)
    slope = sum((s - mean_s) * (lr - mean_lr) for s, lr in points) / var if var else 0.0
    return mean_lr - slope * mean_s, slope


def _cosine_basis(step: float, start: float, end: float) -> float:
    u = min(max((step - start) / (end - start), 0.0), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * u))


def _fit_cosine(decay: Sequence[Point], start_range: tuple[float, float]) -> tuple[float, float, float, float]:
    """Best (rmse, peak, start, end) of peak * cosine from `start` (warmup end) to `end`
    (the last scheduled step) over a grid; the peak comes in closed form for each pair."""
    last = decay[-1][0]
    best = (math.inf, 0.0, 0.0, 0.0)
    starts = [start_range[0] + (start_range[1] - start_range[0]) * i / 10 for i in range(11)]
    ends = [last * (1 + 4 * i / 80) for i in range(81)]
    for start in starts:
        for end in ends:
            if end <= start:
                continue
            basis = [(lr, _cosine_basis(s, start, end)) for s, lr in decay]
            denominator = sum(c * c for _, c in basis)
            if not denominator:
                continue
            peak = sum(lr * c for lr, c in basis) / denominator
            error = math.sqrt(sum((lr - peak * c) ** 2 for lr, c in basis) / len(basis))
            if error < best[0]:
                best = (error, peak, start, end)
    return best


def observe_schedule(
    points: Sequence[Point], *, constant_tolerance: float = 0.05, fit_tolerance: float = 0.05
) -> dict[str, Any]:
    """Warmup and decay read off (step, lr) samples.

    `constant_tolerance`: relative spread (max-min)/peak under which the LR counts as constant.
    `fit_tolerance`: fit error (RMSE / peak) above which neither linear nor cosine decay fits."""
    points = sorted((float(s), float(lr)) for s, lr in points)
    result: dict[str, Any] = {
        "shape": "unknown",
        "samples": len(points),
        "warmup": None,
        "warmup_steps": None,
        "peak_lr_observed": None,
        "peak_lr_estimated": None,
        "peak_step": None,
        "fit_error": {},
        "decay_end_step": None,
    }
    if len(points) < 3:
        return result
    lrs = [lr for _, lr in points]
    peak_index = lrs.index(max(lrs))
    peak_step, peak = points[peak_index]
    result.update(peak_lr_observed=peak, peak_step=peak_step)
    if peak <= 0:
        return result
    if (max(lrs) - min(lrs)) / peak < constant_tolerance:
        result.update(shape="constant", warmup=False, warmup_steps=0, peak_lr_estimated=peak)
        return result
    rising = points[:peak_index]
    warmup = bool(rising) and rising[0][1] < (1 - constant_tolerance) * peak
    decay = points[peak_index:]
    result["warmup"] = warmup
    if len(decay) < 3:
        result["warmup_steps"] = peak_step if warmup else 0
        return result

    intercept, slope = _line(decay)
    linear_error = _rmse(decay, lambda s: intercept + slope * s) / peak
    previous = rising[-1][0] if rising else 0.0
    cosine_error, cosine_peak, cosine_start, cosine_end = _fit_cosine(
        decay, (previous, peak_step) if warmup else (peak_step, peak_step)
    )
    cosine_error /= peak
    result["fit_error"] = {"linear": round(linear_error, 5), "cosine": round(cosine_error, 5)}
    if min(linear_error, cosine_error) > fit_tolerance or slope >= 0:
        result.update(shape="other", warmup_steps=peak_step if warmup else 0, peak_lr_estimated=peak)
        return result

    if linear_error <= cosine_error:
        result["shape"] = "linear"
        result["decay_end_step"] = -intercept / slope
        warmup_steps, peak_estimate = (
            _linear_warmup_end(rising, intercept, slope, previous, decay)
            if warmup
            else (0.0, intercept + slope * peak_step)
        )
    else:
        result["shape"] = "cosine"
        result["decay_end_step"] = cosine_end
        warmup_steps, peak_estimate = (cosine_start if warmup else 0.0), cosine_peak
    result.update(warmup_steps=warmup_steps, peak_lr_estimated=peak_estimate)
    return result


def _linear_warmup_end(
    rising: Sequence[Point], intercept: float, slope: float, previous: float, decay: Sequence[Point]
) -> tuple[float, float]:
    """Where a warmup line through the origin meets the decay line: the warmup's end and the
    true peak (which usually falls between two evaluations)."""
    warm_slope = sum(s * lr for s, lr in rising) / sum(s * s for s, _ in rising) if any(s for s, _ in rising) else 0.0
    if warm_slope - slope <= 0:
        return decay[0][0], decay[0][1]
    crossing = intercept / (warm_slope - slope)
    upper = decay[1][0] if len(decay) > 1 else decay[0][0]
    crossing = min(max(crossing, previous), upper)
    return crossing, intercept + slope * crossing

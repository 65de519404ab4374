"""Did a swept parameter matter? A deterministic verdict per parameter, measured against seed
noise (pure functions of the trials' values and F1s).

Seed noise: the best config is trained again with other training seeds (`--seed-repeats`);
the range (max - min) of best val_f1 over those runs is the noise margin. A difference of
F1 no larger than that margin is not counted as a difference.

Per parameter, the trials are split in two groups: for numbers (ranges, and categoricals whose
choices are all numbers) the lower and the upper values, split between distinct values as
evenly as the counts allow; for other categoricals the value with the best median F1 against
all the others. Every trial of the better group (higher median F1) is paired with every trial
of the other: a pair is won when the better group's trial is ahead by more than the margin.
The parameter **mattered** when the better group wins at least `pair_share` of all pairs and
its median F1 is ahead by more than the margin. All parameters vary at once in a sweep, so
this is a marginal comparison (the importances from optuna's fANOVA sit beside it).
Pruned trials count at their val_f1 when pruned (a lower bound of what they would have
reached); failed trials are left out.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

VERDICTS = ("mattered", "within_noise", "noise_unknown", "not_enough_trials", "not_varied")


@dataclass(frozen=True)
class VerdictThresholds:
    pair_share: float = 0.75  # share of all pairs the better group must win
    min_group: int = 2  # trials each group needs before anything is said


@dataclass(frozen=True)
class Point:
    """One trial as the verdict sees it."""

    number: int
    value: Any  # the parameter's value
    f1: float
    pruned: bool = False


def seed_noise(runs: Sequence[tuple[int | None, float]]) -> dict[str, Any]:
    """`runs`: (training seed, best val_f1) of the best config's runs (the trial and its repeats)."""
    f1s = [f for _, f in runs]
    if len(f1s) < 2:
        return {
            "available": False,
            "runs": len(f1s),
            "mean": f1s[0] if f1s else None,
            "stdev": None,
            "range": None,
            "margin": None,
            "note": "seed noise not measured: the best config ran once (--seed-repeats 0, or its repeats did not "
            "finish)",
        }
    spread = max(f1s) - min(f1s)
    return {
        "available": True,
        "runs": len(f1s),
        "mean": statistics.fmean(f1s),
        "stdev": statistics.stdev(f1s),
        "range": spread,
        "margin": spread,
        "note": f"range of best val_f1 over {len(f1s)} training seeds of the best config",
    }


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) and not isinstance(value, bool) else (1, str(value))


def _label(name: str, values: list[Any]) -> str:
    distinct = sorted(set(values), key=_order)
    if len(distinct) == 1:
        return f"{name} {fmt_value(distinct[0])}"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct):
        return f"{name} {fmt_value(distinct[0])}-{fmt_value(distinct[-1])}"
    return f"{name} " + ", ".join(fmt_value(v) for v in distinct)


def _numeric(points: Sequence[Point]) -> bool:
    return all(isinstance(p.value, int | float) and not isinstance(p.value, bool) for p in points)


def split_groups(points: Sequence[Point], numeric: bool) -> tuple[list[Point], list[Point]] | None:
    """Two groups (not yet ordered by F1), or None when the parameter took one value only."""
    distinct = (
        sorted({p.value for p in points}, key=_order)
        if numeric
        else list(dict.fromkeys(p.value for p in sorted(points, key=lambda p: p.number)))
    )
    if len(distinct) < 2:
        return None
    if numeric:
        counts = [sum(p.value == v for p in points) for v in distinct]
        below = [sum(counts[:k]) for k in range(1, len(distinct))]
        k = min(range(len(below)), key=lambda i: (abs(2 * below[i] - len(points)), i)) + 1
        low = set(distinct[:k])
        return [p for p in points if p.value in low], [p for p in points if p.value not in low]
    by_value = {v: [p for p in points if p.value == v] for v in distinct}
    best = max(
        distinct, key=lambda v: (statistics.median(p.f1 for p in by_value[v]), len(by_value[v]), -distinct.index(v))
    )
    return by_value[best], [p for p in points if p.value != best]


def parameter_verdict(
    name: str,
    points: Sequence[Point],
    margin: float | None,
    failed: int = 0,
    thresholds: VerdictThresholds = VerdictThresholds(),
) -> dict[str, Any]:
    points = sorted(points, key=lambda p: p.number)
    evidence: dict[str, Any] = {
        "trials": len(points),
        "pruned_included": sum(p.pruned for p in points),
        "failed_left_out": failed,
        "noise_margin": margin,
    }
    base = {"parameter": name, "thresholds": asdict(thresholds)}
    groups = split_groups(points, _numeric(points))
    if groups is None:
        return {
            **base,
            "verdict": "not_varied",
            "evidence": evidence,
            "sentence": f"{name}: every trial had the same value, so nothing can be said about it.",
        }
    first, second = groups
    if min(len(first), len(second)) < thresholds.min_group:
        return {
            **base,
            "verdict": "not_enough_trials",
            "evidence": {**evidence, "group_sizes": [len(first), len(second)]},
            "sentence": f"{name}: not enough trials to judge ({len(first)} vs {len(second)}; at least "
            f"{thresholds.min_group} a side).",
        }
    better, worse = sorted((first, second), key=lambda g: -statistics.median(p.f1 for p in g))
    m_better, m_worse = statistics.median(p.f1 for p in better), statistics.median(p.f1 for p in worse)
    tolerance = margin or 0.0
    wins = sum(a.f1 - b.f1 > tolerance for a in better for b in worse)
    losses = sum(b.f1 - a.f1 > tolerance for a in better for b in worse)
    pairs = len(better) * len(worse)
    label_better, label_worse = (
        _label(name, [p.value for p in better]),
        _label(name, [p.value for p in worse]).removeprefix(f"{name} "),
    )
    evidence.update(
        {
            "groups": [
                {
                    "label": _label(name, [p.value for p in g]),
                    "trials": [p.number for p in g],
                    "median_f1": statistics.median(p.f1 for p in g),
                }
                for g in (better, worse)
            ],
            "pairs": pairs,
            "wins": wins,
            "losses": losses,
            "ties": pairs - wins - losses,
            "median_gap": m_better - m_worse,
        }
    )
    head = f"{label_better} beat {label_worse} in {wins} of {pairs} pairs"
    medians = f"median val_f1 {m_better:.3f} vs {m_worse:.3f}"
    if margin is None:
        return {
            **base,
            "verdict": "noise_unknown",
            "evidence": evidence,
            "sentence": f"{head} ({medians}); seed noise was not measured, so this may be noise.",
        }
    mattered = wins >= thresholds.pair_share * pairs and m_better - m_worse > margin
    if mattered:
        return {
            **base,
            "verdict": "mattered",
            "evidence": evidence,
            "sentence": f"{head} by more than the seed noise {margin:.3f} ({medians}).",
        }
    return {
        **base,
        "verdict": "within_noise",
        "evidence": evidence,
        "sentence": f"{name}: no effect beyond seed noise: {head} by more than {margin:.3f} ({medians}).",
    }


def summary_sentence(verdicts: Sequence[dict[str, Any]], noise: dict[str, Any]) -> str:
    mattered = [v["parameter"] for v in verdicts if v["verdict"] == "mattered"]
    if not noise["available"]:
        return (
            "Seed noise was not measured, so no parameter can be said to matter beyond it; see each parameter's "
            "pair counts."
        )
    margin = f"{noise['margin']:.3f}, the range of {noise['runs']} training seeds of the best config"
    if mattered:
        return f"Mattered beyond seed noise ({margin}): {', '.join(mattered)}."
    if all(v["verdict"] in ("not_enough_trials", "not_varied") for v in verdicts):
        return f"Too few trials to judge any parameter against seed noise ({margin})."
    return f"No parameter mattered beyond seed noise ({margin})."

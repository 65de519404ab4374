"""Drift against the parent snapshot: the population stability index (PSI) of four
distributions. The parent is the reference, so nobody maintains a hand-built baseline."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from .frames import DRIFT_METRICS, ContractInputs

SHARE_FLOOR = 1e-4
"""A bucket's share is floored here before the logarithm, so a bucket that appears or
disappears counts heavily but finitely."""
WORD_BINS = 10
TOP_MERCHANTS = 20
SHIFTS_SHOWN = 5


def population_stability(
    reference: dict[str, int], current: dict[str, int]
) -> tuple[float | None, list[dict[str, Any]]]:
    """PSI = sum over buckets of (current - reference) * ln(current / reference), on shares.
    Returns the index and the buckets that moved it most (None when either side is empty)."""
    ref_total, cur_total = sum(reference.values()), sum(current.values())
    if not ref_total or not cur_total:
        return None, []
    terms = []
    for bucket in sorted(set(reference) | set(current)):
        ref = reference.get(bucket, 0) / ref_total
        cur = current.get(bucket, 0) / cur_total
        r, c = max(ref, SHARE_FLOOR), max(cur, SHARE_FLOOR)
        terms.append(
            {"bucket": bucket, "parent": round(ref, 6), "current": round(cur, 6), "psi": (c - r) * math.log(c / r)}
        )
    shifts = sorted(terms, key=lambda t: -t["psi"])[:SHIFTS_SHOWN]
    return sum(t["psi"] for t in terms), [{**t, "psi": round(t["psi"], 6)} for t in shifts if round(t["psi"], 6) > 0]


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counted = frame.group_by(column).len()
    return {str(k): int(n) for k, n in zip(counted[column], counted["len"], strict=True)}


def label_share(inputs: ContractInputs) -> dict[str, int]:
    """Entity words per source label (before merging, so a new merge preset is not drift)."""
    return _counts(inputs.words.filter(pl.col("source_label").is_not_null() & (pl.col("label") != "O")), "source_label")


def status_mix(inputs: ContractInputs) -> dict[str, int]:
    return _counts(inputs.labels, "validation_status")


def word_bin_edges(inputs: ContractInputs) -> list[int]:
    """Upper edges of the parent's words-per-receipt deciles."""
    n_words = inputs.receipts["n_words"].cast(pl.Float64)
    if n_words.len() == 0:
        return []
    edges = (n_words.quantile(q / WORD_BINS, interpolation="lower") for q in range(1, WORD_BINS))
    return sorted({int(edge) for edge in edges if edge is not None})


def words_per_receipt(inputs: ContractInputs, edges: list[int]) -> dict[str, int]:
    def bucket(n: int) -> str:
        for edge in edges:
            if n <= edge:
                return f"<= {edge}"
        return f"> {edges[-1]}" if edges else "all"

    counts: dict[str, int] = {}
    for n in inputs.receipts["n_words"].to_list():
        counts[bucket(n)] = counts.get(bucket(n), 0) + 1
    return counts


def _merchants(inputs: ContractInputs) -> pl.Series:
    return inputs.receipts["merchant"].cast(pl.Utf8).str.to_lowercase().str.strip_chars().fill_null("(none)")


def merchant_share(inputs: ContractInputs, kept: set[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for merchant in _merchants(inputs).to_list():
        name = merchant if merchant in kept else "(other)"
        counts[name] = counts.get(name, 0) + 1
    return counts


def top_merchants(inputs: ContractInputs) -> set[str]:
    counted = _merchants(inputs).value_counts(sort=True).head(TOP_MERCHANTS)
    return set(counted[counted.columns[0]].to_list())


def drift_frame(
    current: ContractInputs, parent: ContractInputs, parent_id: str | None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A one-row frame of PSIs for the drift suite, and the details for the report."""
    edges = word_bin_edges(parent)
    merchants = top_merchants(parent)
    pairs = {
        "label_share": (label_share(parent), label_share(current)),
        "status_mix": (status_mix(parent), status_mix(current)),
        "words_per_receipt": (words_per_receipt(parent, edges), words_per_receipt(current, edges)),
        "merchant_share": (merchant_share(parent, merchants), merchant_share(current, merchants)),
    }
    metrics = {}
    for name in DRIFT_METRICS:
        psi, shifts = population_stability(*pairs[name])
        metrics[name] = {"psi": None if psi is None else round(psi, 6), "largest_shifts": shifts}
    row = {"parent_id": parent_id, **{f"{m}_psi": metrics[m]["psi"] for m in DRIFT_METRICS}}
    frame = pl.DataFrame([row], schema={"parent_id": pl.Utf8, **{f"{m}_psi": pl.Float64 for m in DRIFT_METRICS}})
    return frame, {"status": "checked", "parent_id": parent_id, "metrics": metrics}

"""What the table holds, as `dsb stats --json` prints it and the MCP server's `dataset_stats`
returns it: one function, so the two cannot drift. Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metrics_store import Queries

from .config import BuildConfig


def table_stats(queries: Queries, statuses: Sequence[str] = BuildConfig().statuses) -> dict[str, Any]:
    """Label counts by validation status, receipts and words, words by label state (labelled:
    an item with one of `statuses`; unknown: items, none with one; unlabelled), and where the
    receipts' merchants come from."""
    counts = queries.label_counts()
    states = queries.word_label_states(BuildConfig(statuses=tuple(statuses)).statuses)  # a bad status: one clear error
    words = queries.count_by_type("RECEIPT_WORD")
    return {
        "receipts": queries.count_receipts(),
        "words": words,
        "label_items": sum(sum(c.values()) for c in counts.by_label.values()),
        "labels_by_status": counts.by_label,
        "valid_labels": counts.total("VALID"),
        "label_states": {"statuses": list(states.statuses), "labelled": states.labelled_words, "unknown": states.unknown_words,
                         "unlabelled": max(words - states.labelled_words - states.unknown_words, 0)},
        "unknown_words_by_label": states.unknown_by_label,
        "merchants": queries.merchant_sources().to_dict(),
    }


def recorded_manifest_hashes(queries: Queries) -> set[str] | None:
    """The manifest hashes the table has snapshot records of; None when the table cannot be read
    (a listing of the snapshot files still works without it)."""
    from metrics_store import StoreError

    try:
        return {r.manifest_sha256 for r in queries.snapshot_records()}
    except StoreError:
        return None

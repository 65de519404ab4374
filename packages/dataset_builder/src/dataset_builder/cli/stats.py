"""`dsb stats`: what an agent needs to know about the table before training."""

from __future__ import annotations

from typing import Any

from cli_edge import JsonOpt, console, key_table, print_json, run_or_exit, store_options
from metrics_store import StoreConfig


@store_options(StoreConfig)
def stats(store: StoreConfig, as_json: JsonOpt = False) -> None:
    """Label counts by validation status, receipts and words in the table."""
    from metrics_store import Queries, connect

    from ..labels import VALIDATION_STATUSES

    def gather() -> dict[str, Any]:
        queries = Queries(connect(store))
        counts = queries.label_counts()
        return {
            "receipts": queries.count_receipts(),
            "words": queries.count_by_type("RECEIPT_WORD"),
            "label_items": sum(sum(c.values()) for c in counts.by_label.values()),
            "labels_by_status": counts.by_label,
            "valid_labels": counts.total("VALID"),
        }

    result = run_or_exit(gather)
    if as_json:
        print_json(result)
        return
    out = console()
    out.print(f"{result['receipts']:,} receipts, {result['words']:,} words, {result['label_items']:,} label items ({result['valid_labels']:,} VALID)")
    rows = [[label, *(c.get(s, 0) for s in VALIDATION_STATUSES)]
            for label, c in sorted(result["labels_by_status"].items(), key=lambda kv: -kv[1].get("VALID", 0))]
    out.print(key_table("labels by validation status", ["label", *VALIDATION_STATUSES], rows))

"""`dsb receipts generate`: synthetic receipts (`synthetic`) written to the table, and, when
asked, their ground truth (`truth`) to a second table or a JSONL file. The only step of
synthetic data that writes."""

from __future__ import annotations

from pathlib import Path

from metrics_store import TableRef

from .bundle import LoadSummary, ProgressFn, ensure_table, write_bundles
from .synthetic import LabelMix, generate_receipts
from .truth import truth_bundle, write_truth_jsonl


def load_synthetic(
    table: TableRef,
    *,
    seed: int,
    n_receipts: int,
    mix: LabelMix = LabelMix(),
    on_progress: ProgressFn | None = None,
    truth_table: TableRef | None = None,
    truth_jsonl: Path | None = None,
    create_table: bool = False,
) -> LoadSummary:
    """Generate `n_receipts` receipts for `seed` and write them (the tables must exist unless
    `create_table`); with `truth_table` / `truth_jsonl`, also their ground truth (see
    `receipts.truth`)."""

    for target in filter(None, (table, truth_table)):
        ensure_table(target, create=create_table)  # before generating: a wrong table name fails in a second
    receipts = list(generate_receipts(seed, n_receipts, mix))
    summary = write_bundles(table, receipts, on_progress=on_progress)
    if truth_table is not None:
        write_bundles(truth_table, [truth_bundle(r) for r in receipts])
    if truth_jsonl is not None:
        write_truth_jsonl(receipts, truth_jsonl)
    return summary

"""`dsb stats`: what an agent needs to know about the table before training."""

from __future__ import annotations

from typing import Annotated

import typer

from cli_edge import JsonOpt, console, key_table, print_json, run_or_exit, store_options
from metrics_store import StoreConfig

from ..config import BuildConfig

SPEC = BuildConfig()


@store_options(StoreConfig)
def stats(
    store: StoreConfig,
    status: Annotated[list[str], typer.Option("--status", help="Status that makes a word labelled, as in `dsb snapshot create` (repeatable).")] = list(SPEC.statuses),  # noqa: B006
    as_json: JsonOpt = False,
) -> None:
    """Label counts by validation status, receipts and words in the table, words by label
    state (labelled, unknown: label items, none with a --status; unlabelled), and where the
    receipts' merchants come from (place, MERCHANT_NAME words, none)."""
    from metrics_store import Queries, connect

    from ..labels import VALIDATION_STATUSES
    from ..stats import table_stats

    result = run_or_exit(lambda: table_stats(Queries(connect(store)), status))
    if as_json:
        print_json(result)
        return
    out = console()
    out.print(f"{result['receipts']:,} receipts, {result['words']:,} words, {result['label_items']:,} label items ({result['valid_labels']:,} VALID)")
    states = result["label_states"]
    out.print(f"words: {states['labelled']:,} labelled ({'/'.join(states['statuses'])}), {states['unknown']:,} unknown "
              f"(label items, none {'/'.join(states['statuses'])}: not trained or scored by default), {states['unlabelled']:,} unlabelled")
    merchants = result["merchants"]
    out.print(f"merchants: {merchants['place']:,} receipts from their place ({merchants['distinct_places']:,} distinct), "
              f"{merchants['labelled_words']:,} from MERCHANT_NAME words, {merchants['none']:,} none"
              + (" (--split-by merchant and --holdout-merchant need merchants)" if merchants["none"] == merchants["receipts"] else ""))
    unknown = result["unknown_words_by_label"]
    rows = [[label, *(c.get(s, 0) for s in VALIDATION_STATUSES), sum(unknown.get(label, {}).values())]
            for label, c in sorted(result["labels_by_status"].items(), key=lambda kv: -kv[1].get("VALID", 0))]
    out.print(key_table("labels by validation status (unknown: words with only non-selected items of the label)",
                        ["label", *VALIDATION_STATUSES, "unknown words"], rows))

"""`dsb receipts ...`: put receipts into the table (synthetic or imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli_edge import (
    EXIT_FAILED,
    JsonOpt,
    console,
    key_table,
    new_app,
    print_json,
    progress,
    run_or_exit,
    store_options,
)
from dataset_builder.receipts.bundle import LoadSummary
from metrics_store import StoreConfig, connect

app = new_app("Put receipts into the table: generate synthetic ones or import a JSONL file.")


def _render_summary(summary: LoadSummary, title: str) -> None:
    rows = [["receipts", summary.receipts], ["lines", summary.lines], ["words", summary.words],
            ["labeled words", summary.labeled_words], ["labels", summary.labels],
            *([f"  {status}", count] for status, count in summary.labels_by_status.items()),
            ["items written", summary.items_written], ["seconds", round(summary.seconds, 1)]]
    console().print(key_table(title, ["what", "count"], rows))


@app.command("generate")
@store_options(StoreConfig)
def generate(
    store: StoreConfig,
    n: Annotated[int, typer.Option("--n", min=0, help="How many receipts to generate.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same receipts, same ids.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Generate realistic synthetic receipts (words, geometry, labels) and write them."""
    from dataset_builder.receipts.synthetic import load_synthetic

    with progress(f"writing {n} receipts", quiet=as_json) as on_progress:
        summary = run_or_exit(lambda: load_synthetic(connect(store), seed=seed, n_receipts=n, on_progress=on_progress))
    if as_json:
        print_json({"seed": seed, **summary.to_dict()})
    else:
        _render_summary(summary, f"synthetic receipts (seed {seed}) -> {store.table}")


@app.command("import")
@store_options(StoreConfig)
def import_file(
    store: StoreConfig,
    file: Annotated[Path, typer.Argument(help="Receipt JSONL file (docs/receipt_jsonl.md).", exists=True, dir_okay=False, readable=True)],
    label_map: Annotated[Path | None, typer.Option("--label-map", help="JSON object: source label -> table label, or null to drop it.", exists=True, dir_okay=False)] = None,
    status: Annotated[str, typer.Option("--status", help="Validation status of imported labels.")] = "VALID",
    strict: Annotated[bool, typer.Option("--strict", help="Refuse the whole file, writing nothing, if any line is bad.")] = False,
    split_keys_out: Annotated[Path | None, typer.Option("--split-keys-out", help="Write the keys (<image_id>#<receipt_id>) of test/val receipts here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import receipts from a JSONL file: bad receipts are skipped and reported (exit code 1), or with --strict reject the file before anything is written (exit code 2)."""
    from dataset_builder.receipts.importer import import_jsonl

    with progress(f"importing {file.name}", quiet=as_json) as on_progress:
        report = run_or_exit(lambda: import_jsonl(connect(store), file, label_map=label_map, status=status, strict=strict,
                                                  split_keys_out=split_keys_out, on_progress=on_progress))
    if as_json:
        print_json(report.to_dict())
    else:
        _render_summary(report.summary, f"{file.name} -> {store.table}")
        if report.split_keys_path:
            typer.echo(f"{len(report.plan.held_out_keys)} held-out receipt key(s) written to {report.split_keys_path}")
        for problem in report.plan.problems:
            typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    if report.plan.problems:
        raise typer.Exit(EXIT_FAILED)

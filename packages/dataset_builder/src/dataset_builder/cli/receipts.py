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
    rows = [
        ["receipts", summary.receipts],
        ["lines", summary.lines],
        ["words", summary.words],
        ["labeled words", summary.labeled_words],
        ["labels", summary.labels],
        *([f"  {status}", count] for status, count in summary.labels_by_status.items()),
        ["items written", summary.items_written],
        ["seconds", round(summary.seconds, 1)],
    ]
    console().print(key_table(title, ["what", "count"], rows))


@app.command("generate")
@store_options(StoreConfig)
def generate(
    store: StoreConfig,
    n: Annotated[int, typer.Option("--n", min=0, help="How many receipts to generate.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same receipts, same ids.")] = 7,
    label_mix: Annotated[
        str,
        typer.Option(
            "--label-mix",
            help="Validation statuses of the labels: default (80% VALID) or user-2025-11 (the user's per-label mix "
            "of November 2025: about half the addresses and merchant names not VALID).",
        ),
    ] = "default",
    truth_table: Annotated[
        str | None,
        typer.Option(
            "--truth-table",
            help="Also write the ground truth (every word with its true label, all VALID, same ids) to this table.",
        ),
    ] = None,
    truth_jsonl: Annotated[
        Path | None,
        typer.Option(
            "--truth-jsonl", help="Also write the ground truth to this JSONL file, one word per line.", dir_okay=False
        ),
    ] = None,
    create_table: Annotated[
        bool,
        typer.Option(
            "--create-table",
            help="Create the table (and --truth-table) if it does not exist; without it a missing table is an error.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate realistic synthetic receipts (words, geometry, labels) and write them."""
    from dataclasses import replace

    from dataset_builder.receipts.generate import load_synthetic
    from dataset_builder.receipts.synthetic import LABEL_MIXES

    def load(on_progress):
        if label_mix not in LABEL_MIXES:
            from dataset_builder.config import ConfigError

            raise ConfigError(f"--label-mix: unknown mix {label_mix!r}; choose from {', '.join(LABEL_MIXES)}")
        truth = connect(replace(store, table=truth_table)) if truth_table else None
        return load_synthetic(
            connect(store),
            seed=seed,
            n_receipts=n,
            mix=LABEL_MIXES[label_mix],
            on_progress=on_progress,
            truth_table=truth,
            truth_jsonl=truth_jsonl,
            create_table=create_table,
        )

    with progress(f"writing {n} receipts", quiet=as_json) as on_progress:
        summary = run_or_exit(lambda: load(on_progress))
    truth = {"table": truth_table, "jsonl": str(truth_jsonl) if truth_jsonl else None}
    if as_json:
        print_json({"seed": seed, "label_mix": label_mix, "truth": truth, **summary.to_dict()})
    else:
        _render_summary(summary, f"synthetic receipts (seed {seed}, label mix {label_mix}) -> {store.table}")
        for where in filter(None, (truth_table, truth_jsonl)):
            typer.echo(f"ground truth of the same receipts written to {where}")


@app.command("import")
@store_options(StoreConfig)
def import_file(
    store: StoreConfig,
    file: Annotated[
        Path,
        typer.Argument(help="Receipt JSONL file (docs/receipt_jsonl.md).", exists=True, dir_okay=False, readable=True),
    ],
    label_map: Annotated[
        Path | None,
        typer.Option(
            "--label-map",
            help="JSON object: source label -> table label, or null to drop it.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    status: Annotated[str, typer.Option("--status", help="Validation status of imported labels.")] = "VALID",
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse the whole file, writing nothing, if any line is bad.")
    ] = False,
    split_keys_out: Annotated[
        Path | None,
        typer.Option("--split-keys-out", help="Write the keys (<image_id>#<receipt_id>) of test/val receipts here."),
    ] = None,
    create_table: Annotated[
        bool,
        typer.Option(
            "--create-table", help="Create the table if it does not exist; without it a missing table is an error."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import receipts from a JSONL file: bad receipts are skipped and reported (exit code 1),
    or with --strict reject the file before anything is written (exit code 2)."""
    from dataset_builder.receipts.importer import import_jsonl

    with progress(f"importing {file.name}", quiet=as_json) as on_progress:
        report = run_or_exit(
            lambda: import_jsonl(
                connect(store),
                file,
                label_map=label_map,
                status=status,
                strict=strict,
                split_keys_out=split_keys_out,
                on_progress=on_progress,
                create_table=create_table,
            )
        )
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

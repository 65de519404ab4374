"""`dsb receipts ...`: put receipts into the table (synthetic or imported)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dataset_builder.receipts.bundle import LoadSummary, ProgressFn
from metrics_store import connect
from metrics_store.cli_support import (
    DEFAULT_TABLE_NAME,
    EXIT_FAILED,
    EndpointOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TableOpt,
    print_json,
    run_or_exit,
    store_config,
)

app = typer.Typer(help="Put receipts into the table: generate synthetic ones or import a JSONL file.", no_args_is_help=True)

T = TypeVar("T")
stderr = Console(stderr=True)


@contextmanager
def _progress(description: str, *, quiet: bool) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr (stdout stays clean for --json) fed (done, total)."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=stderr, disable=quiet, transient=True)
    task = bar.add_task(description, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _with_progress(description: str, quiet: bool, action: Callable[[ProgressFn], T]) -> T:
    with _progress(description, quiet=quiet) as on_progress:
        return run_or_exit(lambda: action(on_progress))


def _render_summary(summary: LoadSummary, title: str) -> None:
    console = Console()
    console.print(f"[bold]{title}[/bold]")
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in (("receipts", summary.receipts), ("lines", summary.lines), ("words", summary.words), ("labeled words", summary.labeled_words), ("labels", summary.labels)):
        table.add_row(name, f"{value:,}")
    for status, count in summary.labels_by_status.items():
        table.add_row(f"  {status}", f"{count:,}")
    table.add_row("items written", f"{summary.items_written:,}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    console.print(table)


@app.command("generate")
def generate(
    n: Annotated[int, typer.Option("--n", min=0, help="How many receipts to generate.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same receipts, same ids.")] = 7,
    table: TableOpt = DEFAULT_TABLE_NAME,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate realistic synthetic receipts (words, geometry, labels) and write them."""
    from dataset_builder.receipts.synthetic import load_synthetic

    ref = run_or_exit(lambda: connect(store_config(table, endpoint_url, region, profile)))
    summary = _with_progress(
        f"writing {n} receipts", as_json, lambda on_progress: load_synthetic(ref, seed=seed, n_receipts=n, on_progress=on_progress)
    )
    if as_json:
        print_json({"seed": seed, **summary.to_dict()})
    else:
        _render_summary(summary, f"synthetic receipts (seed {seed}) -> {table}")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="Receipt JSONL file (docs/receipt_jsonl.md).", exists=True, dir_okay=False, readable=True)],
    label_map: Annotated[Path | None, typer.Option("--label-map", help="JSON object: source label -> table label, or null to drop it.", exists=True, dir_okay=False)] = None,
    status: Annotated[str, typer.Option("--status", help="Validation status of imported labels.")] = "VALID",
    strict: Annotated[bool, typer.Option("--strict", help="Refuse the whole file, writing nothing, if any line is bad.")] = False,
    split_keys_out: Annotated[Path | None, typer.Option("--split-keys-out", help="Write the keys (<image_id>#<receipt_id>) of test/val receipts here.")] = None,
    table: TableOpt = DEFAULT_TABLE_NAME,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import receipts from a JSONL file: bad receipts are skipped and reported (exit code 1), or with --strict reject the file before anything is written (exit code 2)."""
    from dataset_builder.receipts.importer import import_jsonl

    ref = run_or_exit(lambda: connect(store_config(table, endpoint_url, region, profile)))
    report = _with_progress(
        f"importing {file.name}", as_json,
        lambda on_progress: import_jsonl(ref, file, label_map=label_map, status=status, strict=strict, split_keys_out=split_keys_out, on_progress=on_progress),
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _render_summary(report.summary, f"{file.name} -> {table}")
        if report.split_keys_path:
            typer.echo(f"{len(report.plan.held_out_keys)} held-out receipt key(s) written to {report.split_keys_path}")
        for problem in report.plan.problems:
            typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    if report.plan.problems:
        raise typer.Exit(EXIT_FAILED)

"""`dsb`: the dataset builder's command line. One module per command group; each command
parses options, calls one domain function, renders, and maps errors to exit codes."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Receipt labels in DynamoDB -> versioned, immutable Parquet snapshots.",
    no_args_is_help=True,
)


def _register() -> None:
    from . import contracts, receipts, snapshot, stats

    app.add_typer(contracts.app, name="contracts")
    app.add_typer(receipts.app, name="receipts")
    app.add_typer(snapshot.app, name="snapshot")
    app.command("stats")(stats.stats)


_register()

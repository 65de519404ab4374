"""Options and rendering shared by the dsb command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

RootOpt = Annotated[
    str,
    typer.Option("--root", envvar="RECEIPT_ML_SNAPSHOT_ROOT", help="Snapshot root: a folder, or s3://bucket/prefix."),
]
DEFAULT_ROOT = "snapshots"


def backend(root: str, region: str | None = None):
    """The storage backend for --root (S3 honours AWS_ENDPOINT_URL_S3 through boto3)."""
    from ..storage import backend_for

    return backend_for(root, region=region)


def read_keys_file(path: Path) -> tuple[str, ...]:
    """Receipt keys, one per line; blank lines and `#` comments ignored."""
    if not path.is_file():
        raise FileNotFoundError(f"--val-keys: {path} does not exist")
    keys = [line.strip() for line in path.read_text().splitlines()]
    return tuple(k for k in keys if k and not k.startswith("#"))


def rich_table(title: str, columns: list[str], rows: list[list[Any]]):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*("" if c is None else str(c) for c in row))
    return table


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr)

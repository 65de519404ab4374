"""Shared by the benchmarks: a receipts table on DynamoDB Local (started here, in memory,
unless BENCH_DYNAMODB_ENDPOINT points at a running one) and a rich table printer."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from metrics_store import StoreConfig, TableRef, connect, create_table, delete_table
from metrics_store.local import DynamoDBLocal, LocalDynamoConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
CORD_JSONL = REPO_ROOT.parent / "shared" / "datasets" / "cord" / "cord.jsonl"


@contextlib.contextmanager
def local_endpoint() -> Iterator[str]:
    if os.environ.get("BENCH_DYNAMODB_ENDPOINT"):
        yield os.environ["BENCH_DYNAMODB_ENDPOINT"]
        return
    with DynamoDBLocal(LocalDynamoConfig(REPO_ROOT / ".local" / "dynamodb")) as local:
        yield local.endpoint_url


@contextlib.contextmanager
def fresh_table(endpoint: str, prefix: str = "bench") -> Iterator[tuple[StoreConfig, TableRef]]:
    config = StoreConfig(table=f"{prefix}-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=endpoint)
    ref = connect(config)
    create_table(ref, stream=False)
    try:
        yield config, ref
    finally:
        delete_table(ref)


def print_table(title: str, columns: list[str], rows: list[list[object]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    # In a pipe (a log file), one row per line: wide enough not to wrap a cell into a column of fragments.
    Console(width=None if sys.stdout.isatty() else 200).print(table)

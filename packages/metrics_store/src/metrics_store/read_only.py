"""A connection that can only read: every DynamoDB operation but the reads is refused before it
is sent. What the MCP server (`trainer mcp`) connects with, so that being read-only is a
property of its connection, not only of the code it happens to run. A reader may narrow the
allowed operations to the ones it uses (the server allows GetItem and Query: its IAM actions)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .connection import TableRef
from .errors import StoreError

READ_OPERATIONS = frozenset({"DescribeTable", "GetItem", "BatchGetItem", "Query", "Scan"})


class ReadOnlyViolation(StoreError):
    """Something tried to change the table through a read-only connection."""


def read_only(table: TableRef, allowed: Iterable[str] = READ_OPERATIONS) -> TableRef:
    """`table`, its client refusing every operation not in `allowed` (a subset of
    `READ_OPERATIONS`), in botocore's before-call event: nothing is sent."""
    allowed = frozenset(allowed)
    if not allowed <= READ_OPERATIONS:
        raise ValueError(f"not read operations: {', '.join(sorted(allowed - READ_OPERATIONS))}")

    def refuse(model: Any, **_: Any) -> None:
        if model.name not in allowed:
            raise ReadOnlyViolation(f"{model.name} refused: this connection to table {table.name!r} is read-only")

    table.client.meta.events.register("before-call.dynamodb", refuse, unique_id="receipt-ml-read-only")
    return table

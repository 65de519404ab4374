"""The receipts table's definition, as the user's own table has it: keys, indexes, the stream
their pipelines read (new and old images) and TTL on `time_to_live`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .connection import TableRef, translate_errors

log = logging.getLogger(__name__)
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
TTL_ATTRIBUTE = "time_to_live"


@dataclass(frozen=True)
class TableSetup:
    """What the table has, as DynamoDB describes it, and what could not be set."""

    created: bool
    stream: str | None
    ttl_attribute: str | None
    missing: list[str] = field(default_factory=list)


def table_definition(name: str, *, stream: bool = True) -> dict[str, Any]:
    def gsi(index: str, hash_key: str, range_key: str | None) -> dict[str, Any]:
        schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if range_key:
            schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        return {"IndexName": index, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}}

    attributes = ["PK", "SK", "TYPE"] + [f"GSI{i}{k}" for i in range(1, 5) for k in ("PK", "SK")]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "GlobalSecondaryIndexes": [
            *(gsi(f"GSI{i}", f"GSI{i}PK", f"GSI{i}SK") for i in range(1, 5)),
            gsi("GSITYPE", "TYPE", None),
        ],
        **({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW}} if stream else {}),
    }


def create_table(table: TableRef, *, exist_ok: bool = True, stream: bool = True) -> bool:
    """Create the receipts table and wait until it is active. Returns False if it existed.
    `stream=False` for throwaway tables (tests, benchmarks): DynamoDB Local slows down by an
    order of magnitude for every write once a table with a stream has been deleted."""
    from botocore.exceptions import ClientError

    with translate_errors(table.name, table.endpoint_url):
        try:
            table.client.create_table(**table_definition(table.name, stream=stream))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceInUseException" and exist_ok:
                return False
            raise
        table.client.get_waiter("table_exists").wait(
            TableName=table.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
        )
        try:
            table.client.update_time_to_live(
                TableName=table.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
        except ClientError as exc:  # an emulator without TTL: the table is still usable; `table_setup` says so
            log.warning("table %s: TTL on %s not enabled: %s", table.name, TTL_ATTRIBUTE, exc)
    return True


def table_setup(table: TableRef, created: bool) -> TableSetup:
    """The stream and TTL the table has (DescribeTable, DescribeTimeToLive), and what of the
    user's table definition it lacks."""
    from botocore.exceptions import ClientError

    with translate_errors(table.name, table.endpoint_url):
        described = table.client.describe_table(TableName=table.name)["Table"]
        stream = described.get("StreamSpecification") or {}
        try:
            ttl = table.client.describe_time_to_live(TableName=table.name).get("TimeToLiveDescription") or {}
        except ClientError:
            ttl = {}
    view = stream.get("StreamViewType") if stream.get("StreamEnabled") else None
    ttl_attribute = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None
    missing = []
    if view != STREAM_VIEW:
        missing.append(f"stream {STREAM_VIEW} (has {view or 'none'})")
    if ttl_attribute != TTL_ATTRIBUTE:
        missing.append(f"TTL on {TTL_ATTRIBUTE} (has {ttl_attribute or 'none'})")
    return TableSetup(created, view, ttl_attribute, missing)


def delete_table(table: TableRef) -> None:
    with translate_errors(table.name, table.endpoint_url):
        table.client.delete_table(TableName=table.name)


def table_exists(table: TableRef) -> bool:
    from botocore.exceptions import ClientError

    with translate_errors(table.name, table.endpoint_url):
        try:
            table.client.describe_table(TableName=table.name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise
    return True

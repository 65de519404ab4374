"""The receipts table's definition, exactly as the reference layout has it."""

from __future__ import annotations

from typing import Any

from .connection import TableRef, translate_errors


def table_definition(name: str) -> dict[str, Any]:
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
    }


def create_table(table: TableRef, *, exist_ok: bool = True) -> bool:
    """Create the receipts table and wait until it is active. Returns False if it existed."""
    from botocore.exceptions import ClientError

    with translate_errors(table.name, table.endpoint_url):
        try:
            table.client.create_table(**table_definition(table.name))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceInUseException" and exist_ok:
                return False
            raise
        table.client.get_waiter("table_exists").wait(
            TableName=table.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
        )
    return True


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

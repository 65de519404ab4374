"""Builders for metrics_store tests: small valid records, and botocore hooks that make
DynamoDB Local behave like a throttled production table."""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.awsrequest import AWSResponse

from metrics_store import Geometry, Job, Point, ReceiptWord, ReceiptWordLabel


def job(
    name: str = "run", status: str = "pending", created_at: str = "2026-01-01T00:00:00.000000+00:00", **kw: Any
) -> Job:
    return Job(
        job_id=str(uuid.uuid4()),
        name=name,
        created_at=created_at,
        status=status,
        job_config={"lr": 6e-5, "batch_size": 64, "labels": ["AMOUNT", "DATE"]},
        **kw,
    )


def geometry(x: float = 0.1, y: float = 0.8, w: float = 0.2, h: float = 0.03) -> Geometry:
    return Geometry(
        top_left=Point(x, y + h),
        top_right=Point(x + w, y + h),
        bottom_left=Point(x, y),
        bottom_right=Point(x + w, y),
        angle_degrees=0.5,
        angle_radians=0.0087,
        confidence=0.98,
    )


def word(image_id: str, rid: int = 1, lid: int = 1, wid: int = 1, text: str = "TOTAL") -> ReceiptWord:
    return ReceiptWord(image_id, rid, lid, wid, text, geometry())


def label(
    image_id: str, rid: int = 1, lid: int = 1, wid: int = 1, name: str = "GRAND_TOTAL", status: str = "VALID"
) -> ReceiptWordLabel:
    return ReceiptWordLabel(image_id, rid, lid, wid, name, status, "2026-01-01T00:00:00+00:00")


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any):
        yield self._body


class Throttle:
    """`before-send` hook: answer the first `times` calls of `operation` with a
    ProvisionedThroughputExceededException, as a throttled table does."""

    def __init__(self, client: Any, operation: str, times: int):
        self.remaining = times
        self.fired = 0
        self.operation = operation
        client.meta.events.register(f"before-send.dynamodb.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        self.fired += 1
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            }
        ).encode()
        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ProvisionedThroughputExceededException"}, _Raw(body))


class DropSome:
    """Hooks that make BatchWriteItem leave `per_call` items unprocessed on its first
    `times` calls: the items are taken out of the request before it is sent and handed back
    as UnprocessedItems, exactly as DynamoDB does under load."""

    def __init__(self, client: Any, per_call: int, times: int):
        self.per_call = per_call
        self.remaining = times
        self.calls = 0
        self._held: dict[str, list] = {}
        client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", self.before)
        client.meta.events.register("after-call.dynamodb.BatchWriteItem", self.after)

    def before(self, params: dict, **_: Any) -> None:
        self.calls += 1
        self._held = {}
        if self.remaining <= 0:
            return
        self.remaining -= 1
        for table, requests in params["RequestItems"].items():
            self._held[table] = requests[-self.per_call :]
            if len(requests) > self.per_call:
                del requests[-self.per_call :]
            # else: a request cannot be empty; send it, and still report it unprocessed

    def after(self, parsed: dict, **_: Any) -> None:
        if self._held:
            parsed.setdefault("UnprocessedItems", {}).update(self._held)
            self._held = {}

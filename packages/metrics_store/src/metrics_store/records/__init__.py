"""Typed records for every item type the tools write, each with its exact item codec.

A record is plain data: `to_item()` gives the DynamoDB item (keys, GSIs, TYPE, attributes in
the reference layout) and `from_item()` reads one back, tolerating what older writers left
(missing validation status, flat per-label metrics, absent optional fields). Records never
save themselves; `Store` does the writing.
"""

from __future__ import annotations

from typing import Any

from ..codec import Item
from .choices import (
    JOB_PRIORITIES,
    JOB_STATUSES,
    LOG_LEVELS,
    RESOURCE_TYPES,
    TERMINAL_JOB_STATUSES,
    VALIDATION_STATUSES,
)
from .datasets import DatasetSnapshotRecord
from .jobs import Job, JobCheckpoint, JobLog, JobMetric, JobResource, JobStatus, MetricValue
from .receipts import Geometry, Point, Receipt, ReceiptLine, ReceiptWord, ReceiptWordLabel

__all__ = [
    "JOB_PRIORITIES", "JOB_STATUSES", "LOG_LEVELS", "RECORD_TYPES", "RESOURCE_TYPES", "TERMINAL_JOB_STATUSES",
    "VALIDATION_STATUSES", "DatasetSnapshotRecord", "Geometry", "Job", "JobCheckpoint", "JobLog", "JobMetric",
    "JobResource", "JobStatus", "MetricValue", "Point", "Receipt", "ReceiptLine", "ReceiptWord",
    "ReceiptWordLabel", "record_from_item",
]


RECORD_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        Receipt, ReceiptLine, ReceiptWord, ReceiptWordLabel, Job, JobMetric, JobLog,
        JobStatus, JobCheckpoint, JobResource, DatasetSnapshotRecord,
    )
}


def record_from_item(item: Item) -> Any:
    """Decode any item we know by its TYPE."""
    kind = item["TYPE"]["S"]
    try:
        return RECORD_TYPES[kind].from_item(item)
    except KeyError:
        raise ValueError(f"unknown item TYPE {kind!r}") from None

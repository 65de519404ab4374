"""Typed records for every item type the tools write, each with its exact item codec.

A record is plain data: `to_item()` gives the DynamoDB item (keys, GSIs, TYPE, attributes in
the reference layout) and `from_item()` reads one back, tolerating what older writers left
(missing validation status, absent optional fields, ids only in the keys). Both are derived
from the dataclass fields by `records.codec`, which also says how to add a record type.
Records never save themselves; `Store` does the writing.
"""

from __future__ import annotations

from typing import Any

from ..codec import Item
from .choices import (
    FINAL_JOB_STATUSES,
    JOB_PRIORITIES,
    JOB_STATUSES,
    LOG_LEVELS,
    RESOURCE_TYPES,
    RESUMABLE_JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    VALIDATION_STATUSES,
)
from .codec import Layout, Record
from .datasets import DatasetSnapshotRecord
from .jobs import (
    LOG_PART_BYTES,
    Job,
    JobCheckpoint,
    JobLog,
    JobLogPart,
    JobMetric,
    JobResource,
    JobStatus,
    LocalCheckpoint,
    MetricValue,
    checkpoint_record,
    log_items,
)
from .receipts import (
    Geometry,
    PlaceDetails,
    Point,
    Receipt,
    ReceiptImage,
    ReceiptLine,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
    merchant_slug,
)

__all__ = [
    "FINAL_JOB_STATUSES",
    "JOB_PRIORITIES",
    "JOB_STATUSES",
    "LOG_LEVELS",
    "RECORD_TYPES",
    "RESOURCE_TYPES",
    "RESUMABLE_JOB_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "VALIDATION_STATUSES",
    "LOG_PART_BYTES",
    "DatasetSnapshotRecord",
    "Geometry",
    "Job",
    "JobCheckpoint",
    "JobLog",
    "JobLogPart",
    "JobMetric",
    "JobResource",
    "JobStatus",
    "Layout",
    "LocalCheckpoint",
    "MetricValue",
    "PlaceDetails",
    "Point",
    "Receipt",
    "ReceiptImage",
    "ReceiptLine",
    "ReceiptPlace",
    "ReceiptWord",
    "ReceiptWordLabel",
    "Record",
    "checkpoint_record",
    "log_items",
    "merchant_slug",
    "record_from_item",
]


RECORD_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        Receipt,
        ReceiptLine,
        ReceiptWord,
        ReceiptWordLabel,
        ReceiptPlace,
        Job,
        JobMetric,
        JobLog,
        JobLogPart,
        JobStatus,
        JobCheckpoint,
        LocalCheckpoint,
        JobResource,
        DatasetSnapshotRecord,
    )
}


def record_from_item(item: Item) -> Any:
    """Decode any item we know by its TYPE."""
    kind = item["TYPE"]["S"]
    record_type = RECORD_TYPES.get(kind)
    if record_type is None:
        raise ValueError(f"unknown item TYPE {kind!r}")
    return record_type.from_item(item)

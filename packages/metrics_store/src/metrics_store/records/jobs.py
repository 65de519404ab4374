"""Training records: jobs and what a run writes under `JOB#<id>`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from .. import keys
from ..codec import MAX_ITEM_BYTES, Item, item_size
from ..errors import InvalidValue
from ..run_records import JobConfig, JobResults
from .choices import (
    JOB_PRIORITIES,
    JOB_STATUSES,
    LOG_LEVELS,
    RESOURCE_STATUSES,
    RESOURCE_TYPES,
    check_choice,
)
from .codec import Layout, Record

CLIENT_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[45][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$")
"""What the user's client accepts as a job or resource id: a UUID of version 4 (random) or 5
(derived, as a sweep's trial ids are)."""


def _refuse(record: Record, why: str) -> None:
    item_keys = record.item_keys()
    raise InvalidValue(
        f"{item_keys['PK']}/{item_keys['SK']}: {why} (the user's client, receipt_dynamo, could not read it)"
    )


def _check_uuid(record: Record, name: str, value: str) -> None:
    if not CLIENT_UUID.match(value or ""):
        _refuse(record, f"{name} {value!r} is not a UUID (version 4 or 5)")


class JobRecord(Record):
    """What every job entity shares: it lives under `PK=JOB#<job_id>`, omits absent optionals
    (as the user's trainer does), and reads its job_id from the PK where an older item lacks
    the attribute."""

    __slots__ = ()
    LAYOUT: ClassVar[Layout] = Layout(write_nulls=False)

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        return {"job_id": keys.parse_job_pk(pk)}


@dataclass(frozen=True, slots=True)
class Job(JobRecord):
    TYPE: ClassVar[str] = "JOB"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=False, read_defaults={"name": "", "created_at": "", "created_by": "unknown"}
    )
    job_id: str
    name: str
    created_at: str
    status: str = "pending"
    description: str = ""
    created_by: str = "receipt-ml"
    """Who started the job; the CLIs pass the user (`cli_edge.current_user`). The user's client
    refuses an empty one; an empty one written before this rule reads as "unknown"."""
    priority: str = "medium"
    job_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] | None = None
    storage: dict[str, str] | None = None
    results: dict[str, Any] | None = None
    estimated_duration: int | None = None
    heartbeat_at: str | None = None
    """When the process training a running job last renewed its lease (see job_state)."""
    lease_owner: str | None = None
    """Which process holds the lease: `host:pid:tag`."""
    restarted_at: str | None = None
    """Set by `trainer fit --resume --restart`: records before this time belong to an
    abandoned attempt and are left out of the run's history."""
    parent_job_id: str | None = None
    """The job that started this one (a sweep's trial, a review's fold); also in
    `tags.parent_job_id` for people reading the table. `Queries.jobs_by_parent` lists them."""

    def __post_init__(self) -> None:
        check_choice("status", self.status, JOB_STATUSES)
        check_choice("priority", self.priority, JOB_PRIORITIES)

    @property
    def config(self) -> JobConfig:
        """`job_config`, read as whoever wrote it meant it (run_records.JobConfig)."""
        return JobConfig.parse(self.job_config)

    @property
    def outcome(self) -> JobResults:
        """`results`, typed (run_records.JobResults)."""
        return JobResults.parse(self.results)

    def check_writable(self) -> None:
        _check_uuid(self, "job_id", self.job_id)
        if not self.name:
            _refuse(self, "a job needs a name")
        if not self.created_by:
            _refuse(
                self, "created_by must name who started the job (pass created_by; the CLIs use $USER or the login name)"
            )
        if self.estimated_duration is not None and (
            isinstance(self.estimated_duration, bool) or self.estimated_duration <= 0
        ):
            _refuse(
                self, f"estimated_duration must be a positive whole number of seconds, got {self.estimated_duration!r}"
            )
        bad_tags = {k: v for k, v in (self.tags or {}).items() if not isinstance(v, str)}
        bad_storage = {k: v for k, v in (self.storage or {}).items() if not isinstance(v, str)}
        if bad_tags or bad_storage:
            _refuse(self, f"tags and storage hold strings only, got {bad_tags or bad_storage}")

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id),
            "SK": "JOB",
            "GSI1PK": keys.job_status_gsi1pk(self.status),
            "GSI1SK": f"CREATED#{self.created_at}",
            "GSI2PK": keys.job_name_gsi2pk(self.name),
            "GSI2SK": f"CREATED#{self.created_at}",
        }


MetricValue = int | float | dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobMetric(JobRecord):
    TYPE: ClassVar[str] = "JOB_METRIC"
    LAYOUT: ClassVar[Layout] = Layout(write_nulls=False, read_defaults={"value": None}, whole_numbers=("epoch",))
    job_id: str
    metric_name: str
    timestamp: str
    value: MetricValue
    unit: str | None = None
    step: int | None = None
    epoch: float | None = None
    """Fractional during an epoch (0.5); the item holds its floor in `epoch` and the fraction in
    `epoch_exact` (records.codec, "Whole numbers")."""

    def check_writable(self) -> None:
        _check_uuid(self, "job_id", self.job_id)
        if not self.metric_name:
            _refuse(self, "a metric needs a name")
        if isinstance(self.value, bool) or not isinstance(self.value, int | float | dict):
            _refuse(self, f"value must be a number or a map, got {type(self.value).__name__}")
        for name in ("step", "epoch"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                _refuse(self, f"{name} must be a non-negative number, got {value!r}")

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id),
            "SK": keys.metric_sk(self.metric_name, self.timestamp),
            "GSI1PK": keys.metric_gsi_pk(self.metric_name),
            "GSI1SK": self.timestamp,
            "GSI2PK": keys.metric_gsi_pk(self.metric_name),
            "GSI2SK": f"JOB#{self.job_id}#{self.timestamp}",
        }


@dataclass(frozen=True, slots=True)
class JobLog(JobRecord):
    """One log line. A message too large for one item is kept whole in `JobLogPart` items and
    the head item holds a short, valid stand-in (`store.split_log`); `Queries.job_logs` joins
    the parts again."""

    TYPE: ClassVar[str] = "JOB_LOG"
    LAYOUT: ClassVar[Layout] = Layout(write_nulls=False, read_defaults={"message": ""})
    job_id: str
    timestamp: str
    message: str
    log_level: str = "INFO"
    source: str | None = None
    exception: str | None = None

    def __post_init__(self) -> None:
        check_choice("log_level", self.log_level, LOG_LEVELS)

    def check_writable(self) -> None:
        _check_uuid(self, "job_id", self.job_id)
        if not self.message:
            _refuse(self, "a log needs a message")

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id),
            "SK": keys.log_sk(self.timestamp),
            "GSI1PK": "LOG",
            "GSI1SK": f"JOB#{self.job_id}#{self.timestamp}",
        }

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        return {"job_id": keys.parse_job_pk(pk), "timestamp": keys.parse_log_sk(sk)}


@dataclass(frozen=True, slots=True)
class JobStatus(JobRecord):
    TYPE: ClassVar[str] = "JOB_STATUS"
    job_id: str
    status: str
    updated_at: str
    progress: float | None = None
    message: str | None = None
    updated_by: str | None = None
    instance_id: str | None = None

    def __post_init__(self) -> None:
        check_choice("status", self.status, JOB_STATUSES)
        if self.progress is not None and not 0 <= self.progress <= 100:
            raise ValueError(f"progress must be within 0..100, got {self.progress}")

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id),
            "SK": keys.status_sk(self.updated_at),
            "GSI1PK": keys.job_status_gsi1pk(self.status),
            "GSI1SK": f"UPDATED#{self.updated_at}",
        }


@dataclass(frozen=True, slots=True)
class JobCheckpoint(JobRecord):
    TYPE: ClassVar[str] = "JOB_CHECKPOINT"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=False,
        read_defaults={"s3_bucket": "", "s3_key": "", "size_bytes": 0, "step": 0, "epoch": 0},
        whole_numbers=("epoch",),
    )
    job_id: str
    timestamp: str
    s3_bucket: str
    s3_key: str
    size_bytes: int
    step: int
    epoch: float
    model_state: bool = True
    optimizer_state: bool = True
    is_best: bool = False
    metrics: dict[str, Any] | None = None

    @property
    def uri(self) -> str:
        """`s3://bucket/key`, or a local path when the checkpoint was not uploaded."""
        return f"s3://{self.s3_bucket}/{self.s3_key}" if self.s3_bucket else self.s3_key

    @property
    def uploaded(self) -> bool:
        return bool(self.s3_bucket)

    def check_writable(self) -> None:
        _check_uuid(self, "job_id", self.job_id)
        if not self.s3_bucket or not self.s3_key:
            _refuse(
                self,
                "a JobCheckpoint item needs an S3 bucket and key; record a checkpoint that was not uploaded "
                "as a LocalCheckpoint (`checkpoint_record`)",
            )

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id),
            "SK": keys.checkpoint_sk(self.timestamp),
            "GSI1PK": "CHECKPOINT",
            "GSI1SK": f"JOB#{self.job_id}#{self.timestamp}",
        }


@dataclass(frozen=True, slots=True)
class JobResource(JobRecord):
    TYPE: ClassVar[str] = "JOB_RESOURCE"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=False,
        read_defaults={"instance_id": "", "instance_type": "", "resource_type": "combined", "allocated_at": ""},
    )
    job_id: str
    resource_id: str
    instance_id: str
    instance_type: str
    resource_type: str
    allocated_at: str
    status: str = "allocated"
    gpu_count: int | None = None
    released_at: str | None = None
    resource_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_choice("resource_type", self.resource_type, RESOURCE_TYPES)
        check_choice("status", self.status, RESOURCE_STATUSES)

    def check_writable(self) -> None:
        _check_uuid(self, "job_id", self.job_id)
        _check_uuid(self, "resource_id", self.resource_id)
        if not self.instance_id or not self.instance_type or not self.allocated_at:
            _refuse(self, "a resource needs instance_id, instance_type and allocated_at")

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id),
            "SK": keys.resource_sk(self.resource_id),
            "GSI1PK": "RESOURCE",
            "GSI1SK": f"RESOURCE#{self.resource_id}",
        }


@dataclass(frozen=True, slots=True)
class LocalCheckpoint(JobRecord):
    """**Ours**: a checkpoint saved on the training machine and not uploaded. The user's client
    lists every `CHECKPOINT#` item as a JobCheckpoint and refuses one without an S3 bucket, so a
    local checkpoint lives under its own sort key (`LOCAL_CHECKPOINT#<ts>`, no index), where
    their client never looks. `Queries.checkpoints` returns both kinds as JobCheckpoints."""

    TYPE: ClassVar[str] = "JOB_LOCAL_CHECKPOINT"
    job_id: str
    timestamp: str
    path: str
    size_bytes: int = 0
    step: int = 0
    epoch: float = 0
    is_best: bool = False
    metrics: dict[str, Any] | None = None

    def item_keys(self) -> dict[str, str]:
        return {"PK": keys.job_pk(self.job_id), "SK": keys.local_checkpoint_sk(self.timestamp)}

    @classmethod
    def of(cls, checkpoint: JobCheckpoint) -> LocalCheckpoint:
        return cls(
            checkpoint.job_id,
            checkpoint.timestamp,
            checkpoint.s3_key,
            checkpoint.size_bytes,
            checkpoint.step,
            checkpoint.epoch,
            checkpoint.is_best,
            checkpoint.metrics,
        )

    def as_checkpoint(self) -> JobCheckpoint:
        return JobCheckpoint(
            self.job_id,
            self.timestamp,
            "",
            self.path,
            self.size_bytes,
            self.step,
            self.epoch,
            is_best=self.is_best,
            metrics=self.metrics,
        )


def checkpoint_record(checkpoint: JobCheckpoint) -> JobCheckpoint | LocalCheckpoint:
    """The record that stores a checkpoint: a JobCheckpoint when it was uploaded, else a
    LocalCheckpoint (the user's client requires a bucket on every JobCheckpoint)."""
    return checkpoint if checkpoint.uploaded else LocalCheckpoint.of(checkpoint)


@dataclass(frozen=True, slots=True)
class JobLogPart(JobRecord):
    """**Ours**: one part of a log message too large for one item, under `LOG_PART#<ts>#<n>`
    (no index). The user's client lists every `LOG#` item as a JobLog, so parts live outside it."""

    TYPE: ClassVar[str] = "JOB_LOG_PART"
    job_id: str
    timestamp: str
    part: int
    message: str

    def item_keys(self) -> dict[str, str]:
        return {"PK": keys.job_pk(self.job_id), "SK": keys.log_part_sk(self.timestamp, self.part)}


LOG_PART_BYTES = 300 * 1024
"""Message bytes per part item, leaving room for the keys and other attributes."""
STAND_IN_SCALAR_CHARS = 200


def log_items(log: JobLog, part_bytes: int = LOG_PART_BYTES) -> list[Item]:
    """The items of one log. A message that fits is one JobLog item. A larger one (a long
    run's `run_summary`) is kept whole in `JobLogPart` items, and the JobLog item at `LOG#<ts>`
    holds a short stand-in that is still valid JSON for a JSON message (its small top-level
    fields, `message_parts` and the names of the fields `omitted`), so the user's client reads
    a complete, parseable log; the head also gets `message_parts=N`. Nothing is cut."""
    head = log.to_item()
    if item_size(head) <= MAX_ITEM_BYTES:
        return [head]
    chunks = _utf8_chunks(log.message, part_bytes)
    head = replace(log, message=_stand_in(log.message, len(chunks))).to_item()
    head["message_parts"] = {"N": str(len(chunks))}
    return [
        head,
        *(JobLogPart(log.job_id, log.timestamp, n, chunk).to_item() for n, chunk in enumerate(chunks, start=1)),
    ]


def _utf8_chunks(text: str, size: int) -> list[str]:
    encoded, chunks, start = text.encode("utf-8"), [], 0
    while start < len(encoded):
        end = min(start + size, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:  # stay on a character boundary
            end -= 1
        chunks.append(encoded[start:end].decode("utf-8"))
        start = end
    return chunks


def _stand_in(message: str, parts: int) -> str:
    try:
        payload = json.loads(message) if message.startswith("{") else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return f"{message[:2000]} ... [the whole message is in {parts} LOG_PART items]"

    def small(value: Any) -> bool:
        return (
            value is None
            or isinstance(value, bool | int | float)
            or (isinstance(value, str) and len(value) <= STAND_IN_SCALAR_CHARS)
        )

    kept = {k: v for k, v in payload.items() if small(v)}
    return json.dumps({**kept, "message_parts": parts, "omitted": sorted(set(payload) - set(kept))}, default=str)

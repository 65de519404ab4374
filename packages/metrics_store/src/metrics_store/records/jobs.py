"""Training records: jobs and what a run writes under `JOB#<id>`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import keys
from ..codec import Item, decode_item, encode_item
from .choices import JOB_PRIORITIES, JOB_STATUSES, LOG_LEVELS, RESOURCE_TYPES, check_choice

# --- training records -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    TYPE: ClassVar[str] = "JOB"
    job_id: str
    name: str
    created_at: str
    status: str = "pending"
    description: str = ""
    created_by: str = ""
    priority: str = "medium"
    job_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] | None = None
    storage: dict[str, str] | None = None
    results: dict[str, Any] | None = None
    estimated_duration: int | None = None

    def __post_init__(self) -> None:
        check_choice("status", self.status, JOB_STATUSES)
        check_choice("priority", self.priority, JOB_PRIORITIES)

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.job_pk(self.job_id),
                "SK": "JOB",
                "TYPE": self.TYPE,
                "GSI1PK": keys.job_status_gsi1pk(self.status),
                "GSI1SK": f"CREATED#{self.created_at}",
                "GSI2PK": keys.job_name_gsi2pk(self.name),
                "GSI2SK": f"CREATED#{self.created_at}",
                "job_id": self.job_id,
                "name": self.name,
                "description": self.description,
                "created_at": self.created_at,
                "created_by": self.created_by,
                "status": self.status,
                "priority": self.priority,
                "job_config": self.job_config,
                "tags": self.tags,
                "storage": self.storage,
                "results": self.results,
                "estimated_duration": self.estimated_duration,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> Job:
        d = decode_item(item)
        return cls(
            job_id=d.get("job_id") or d["PK"].removeprefix("JOB#"),
            name=d.get("name", ""),
            created_at=d.get("created_at", ""),
            status=d.get("status", "pending"),
            description=d.get("description") or "",
            created_by=d.get("created_by") or "",
            priority=d.get("priority") or "medium",
            job_config=d.get("job_config") or {},
            tags=d.get("tags"),
            storage=d.get("storage"),
            results=d.get("results"),
            estimated_duration=d.get("estimated_duration"),
        )


MetricValue = int | float | dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobMetric:
    TYPE: ClassVar[str] = "JOB_METRIC"
    job_id: str
    metric_name: str
    timestamp: str
    value: MetricValue
    unit: str | None = None
    step: int | None = None
    epoch: float | None = None

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.job_pk(self.job_id),
                "SK": keys.metric_sk(self.metric_name, self.timestamp),
                "TYPE": self.TYPE,
                "GSI1PK": keys.metric_gsi_pk(self.metric_name),
                "GSI1SK": self.timestamp,
                "GSI2PK": keys.metric_gsi_pk(self.metric_name),
                "GSI2SK": f"JOB#{self.job_id}#{self.timestamp}",
                "job_id": self.job_id,
                "metric_name": self.metric_name,
                "timestamp": self.timestamp,
                "value": self.value,
                "unit": self.unit,
                "step": self.step,
                "epoch": self.epoch,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> JobMetric:
        d = decode_item(item)
        return cls(
            job_id=d.get("job_id") or d["PK"].removeprefix("JOB#"),
            metric_name=d["metric_name"],
            timestamp=d["timestamp"],
            value=d.get("value"),
            unit=d.get("unit"),
            step=d.get("step"),
            epoch=d.get("epoch"),
        )


@dataclass(frozen=True, slots=True)
class JobLog:
    TYPE: ClassVar[str] = "JOB_LOG"
    job_id: str
    timestamp: str
    message: str
    log_level: str = "INFO"
    source: str | None = None
    exception: str | None = None

    def __post_init__(self) -> None:
        check_choice("log_level", self.log_level, LOG_LEVELS)

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.job_pk(self.job_id),
                "SK": keys.log_sk(self.timestamp),
                "TYPE": self.TYPE,
                "GSI1PK": "LOG",
                "GSI1SK": f"JOB#{self.job_id}#{self.timestamp}",
                "job_id": self.job_id,
                "timestamp": self.timestamp,
                "log_level": self.log_level,
                "message": self.message,
                "source": self.source,
                "exception": self.exception,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> JobLog:
        d = decode_item(item)
        return cls(
            job_id=d.get("job_id") or d["PK"].removeprefix("JOB#"),
            timestamp=d.get("timestamp") or d["SK"].removeprefix("LOG#"),
            message=d.get("message") or "",
            log_level=d.get("log_level") or "INFO",
            source=d.get("source"),
            exception=d.get("exception"),
        )


@dataclass(frozen=True, slots=True)
class JobStatus:
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

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.job_pk(self.job_id),
                "SK": keys.status_sk(self.updated_at),
                "TYPE": self.TYPE,
                "GSI1PK": keys.job_status_gsi1pk(self.status),
                "GSI1SK": f"UPDATED#{self.updated_at}",
                "job_id": self.job_id,
                "status": self.status,
                "updated_at": self.updated_at,
                "progress": self.progress,
                "message": self.message,
                "updated_by": self.updated_by,
                "instance_id": self.instance_id,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> JobStatus:
        d = decode_item(item)
        return cls(
            job_id=d.get("job_id") or d["PK"].removeprefix("JOB#"),
            status=d["status"],
            updated_at=d["updated_at"],
            progress=d.get("progress"),
            message=d.get("message"),
            updated_by=d.get("updated_by"),
            instance_id=d.get("instance_id"),
        )


@dataclass(frozen=True, slots=True)
class JobCheckpoint:
    TYPE: ClassVar[str] = "JOB_CHECKPOINT"
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

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.job_pk(self.job_id),
                "SK": keys.checkpoint_sk(self.timestamp),
                "TYPE": self.TYPE,
                "GSI1PK": "CHECKPOINT",
                "GSI1SK": f"JOB#{self.job_id}#{self.timestamp}",
                "job_id": self.job_id,
                "timestamp": self.timestamp,
                "s3_bucket": self.s3_bucket,
                "s3_key": self.s3_key,
                "size_bytes": self.size_bytes,
                "step": self.step,
                "epoch": self.epoch,
                "model_state": self.model_state,
                "optimizer_state": self.optimizer_state,
                "is_best": self.is_best,
                "metrics": self.metrics,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> JobCheckpoint:
        d = decode_item(item)
        return cls(
            job_id=d.get("job_id") or d["PK"].removeprefix("JOB#"),
            timestamp=d["timestamp"],
            s3_bucket=d.get("s3_bucket") or "",
            s3_key=d.get("s3_key") or "",
            size_bytes=int(d.get("size_bytes") or 0),
            step=int(d.get("step") or 0),
            epoch=d.get("epoch") or 0,
            model_state=bool(d.get("model_state", True)),
            optimizer_state=bool(d.get("optimizer_state", True)),
            is_best=bool(d.get("is_best", False)),
            metrics=d.get("metrics"),
        )


@dataclass(frozen=True, slots=True)
class JobResource:
    TYPE: ClassVar[str] = "JOB_RESOURCE"
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

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.job_pk(self.job_id),
                "SK": keys.resource_sk(self.resource_id),
                "TYPE": self.TYPE,
                "GSI1PK": "RESOURCE",
                "GSI1SK": f"RESOURCE#{self.resource_id}",
                "job_id": self.job_id,
                "resource_id": self.resource_id,
                "instance_id": self.instance_id,
                "instance_type": self.instance_type,
                "resource_type": self.resource_type,
                "allocated_at": self.allocated_at,
                "status": self.status,
                "gpu_count": self.gpu_count,
                "released_at": self.released_at,
                "resource_config": self.resource_config,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> JobResource:
        d = decode_item(item)
        return cls(
            job_id=d.get("job_id") or d["PK"].removeprefix("JOB#"),
            resource_id=d["resource_id"],
            instance_id=d.get("instance_id") or "",
            instance_type=d.get("instance_type") or "",
            resource_type=d.get("resource_type") or "combined",
            allocated_at=d.get("allocated_at") or "",
            status=d.get("status") or "allocated",
            gpu_count=d.get("gpu_count"),
            released_at=d.get("released_at"),
            resource_config=d.get("resource_config"),
        )

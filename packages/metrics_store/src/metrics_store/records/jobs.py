"""Training records: jobs and what a run writes under `JOB#<id>`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import keys
from .choices import JOB_PRIORITIES, JOB_STATUSES, LOG_LEVELS, RESOURCE_TYPES, check_choice
from .codec import Layout, Record


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
    LAYOUT: ClassVar[Layout] = Layout(write_nulls=False, read_defaults={"name": "", "created_at": ""})
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

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id), "SK": "JOB",
            "GSI1PK": keys.job_status_gsi1pk(self.status), "GSI1SK": f"CREATED#{self.created_at}",
            "GSI2PK": keys.job_name_gsi2pk(self.name), "GSI2SK": f"CREATED#{self.created_at}",
        }


MetricValue = int | float | dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobMetric(JobRecord):
    TYPE: ClassVar[str] = "JOB_METRIC"
    LAYOUT: ClassVar[Layout] = Layout(write_nulls=False, read_defaults={"value": None})
    job_id: str
    metric_name: str
    timestamp: str
    value: MetricValue
    unit: str | None = None
    step: int | None = None
    epoch: float | None = None

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id), "SK": keys.metric_sk(self.metric_name, self.timestamp),
            "GSI1PK": keys.metric_gsi_pk(self.metric_name), "GSI1SK": self.timestamp,
            "GSI2PK": keys.metric_gsi_pk(self.metric_name), "GSI2SK": f"JOB#{self.job_id}#{self.timestamp}",
        }


@dataclass(frozen=True, slots=True)
class JobLog(JobRecord):
    """One log line. A message too large for one item is split by `store.split_log` (the head
    item gets `parts`) and joined again by `Queries.job_logs`."""

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

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id), "SK": keys.log_sk(self.timestamp),
            "GSI1PK": "LOG", "GSI1SK": f"JOB#{self.job_id}#{self.timestamp}",
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
            "PK": keys.job_pk(self.job_id), "SK": keys.status_sk(self.updated_at),
            "GSI1PK": keys.job_status_gsi1pk(self.status), "GSI1SK": f"UPDATED#{self.updated_at}",
        }


@dataclass(frozen=True, slots=True)
class JobCheckpoint(JobRecord):
    TYPE: ClassVar[str] = "JOB_CHECKPOINT"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=False,
        read_defaults={"s3_bucket": "", "s3_key": "", "size_bytes": 0, "step": 0, "epoch": 0},
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

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id), "SK": keys.checkpoint_sk(self.timestamp),
            "GSI1PK": "CHECKPOINT", "GSI1SK": f"JOB#{self.job_id}#{self.timestamp}",
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

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.job_pk(self.job_id), "SK": keys.resource_sk(self.resource_id),
            "GSI1PK": "RESOURCE", "GSI1SK": f"RESOURCE#{self.resource_id}",
        }

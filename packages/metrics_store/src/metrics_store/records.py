"""Typed records for every item type the tools write, each with its exact item codec.

A record is plain data: `to_item()` gives the DynamoDB item (keys, GSIs, TYPE, attributes in
the reference layout) and `from_item()` reads one back, tolerating what older writers left
(missing validation status, flat per-label metrics, absent optional fields). Records never
save themselves; `Store` does the writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from . import keys
from .codec import Item, decode_item, encode_item

JOB_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled", "interrupted")
TERMINAL_JOB_STATUSES = ("succeeded", "failed", "cancelled")
JOB_PRIORITIES = ("low", "medium", "high", "critical")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RESOURCE_TYPES = ("cpu", "gpu", "memory", "storage", "network", "combined")
VALIDATION_STATUSES = ("NONE", "PENDING", "VALID", "INVALID", "NEEDS_REVIEW")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


# --- geometry (normalized 0..1, bottom-left origin) ---------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float

    def to_dict(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Point:
        return cls(float(d["x"]), float(d["y"]))


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where a line or word sits on the receipt crop, as the OCR wrote it: corners and an
    axis-aligned box normalized to 0..1 with the origin at the bottom-left (y grows upward)."""

    top_left: Point
    top_right: Point
    bottom_left: Point
    bottom_right: Point
    angle_degrees: float = 0.0
    angle_radians: float = 0.0
    confidence: float = 1.0

    @property
    def bounding_box(self) -> dict[str, float]:
        xs = [p.x for p in (self.top_left, self.top_right, self.bottom_left, self.bottom_right)]
        ys = [p.y for p in (self.top_left, self.top_right, self.bottom_left, self.bottom_right)]
        return {"x": min(xs), "y": min(ys), "width": max(xs) - min(xs), "height": max(ys) - min(ys)}

    def to_fields(self) -> dict[str, Any]:
        return {
            "bounding_box": self.bounding_box,
            "top_left": self.top_left.to_dict(),
            "top_right": self.top_right.to_dict(),
            "bottom_left": self.bottom_left.to_dict(),
            "bottom_right": self.bottom_right.to_dict(),
            "angle_degrees": self.angle_degrees,
            "angle_radians": self.angle_radians,
            "confidence": self.confidence,
        }

    @classmethod
    def from_fields(cls, d: dict[str, Any]) -> Geometry:
        return cls(
            top_left=Point.from_dict(d["top_left"]),
            top_right=Point.from_dict(d["top_right"]),
            bottom_left=Point.from_dict(d["bottom_left"]),
            bottom_right=Point.from_dict(d["bottom_right"]),
            angle_degrees=float(d.get("angle_degrees") or 0.0),
            angle_radians=float(d.get("angle_radians") or 0.0),
            confidence=float(d.get("confidence") or 1.0),
        )


# --- receipt entities ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    TYPE: ClassVar[str] = "RECEIPT"
    image_id: str
    receipt_id: int
    width: int
    height: int
    timestamp_added: str
    merchant_name: str | None = None

    def to_item(self) -> Item:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        return encode_item(
            {
                "PK": keys.image_pk(self.image_id),
                "SK": keys.receipt_sk(self.receipt_id),
                "TYPE": self.TYPE,
                "GSI2PK": "RECEIPT",
                "GSI2SK": rkey,
                "GSI4PK": rkey,
                "GSI4SK": "0_RECEIPT",
                "image_id": self.image_id,
                "receipt_id": self.receipt_id,
                "width": self.width,
                "height": self.height,
                "timestamp_added": self.timestamp_added,
                "merchant_name": self.merchant_name,
            },
            write_nulls=True,
        )

    @classmethod
    def from_item(cls, item: Item) -> Receipt:
        d = decode_item(item)
        return cls(
            image_id=keys.parse_image_pk(d["PK"]),
            receipt_id=int(d["SK"].removeprefix("RECEIPT#")),
            width=int(d["width"]),
            height=int(d["height"]),
            timestamp_added=d.get("timestamp_added") or "",
            merchant_name=d.get("merchant_name"),
        )


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    TYPE: ClassVar[str] = "RECEIPT_LINE"
    image_id: str
    receipt_id: int
    line_id: int
    text: str
    geometry: Geometry

    def to_item(self) -> Item:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        return encode_item(
            {
                "PK": keys.image_pk(self.image_id),
                "SK": keys.line_sk(self.receipt_id, self.line_id),
                "TYPE": self.TYPE,
                "GSI3PK": rkey,
                "GSI3SK": "LINE",
                "GSI4PK": rkey,
                "GSI4SK": f"2_LINE#{keys.pad_id(self.line_id)}",
                "text": self.text,
                **self.geometry.to_fields(),
            },
            write_nulls=True,
        )

    @classmethod
    def from_item(cls, item: Item) -> ReceiptLine:
        d = decode_item(item)
        sk = d["SK"]
        rid = int(sk.split("#")[1])
        lid = int(sk.split("#")[3])
        return cls(keys.parse_image_pk(d["PK"]), rid, lid, d.get("text") or "", Geometry.from_fields(d))


@dataclass(frozen=True, slots=True)
class ReceiptWord:
    TYPE: ClassVar[str] = "RECEIPT_WORD"
    image_id: str
    receipt_id: int
    line_id: int
    word_id: int
    text: str
    geometry: Geometry
    is_noise: bool = False
    extracted_data: dict[str, Any] | None = None

    def to_item(self) -> Item:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        sk = keys.word_sk(self.receipt_id, self.line_id, self.word_id)
        return encode_item(
            {
                "PK": keys.image_pk(self.image_id),
                "SK": sk,
                "TYPE": self.TYPE,
                "GSI2PK": "RECEIPT",
                "GSI2SK": f"IMAGE#{self.image_id}#{sk}",
                "GSI3PK": rkey,
                "GSI3SK": "WORD",
                "GSI4PK": rkey,
                "GSI4SK": f"3_WORD#{keys.pad_id(self.line_id)}#{keys.pad_id(self.word_id)}",
                "text": self.text,
                **self.geometry.to_fields(),
                "is_noise": self.is_noise,
                "extracted_data": self.extracted_data,
            },
            write_nulls=True,
        )

    @classmethod
    def from_item(cls, item: Item) -> ReceiptWord:
        d = decode_item(item)
        rid, lid, wid, _ = keys.parse_word_sk(d["SK"])
        return cls(
            keys.parse_image_pk(d["PK"]), rid, lid, wid, d.get("text") or "",
            Geometry.from_fields(d), bool(d.get("is_noise") or False), d.get("extracted_data"),
        )


@dataclass(frozen=True, slots=True)
class ReceiptWordLabel:
    TYPE: ClassVar[str] = "RECEIPT_WORD_LABEL"
    image_id: str
    receipt_id: int
    line_id: int
    word_id: int
    label: str
    validation_status: str
    timestamp_added: str
    reasoning: str | None = None
    label_proposed_by: str | None = None
    label_consolidated_from: str | None = None

    def __post_init__(self) -> None:
        _check_choice("validation_status", self.validation_status, VALIDATION_STATUSES)
        if not self.label or self.label != self.label.upper() or "#" in self.label:
            raise ValueError(f"label must be an upper-case name without '#', got {self.label!r}")

    def to_item(self) -> Item:
        sk = keys.label_sk(self.receipt_id, self.line_id, self.word_id, self.label)
        return encode_item(
            {
                "PK": keys.image_pk(self.image_id),
                "SK": sk,
                "TYPE": self.TYPE,
                "GSI1PK": keys.label_gsi1pk(self.label),
                "GSI1SK": f"IMAGE#{self.image_id}#{keys.word_sk(self.receipt_id, self.line_id, self.word_id)}",
                "GSI3PK": keys.validation_status_gsi3pk(self.validation_status),
                "GSI3SK": f"IMAGE#{self.image_id}#{sk}",
                "GSI4PK": keys.receipt_key(self.image_id, self.receipt_id),
                "GSI4SK": f"4_LABEL#{keys.pad_id(self.line_id)}#{keys.pad_id(self.word_id)}#{self.label}",
                "validation_status": self.validation_status,
                "reasoning": self.reasoning,
                "timestamp_added": self.timestamp_added,
                "label_proposed_by": self.label_proposed_by,
                "label_consolidated_from": self.label_consolidated_from,
            },
            write_nulls=True,
        )

    @classmethod
    def from_item(cls, item: Item) -> ReceiptWordLabel:
        d = decode_item(item)
        rid, lid, wid, label = keys.parse_word_sk(d["SK"])
        return cls(
            image_id=keys.parse_image_pk(d["PK"]),
            receipt_id=rid,
            line_id=lid,
            word_id=wid,
            label=label or "",
            validation_status=d.get("validation_status") or "NONE",
            timestamp_added=d.get("timestamp_added") or "",
            reasoning=d.get("reasoning"),
            label_proposed_by=d.get("label_proposed_by"),
            label_consolidated_from=d.get("label_consolidated_from"),
        )


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
        _check_choice("status", self.status, JOB_STATUSES)
        _check_choice("priority", self.priority, JOB_PRIORITIES)

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
        _check_choice("log_level", self.log_level, LOG_LEVELS)

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
        _check_choice("status", self.status, JOB_STATUSES)
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
        _check_choice("resource_type", self.resource_type, RESOURCE_TYPES)

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


# --- dataset lineage ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetSnapshotRecord:
    """Where a snapshot is and what it holds, so a job's `snapshot_id` leads to its data.

    Keyed by the manifest's hash, unique per build (ids like `v12` are per snapshot root,
    and two builds of the same data share a content hash); GSI2 finds it by id, GSI1 lists
    snapshots by creation time."""

    TYPE: ClassVar[str] = "DATASET_SNAPSHOT"
    snapshot_id: str
    content_sha256: str
    manifest_sha256: str
    uri: str
    created_at: str
    parent_id: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    contract_status: str = "unchecked"
    label_list: list[str] = field(default_factory=list)
    build_config: dict[str, Any] = field(default_factory=dict)

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.snapshot_pk(self.manifest_sha256),
                "SK": "SNAPSHOT",
                "TYPE": self.TYPE,
                "GSI1PK": "DATASET_SNAPSHOT",
                "GSI1SK": f"CREATED#{self.created_at}",
                "GSI2PK": keys.snapshot_id_gsi2pk(self.snapshot_id),
                "GSI2SK": f"CREATED#{self.created_at}",
                "snapshot_id": self.snapshot_id,
                "content_sha256": self.content_sha256,
                "manifest_sha256": self.manifest_sha256,
                "uri": self.uri,
                "created_at": self.created_at,
                "parent_id": self.parent_id,
                "counts": self.counts,
                "contract_status": self.contract_status,
                "label_list": self.label_list,
                "build_config": self.build_config,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> DatasetSnapshotRecord:
        d = decode_item(item)
        return cls(
            snapshot_id=d["snapshot_id"],
            content_sha256=d["content_sha256"],
            manifest_sha256=d.get("manifest_sha256") or "",
            uri=d.get("uri") or "",
            created_at=d.get("created_at") or "",
            parent_id=d.get("parent_id"),
            counts=d.get("counts") or {},
            contract_status=d.get("contract_status") or "unchecked",
            label_list=list(d.get("label_list") or []),
            build_config=d.get("build_config") or {},
        )


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

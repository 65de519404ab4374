"""Characterization of the training and dataset records' item layout: every record type, with
all fields set and with only the required ones, must encode to exactly these items (job
entities omit absent optionals; see docs/table_layout.md) and decode back to itself.

The literals were captured from the hand-written codecs before they were derived from the
dataclasses; they change only when the layout contract does."""

import pytest

from metrics_store.records import (
    DatasetSnapshotRecord,
    Job,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    JobStatus,
    record_from_item,
)

JOB = "5d1c9e2a-0000-4000-8000-000000000002"
TS = "2026-03-01T10:00:00.000001+00:00"
TS2 = "2026-03-01T11:30:00.000002+00:00"
SHA_C, SHA_M, SHA_D, SHA_E = "c" * 64, "m" * 64, "d" * 64, "e" * 64

CASES = {
    "job_full": (
        Job(JOB, "nightly", TS, status="running", description="cord tiny", created_by="me", priority="high", job_config={"lr": 6e-05, "batch_size": 64, "labels": ["AMOUNT", "DATE"]}, tags={"active_model": "true"}, storage={"bucket": "b"}, results={"best_f1": 0.75, "early_stopping_triggered": False}, estimated_duration=600),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": "JOB"},
            "TYPE": {"S": "JOB"},
            "GSI1PK": {"S": "STATUS#running"},
            "GSI1SK": {"S": f"CREATED#{TS}"},
            "GSI2PK": {"S": "JOB_NAME#nightly"},
            "GSI2SK": {"S": f"CREATED#{TS}"},
            "job_id": {"S": JOB},
            "name": {"S": "nightly"},
            "description": {"S": "cord tiny"},
            "created_at": {"S": TS},
            "created_by": {"S": "me"},
            "status": {"S": "running"},
            "priority": {"S": "high"},
            "job_config": {"M": {"lr": {"N": "6e-05"}, "batch_size": {"N": "64"}, "labels": {"L": [{"S": "AMOUNT"}, {"S": "DATE"}]}}},
            "tags": {"M": {"active_model": {"S": "true"}}},
            "storage": {"M": {"bucket": {"S": "b"}}},
            "results": {"M": {"best_f1": {"N": "0.75"}, "early_stopping_triggered": {"BOOL": False}}},
            "estimated_duration": {"N": "600"},
        },
    ),
    "job_required": (
        Job(JOB, "run", TS),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": "JOB"},
            "TYPE": {"S": "JOB"},
            "GSI1PK": {"S": "STATUS#pending"},
            "GSI1SK": {"S": f"CREATED#{TS}"},
            "GSI2PK": {"S": "JOB_NAME#run"},
            "GSI2SK": {"S": f"CREATED#{TS}"},
            "job_id": {"S": JOB},
            "name": {"S": "run"},
            "description": {"S": ""},
            "created_at": {"S": TS},
            "created_by": {"S": ""},
            "status": {"S": "pending"},
            "priority": {"S": "medium"},
            "job_config": {"M": {}},
        },
    ),
    "metric_full": (
        JobMetric(JOB, "label_AMOUNT", TS, {"f1": 0.5, "precision": 0.25, "recall": 1.0, "support": 4}, unit="per_label", step=10, epoch=1.5),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"METRIC#label_AMOUNT#{TS}"},
            "TYPE": {"S": "JOB_METRIC"},
            "GSI1PK": {"S": "METRIC#label_AMOUNT"},
            "GSI1SK": {"S": TS},
            "GSI2PK": {"S": "METRIC#label_AMOUNT"},
            "GSI2SK": {"S": f"JOB#{JOB}#{TS}"},
            "job_id": {"S": JOB},
            "metric_name": {"S": "label_AMOUNT"},
            "timestamp": {"S": TS},
            "value": {"M": {"f1": {"N": "0.5"}, "precision": {"N": "0.25"}, "recall": {"N": "1"}, "support": {"N": "4"}}},
            "unit": {"S": "per_label"},
            "step": {"N": "10"},
            "epoch": {"N": "1.5"},
        },
    ),
    "metric_required": (
        JobMetric(JOB, "val_f1", TS, 0.0),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"METRIC#val_f1#{TS}"},
            "TYPE": {"S": "JOB_METRIC"},
            "GSI1PK": {"S": "METRIC#val_f1"},
            "GSI1SK": {"S": TS},
            "GSI2PK": {"S": "METRIC#val_f1"},
            "GSI2SK": {"S": f"JOB#{JOB}#{TS}"},
            "job_id": {"S": JOB},
            "metric_name": {"S": "val_f1"},
            "timestamp": {"S": TS},
            "value": {"N": "0"},
        },
    ),
    "log_full": (
        JobLog(JOB, TS, '{"type": "run_config"}', "WARNING", source="trainer", exception="Traceback ..."),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"LOG#{TS}"},
            "TYPE": {"S": "JOB_LOG"},
            "GSI1PK": {"S": "LOG"},
            "GSI1SK": {"S": f"JOB#{JOB}#{TS}"},
            "job_id": {"S": JOB},
            "timestamp": {"S": TS},
            "log_level": {"S": "WARNING"},
            "message": {"S": '{"type": "run_config"}'},
            "source": {"S": "trainer"},
            "exception": {"S": "Traceback ..."},
        },
    ),
    "log_required": (
        JobLog(JOB, TS, "hello"),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"LOG#{TS}"},
            "TYPE": {"S": "JOB_LOG"},
            "GSI1PK": {"S": "LOG"},
            "GSI1SK": {"S": f"JOB#{JOB}#{TS}"},
            "job_id": {"S": JOB},
            "timestamp": {"S": TS},
            "log_level": {"S": "INFO"},
            "message": {"S": "hello"},
        },
    ),
    "status_full": (
        JobStatus(JOB, "running", TS, progress=50.0, message="epoch 1", updated_by="me", instance_id="i-1"),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"STATUS#{TS}"},
            "TYPE": {"S": "JOB_STATUS"},
            "GSI1PK": {"S": "STATUS#running"},
            "GSI1SK": {"S": f"UPDATED#{TS}"},
            "job_id": {"S": JOB},
            "status": {"S": "running"},
            "updated_at": {"S": TS},
            "progress": {"N": "50"},
            "message": {"S": "epoch 1"},
            "updated_by": {"S": "me"},
            "instance_id": {"S": "i-1"},
        },
    ),
    "status_required": (
        JobStatus(JOB, "pending", TS),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"STATUS#{TS}"},
            "TYPE": {"S": "JOB_STATUS"},
            "GSI1PK": {"S": "STATUS#pending"},
            "GSI1SK": {"S": f"UPDATED#{TS}"},
            "job_id": {"S": JOB},
            "status": {"S": "pending"},
            "updated_at": {"S": TS},
        },
    ),
    "checkpoint_full": (
        JobCheckpoint(JOB, TS, "bucket", "runs/x/best", 1234, 10, 1.5, model_state=False, optimizer_state=False, is_best=True, metrics={"val_f1": 0.5}),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"CHECKPOINT#{TS}"},
            "TYPE": {"S": "JOB_CHECKPOINT"},
            "GSI1PK": {"S": "CHECKPOINT"},
            "GSI1SK": {"S": f"JOB#{JOB}#{TS}"},
            "job_id": {"S": JOB},
            "timestamp": {"S": TS},
            "s3_bucket": {"S": "bucket"},
            "s3_key": {"S": "runs/x/best"},
            "size_bytes": {"N": "1234"},
            "step": {"N": "10"},
            "epoch": {"N": "1.5"},
            "model_state": {"BOOL": False},
            "optimizer_state": {"BOOL": False},
            "is_best": {"BOOL": True},
            "metrics": {"M": {"val_f1": {"N": "0.5"}}},
        },
    ),
    "checkpoint_required": (
        JobCheckpoint(JOB, TS, "", "/tmp/ckpt", 0, 0, 0.0),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": f"CHECKPOINT#{TS}"},
            "TYPE": {"S": "JOB_CHECKPOINT"},
            "GSI1PK": {"S": "CHECKPOINT"},
            "GSI1SK": {"S": f"JOB#{JOB}#{TS}"},
            "job_id": {"S": JOB},
            "timestamp": {"S": TS},
            "s3_bucket": {"S": ""},
            "s3_key": {"S": "/tmp/ckpt"},
            "size_bytes": {"N": "0"},
            "step": {"N": "0"},
            "epoch": {"N": "0"},
            "model_state": {"BOOL": True},
            "optimizer_state": {"BOOL": True},
            "is_best": {"BOOL": False},
        },
    ),
    "resource_full": (
        JobResource(JOB, "r-1", "i-1", "g5.xlarge", "gpu", TS, status="released", gpu_count=1, released_at=TS2, resource_config={"cuda": "12.4"}),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": "RESOURCE#r-1"},
            "TYPE": {"S": "JOB_RESOURCE"},
            "GSI1PK": {"S": "RESOURCE"},
            "GSI1SK": {"S": "RESOURCE#r-1"},
            "job_id": {"S": JOB},
            "resource_id": {"S": "r-1"},
            "instance_id": {"S": "i-1"},
            "instance_type": {"S": "g5.xlarge"},
            "resource_type": {"S": "gpu"},
            "allocated_at": {"S": TS},
            "status": {"S": "released"},
            "gpu_count": {"N": "1"},
            "released_at": {"S": TS2},
            "resource_config": {"M": {"cuda": {"S": "12.4"}}},
        },
    ),
    "resource_required": (
        JobResource(JOB, "r-2", "i-2", "t3.large", "cpu", TS),
        {
            "PK": {"S": f"JOB#{JOB}"},
            "SK": {"S": "RESOURCE#r-2"},
            "TYPE": {"S": "JOB_RESOURCE"},
            "GSI1PK": {"S": "RESOURCE"},
            "GSI1SK": {"S": "RESOURCE#r-2"},
            "job_id": {"S": JOB},
            "resource_id": {"S": "r-2"},
            "instance_id": {"S": "i-2"},
            "instance_type": {"S": "t3.large"},
            "resource_type": {"S": "cpu"},
            "allocated_at": {"S": TS},
            "status": {"S": "allocated"},
        },
    ),
    "snapshot_full": (
        DatasetSnapshotRecord("v1", SHA_C, SHA_M, "/tmp/snapshots/v1", TS, parent_id="v0", counts={"train": {"receipts": 9}}, contract_status="passed", label_list=["AMOUNT", "DATE"], build_config={"merge": "amounts"}),
        {
            "PK": {"S": f"DATASET_SNAPSHOT#{SHA_M}"},
            "SK": {"S": "SNAPSHOT"},
            "TYPE": {"S": "DATASET_SNAPSHOT"},
            "GSI1PK": {"S": "DATASET_SNAPSHOT"},
            "GSI1SK": {"S": f"CREATED#{TS}"},
            "GSI2PK": {"S": "DATASET_SNAPSHOT_ID#v1"},
            "GSI2SK": {"S": f"CREATED#{TS}"},
            "snapshot_id": {"S": "v1"},
            "content_sha256": {"S": SHA_C},
            "manifest_sha256": {"S": SHA_M},
            "uri": {"S": "/tmp/snapshots/v1"},
            "created_at": {"S": TS},
            "parent_id": {"S": "v0"},
            "counts": {"M": {"train": {"M": {"receipts": {"N": "9"}}}}},
            "contract_status": {"S": "passed"},
            "label_list": {"L": [{"S": "AMOUNT"}, {"S": "DATE"}]},
            "build_config": {"M": {"merge": {"S": "amounts"}}},
        },
    ),
    "snapshot_required": (
        DatasetSnapshotRecord("v2", SHA_D, SHA_E, "/tmp/snapshots/v2", TS),
        {
            "PK": {"S": f"DATASET_SNAPSHOT#{SHA_E}"},
            "SK": {"S": "SNAPSHOT"},
            "TYPE": {"S": "DATASET_SNAPSHOT"},
            "GSI1PK": {"S": "DATASET_SNAPSHOT"},
            "GSI1SK": {"S": f"CREATED#{TS}"},
            "GSI2PK": {"S": "DATASET_SNAPSHOT_ID#v2"},
            "GSI2SK": {"S": f"CREATED#{TS}"},
            "snapshot_id": {"S": "v2"},
            "content_sha256": {"S": SHA_D},
            "manifest_sha256": {"S": SHA_E},
            "uri": {"S": "/tmp/snapshots/v2"},
            "created_at": {"S": TS},
            "counts": {"M": {}},
            "contract_status": {"S": "unchecked"},
            "label_list": {"L": []},
            "build_config": {"M": {}},
        },
    ),
}


@pytest.mark.parametrize(("record", "expected"), list(CASES.values()), ids=list(CASES))
def test_item_layout_is_exact(record, expected):
    assert record.to_item() == expected


@pytest.mark.parametrize(("record", "expected"), list(CASES.values()), ids=list(CASES))
def test_item_decodes_to_the_record(record, expected):
    assert type(record).from_item(expected) == record
    assert record_from_item(expected) == record
    assert type(record).from_item(record.to_item()) == record

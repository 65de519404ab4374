"""Every record type survives a round trip through DynamoDB Local, with the exact keys,
GSIs and encodings of the reference layout."""

import math
import uuid

import pytest

from metrics_store import (
    DatasetSnapshotRecord,
    InvalidValue,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    JobStatus,
    Receipt,
    ReceiptLine,
    ReceiptPlace,
    Store,
    per_label_metrics,
)
from metrics_store.codec import decode_item
from metrics_store.records import ReceiptWordLabel, record_from_item

from .helpers import geometry, job, label, word

IMAGE = "3f2b6a1e-0000-4000-8000-000000000001"
J1 = "5d1c9e2a-0000-4000-8000-00000000000a"
R1 = "5d1c9e2a-0000-4000-8000-00000000000b"
TS = "2026-03-01T10:00:00.000001+00:00"


def _get(table, pk, sk):
    return table.client.get_item(TableName=table.name, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True)[
        "Item"
    ]


ALL_RECORDS = [
    Receipt(IMAGE, 1, 864, 1296, TS),
    ReceiptPlace(IMAGE, 1, "ChIJx", "Corner Deli", "MATCHED", TS, 0.9),
    ReceiptLine(IMAGE, 1, 12, "TOTAL 12.50", geometry()),
    word(IMAGE, 1, 12, 3),
    label(IMAGE, 1, 12, 3),
    job(tags={"active_model": "true"}, storage={"bucket": "b"}, results={"best_f1": 0.7}, estimated_duration=600),
    JobMetric(J1, "val_f1", TS, 0.0, unit="ratio", step=10, epoch=1),
    JobMetric(
        J1,
        "label_AMOUNT",
        TS,
        {"f1": 0.5, "precision": 0.25, "recall": 1.0, "support": 4},
        unit="per_label",
        step=10,
        epoch=1,
    ),
    JobLog(J1, TS, '{"type": "run_config"}', "INFO", "trainer"),
    JobStatus(J1, "running", TS, progress=50.0, message="epoch 1", updated_by="me", instance_id="i-1"),
    JobCheckpoint(J1, TS, "bucket", "runs/x/best", 1234, 10, 1.0, is_best=True, metrics={"val_f1": 0.5}),
    JobResource(J1, R1, "i-1", "g5.xlarge", "gpu", TS, gpu_count=1, resource_config={"cuda": "12.4"}),
    DatasetSnapshotRecord(
        "v1", "c" * 64, "m" * 64, "/tmp/snapshots/v1", TS, counts={"train": {"receipts": 9}}, label_list=["AMOUNT"]
    ),
]


@pytest.mark.parametrize("record", ALL_RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip(table, record):
    item = record.to_item()
    Store(table).put(item)
    stored = _get(table, item["PK"]["S"], item["SK"]["S"])
    assert stored == item
    assert record_from_item(stored) == record


def test_receipt_keys_match_the_reference_layout():
    w = word(IMAGE, 1, 12, 3).to_item()
    assert w["PK"] == {"S": f"IMAGE#{IMAGE}"}
    assert w["SK"] == {"S": "RECEIPT#00001#LINE#00012#WORD#00003"}
    assert w["GSI2PK"] == {"S": "RECEIPT"} and w["GSI2SK"] == {
        "S": f"IMAGE#{IMAGE}#RECEIPT#00001#LINE#00012#WORD#00003"
    }
    assert w["GSI3PK"] == {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"} and w["GSI3SK"] == {"S": "WORD"}
    assert w["GSI4SK"] == {"S": "3_WORD#00012#00003"} and w["TYPE"] == {"S": "RECEIPT_WORD"}
    assert w["extracted_data"] == {"NULL": True}  # vision entities write absent optionals as NULL

    lab = label(IMAGE, 1, 12, 3, "GRAND_TOTAL", "INVALID").to_item()
    assert lab["SK"] == {"S": "RECEIPT#00001#LINE#00012#WORD#00003#LABEL#GRAND_TOTAL"}
    assert lab["GSI1PK"] == {"S": "LABEL#GRAND_TOTAL" + "_" * 23} and len(lab["GSI1PK"]["S"]) == 40
    assert lab["GSI3PK"] == {"S": "VALIDATION_STATUS#INVALID"}
    assert lab["GSI4SK"] == {"S": "4_LABEL#00012#00003#GRAND_TOTAL"}

    receipt = Receipt(IMAGE, 1, 10, 20, TS).to_item()
    assert receipt["GSI4PK"] == {"S": f"IMAGE#{IMAGE}#RECEIPT#00001"} and receipt["GSI4SK"] == {"S": "0_RECEIPT"}


def test_job_keys_and_omitted_optionals():
    j = job(name="nightly", status="running")
    item = j.to_item()
    assert item["PK"] == {"S": f"JOB#{j.job_id}"} and item["SK"] == {"S": "JOB"}
    assert item["GSI1PK"] == {"S": "STATUS#running"} and item["GSI1SK"] == {"S": f"CREATED#{j.created_at}"}
    assert item["GSI2PK"] == {"S": "JOB_NAME#nightly"}
    assert "tags" not in item and "results" not in item  # job entities omit absent optionals
    metric = JobMetric(j.job_id, "val_f1", TS, 0.5, epoch=2).to_item()
    assert metric["SK"] == {"S": f"METRIC#val_f1#{TS}"}
    assert metric["GSI2SK"] == {"S": f"JOB#{j.job_id}#{TS}"}
    assert "step" not in metric


def test_zero_is_stored_not_dropped(table):
    metric = JobMetric(J1, "val_f1", TS, 0.0, epoch=0)
    Store(table).put(metric.to_item())
    stored = decode_item(_get(table, f"JOB#{J1}", f"METRIC#val_f1#{TS}"))
    assert stored["value"] == 0 and stored["epoch"] == 0


def test_floats_are_exact_decimals():
    item = JobMetric(J1, "learning_rate", TS, 6e-05).to_item()
    assert item["value"] == {"N": "6e-05"}
    assert float(item["value"]["N"]) == 6e-05


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_with_their_path(bad):
    with pytest.raises(InvalidValue, match=r"value\.f1: non-finite"):
        JobMetric(J1, "label_AMOUNT", TS, {"f1": bad}).to_item()
    with pytest.raises(InvalidValue, match=r"results\.best_f1"):
        job(results={"best_f1": bad}).to_item()


def test_missing_validation_status_reads_as_none():
    item = label(IMAGE).to_item()
    del item["validation_status"]
    assert ReceiptWordLabel.from_item(item).validation_status == "NONE"


def test_legacy_flat_label_metrics_are_folded_with_dict_rows():
    rows = [
        JobMetric(J1, "label_DATE_f1", TS, 0.5, epoch=1),
        JobMetric(J1, "label_DATE_support", TS, 12, epoch=1),
        JobMetric(J1, "label_AMOUNT", TS, {"f1": 0.9, "support": 40}, epoch=1),
        JobMetric(J1, "val_f1", TS, 0.7, epoch=1),
    ]
    assert per_label_metrics(rows) == {
        (1, "DATE"): {"f1": 0.5, "support": 12},
        (1, "AMOUNT"): {"f1": 0.9, "support": 40},
    }


def test_invalid_choices_are_rejected():
    with pytest.raises(ValueError, match="status must be one of"):
        job(status="done")
    with pytest.raises(ValueError, match="validation_status"):
        label(str(uuid.uuid4()), status="OK")

"""Reading what older writers left in the user's table: attributes missing, NULL or empty,
ids only in the keys, numbers written as decimals. Each case is a literal item as it may
stand in the table and the record it must read as."""

from dataclasses import replace

import pytest

from metrics_store.records import (
    DatasetSnapshotRecord,
    Geometry,
    Job,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    JobStatus,
    Point,
    Receipt,
    ReceiptLine,
    ReceiptWord,
    ReceiptWordLabel,
    record_from_item,
)

IMAGE = "3f2b6a1e-0000-4000-8000-000000000001"
JOB = "5d1c9e2a-0000-4000-8000-000000000002"
TS = "2026-03-01T10:00:00.000001+00:00"
PK_IMAGE = {"S": f"IMAGE#{IMAGE}"}
PK_JOB = {"S": f"JOB#{JOB}"}
CORNERS = {  # integral numbers, as a writer that does not keep floats leaves them
    "top_left": {"M": {"x": {"N": "0"}, "y": {"N": "1"}}},
    "top_right": {"M": {"x": {"N": "1"}, "y": {"N": "1"}}},
    "bottom_left": {"M": {"x": {"N": "0"}, "y": {"N": "0"}}},
    "bottom_right": {"M": {"x": {"N": "1"}, "y": {"N": "0"}}},
}
UNIT_SQUARE = Geometry(Point(0.0, 1.0), Point(1.0, 1.0), Point(0.0, 0.0), Point(1.0, 0.0))

LEGACY = {
    "receipt_ids_only_in_keys": (
        {
            "PK": PK_IMAGE,
            "SK": {"S": "RECEIPT#00003"},
            "TYPE": {"S": "RECEIPT"},
            "width": {"N": "864.0"},
            "height": {"N": "1296"},
        },
        Receipt(IMAGE, 3, 864, 1296, ""),
    ),
    "line_without_text_box_angles_confidence": (
        {"PK": PK_IMAGE, "SK": {"S": "RECEIPT#00003#LINE#00007"}, "TYPE": {"S": "RECEIPT_LINE"}, **CORNERS},
        ReceiptLine(IMAGE, 3, 7, "", UNIT_SQUARE),
    ),
    "word_with_nulls": (
        {
            "PK": PK_IMAGE,
            "SK": {"S": "RECEIPT#00003#LINE#00007#WORD#00002"},
            "TYPE": {"S": "RECEIPT_WORD"},
            "text": {"NULL": True},
            **CORNERS,
            "angle_degrees": {"NULL": True},
            "confidence": {"NULL": True},
            "is_noise": {"NULL": True},
            "extracted_data": {"NULL": True},
        },
        ReceiptWord(IMAGE, 3, 7, 2, "", UNIT_SQUARE),
    ),
    "word_without_flags": (
        {
            "PK": PK_IMAGE,
            "SK": {"S": "RECEIPT#00003#LINE#00007#WORD#00002"},
            "TYPE": {"S": "RECEIPT_WORD"},
            "text": {"S": "TOTAL"},
            **CORNERS,
            "confidence": {"N": "0.5"},
        },
        ReceiptWord(IMAGE, 3, 7, 2, "TOTAL", replace(UNIT_SQUARE, confidence=0.5)),
    ),
    "label_without_validation_status": (
        {
            "PK": PK_IMAGE,
            "SK": {"S": "RECEIPT#00003#LINE#00007#WORD#00002#LABEL#ADDRESS"},
            "TYPE": {"S": "RECEIPT_WORD_LABEL"},
            "timestamp_added": {"S": "2024-05-01T12:00:00"},
        },
        ReceiptWordLabel(IMAGE, 3, 7, 2, "ADDRESS", "NONE", "2024-05-01T12:00:00"),
    ),
    "label_with_null_and_empty": (
        {
            "PK": PK_IMAGE,
            "SK": {"S": "RECEIPT#00003#LINE#00007#WORD#00002#LABEL#O"},
            "TYPE": {"S": "RECEIPT_WORD_LABEL"},
            "validation_status": {"S": ""},
            "reasoning": {"NULL": True},
        },
        ReceiptWordLabel(IMAGE, 3, 7, 2, "O", "NONE", ""),
    ),
    "job_without_job_id_and_optionals": (
        {
            "PK": PK_JOB,
            "SK": {"S": "JOB"},
            "TYPE": {"S": "JOB"},
            "name": {"S": "nightly"},
            "created_at": {"S": TS},
            "status": {"S": "succeeded"},
        },
        Job(JOB, "nightly", TS, status="succeeded", created_by="unknown"),
    ),
    "job_with_empty_created_by": (  # our releases before created_by was required wrote "" without $USER
        {
            "PK": PK_JOB,
            "SK": {"S": "JOB"},
            "TYPE": {"S": "JOB"},
            "name": {"S": "nightly"},
            "created_by": {"S": ""},
            "created_at": {"S": TS},
            "status": {"S": "running"},
        },
        Job(JOB, "nightly", TS, status="running", created_by="unknown"),
    ),
    "job_with_empty_priority": (
        {
            "PK": PK_JOB,
            "SK": {"S": "JOB"},
            "TYPE": {"S": "JOB"},
            "priority": {"S": ""},
            "description": {"NULL": True},
            "job_config": {"NULL": True},
        },
        Job(JOB, "", "", created_by="unknown"),
    ),
    "metric_without_job_id_and_value": (
        {
            "PK": PK_JOB,
            "SK": {"S": f"METRIC#val_f1#{TS}"},
            "TYPE": {"S": "JOB_METRIC"},
            "metric_name": {"S": "val_f1"},
            "timestamp": {"S": TS},
            "epoch": {"N": "2"},
        },
        JobMetric(JOB, "val_f1", TS, None, epoch=2),
    ),
    "log_with_keys_only": (
        {"PK": PK_JOB, "SK": {"S": f"LOG#{TS}"}, "TYPE": {"S": "JOB_LOG"}, "log_level": {"S": ""}},
        JobLog(JOB, TS, ""),
    ),
    "status_without_job_id": (
        {
            "PK": PK_JOB,
            "SK": {"S": f"STATUS#{TS}"},
            "TYPE": {"S": "JOB_STATUS"},
            "status": {"S": "failed"},
            "updated_at": {"S": TS},
        },
        JobStatus(JOB, "failed", TS),
    ),
    "checkpoint_with_timestamp_only": (
        {"PK": PK_JOB, "SK": {"S": f"CHECKPOINT#{TS}"}, "TYPE": {"S": "JOB_CHECKPOINT"}, "timestamp": {"S": TS}},
        JobCheckpoint(JOB, TS, "", "", 0, 0, 0),
    ),
    "checkpoint_with_decimal_counts": (
        {
            "PK": PK_JOB,
            "SK": {"S": f"CHECKPOINT#{TS}"},
            "TYPE": {"S": "JOB_CHECKPOINT"},
            "timestamp": {"S": TS},
            "size_bytes": {"N": "2048.0"},
            "step": {"N": "30.0"},
            "epoch": {"N": "3"},
            "model_state": {"BOOL": False},
        },
        JobCheckpoint(JOB, TS, "", "", 2048, 30, 3, model_state=False),
    ),
    "resource_with_id_only": (
        {
            "PK": PK_JOB,
            "SK": {"S": "RESOURCE#r-9"},
            "TYPE": {"S": "JOB_RESOURCE"},
            "resource_id": {"S": "r-9"},
            "status": {"S": ""},
        },
        JobResource(JOB, "r-9", "", "", "combined", ""),
    ),
    "snapshot_with_ids_only": (
        {
            "PK": {"S": "DATASET_SNAPSHOT#" + "m" * 64},
            "SK": {"S": "SNAPSHOT"},
            "TYPE": {"S": "DATASET_SNAPSHOT"},
            "snapshot_id": {"S": "v3"},
            "content_sha256": {"S": "c" * 64},
        },
        DatasetSnapshotRecord("v3", "c" * 64, "", "", ""),
    ),
}


@pytest.mark.parametrize(("item", "expected"), list(LEGACY.values()), ids=list(LEGACY))
def test_legacy_item_reads_as(item, expected):
    record = type(expected).from_item(item)
    assert record == expected
    assert record_from_item(item) == expected


def test_integral_fields_read_as_int_and_flags_as_bool():
    receipt = Receipt.from_item(LEGACY["receipt_ids_only_in_keys"][0])
    assert type(receipt.width) is int and type(receipt.receipt_id) is int
    checkpoint = JobCheckpoint.from_item(LEGACY["checkpoint_with_decimal_counts"][0])
    assert type(checkpoint.size_bytes) is int and type(checkpoint.step) is int
    word = ReceiptWord.from_item(LEGACY["word_with_nulls"][0])
    assert word.is_noise is False and type(word.geometry.top_left.y) is float


@pytest.mark.parametrize(
    ("cls", "item"),
    [
        (Receipt, {"PK": PK_IMAGE, "SK": {"S": "RECEIPT#00003"}, "TYPE": {"S": "RECEIPT"}, "height": {"N": "1"}}),
        (JobMetric, {"PK": PK_JOB, "SK": {"S": "METRIC#x"}, "TYPE": {"S": "JOB_METRIC"}, "timestamp": {"S": TS}}),
        (
            DatasetSnapshotRecord,
            {"PK": {"S": "DATASET_SNAPSHOT#m"}, "SK": {"S": "SNAPSHOT"}, "TYPE": {"S": "DATASET_SNAPSHOT"}},
        ),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_missing_required_attribute_is_an_error(cls, item):
    with pytest.raises(KeyError):
        cls.from_item(item)


def test_unknown_type_is_refused_and_a_missing_attribute_is_not_mistaken_for_one():
    with pytest.raises(ValueError, match="unknown item TYPE 'IMAGE'"):
        record_from_item({"PK": PK_IMAGE, "SK": {"S": "IMAGE"}, "TYPE": {"S": "IMAGE"}})
    with pytest.raises(KeyError, match="'width'"):
        record_from_item({"PK": PK_IMAGE, "SK": {"S": "RECEIPT#00003"}, "TYPE": {"S": "RECEIPT"}, "height": {"N": "1"}})

"""Key builders and parsers for the receipts table (see docs/table_layout.md).

Every function here is pure: the exact strings are the compatibility contract with the
user's existing table, so they live in one place and nothing else formats keys by hand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

ID_WIDTH = 5
LABEL_GSI1PK_WIDTH = 40

TABLE_HASH_KEY = "PK"
TABLE_RANGE_KEY = "SK"
GSI_NAMES = ("GSI1", "GSI2", "GSI3", "GSI4")
GSITYPE = "GSITYPE"


def pad_id(value: int) -> str:
    """Zero-pad an OCR id to the table's 5 digits (`12` -> `00012`)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 99_999:
        raise ValueError(f"id must be an integer in 0..99999, got {value!r}")
    return f"{value:0{ID_WIDTH}d}"


def utc_now_iso() -> str:
    """ISO-8601 UTC timestamp with microseconds; sorts lexicographically in time order."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


# --- receipt entities -------------------------------------------------------------------


def image_pk(image_id: str) -> str:
    return f"IMAGE#{image_id}"


def receipt_key(image_id: str, receipt_id: int) -> str:
    """`IMAGE#<uuid>#RECEIPT#00001`: GSI4PK of every item of one receipt, and GSI3PK of its lines/words."""
    return f"IMAGE#{image_id}#RECEIPT#{pad_id(receipt_id)}"


def receipt_sk(receipt_id: int) -> str:
    return f"RECEIPT#{pad_id(receipt_id)}"


def place_sk(receipt_id: int) -> str:
    """`RECEIPT#00001#PLACE`: the receipt's ReceiptPlace (its merchant)."""
    return f"{receipt_sk(receipt_id)}#PLACE"


def line_sk(receipt_id: int, line_id: int) -> str:
    return f"{receipt_sk(receipt_id)}#LINE#{pad_id(line_id)}"


def word_sk(receipt_id: int, line_id: int, word_id: int) -> str:
    return f"{line_sk(receipt_id, line_id)}#WORD#{pad_id(word_id)}"


def label_sk(receipt_id: int, line_id: int, word_id: int, label: str) -> str:
    return f"{word_sk(receipt_id, line_id, word_id)}#LABEL#{label}"


def label_gsi1pk(label: str) -> str:
    """`LABEL#<LABEL>` right-padded with `_` to 40 characters, as the existing table has it."""
    return f"LABEL#{label}".ljust(LABEL_GSI1PK_WIDTH, "_")


def validation_status_gsi3pk(status: str) -> str:
    return f"VALIDATION_STATUS#{status}"


_WORD_SK = re.compile(r"^RECEIPT#(\d+)#LINE#(\d+)#WORD#(\d+)(?:#LABEL#(.+))?$")


def parse_word_sk(sk: str) -> tuple[int, int, int, str | None]:
    """`RECEIPT#..#LINE#..#WORD#..[#LABEL#X]` -> (receipt_id, line_id, word_id, label or None)."""
    match = _WORD_SK.match(sk)
    if match is None:
        raise ValueError(f"not a word or word-label sort key: {sk!r}")
    rid, lid, wid, label = match.groups()
    return int(rid), int(lid), int(wid), label


def parse_receipt_sk(sk: str) -> int:
    """`RECEIPT#00001` -> 1."""
    return int(sk.removeprefix("RECEIPT#"))


def parse_line_sk(sk: str) -> tuple[int, int]:
    """`RECEIPT#00001#LINE#00012` -> (receipt_id, line_id)."""
    parts = sk.split("#")
    return int(parts[1]), int(parts[3])


def parse_image_pk(pk: str) -> str:
    if not pk.startswith("IMAGE#"):
        raise ValueError(f"not an image partition key: {pk!r}")
    return pk.removeprefix("IMAGE#")


# --- training records ---------------------------------------------------------------------


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def parse_job_pk(pk: str) -> str:
    return pk.removeprefix("JOB#")


def job_status_gsi1pk(status: str) -> str:
    return f"STATUS#{status}"


def job_name_gsi2pk(name: str) -> str:
    return f"JOB_NAME#{name}"


def metric_sk(metric_name: str, timestamp: str) -> str:
    return f"METRIC#{metric_name}#{timestamp}"


def metric_gsi_pk(metric_name: str) -> str:
    return f"METRIC#{metric_name}"


def log_sk(timestamp: str) -> str:
    return f"LOG#{timestamp}"


def parse_log_sk(sk: str) -> str:
    """`LOG#<timestamp>` -> timestamp."""
    return sk.removeprefix("LOG#")


def status_sk(updated_at: str) -> str:
    return f"STATUS#{updated_at}"


def checkpoint_sk(timestamp: str) -> str:
    return f"CHECKPOINT#{timestamp}"


def local_checkpoint_sk(timestamp: str) -> str:
    """**Ours**: a checkpoint not uploaded to S3 (outside `CHECKPOINT#`, which the user's client reads)."""
    return f"LOCAL_CHECKPOINT#{timestamp}"


def log_part_prefix(timestamp: str) -> str:
    """**Ours**: the parts of a log message too large for one item. Outside `LOG#`, so the
    user's client, which lists every `LOG#` item as a JobLog, never sees one."""
    return f"LOG_PART#{timestamp}#"


def log_part_sk(timestamp: str, part: int) -> str:
    """Part `part` (1-based) of a split log message."""
    return f"{log_part_prefix(timestamp)}{pad_id(part)}"


def legacy_log_part_sk(timestamp: str, part: int) -> str:
    """Where parts were kept before they moved out of `LOG#` (read, never written)."""
    return f"{log_sk(timestamp)}#PART#{pad_id(part)}"


def resource_sk(resource_id: str) -> str:
    return f"RESOURCE#{resource_id}"


def snapshot_pk(manifest_sha256: str) -> str:
    return f"DATASET_SNAPSHOT#{manifest_sha256}"


def snapshot_id_gsi2pk(snapshot_id: str) -> str:
    return f"DATASET_SNAPSHOT_ID#{snapshot_id}"

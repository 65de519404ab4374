"""metrics_store: the only code that writes to the receipts DynamoDB table.

- `records`: typed records (receipts, words, labels, jobs, metrics, logs...) and their item codecs
- `Store`: batched, retried, idempotent writes
- `Queries`: reads of runs and receipt statistics
- `RunRecorder` / `DynamoRecorder` / `MemoryRecorder` / `NullRecorder`: what the trainer
  records through, and reads its own records back through; `MemoryJobs`: many jobs in memory
  (`JobRecorders` and `JobReader`), for testing jobs that start jobs without a table
- `local`: DynamoDB Local for tests and the demo
"""

from .connection import StoreConfig, TableRef, connect, translate_errors
from .errors import (
    AmbiguousJob,
    EndpointUnreachable,
    InvalidEndpoint,
    InvalidStatusTransition,
    InvalidValue,
    ItemTooLarge,
    JobLeased,
    JobNotFound,
    LeaseLost,
    MissingCredentials,
    NotDynamoDB,
    OutageTooLong,
    StoreError,
    TableNotFound,
    WriteFailed,
)
from .job_state import HEARTBEAT_SECONDS, STALE_AFTER_SECONDS, heartbeat_age, is_stale
from .queries import JobReader, LabelCounts, Page, Queries, WordLabelStates
from .recorder import DynamoRecorder, JobRecorders, RecordedRun, RunRecorder, current_attempt
from .recorder_memory import MemoryJobs, MemoryRecorder, NullRecorder
from .records import (
    DatasetSnapshotRecord,
    Geometry,
    Job,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobResource,
    JobStatus,
    LocalCheckpoint,
    Point,
    Receipt,
    ReceiptLine,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
)
from .retry import RetryPolicy
from .run_records import (
    EpochRow,
    JobConfig,
    JobResults,
    RunConfigLog,
    RunSummary,
    SnapshotLineage,
    parse_structured,
    per_label_metrics,
)
from .schema import create_table, delete_table, table_exists
from .store import Store
from .suggestions import SuggestionOutcome
from .table_writer import check_size
from .writer import OUTAGE_BUDGET_SECONDS, PendingWrite, read_spool, replay

__all__ = [
    "HEARTBEAT_SECONDS",
    "OUTAGE_BUDGET_SECONDS",
    "STALE_AFTER_SECONDS",
    "current_attempt",
    "heartbeat_age",
    "is_stale",
    "AmbiguousJob",
    "DatasetSnapshotRecord",
    "DynamoRecorder",
    "EndpointUnreachable",
    "Geometry",
    "InvalidStatusTransition",
    "InvalidEndpoint",
    "InvalidValue",
    "ItemTooLarge",
    "Job",
    "JobCheckpoint",
    "JobLog",
    "JobMetric",
    "JobLeased",
    "JobNotFound",
    "LeaseLost",
    "NotDynamoDB",
    "JobResource",
    "JobStatus",
    "LabelCounts",
    "MemoryRecorder",
    "MissingCredentials",
    "NullRecorder",
    "Page",
    "Point",
    "RecordedRun",
    "Queries",
    "LocalCheckpoint",
    "Receipt",
    "ReceiptLine",
    "ReceiptPlace",
    "ReceiptWord",
    "ReceiptWordLabel",
    "RetryPolicy",
    "RunRecorder",
    "Store",
    "StoreConfig",
    "SuggestionOutcome",
    "StoreError",
    "TableNotFound",
    "TableRef",
    "WordLabelStates",
    "WriteFailed",
    "connect",
    "EpochRow",
    "JobConfig",
    "JobResults",
    "RunConfigLog",
    "RunSummary",
    "SnapshotLineage",
    "parse_structured",
    "create_table",
    "delete_table",
    "per_label_metrics",
    "table_exists",
    "translate_errors",
    "OutageTooLong",
    "PendingWrite",
    "check_size",
    "read_spool",
    "replay",
    "JobReader",
    "JobRecorders",
    "MemoryJobs",
]

"""dataset_builder: DynamoDB receipt labels -> versioned, immutable Parquet snapshots.

The public face, for code that builds or reads snapshots without the CLI. Names load on first
use, so `import dataset_builder` stays cheap (and needs no Great Expectations):

    from dataset_builder import BuildConfig, LocalBackend, create_snapshot, open_snapshot

    result = create_snapshot(table=table, backend=LocalBackend("snapshots"), source={"table": table.name},
                             config=BuildConfig(merge_preset="amounts"))
    snapshot = open_snapshot("snapshots", "latest")   # words, labels, receipts, manifest, lock

Build: `create_snapshot` (`BuildConfig`, `BuildResult`), gated by `contract_gate`.
Read: `open_snapshot`, `list_snapshots`, `Snapshot`, `diff_snapshots`, `check_snapshot`.
Where snapshots live: `LocalBackend`, `S3Backend`, `backend_for`.
Receipts in the table: `generate_receipts`, `import_jsonl`, `write_bundles`, `ReceiptBundle`.
Errors: `DatasetBuilderError` and its subclasses (dataset_builder.errors lists them).
docs/architecture.md says what lives where.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "dataset_builder.errors": ("DatasetBuilderError",),
    "dataset_builder.config": ("BuildConfig", "ConfigError"),
    "dataset_builder.build": ("BuildResult", "ContractGateFailed", "create_snapshot"),
    "dataset_builder.snapshot": ("Snapshot", "SnapshotCorrupted", "list_snapshots", "open_snapshot"),
    "dataset_builder.storage": (
        "LocalBackend",
        "S3Backend",
        "SnapshotError",
        "SnapshotExists",
        "SnapshotNotFound",
        "backend_for",
    ),
    "dataset_builder.diff": ("diff_snapshots",),
    "dataset_builder.contracts": ("check_snapshot", "contract_gate"),
    "dataset_builder.receipts": ("ReceiptBundle", "generate_receipts", "import_jsonl", "write_bundles"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [
    "BuildConfig",
    "BuildResult",
    "ConfigError",
    "ContractGateFailed",
    "DatasetBuilderError",
    "LocalBackend",
    "ReceiptBundle",
    "S3Backend",
    "Snapshot",
    "SnapshotCorrupted",
    "SnapshotError",
    "SnapshotExists",
    "SnapshotNotFound",
    "backend_for",
    "check_snapshot",
    "contract_gate",
    "create_snapshot",
    "diff_snapshots",
    "generate_receipts",
    "import_jsonl",
    "list_snapshots",
    "open_snapshot",
    "write_bundles",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'dataset_builder' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from dataset_builder.build import BuildResult, ContractGateFailed, create_snapshot
    from dataset_builder.config import BuildConfig, ConfigError
    from dataset_builder.contracts import check_snapshot, contract_gate
    from dataset_builder.diff import diff_snapshots
    from dataset_builder.errors import DatasetBuilderError
    from dataset_builder.receipts import (
        ReceiptBundle,
        generate_receipts,
        import_jsonl,
        write_bundles,
    )
    from dataset_builder.snapshot import Snapshot, SnapshotCorrupted, list_snapshots, open_snapshot
    from dataset_builder.storage import (
        LocalBackend,
        S3Backend,
        SnapshotError,
        SnapshotExists,
        SnapshotNotFound,
        backend_for,
    )

"""`dsb snapshot create`, as a function: read -> rules -> contracts -> publish -> record."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from metrics_store import DatasetSnapshotRecord, Queries, Store, StoreError, TableRef, check_size
from metrics_store.keys import utc_now_iso

from . import rules
from .config import BuildConfig, BuildOptions
from .dataset import Dataset, build_dataset
from .manifest import (
    ContractReport,
    Counts,
    DataQuality,
    Manifest,
    MerchantCounts,
    RatioReport,
    SnapshotLock,
    SourceInfo,
)
from .snapshot import (
    MANIFEST,
    Snapshot,
    SnapshotError,
    content_hash,
    encode_dataset,
    file_entries,
    manifest_bytes,
    open_snapshot,
    read_manifest,
    sha256,
    split_hash,
)
from .sources.dynamo import Progress, read_table
from .storage import Backend

ContractCheck = Callable[[Dataset, Manifest, Snapshot | None], dict[str, Any]]
"""Checks a draft manifest's data (and drift against the parent); returns the report."""


class ContractGateFailed(SnapshotError):
    """Error-level contract failures: nothing was published."""

    def __init__(self, report: dict[str, Any]):
        failed = [f for f in report.get("results", []) if not f.get("success") and f.get("severity") == "error"]
        names = ", ".join(f"{f['suite']}:{f['expectation']}" for f in failed[:5])
        super().__init__(
            f"{len(failed)} contract expectation(s) failed ({names}); nothing was published. "
            "Fix the data, or pass --allow-contract-failures to publish with the failures stamped in the manifest"
        )
        self.report = report


@dataclass(frozen=True)
class BuildResult:
    snapshot_id: str
    uri: str
    manifest: Manifest
    manifest_sha256: str
    recorded: bool
    record_error: str | None = None
    """Why the table record could not be written (the snapshot is published all the same;
    `dsb snapshot repair` writes the record later)."""
    cleaned: tuple[str, ...] = ()
    """Debris of killed builds removed before this one (stale staging folders)."""


def code_version() -> dict[str, str | None]:
    versions = {}
    for dist in ("receipt-ml-dataset-builder", "receipt-ml-metrics-store", "polars"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        versions["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).parent,
                check=True,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        versions["git_commit"] = None
    return versions


def draft_manifest(
    dataset: Dataset,
    config: BuildConfig,
    files: dict[str, bytes],
    *,
    source: dict[str, Any],
    parent_id: str | None,
    read_window: tuple[str, str],
    read_stats: dict[str, Any],
) -> Manifest:
    """Everything but the id and the contract results."""
    frames = {"words.parquet": dataset.words, "receipts.parquet": dataset.receipts, "labels.parquet": dataset.labels}
    entries = file_entries(files, frames)
    splits = {s: dataset.receipts.filter(pl.col("split") == s)["receipt_key"].to_list() for s in ("train", "val")}
    summary = dataset.summary
    lock = SnapshotLock(
        created_at=utc_now_iso(),
        parent_id=parent_id,
        source=SourceInfo(**source, read_started_at=read_window[0], read_finished_at=read_window[1], **read_stats),
        code_version=code_version(),
        coordinate_convention=rules.COORDINATE_CONVENTION,
        label_list=dataset.label_list,
        tags=rules.tag_list(dataset.label_list),
        counts=Counts.model_validate(summary["counts"]),
        o_entity_ratio=RatioReport.model_validate(summary["o_entity_ratio"]),
        multi_label_conflicts=summary["multi_label_conflicts"],
        dropped_label_names=summary["dropped_label_names"],
        missing_val_keys=summary["missing_val_keys"],
        merchants=MerchantCounts.model_validate(summary["merchants"]),
        data_quality=DataQuality.model_validate(summary["data_quality"]),
        split_hashes={s: split_hash(keys) for s, keys in splits.items()},
        files=entries,
        content_sha256=content_hash({n: e.sha256 for n, e in entries.items()}),
    )
    return Manifest(spec=config, lock=lock)


def _record_config(config: BuildConfig) -> dict[str, Any]:
    """The spec for the table record: a frozen split's keys (thousands of them) are
    summarised, so the item stays far below DynamoDB's 400 KB (the manifest keeps them)."""
    keys = config.val_keys
    return {
        **config.to_dict(),
        "val_keys": None if keys is None else {"count": len(keys), "sha256": split_hash(list(keys))},
    }


def choose_parent(backend: Backend, choice: str) -> Snapshot | None:
    """The parent snapshot, opened and verified before the table is read: drift is measured
    against it, so a damaged one must stop the build with a way out, not after the read."""
    if choice == "none":
        return None
    published = backend.published_ids()
    if choice == "latest" and not published:
        return None
    parent_id = published[-1] if choice == "latest" else choice
    try:
        return open_snapshot("", parent_id, backend=backend)
    except SnapshotError as exc:
        raise SnapshotError(
            f"the parent snapshot {parent_id} cannot be used ({exc}); build without a parent (--parent none) "
            f"or name a good one (--parent vN); `dsb snapshot verify {parent_id}` shows the damage"
        ) from exc


def snapshot_record(manifest: Manifest, manifest_hash: str, uri: str) -> DatasetSnapshotRecord:
    lock = manifest.lock
    return DatasetSnapshotRecord(
        snapshot_id=str(manifest.id),
        content_sha256=lock.content_sha256,
        manifest_sha256=manifest_hash,
        uri=uri,
        created_at=lock.created_at,
        parent_id=lock.parent_id,
        counts={s: {"receipts": c.receipts, "words": c.words} for s, c in lock.counts.splits.items()},
        contract_status=lock.contracts.status,
        label_list=lock.label_list,
        build_config=_record_config(manifest.spec),
    )


def create_snapshot(
    *,
    table: TableRef,
    backend: Backend,
    config: BuildConfig,
    source: dict[str, Any],
    options: BuildOptions | None = None,
    check_contracts: ContractCheck | None = None,
    progress: Progress | None = None,
    record: bool = True,
    parent: Snapshot | None | str = "from-options",
) -> BuildResult:
    """Read, apply the rules, check the contracts, publish, record. A failure before the
    publish leaves nothing visible (ids of failed builds are gaps, never reused); the record
    is built and validated before the publish, so after it only the table can fail, and then
    the snapshot is published and the record is repaired later (`repair_records`)."""
    options = options or BuildOptions()
    cleaned = tuple(backend.clean_debris())
    if isinstance(parent, str):  # not opened by the caller (the CLI opens it before the contracts load)
        parent = choose_parent(backend, options.parent)
    raw = read_table(
        table, config.statuses, concurrency=options.concurrency, strategy=options.strategy, progress=progress
    )
    dataset = build_dataset(raw, config)
    files = encode_dataset(dataset)
    manifest = draft_manifest(
        dataset,
        config,
        files,
        source=source,
        parent_id=parent.id if parent else None,
        read_window=(raw.started_at, raw.finished_at),
        read_stats=raw.stats,
    )
    if check_contracts is not None:
        manifest = manifest.with_contracts(ContractReport.model_validate(check_contracts(dataset, manifest, parent)))
    if manifest.contracts.status == "failed" and not options.allow_contract_failures:
        raise ContractGateFailed(manifest.contracts.model_dump())

    snapshot_id = backend.reserve_id()
    manifest = manifest.with_id(snapshot_id)
    files[MANIFEST] = manifest_bytes(manifest)
    manifest_hash = sha256(files[MANIFEST])
    entry = snapshot_record(manifest, manifest_hash, backend.snapshot_uri(snapshot_id))
    check_size(entry.to_item())  # a record that cannot be stored fails the build before anything is visible
    uri = backend.publish(snapshot_id, files)
    recorded, error = False, None
    if record:
        try:
            recorded = Store(table).put_snapshot_record(entry)
        except StoreError as exc:
            error = str(exc)
    return BuildResult(snapshot_id, uri, manifest, manifest_hash, recorded, error, cleaned)


def repair_records(table: TableRef, backend: Backend) -> dict[str, Any]:
    """What `dsb snapshot repair` does: write the table record of every published snapshot
    that lacks one (a build killed, or the table unreachable, right after publishing), and
    remove debris of killed builds. Reserved ids that were never published stay gaps."""
    recorded = {r.manifest_sha256 for r in Queries(table).snapshot_records()}
    written = []
    for snapshot_id in backend.published_ids():
        manifest, raw = read_manifest(backend, snapshot_id)
        manifest_hash = sha256(raw)
        if manifest_hash not in recorded:
            Store(table).put_snapshot_record(
                snapshot_record(manifest, manifest_hash, backend.snapshot_uri(snapshot_id))
            )
            written.append(snapshot_id)
    published = set(backend.published_ids())
    return {
        "records_written": written,
        "debris_removed": backend.clean_debris(),
        "unpublished_ids": [i for i in backend.reserved_ids() if i not in published],
    }

"""`dsb snapshot create`, as a function: read -> rules -> contracts -> publish -> record."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from metrics_store import DatasetSnapshotRecord, Store, TableRef
from metrics_store.keys import utc_now_iso

from . import rules
from .config import BuildConfig, BuildOptions
from .dataset import Dataset, build_dataset
from .manifest import ContractReport, Counts, Manifest, RatioReport, SnapshotLock, SourceInfo
from .snapshot import (
    MANIFEST,
    Snapshot,
    SnapshotError,
    content_hash,
    encode_dataset,
    file_entries,
    manifest_bytes,
    open_snapshot,
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
        super().__init__(f"{len(failed)} contract expectation(s) failed ({names}); nothing was published. "
                         "Fix the data, or pass --allow-contract-failures to publish with the failures stamped in the manifest")
        self.report = report


@dataclass(frozen=True)
class BuildResult:
    snapshot_id: str
    uri: str
    manifest: Manifest
    manifest_sha256: str
    recorded: bool


def code_version() -> dict[str, str | None]:
    versions = {}
    for dist in ("receipt-ml-dataset-builder", "receipt-ml-metrics-store", "polars"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        versions["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent, check=True,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        versions["git_commit"] = None
    return versions


def draft_manifest(dataset: Dataset, config: BuildConfig, files: dict[str, bytes], *, source: dict[str, Any], parent_id: str | None,
                   read_window: tuple[str, str], read_stats: dict[str, Any]) -> Manifest:
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
        split_hashes={s: split_hash(keys) for s, keys in splits.items()},
        files=entries,
        content_sha256=content_hash({n: e.sha256 for n, e in entries.items()}),
    )
    return Manifest(spec=config, lock=lock)


def _record_config(config: BuildConfig) -> dict[str, Any]:
    """The spec for the table record: a frozen split's keys (thousands of them) are
    summarised, so the item stays far below DynamoDB's 400 KB (the manifest keeps them)."""
    keys = config.val_keys
    return {**config.to_dict(), "val_keys": None if keys is None else {"count": len(keys), "sha256": split_hash(list(keys))}}


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
) -> BuildResult:
    options = options or BuildOptions()
    raw = read_table(table, config.statuses, concurrency=options.concurrency, strategy=options.strategy, progress=progress)
    dataset = build_dataset(raw, config)
    published = backend.published_ids()
    # Verified: drift is measured against the parent, so a tampered parent must not pass unnoticed.
    parent = open_snapshot("", published[-1], backend=backend) if published else None
    files = encode_dataset(dataset)
    manifest = draft_manifest(
        dataset, config, files, source=source, parent_id=parent.id if parent else None,
        read_window=(raw.started_at, raw.finished_at), read_stats=raw.stats,
    )
    if check_contracts is not None:
        manifest = manifest.with_contracts(ContractReport.model_validate(check_contracts(dataset, manifest, parent)))
    report = manifest.contracts
    if report.status == "failed" and not options.allow_contract_failures:
        raise ContractGateFailed(report.model_dump())

    snapshot_id = backend.reserve_id()
    manifest = manifest.with_id(snapshot_id)
    files[MANIFEST] = manifest_bytes(manifest)
    uri = backend.publish(snapshot_id, files)
    manifest_hash = sha256(files[MANIFEST])
    recorded = False
    if record:
        lock = manifest.lock
        recorded = Store(table).put_snapshot_record(DatasetSnapshotRecord(
            snapshot_id=snapshot_id, content_sha256=lock.content_sha256, manifest_sha256=manifest_hash,
            uri=uri, created_at=lock.created_at, parent_id=lock.parent_id,
            counts={s: {"receipts": c.receipts, "words": c.words} for s, c in lock.counts.splits.items()},
            contract_status=report.status, label_list=lock.label_list, build_config=_record_config(config),
        ))
    return BuildResult(snapshot_id, uri, manifest, manifest_hash, recorded)

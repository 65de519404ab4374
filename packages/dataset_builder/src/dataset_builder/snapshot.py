"""Snapshots: write one (manifest, hashes, atomic publish) and open one (verify, frames).

This module is the API the trainer uses: `open_snapshot(root, "v12")` returns a verified
`Snapshot` whose frames follow docs/snapshot_format.md and whose `manifest` is the typed
`manifest.Manifest` (spec and lock).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from .config import BuildConfig
from .dataset import Dataset
from .manifest import ContractReport, FileEntry, Manifest, ManifestError, SnapshotLock
from .storage import (
    MANIFEST,
    Backend,
    SnapshotError,
    SnapshotExists,
    SnapshotNotFound,
    backend_for,
    id_number,
)

DATA_FILES = ("words.parquet", "receipts.parquet", "labels.parquet")

__all__ = [
    "DATA_FILES",
    "Manifest",
    "Snapshot",
    "SnapshotCorrupted",
    "SnapshotError",
    "SnapshotExists",
    "SnapshotNotFound",
    "content_hash",
    "list_snapshots",
    "open_snapshot",
    "resolve_id",
    "sha256",
    "split_hash",
]


class SnapshotCorrupted(SnapshotError):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(file_hashes: dict[str, str]) -> str:
    """One hash over the data files (not the manifest, which names the id and time)."""
    return sha256("".join(f"{name}:{file_hashes[name]}\n" for name in sorted(file_hashes)).encode())


def split_hash(receipt_keys: list[str]) -> str:
    """Identifies a split: equal hashes mean two snapshots validate on the same receipts."""
    return sha256("\n".join(sorted(receipt_keys)).encode())


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def encode_dataset(dataset: Dataset) -> dict[str, bytes]:
    return {
        "words.parquet": parquet_bytes(dataset.words),
        "receipts.parquet": parquet_bytes(dataset.receipts),
        "labels.parquet": parquet_bytes(dataset.labels),
    }


def file_entries(files: dict[str, bytes], frames: dict[str, pl.DataFrame]) -> dict[str, FileEntry]:
    return {
        name: FileEntry(sha256=sha256(data), bytes=len(data), rows=frames[name].height) for name, data in files.items()
    }


def manifest_bytes(manifest: Manifest) -> bytes:
    return manifest.to_json().encode()


def resolve_id(backend: Backend, ref: str) -> str:
    """`latest`, `v12` or `12` -> a published id."""
    published = backend.published_ids()
    if ref == "latest":
        if not published:
            raise SnapshotNotFound(f"no snapshot in {backend.uri} yet: create one with `dsb snapshot create`")
        return published[-1]
    snapshot_id = f"v{ref}" if ref.isdigit() else ref
    id_number(snapshot_id)
    if snapshot_id not in published:
        known = ", ".join(published[-5:]) or "none"
        raise SnapshotNotFound(f"snapshot {snapshot_id} not found in {backend.uri} (latest: {known})")
    return snapshot_id


@dataclass
class Snapshot:
    """A published snapshot. Frames are read on first use (and verified when opened)."""

    id: str
    uri: str
    manifest: Manifest
    backend: Backend = field(repr=False)
    _files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def _bytes(self, name: str) -> bytes:
        if name not in self._files:
            self._files[name] = self.backend.read(self.id, name)
        return self._files[name]

    def frame(self, name: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self._bytes(name)))

    @cached_property
    def words(self) -> pl.DataFrame:
        return self.frame("words.parquet")

    @cached_property
    def receipts(self) -> pl.DataFrame:
        return self.frame("receipts.parquet")

    @cached_property
    def labels(self) -> pl.DataFrame:
        return self.frame("labels.parquet")

    @property
    def spec(self) -> BuildConfig:
        """What the build was asked for (the options that change the data)."""
        return self.manifest.spec

    @property
    def lock(self) -> SnapshotLock:
        """What the build produced: counts, ratios, hashes, contract results."""
        return self.manifest.lock

    @property
    def label_list(self) -> list[str]:
        return self.manifest.label_list

    @property
    def tags(self) -> list[str]:
        return self.manifest.tags

    @property
    def content_sha256(self) -> str:
        return self.manifest.content_sha256

    @property
    def parent_id(self) -> str | None:
        return self.manifest.parent_id

    @property
    def contracts(self) -> ContractReport:
        return self.manifest.contracts

    @property
    def manifest_sha256(self) -> str:
        return sha256(self._bytes(MANIFEST))

    @property
    def contracts_passed(self) -> bool:
        """False only when an error-level contract failed (warnings never block)."""
        return self.contracts.passed

    def split_hash(self, split: str) -> str | None:
        return self.manifest.split_hash(split)

    def verify(self) -> None:
        """Re-hash every file against the manifest; a modified file is a clear error."""
        entries = self.lock.files
        missing = sorted(set[str](DATA_FILES) - set(entries))
        if missing:
            raise SnapshotCorrupted(f"snapshot {self.id}: manifest lists no hash for {', '.join(missing)}")
        for name, entry in entries.items():
            actual = sha256(self._bytes(name))
            if actual != entry.sha256:
                raise SnapshotCorrupted(
                    f"snapshot {self.id}: {name} was modified after publishing "
                    f"(sha256 {actual[:12]}..., manifest says {entry.sha256[:12]}...)"
                )
        if content_hash({n: e.sha256 for n, e in entries.items()}) != self.content_sha256:
            raise SnapshotCorrupted(f"snapshot {self.id}: manifest content_sha256 does not match its file hashes")


def read_manifest(backend: Backend, snapshot_id: str) -> tuple[Manifest, bytes]:
    """The typed manifest of a published snapshot (any known schema version) and its bytes."""
    raw = backend.read(snapshot_id, MANIFEST)
    try:
        return Manifest.from_json(raw, where=f"snapshot {snapshot_id}: manifest.json"), raw
    except ManifestError as exc:
        raise SnapshotCorrupted(str(exc)) from exc


def open_snapshot(
    root: str | Path, ref: str = "latest", *, verify: bool = True, backend: Backend | None = None
) -> Snapshot:
    """Open a published snapshot by id (or `latest`), verifying its hashes by default."""
    backend = backend or backend_for(root)
    snapshot_id = resolve_id(backend, ref)
    manifest, raw = read_manifest(backend, snapshot_id)
    snapshot = Snapshot(snapshot_id, backend.snapshot_uri(snapshot_id), manifest, backend, {MANIFEST: raw})
    if verify:
        snapshot.verify()
    return snapshot


def list_snapshots(
    root: str | Path, *, backend: Backend | None = None, recorded: set[str] | None = None
) -> list[dict[str, Any]]:
    """One summary row per published snapshot, oldest first. `recorded`: the manifest hashes
    the table holds records of (None: not looked up), which fills each row's `recorded`."""
    backend = backend or backend_for(root)
    rows = []
    for snapshot_id in backend.published_ids():
        manifest, raw = read_manifest(backend, snapshot_id)
        lock = manifest.lock
        manifest_hash = sha256(raw)
        rows.append(
            {
                "id": snapshot_id,
                "parent_id": lock.parent_id,
                "created_at": lock.created_at,
                "train_receipts": lock.counts.splits["train"].receipts if "train" in lock.counts.splits else None,
                "val_receipts": lock.counts.splits["val"].receipts if "val" in lock.counts.splits else None,
                "labels": len(lock.label_list),
                "contracts": lock.contracts.status,
                "content_sha256": lock.content_sha256,
                "manifest_sha256": manifest_hash,
                "recorded": None if recorded is None else manifest_hash in recorded,
                "uri": backend.snapshot_uri(snapshot_id),
            }
        )
    return rows

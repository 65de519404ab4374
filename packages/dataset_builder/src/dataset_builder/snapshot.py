"""Snapshots: write one (manifest, hashes, atomic publish) and open one (verify, frames).

This module is the API the trainer uses: `open_snapshot(root, "v12")` returns a verified
`Snapshot` whose frames follow docs/snapshot_format.md.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from .dataset import Dataset
from .storage import (
    MANIFEST,
    Backend,
    SnapshotError,
    SnapshotExists,
    SnapshotNotFound,
    backend_for,
    id_number,
)

FORMAT_VERSION = 1
DATA_FILES = ("words.parquet", "receipts.parquet", "labels.parquet")

__all__ = [
    "DATA_FILES", "Snapshot", "SnapshotCorrupted", "SnapshotError", "SnapshotExists", "SnapshotNotFound",
    "content_hash", "list_snapshots", "open_snapshot", "resolve_id", "sha256", "split_hash",
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


def file_entries(files: dict[str, bytes], frames: dict[str, pl.DataFrame]) -> dict[str, dict[str, Any]]:
    return {name: {"sha256": sha256(data), "bytes": len(data), "rows": frames[name].height} for name, data in files.items()}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n").encode()


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
    manifest: dict[str, Any]
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
    def label_list(self) -> list[str]:
        return list(self.manifest["label_list"])

    @property
    def tags(self) -> list[str]:
        return list(self.manifest["tags"])

    @property
    def content_sha256(self) -> str:
        return self.manifest["content_sha256"]

    @property
    def manifest_sha256(self) -> str:
        return sha256(self._bytes(MANIFEST))

    @property
    def contracts_passed(self) -> bool:
        """False only when an error-level contract failed (warnings never block)."""
        return self.manifest.get("contracts", {}).get("status", "unchecked") != "failed"

    def verify(self) -> None:
        """Re-hash every file against the manifest; a modified file is a clear error."""
        entries = self.manifest.get("files", {})
        missing = sorted(set(DATA_FILES) - set(entries))
        if missing:
            raise SnapshotCorrupted(f"snapshot {self.id}: manifest lists no hash for {', '.join(missing)}")
        for name, entry in entries.items():
            actual = sha256(self._bytes(name))
            if actual != entry["sha256"]:
                raise SnapshotCorrupted(
                    f"snapshot {self.id}: {name} was modified after publishing "
                    f"(sha256 {actual[:12]}..., manifest says {entry['sha256'][:12]}...)"
                )
        if content_hash({n: e["sha256"] for n, e in entries.items()}) != self.content_sha256:
            raise SnapshotCorrupted(f"snapshot {self.id}: manifest content_sha256 does not match its file hashes")


def open_snapshot(root: str | Path, ref: str = "latest", *, verify: bool = True, backend: Backend | None = None) -> Snapshot:
    """Open a published snapshot by id (or `latest`), verifying its hashes by default."""
    backend = backend or backend_for(root)
    snapshot_id = resolve_id(backend, ref)
    raw = backend.read(snapshot_id, MANIFEST)
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise SnapshotCorrupted(f"snapshot {snapshot_id}: manifest.json is not valid JSON") from exc
    snapshot = Snapshot(snapshot_id, backend.snapshot_uri(snapshot_id), manifest, backend, {MANIFEST: raw})
    if verify:
        snapshot.verify()
    return snapshot


def list_snapshots(root: str | Path, *, backend: Backend | None = None) -> list[dict[str, Any]]:
    """One summary row per published snapshot, oldest first."""
    backend = backend or backend_for(root)
    rows = []
    for snapshot_id in backend.published_ids():
        manifest = json.loads(backend.read(snapshot_id, MANIFEST))
        splits = manifest.get("counts", {}).get("splits", {})
        rows.append({
            "id": snapshot_id,
            "parent_id": manifest.get("parent_id"),
            "created_at": manifest.get("created_at"),
            "train_receipts": splits.get("train", {}).get("receipts"),
            "val_receipts": splits.get("val", {}).get("receipts"),
            "labels": len(manifest.get("label_list", [])),
            "contracts": manifest.get("contracts", {}).get("status", "unchecked"),
            "content_sha256": manifest.get("content_sha256"),
            "uri": backend.snapshot_uri(snapshot_id),
        })
    return rows

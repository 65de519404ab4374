"""Nested subsets of a snapshot's train receipts, each a derived snapshot: what a learning curve
(`trainer data-curve`) trains on to measure how F1 grows with data.

- **Receipts**: the parent's train receipts in a seeded order (a hash of the seed and the key);
  the subset of fraction f holds the first round(f x n) of them, so every subset holds each
  smaller one (nested), and the same seed always draws the same subsets.
- **Spec**: the parent's, with `val_keys` = the parent's val receipts (the yardstick is the
  same val split, word for word) and no held-out merchants. A fraction of 1 is the parent
  itself: nothing is built for it.
- **Words** come from the table, read-only and only for the parent's receipts, and must rebuild
  the parent exactly (`review.read_review_words`, `review.check_reproduces`), as a review's
  folds do: with an O:entity ratio the parent dropped O-only training lines, and a subset
  draws its own under the same rule (`dataset.build_dataset`, the rules of `dsb snapshot create`).
- **Published** under `<root>/<first 16 of the definition hash>/v1`, the definition covering the
  parent's content, the spec (keys included), the fraction and the seed: the same definition
  always lands in the same place and is reused when there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from . import rules
from .config import BuildConfig, ConfigError
from .dataset import RawRead, build_dataset
from .snapshot import Snapshot, SnapshotError, open_snapshot, split_hash


class SubsetError(SnapshotError):
    """A subset cannot be made as asked; the message says why."""


def _draw(seed: int, key: str) -> str:
    return hashlib.sha256(f"subset:{seed}:{key}".encode()).hexdigest()


@dataclass(frozen=True)
class Subset:
    """The first `fraction` of the parent's train receipts (in seeded order); val unchanged."""

    fraction: float
    seed: int
    parent_id: str
    parent_content_sha256: str
    spec: BuildConfig
    train_keys: tuple[str, ...]

    @property
    def is_parent(self) -> bool:
        return self.fraction >= 1.0

    @property
    def key(self) -> str:
        """`p025` for 25%: names the subset in job names and child keys."""
        return f"p{round(self.fraction * 100):03d}"

    @property
    def definition_sha256(self) -> str:
        text = json.dumps({"parent_content_sha256": self.parent_content_sha256, "spec": self.spec.to_dict(), "fraction": self.fraction,
                           "seed": self.seed, "train_keys_sha256": split_hash(list(self.train_keys))}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """What a data-curve job records of the subset (the keys are in its manifest)."""
        return {"fraction": self.fraction, "key": self.key, "seed": self.seed, "parent_id": self.parent_id,
                "parent_content_sha256": self.parent_content_sha256, "train_receipts": len(self.train_keys),
                "train_keys_sha256": split_hash(list(self.train_keys)), "definition_sha256": self.definition_sha256}


def plan_subsets(snapshot: Snapshot, fractions: Sequence[float], seed: int) -> list[Subset]:
    """One nested subset per fraction (0 < f <= 1), smallest first."""
    wanted = sorted(set(fractions))
    if not wanted or any(not 0 < f <= 1 for f in wanted):
        raise ConfigError(f"--fractions must be numbers in (0, 1], got {', '.join(map(str, fractions)) or 'none'}")
    receipts = snapshot.receipts
    train = sorted(receipts.filter(pl.col("split") == "train")["receipt_key"].to_list(), key=lambda k: (_draw(seed, k), k))
    val = tuple(sorted(receipts.filter(pl.col("split") == "val")["receipt_key"].to_list()))
    spec = replace(snapshot.spec, val_keys=val, holdout_merchants=())
    subsets = []
    for fraction in wanted:
        count = len(train) if fraction >= 1 else round(fraction * len(train))
        if count < 1:
            raise ConfigError(f"--fractions {fraction:g}: {snapshot.id} has {len(train)} train receipts, so that is none of them")
        subsets.append(Subset(fraction, seed, snapshot.id, snapshot.content_sha256, snapshot.spec if fraction >= 1 else spec,
                              tuple(sorted(train[:count]))))
    return subsets


def subset_root(root: str, subset: Subset) -> str:
    """Where a subset's snapshot lives: `<root>/<first 16 of its definition hash>`."""
    return f"{str(root).rstrip('/')}/{subset.definition_sha256[:16]}"


def subset_read(raw: RawRead, subset: Subset) -> RawRead:
    """The table's read of the parent's receipts, cut to the subset's train receipts and every val receipt."""
    keep = pl.Series(list(subset.train_keys) + list(subset.spec.val_keys or ())).implode()

    def cut(frame: pl.DataFrame) -> pl.DataFrame:
        return rules.with_receipt_key(frame).filter(pl.col("receipt_key").is_in(keep)).drop("receipt_key")

    return RawRead(cut(raw.receipts), cut(raw.words), cut(raw.labels), raw.started_at, raw.finished_at, dict(raw.stats))


def open_or_publish_subset(root: str, subset: Subset, raw: Callable[[], RawRead], source: dict[str, Any]) -> Snapshot:
    """The subset's snapshot (v1 of its own root): opened and checked when published before, else
    built from `raw()` (called only then) and published."""
    from .build import draft_manifest
    from .snapshot import MANIFEST, encode_dataset, manifest_bytes
    from .storage import backend_for

    if subset.is_parent:
        raise SubsetError("the full fraction is the parent snapshot itself: nothing to build")
    where = subset_root(root, subset)
    backend = backend_for(where)
    if backend.published_ids():
        snapshot = open_snapshot(where, "v1", backend=backend)
        recorded = (snapshot.lock.source.model_extra or {}).get("data_curve_subset", {}).get("definition_sha256")
        if recorded != subset.definition_sha256:
            raise SubsetError(f"{where} holds another subset (definition {str(recorded)[:12]}, expected "
                              f"{subset.definition_sha256[:12]}): remove it, or pass another subsets root")
        return snapshot
    read = subset_read(raw(), subset)
    dataset = build_dataset(read, subset.spec)
    files = encode_dataset(dataset)
    manifest = draft_manifest(dataset, subset.spec, files, source={**source, "data_curve_subset": subset.describe()}, parent_id=None,
                              read_window=(read.started_at, read.finished_at), read_stats={})
    snapshot_id = backend.reserve_id()
    files[MANIFEST] = manifest_bytes(manifest.with_id(snapshot_id))
    backend.publish(snapshot_id, files)
    return open_snapshot(where, snapshot_id, backend=backend)

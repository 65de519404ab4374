"""What a label review (`trainer review`) needs from dataset_builder: every word of a snapshot's
receipts, labelled as the snapshot labelled them, cut into K cross-fitting folds, each fold a
derived snapshot; and the way between the table's label names and the snapshot's.

Where a fold's data comes from, and why:

- **Words from the table** (read-only, `TableReader.read_receipts`, the snapshot's receipts
  only). The snapshot's own words are not enough: with an O:entity ratio and `drop` (the
  default), the build removed O-only training lines, and those lines are exactly where
  missing labels hide; a review must see every word.
- **Labels, receipts and spec from the snapshot** (its labels.parquet holds every label item of
  its receipts, of every status, as they were when it was built). Labels validated or
  proposed since (a review's own suggestions among them) do not leak into the review of `vN`:
  reviewing the same snapshot twice gives the same folds.
- **Checked**: `check_reproduces` rebuilds the snapshot from these inputs with its own spec and
  requires its words exactly (text, boxes, labels, tags, supervision, split); a table whose
  words changed since, or other labelling rules, stop the review with the count of what differs.
- **A fold is a snapshot**: fold i's spec is the parent's with `val_keys` = the fold's receipts
  (so its val split is exactly the held-out fold, every word of it: the ratio control never
  touches val) and no held-out merchants; the build is `dataset.build_dataset`, the same rules
  as `dsb snapshot create`, so the training side gets the parent's ratio control. It is
  published through the storage backends under `<folds root>/<definition hash>/v1`, where the
  definition hash covers the parent's content hash, the fold's spec (its keys included), K and
  the fold seed: the same definition always lands in the same place, and is reused when there.

Folds are receipt-level, seeded and stratified by merchant (`assign_folds`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from dataset_builder.build import draft_manifest
from dataset_builder.snapshot import MANIFEST, encode_dataset, manifest_bytes, split_hash
from dataset_builder.sources.dynamo import TableReader
from dataset_builder.storage import backend_for

from . import rules
from .config import FOLD_RATIOS, BuildConfig, ConfigError
from .dataset import RawRead, build_dataset
from .labels import LEGACY_ALIASES
from .snapshot import Snapshot, SnapshotError, open_snapshot

RAW_RECEIPT_COLUMNS = ["image_id", "receipt_id", "width", "height", "merchant", "merchant_source"]
"""The snapshot's receipts as a build reads them: merchants already resolved (`rules.resolve_merchants` keeps them)."""
RAW_LABEL_COLUMNS = ["image_id", "receipt_id", "line_id", "word_id", "label", "validation_status", "timestamp_added"]
COMPARED = [
    "receipt_key",
    "line_id",
    "word_id",
    "text",
    "x0",
    "y0",
    "x1",
    "y1",
    "label",
    "tag",
    "supervised",
    "label_state",
    "split",
]


class ReviewDataError(SnapshotError):
    """The snapshot's receipts cannot be reviewed as asked; the message says why and what to do."""


# --- every word of the snapshot's receipts ----------------------------------------------------


def review_read(snapshot: Snapshot, table_read: RawRead) -> RawRead:
    """The snapshot's receipts and label items, with the words the table holds for them."""
    found = {(i, r) for i, r in table_read.words.select("image_id", "receipt_id").unique().iter_rows()}
    wanted = snapshot.receipts.select("receipt_key", "image_id", "receipt_id")
    missing = [k for k, i, r in wanted.iter_rows() if (i, r) not in found]
    if missing:
        raise ReviewDataError(
            f"the table holds no words for {len(missing)} of snapshot {snapshot.id}'s receipts "
            f"(e.g. {', '.join(missing[:3])}): review a snapshot of this table"
        )
    return RawRead(
        snapshot.receipts.select(c for c in RAW_RECEIPT_COLUMNS if c in snapshot.receipts.columns),
        table_read.words,
        snapshot.labels.select(RAW_LABEL_COLUMNS),
        table_read.started_at,
        table_read.finished_at,
        dict(table_read.stats),
    )


def read_review_words(table: Any, snapshot: Snapshot, *, progress: Callable[[int, int], None] | None = None) -> RawRead:
    """Read the words of the snapshot's receipts (only those) from the table, read-only."""

    keys = [(i, int(r)) for i, r in snapshot.receipts.select("image_id", "receipt_id").iter_rows()]
    return review_read(snapshot, TableReader(table).read_receipts(keys, progress=progress))


class WordsSource(Protocol):
    """Where a job that builds snapshots from a snapshot (a review's folds, a data curve's
    subsets) reads the words of its receipts: the table (`TableWords`), or a test's copy."""

    def read(self, snapshot: Snapshot) -> Any:
        """The table's words of the snapshot's receipts, checked to reproduce the snapshot."""
        ...

    def describe(self) -> Mapping[str, Any]:
        """What the derived snapshots record as their source."""
        ...


@dataclass(frozen=True)
class TableWords:
    """The words in the user's table (`dataset_builder.review.read_review_words`)."""

    table: Any  # a metrics_store.TableRef

    def read(self, snapshot: Snapshot) -> Any:
        raw = read_review_words(self.table, snapshot)
        check_reproduces(snapshot, raw)
        return raw

    def describe(self) -> Mapping[str, Any]:
        return {"table": self.table.name, "endpoint_url": self.table.endpoint_url}


def check_reproduces(snapshot: Snapshot, raw: RawRead) -> None:
    """The snapshot, rebuilt from `raw` with its own spec, must give its words exactly."""
    rebuilt = build_dataset(raw, snapshot.spec).words
    if rebuilt.select(COMPARED).equals(snapshot.words.select(COMPARED)):
        return
    key = ["receipt_key", "line_id", "word_id"]
    joined = snapshot.words.select(COMPARED).join(
        rebuilt.select(COMPARED), on=key, how="full", suffix="_now", coalesce=True
    )
    only_then = joined.filter(pl.col("text_now").is_null() & pl.col("text").is_not_null()).height
    only_now = joined.filter(pl.col("text").is_null() & pl.col("text_now").is_not_null()).height
    columns = [c for c in COMPARED if c not in key and joined.filter(pl.col(c).ne_missing(pl.col(f"{c}_now"))).height]
    raise ReviewDataError(
        f"snapshot {snapshot.id} cannot be rebuilt from the table's words of its receipts: {only_then} of its words "
        "are gone, "
        f"{only_now} new, other values in {', '.join(columns) or 'the order'} (the table's words changed since, or the "
        f"labelling rules did); build a new snapshot (`dsb snapshot create`) and review that"
    )


# --- folds ----------------------------------------------------------------------------------


def _draw(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"fold:{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_folds(receipts: pl.DataFrame, folds: int, seed: int) -> pl.DataFrame:
    """`receipt_key` -> `fold` (1..K): receipts sorted by merchant (lower-cased; receipts
    without one form one group) and, within a merchant, by a seeded draw, then dealt to the
    folds in turn. Each merchant's receipts spread evenly over the folds (a fold model has seen
    the merchant's other receipts when it scores one), fold sizes differ by at most one."""
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds}")
    if receipts.height < folds:
        raise ConfigError(f"--folds {folds}: the snapshot has only {receipts.height} receipts")
    keyed = receipts.select(
        "receipt_key",
        rules.merchant_key().fill_null("").alias("_merchant"),
        pl.col("receipt_key").map_elements(lambda k: _draw(seed, k), return_dtype=pl.Float64).alias("_draw"),
    )
    ordered = keyed.sort("_merchant", "_draw", "receipt_key")
    return ordered.select("receipt_key", ((pl.int_range(pl.len()) % folds) + 1).cast(pl.Int32).alias("fold"))


@dataclass(frozen=True)
class Fold:
    """Fold `index` of `folds` of a snapshot: its held-out receipts are `spec.val_keys`."""

    index: int
    folds: int
    seed: int
    parent_id: str
    parent_content_sha256: str
    spec: BuildConfig

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.spec.val_keys or ())

    @property
    def definition_sha256(self) -> str:
        """One hash over what makes the fold's data: parent content, spec (keys included), K, seed."""
        text = json.dumps(
            {
                "parent_content_sha256": self.parent_content_sha256,
                "spec": self.spec.to_dict(),
                "fold": self.index,
                "folds": self.folds,
                "seed": self.seed,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """What a review job records of the fold (the keys themselves are in the fold's manifest)."""

        return {
            "fold": self.index,
            "folds": self.folds,
            "seed": self.seed,
            "parent_id": self.parent_id,
            "parent_content_sha256": self.parent_content_sha256,
            "receipts": len(self.keys),
            "keys_sha256": split_hash(list(self.keys)),
            "definition_sha256": self.definition_sha256,
        }


def plan_folds(snapshot: Snapshot, folds: int, seed: int, *, ratio: str = "none") -> list[Fold]:
    """K folds over every receipt of the snapshot (train and val alike). `ratio`: `none` trains
    the fold models on every word (no O:entity ratio control), `snapshot` under the snapshot's
    own ratio control (a model never shown the O-only lines it dropped calls their numbers
    amounts: the missing-label queue fills with them)."""
    if ratio not in FOLD_RATIOS:
        raise ConfigError(f"--fold-ratio must be one of {', '.join(FOLD_RATIOS)}, got {ratio!r}")
    assigned = assign_folds(snapshot.receipts, folds, seed)
    plans = []
    for index in range(1, folds + 1):
        keys = tuple(sorted(assigned.filter(pl.col("fold") == index)["receipt_key"].to_list()))
        spec = replace(snapshot.spec, val_keys=keys, holdout_merchants=())
        if ratio == "none":
            spec = replace(spec, o_entity_ratio=None)
        plans.append(Fold(index, folds, seed, snapshot.id, snapshot.content_sha256, spec))
    return plans


def fold_root(root: str | Path, fold: Fold) -> str:
    """Where a fold's snapshot lives: `<root>/<first 16 of its definition hash>` (a local folder or s3://)."""
    return f"{str(root).rstrip('/')}/{fold.definition_sha256[:16]}"


def open_or_publish_fold(root: str | Path, fold: Fold, raw: Callable[[], RawRead], source: dict[str, Any]) -> Snapshot:
    """The fold's snapshot (v1 of its own root): opened and checked when it was published
    before, else built from `raw()` (called only then) and published."""

    where = fold_root(root, fold)
    backend = backend_for(where)
    if backend.published_ids():
        snapshot = open_snapshot(where, "v1", backend=backend)
        recorded = (snapshot.lock.source.model_extra or {}).get("review_fold", {}).get("definition_sha256")
        if recorded != fold.definition_sha256:
            raise ReviewDataError(
                f"{where} holds another fold (definition {str(recorded)[:12]}, expected "
                f"{fold.definition_sha256[:12]}): remove it, or pass another folds root"
            )
        return snapshot
    read = raw()
    dataset = build_dataset(read, fold.spec)
    files = encode_dataset(dataset)
    info = {**source, "review_fold": fold.describe()}
    manifest = draft_manifest(
        dataset,
        fold.spec,
        files,
        source=info,
        parent_id=None,
        read_window=(read.started_at, read.finished_at),
        read_stats={},
    )
    snapshot_id = backend.reserve_id()
    files[MANIFEST] = manifest_bytes(manifest.with_id(snapshot_id))
    backend.publish(snapshot_id, files)
    return open_snapshot(where, snapshot_id, backend=backend)


# --- label names: the table's and the snapshot's ------------------------------------------------


def snapshot_label(name: str, spec: BuildConfig) -> str | None:
    """The snapshot label a table label name becomes under `spec` (legacy alias, merge, allowed
    list, as `rules.alias_labels` / `apply_allowed` map it); None: no label (O, or dropped)."""
    vocabulary = spec.vocabulary
    if name in vocabulary:
        core = name
    elif name in LEGACY_ALIASES:
        core = LEGACY_ALIASES[name]
    else:
        return None
    if core is None:
        return None
    merged = spec.merge_map.get(core, core)
    if spec.allowed_labels is not None and merged not in spec.allowed_labels:
        return None
    return merged


def table_names(label: str, spec: BuildConfig) -> tuple[str, ...]:
    """The table label names that become `label` in the snapshot: one for a label of its own,
    several for a merge (AMOUNT under `amounts`: LINE_TOTAL, SUBTOTAL, TAX, GRAND_TOTAL)."""
    return tuple(name for name in spec.vocabulary if spec.merge_map.get(name, name) == label)


def snapshot_labels(names: Sequence[str], spec: BuildConfig) -> dict[str, str | None]:
    """`snapshot_label` for each distinct name (to map a column with `replace_strict`)."""
    return {name: snapshot_label(name, spec) for name in dict.fromkeys(names)}

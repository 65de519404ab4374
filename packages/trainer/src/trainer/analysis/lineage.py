"""Which snapshot a run trained on, whether it can still be opened, and what that says about
comparing two runs (same val split? same labels?) and about why their data differs.

A snapshot may be unreachable (another machine's folder, a bucket without credentials);
every answer then falls back to what the job recorded and says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metrics_store import DatasetSnapshotRecord, Queries
from trainer.analysis.runs import RunData

if TYPE_CHECKING:
    from dataset_builder.manifest import Manifest


@dataclass
class SnapshotInfo:
    """A run's snapshot: what the job recorded, plus the manifest when it could be opened."""

    id: str | None
    uri: str | None
    content_sha256: str | None
    label_list: list[str] = field(default_factory=list)
    manifest: Manifest | None = None
    record: DatasetSnapshotRecord | None = None  # the table's record of this build, when found
    opened: Any = field(default=None, repr=False)  # dataset_builder Snapshot, for diffs
    reason: str | None = None  # why the manifest could not be read

    @property
    def reachable(self) -> bool:
        return self.manifest is not None

    def split_hash(self, split: str = "val") -> str | None:
        return self.manifest.split_hash(split) if self.manifest is not None else None

    @property
    def unvalidated(self) -> str | None:
        """How the build treated unknown words (`ignore` or `o`): the manifest's spec, else the
        table's record of the build (records from before the option: `o`), else None."""
        if self.manifest is not None:
            return self.manifest.spec.unvalidated
        if self.record is not None:
            return str((self.record.build_config or {}).get("unvalidated", "o"))
        return None

    def train_entity_words(self) -> dict[str, int] | None:
        """Entity words per label in the train split (the manifest's counts)."""
        if self.manifest is None or "train" not in self.manifest.lock.counts.splits:
            return None
        return dict(self.manifest.lock.counts.splits["train"].entity_words)

    def to_dict(self) -> dict[str, Any]:
        """Lineage from the manifest when reachable, else from the table's snapshot record."""
        record = self.record
        if self.manifest is not None:
            lock = self.manifest.lock
            parent_id, created_at, split_hashes = lock.parent_id, lock.created_at, dict(lock.split_hashes)
            receipts = {s: c.receipts for s, c in lock.counts.splits.items()}
            contracts: str | None = lock.contracts.status
        else:
            parent_id, created_at = (record.parent_id, record.created_at) if record else (None, None)
            split_hashes = None
            receipts = {s: (c or {}).get("receipts") for s, c in (record.counts if record else {}).items()}
            contracts = record.contract_status if record else None
        return {
            "id": self.id,
            "uri": self.uri,
            "content_sha256": self.content_sha256,
            "label_list": self.label_list,
            "reachable": self.reachable,
            "unreachable_reason": self.reason,
            "parent_id": parent_id,
            "created_at": created_at,
            "split_hashes": split_hashes,
            "receipts": receipts or None,
            "contracts": contracts,
        }


def _root_of(uri: str, snapshot_id: str) -> str | None:
    """A snapshot's uri is `<root>/<id>`: the root is what `open_snapshot` takes."""
    trimmed = uri.rstrip("/")
    return trimmed[: -len(snapshot_id) - 1] if trimmed.endswith("/" + snapshot_id) else None


def _matching_records(run: RunData, queries: Queries | None) -> list[DatasetSnapshotRecord]:
    """The table's records of this snapshot build (ids repeat across roots: match the content)."""
    lineage = run.snapshot_lineage
    if queries is None or not lineage.id:
        return []
    return [
        r
        for r in queries.snapshot_records(lineage.id)
        if not lineage.content_sha256 or r.content_sha256 == lineage.content_sha256
    ]


def _candidate_roots(run: RunData, records: list[DatasetSnapshotRecord]) -> list[str]:
    lineage = run.snapshot_lineage
    snapshot_id = lineage.id
    uris = [lineage.uri, *(r.uri for r in records)]
    roots = [_root_of(u, snapshot_id) for u in uris if u and snapshot_id]
    roots.append(run.config.get("snapshot_root"))
    return list(dict.fromkeys(r for r in roots if r))


def resolve_snapshot(
    run: RunData, queries: Queries | None = None, *, cache: dict[tuple, SnapshotInfo] | None = None
) -> SnapshotInfo:
    """Open the run's snapshot manifest (not its data) from the recorded uri, the snapshot
    record in the table, or the request's root; the first that holds the same content wins."""
    lineage = run.snapshot_lineage
    snapshot_id, content = lineage.id, lineage.content_sha256
    key = (snapshot_id, content, lineage.uri)
    if cache is not None and key in cache:
        return cache[key]
    records = _matching_records(run, queries)
    info = SnapshotInfo(
        snapshot_id, lineage.uri, content, list(lineage.label_list), record=records[0] if records else None
    )
    if not snapshot_id:
        info.reason = "the job recorded no snapshot"
    else:
        info.reason = _open_first(info, _candidate_roots(run, records))
    if cache is not None:
        cache[key] = info
    return info


def _open_first(info: SnapshotInfo, roots: list[str]) -> str | None:
    if info.id is None:
        return "the job recorded no snapshot id"
    from dataset_builder.snapshot import open_snapshot

    reasons = []
    for root in roots:
        try:
            opened = open_snapshot(root, info.id, verify=False)
        # Any failure (missing folder, no credentials, bad JSON) means "not reachable here":
        # the reason is kept and reported, and the analysis falls back to recorded hashes.
        except Exception as exc:  # noqa: BLE001
            reasons.append(f"{root}: {exc}")
            continue
        if info.content_sha256 and opened.content_sha256 != info.content_sha256:
            reasons.append(f"{root}: {info.id} there holds other content ({opened.content_sha256[:12]})")
            continue
        info.manifest, info.opened, info.uri = opened.manifest, opened, opened.uri
        info.content_sha256 = info.content_sha256 or opened.content_sha256
        info.label_list = info.label_list or opened.label_list
        return None
    return "; ".join(reasons) or "no snapshot location recorded"


def comparability(a: SnapshotInfo, b: SnapshotInfo, labels_a: list[str], labels_b: list[str]) -> dict[str, Any]:
    """Whether two runs' F1 can be compared: same val split (manifest split hashes when both
    are reachable, else identical snapshot content), the same label set, and the same
    treatment of unknown words (`--unvalidated`: scored as O, or left out of scoring), unless
    the content is identical (then no word is treated differently)."""
    if a.split_hash() and b.split_hash():
        same_split, basis = a.split_hash() == b.split_hash(), "split_hash"
    elif a.content_sha256 and b.content_sha256:
        same_split, basis = a.content_sha256 == b.content_sha256, "content_sha256"
    else:
        same_split, basis = None, "unknown"
    set_a, set_b = set(labels_a), set(labels_b)
    same_content = bool(a.content_sha256) and a.content_sha256 == b.content_sha256
    known = a.unvalidated is not None and b.unvalidated is not None
    same_unvalidated = True if same_content else (a.unvalidated == b.unvalidated if known else None)
    return {
        "same_val_split": same_split,
        "basis": basis,
        "same_label_set": set_a == set_b,
        "labels_only_in_a": sorted(set_a - set_b),
        "labels_only_in_b": sorted(set_b - set_a),
        "unvalidated_a": a.unvalidated,
        "unvalidated_b": b.unvalidated,
        "same_unvalidated": same_unvalidated,
        "comparable": bool(same_split) and set_a == set_b and same_unvalidated is not False,
    }


def snapshot_changes(a: SnapshotInfo, b: SnapshotInfo) -> dict[str, Any]:
    """What changed in the data between two runs' snapshots: the full `dsb snapshot diff`
    when both can be opened, else only whether the content hashes differ."""
    changed = a.content_sha256 != b.content_sha256 if a.content_sha256 and b.content_sha256 else None
    base = {"a": a.id, "b": b.id, "content_changed": changed}
    if a.opened is None or b.opened is None:
        missing = [f"{s.id}: {s.reason}" for s in (a, b) if s.opened is None]
        return {**base, "available": False, "reason": "; ".join(missing)}
    if not changed:
        return {
            **base,
            "available": True,
            "receipts_added": 0,
            "receipts_removed": 0,
            "relabelled_words": 0,
            "relabelled_in_val": 0,
            "relabelled_by_change": [],
            "label_count_changes": {},
            "same_val_split": True,
            "val_overlap": None,
            "build_config_changes": {},
        }
    from dataset_builder.diff import diff_snapshots

    diff = diff_snapshots(a.opened, b.opened)
    return {
        **base,
        "available": True,
        "receipts_added": diff["receipts"]["added"],
        "receipts_removed": diff["receipts"]["removed"],
        "relabelled_words": diff["relabelled_words"]["count"],
        "relabelled_in_val": _relabelled_in_split(a.opened, b.opened, "val"),
        "relabelled_by_change": diff["relabelled_words"]["by_change"],
        "label_count_changes": {k: v for k, v in diff["label_counts"].items() if v["change"]},
        "same_val_split": diff["split"]["same_val_split"],
        "val_overlap": diff["split"]["val_overlap"],
        "build_config_changes": diff["config_changes"],
    }


def _relabelled_in_split(a: Any, b: Any, split: str) -> int:
    """Relabelled words that sit in `split` of the newer snapshot: val changes move the
    yardstick itself, not only what the model learns from."""
    import polars as pl

    from dataset_builder.diff import training_target
    from dataset_builder.rules import with_label_state

    word = ["receipt_key", "line_id", "word_id"]
    words_a, words_b = with_label_state(a.words), with_label_state(b.words)
    joined = words_a.select(*word, training_target().alias("from")).join(
        words_b.select(*word, training_target().alias("to"), "split"), on=word
    )
    return joined.filter((pl.col("from") != pl.col("to")) & (pl.col("split") == split)).height

"""Dataset lineage: where a published snapshot is and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import keys
from .codec import Layout, Record

# --- dataset lineage ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetSnapshotRecord(Record):
    """Where a snapshot is and what it holds, so a job's `snapshot_id` leads to its data.

    Keyed by the manifest's hash, unique per build (ids like `v12` are per snapshot root,
    and two builds of the same data share a content hash); GSI2 finds it by id, GSI1 lists
    snapshots by creation time."""

    TYPE: ClassVar[str] = "DATASET_SNAPSHOT"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=False,
        read_defaults={"manifest_sha256": "", "uri": "", "created_at": ""},
    )
    snapshot_id: str
    content_sha256: str
    manifest_sha256: str
    uri: str
    created_at: str
    parent_id: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    contract_status: str = "unchecked"
    label_list: list[str] = field(default_factory=list)
    build_config: dict[str, Any] = field(default_factory=dict)

    def item_keys(self) -> dict[str, str]:
        return {
            "PK": keys.snapshot_pk(self.manifest_sha256),
            "SK": "SNAPSHOT",
            "GSI1PK": "DATASET_SNAPSHOT",
            "GSI1SK": f"CREATED#{self.created_at}",
            "GSI2PK": keys.snapshot_id_gsi2pk(self.snapshot_id),
            "GSI2SK": f"CREATED#{self.created_at}",
        }

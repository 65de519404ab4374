"""Dataset lineage: where a published snapshot is and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import keys
from ..codec import Item, decode_item, encode_item

# --- dataset lineage ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetSnapshotRecord:
    """Where a snapshot is and what it holds, so a job's `snapshot_id` leads to its data.

    Keyed by the manifest's hash, unique per build (ids like `v12` are per snapshot root,
    and two builds of the same data share a content hash); GSI2 finds it by id, GSI1 lists
    snapshots by creation time."""

    TYPE: ClassVar[str] = "DATASET_SNAPSHOT"
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

    def to_item(self) -> Item:
        return encode_item(
            {
                "PK": keys.snapshot_pk(self.manifest_sha256),
                "SK": "SNAPSHOT",
                "TYPE": self.TYPE,
                "GSI1PK": "DATASET_SNAPSHOT",
                "GSI1SK": f"CREATED#{self.created_at}",
                "GSI2PK": keys.snapshot_id_gsi2pk(self.snapshot_id),
                "GSI2SK": f"CREATED#{self.created_at}",
                "snapshot_id": self.snapshot_id,
                "content_sha256": self.content_sha256,
                "manifest_sha256": self.manifest_sha256,
                "uri": self.uri,
                "created_at": self.created_at,
                "parent_id": self.parent_id,
                "counts": self.counts,
                "contract_status": self.contract_status,
                "label_list": self.label_list,
                "build_config": self.build_config,
            },
            write_nulls=False,
        )

    @classmethod
    def from_item(cls, item: Item) -> DatasetSnapshotRecord:
        d = decode_item(item)
        return cls(
            snapshot_id=d["snapshot_id"],
            content_sha256=d["content_sha256"],
            manifest_sha256=d.get("manifest_sha256") or "",
            uri=d.get("uri") or "",
            created_at=d.get("created_at") or "",
            parent_id=d.get("parent_id"),
            counts=d.get("counts") or {},
            contract_status=d.get("contract_status") or "unchecked",
            label_list=list(d.get("label_list") or []),
            build_config=d.get("build_config") or {},
        )

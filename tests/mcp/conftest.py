"""A table of planted runs with known truths, cheap to make (nothing is trained): generated
receipts, snapshots v1 and v2 (v1 with an O:entity ratio), two nested subsets of v1 (25%, 50% of
its train receipts), and runs
recorded through metrics_store as `trainer fit` records them:

- `base`, `p025`, `p050`: one recipe on v1 and its two subsets; DATE's F1 rises with its
  examples (0.40, 0.55, 0.70), every other label is flat: DATE is the label that needs data;
- `batch8-a`, `batch8-b`, `batch32`: v1 at batch size 8 (best F1 0.90 and 0.88, still rising at
  the last of 10 epochs) and 32 (0.70): 8 is the best batch size, and the next command trains
  the best run 50% longer;
- `overfit` (lr 1e-4): eval loss rises from epoch 4 while train loss falls, F1 drops after 4;
- `early`: early stopping triggered at epoch 8, best epoch 5;
- `running`: still training (3 of 10 epochs).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dataset_builder.build import create_snapshot
from dataset_builder.config import BuildConfig
from dataset_builder.receipts import generate_receipts, write_bundles
from dataset_builder.review import check_reproduces, read_review_words
from dataset_builder.snapshot import Snapshot, open_snapshot
from dataset_builder.storage import LocalBackend
from dataset_builder.subsets import open_or_publish_subset, plan_subsets, subset_root
from metrics_store import DynamoRecorder, StoreConfig, connect, create_table, delete_table
from tests.e2e.conftest import CLEAN_MIX, USER_LABELS
from tests.trainer.test_runs_builders import (
    Curves,
    early_stopped,
    healthy,
    linear_lr,
    overfitting,
    record_run,
    request,
)

DATE_CURVE = {"p025": 0.40, "p050": 0.55, "base": 0.70}
FLAT_F1 = 0.85


def lineage(snapshot: Snapshot) -> dict[str, Any]:
    """What `trainer fit` records of its snapshot (trainer.fit.snapshot_lineage)."""
    return {"id": snapshot.id, "uri": snapshot.uri, "content_sha256": snapshot.content_sha256, "manifest_sha256": snapshot.manifest_sha256,
            "split_hashes": dict(snapshot.lock.split_hashes), "label_list": list(snapshot.label_list),
            "coordinate_convention": dict(snapshot.lock.coordinate_convention)}


def label_curves(curves: Curves, labels: list[str], finals: dict[str, float]) -> Curves:
    """Every label's per-epoch F1 shaped like the run's F1, reaching `finals` at its best epoch."""
    top = max(curves.f1)
    curves.label_f1 = {label: [round(finals.get(label, FLAT_F1) * v / top, 4) for v in curves.f1] for label in labels}
    curves.support = dict.fromkeys(labels, 30)
    return curves


def rising(epochs: int = 10, top: float = 0.90) -> Curves:
    """Still improving at its last epoch: F1 up by 0.03 every epoch, no plateau, losses falling."""
    f1 = [round(top - 0.03 * (epochs - e), 4) for e in range(1, epochs + 1)]
    return Curves([round(0.9 * 0.9**e, 4) for e in range(1, epochs + 1)], [round(1.0 * 0.93**e, 4) for e in range(1, epochs + 1)],
                  f1, linear_lr(epochs))


def scaled(curves: Curves, top: float) -> Curves:
    peak = max(curves.f1)
    curves.f1 = [round(v * top / peak, 4) for v in curves.f1]
    return curves


@dataclass
class Planted:
    config: StoreConfig
    table: Any
    root: Path
    ids: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)


@pytest.fixture(scope="module")
def planted(dynamodb_endpoint, tmp_path_factory) -> Planted:
    config = StoreConfig(table=f"mcp-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    table = connect(config)
    create_table(table, stream=False)
    write_bundles(table, list(generate_receipts(21, 60, CLEAN_MIX)))
    root = tmp_path_factory.mktemp("planted") / "snapshots"
    create_snapshot(table=table, backend=LocalBackend(root), source={"table": table.name},
                    config=BuildConfig(merge_preset="amounts", allowed_labels=USER_LABELS, val_fraction=0.2, seed=1))
    create_snapshot(table=table, backend=LocalBackend(root), source={"table": table.name},
                    config=BuildConfig(merge_preset="amounts", allowed_labels=USER_LABELS, val_fraction=0.2, seed=1, o_entity_ratio=2.0))
    v1 = open_snapshot(root, "v1")
    raw = read_review_words(table, v1)
    check_reproduces(v1, raw)
    planted = Planted(config, table, root, snapshots={"base": v1})
    subsets_root = root.parent / "subsets"
    for subset in plan_subsets(v1, (0.25, 0.5), seed=0):
        published = open_or_publish_subset(str(subsets_root), subset, lambda: raw, {"table": table.name})
        assert published.uri.startswith(subset_root(str(subsets_root), subset))
        planted.snapshots[subset.key] = published
    labels = list(v1.label_list)
    recipe = {**request(epochs=10, batch_size=16), "snapshot_root": str(root)}

    def plant(name: str, curves: Curves, snapshot: str = "base", day: int = 1, **kw: Any) -> None:
        planted.ids[name] = record_run(DynamoRecorder(table, str(uuid.uuid4())), curves, name=name, snapshot=lineage(planted.snapshots[snapshot]),
                                       created_at=f"2026-02-{day:02d}T10:00:00.000000+00:00", **kw)

    for day, key in enumerate(("p025", "p050", "base"), 1):
        plant(key, label_curves(healthy(), labels, {"DATE": DATE_CURVE[key]}), snapshot=key, day=day, request_config=recipe)
    plant("batch32", label_curves(scaled(healthy(), 0.70), labels, {}), day=4,
          request_config={**recipe, "train": {**recipe["train"], "batch_size": 32}})
    for day, (name, top) in enumerate((("batch8-a", 0.90), ("batch8-b", 0.88)), 5):
        curves = rising(top=top)
        plant(name, label_curves(curves, labels, {"DATE": 0.6}), day=day, request_config={**recipe, "train": {**recipe["train"], "batch_size": 8}})
    plant("overfit", label_curves(overfitting(), labels, {}), day=7,
          request_config={**recipe, "train": {**recipe["train"], "learning_rate": 1e-4}})
    plant("early", label_curves(early_stopped(), labels, {}), day=8, early_stopping_triggered=True,
          request_config={**recipe, "train": {**recipe["train"], "epochs": 20}})
    partial = healthy()
    partial.train_loss, partial.eval_loss, partial.f1, partial.lr = partial.train_loss[:3], partial.eval_loss[:3], partial.f1[:3], partial.lr[:3]
    plant("running", label_curves(partial, labels, {}), day=9, finished=False, request_config=recipe)
    yield planted
    delete_table(table)

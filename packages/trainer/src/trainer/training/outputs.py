"""What a run leaves in its folder: the best model as a package (`best/`: weights, tokenizer,
receipt_ml.json and its model card) and run.json, the run's summary."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_store.keys import utc_now_iso
from trainer.model.package import (
    BEST_DIR,
    BestEvaluation,
    BoxConvention,
    ModelPackage,
    SnapshotRef,
    write_package,
)
from trainer.model.pretrained import PretrainingRef

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot
    from trainer.training.request import FitRequest

RUN_FILE = "run.json"


def export_best(model: Any, tokenizer: Any, output_dir: Path, *, package: ModelPackage) -> Path:
    """Weights, tokenizer and the model package (receipt_ml.json and the README.md model card:
    package.py) in one folder that `trainer predict` and any inference service can load
    (`LayoutLMForTokenClassification.from_pretrained(best)`).

    Written beside the old one and swapped in by renames, so an export stopped half-way (a
    signal, a full disk) never leaves a half-written `best/` behind."""
    best = output_dir / BEST_DIR
    for leftover in output_dir.glob(f".{BEST_DIR}.*"):  # an earlier export of this job, stopped half-way
        shutil.rmtree(leftover, ignore_errors=True)
    staging = output_dir / f".{BEST_DIR}.partial-{os.getpid()}"
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_package(staging, package)
    old = output_dir / f".{BEST_DIR}.old-{os.getpid()}"
    if best.exists():
        os.rename(best, old)
    os.rename(staging, best)
    shutil.rmtree(old, ignore_errors=True)
    return best


def write_run_file(output_dir: Path, summary: dict[str, Any]) -> Path:
    path = output_dir / RUN_FILE
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path


def package_for_run(
    job_id: str,
    request: FitRequest,
    snapshot: Snapshot,
    summary: dict[str, Any],
    *,
    pretraining: PretrainingRef | None = None,
) -> ModelPackage:
    """The package of a run's best model, from its snapshot, request and run summary (and the
    pretraining of the folder it started from, if `trainer pretrain` wrote it)."""
    model = request.model
    best_row = next((h for h in summary.get("epoch_metrics", []) if h.get("step") == summary.get("best_step")), {})
    return ModelPackage(
        job_id=job_id,
        created_at=utc_now_iso(),
        snapshot=SnapshotRef(id=snapshot.id, content_sha256=snapshot.content_sha256),
        label_list=list(snapshot.label_list),
        tags=list(snapshot.tags),
        tag_scheme="IOB2",
        max_seq_length=model.max_seq_length,
        doc_stride=model.doc_stride,
        coordinate_convention=BoxConvention(**snapshot.lock.coordinate_convention),
        model_source=model.source,
        pretraining=pretraining,
        best=BestEvaluation(
            checkpoint_metric=summary.get("checkpoint_metric"),
            best_metric=summary.get("best_metric"),
            epoch=summary.get("best_epoch"),
            step=summary.get("best_step"),
            best_f1_of_run=summary.get("best_f1"),
            **{k: best_row.get(k) for k in ("val_f1", "val_precision", "val_recall", "val_f1_lenient", "eval_loss")},
        ),
    )

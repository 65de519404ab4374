"""The fold models of a review: each a child job trained by `trainer.training.fit.fit_child()`
(the same records, lease, resume, signal and outage handling as any run), found again by its
id on `--resume`, and the out-of-sample probabilities each gives the fold it never saw.

A fold job's id derives from the review's (`jobs.children.ChildJob`), its name is
`<review name>-fold<i>of<K>`, it records the review as `parent_job_id` (and the tag), and
trains on the fold's own snapshot (`dataset_builder.review`), so `trainer fit --resume
FOLD_JOB` works on it like on any run. A finished fold is never trained
again: a resumed review scores it from its recorded best model (and from the scores it kept
in the review folder, when they are there)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from metrics_store import Job
from trainer.inference.predict import softmax, word_scores
from trainer.inference.runtime import load_runner
from trainer.jobs.children import ChildJob
from trainer.model.features import examples_from_frame
from trainer.model.package import load_package
from trainer.review.config import ReviewRequest, fold_job_name
from trainer.training.request import FitRequest

if TYPE_CHECKING:
    from dataset_builder.review import Fold

SCORED_COLUMNS = [
    "receipt_key",
    "image_id",
    "receipt_id",
    "line_id",
    "word_id",
    "position",
    "text",
    "label",
    "label_state",
]


def fold_child(review_job_id: str, fold: Fold) -> ChildJob:
    """Fold i's job: its id derived from the review's (`jobs.children.child_job_id`), so creating
    it is a claim and a resumed review finds it again without a scan."""
    return ChildJob.of(
        review_job_id,
        f"fold-{fold.index}of{fold.folds}",
        kind="review_fold",
        review_fold=f"{fold.index}/{fold.folds}",
        snapshot_id=fold.parent_id,
    )


def fold_request(request: ReviewRequest, review: Job, folder: Path, fold: Fold, snapshot_root: str) -> FitRequest:
    """The recipe, pointed at the fold's snapshot (v1 of `snapshot_root`); its run goes inside
    the review folder."""
    recipe = request.recipe
    return dataclasses.replace(
        recipe,
        snapshot_root=snapshot_root,
        snapshot="v1",
        train=dataclasses.replace(recipe.train, output_dir=str(folder)),
        job_name=fold_job_name(review.name, fold.index, fold.folds),
        description=f"fold {fold.index}/{fold.folds} of review {review.job_id} ({fold.parent_id})",
        created_by=request.created_by,
        cache_dir=str(folder / ".feature-cache"),
    )


# --- out-of-sample probabilities ---------------------------------------------------------------


def score_words(
    model_folder: Path, words: pl.DataFrame, *, batch_size: int, device: str
) -> tuple[pl.DataFrame, np.ndarray, list[str]]:
    """Tag probabilities of every word of `words` (one snapshot split) under the model package
    in `model_folder`, by evaluation's windows and logit merge (`predict.word_scores`). Returns
    the words (sorted by receipt and position), [words, tags] probabilities and the tags."""
    package = load_package(model_folder, "torch")
    unknown = sorted(set(words["tag"].unique().to_list()) - set(package.tags))
    tags = [*package.tags, *unknown]
    frame = words.sort("receipt_key", "position")
    examples = examples_from_frame(frame, tags)
    runner, tokenizer = load_runner(model_folder, package, "torch", device=device)
    scores, _ = word_scores(runner, tokenizer, examples, package, batch_size=batch_size)
    probabilities = np.concatenate([softmax(s) for s in scores]) if scores else np.zeros((0, len(package.tags)))
    return frame, probabilities, list(package.tags)


def save_scores(
    path: Path, words: pl.DataFrame, probabilities: np.ndarray, tags: list[str], meta: dict[str, Any]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    words.with_columns(pl.Series("probabilities", probabilities.tolist(), dtype=pl.List(pl.Float64))).write_parquet(
        path
    )
    path.with_suffix(".json").write_text(json.dumps({**meta, "tags": tags}, indent=2) + "\n")


def load_scores(path: Path, meta: dict[str, Any]) -> tuple[pl.DataFrame, np.ndarray, list[str]] | None:
    """Scores saved by `save_scores` for the same `meta` (fold job, definition), else None."""
    sidecar = path.with_suffix(".json")
    if not (path.is_file() and sidecar.is_file()):
        return None
    recorded = json.loads(sidecar.read_text())
    if any(recorded.get(k) != v for k, v in meta.items()):
        return None
    frame = pl.read_parquet(path)
    probabilities = np.array(frame["probabilities"].to_list(), dtype=np.float64).reshape(
        frame.height, len(recorded["tags"])
    )
    return frame.drop("probabilities"), probabilities, list(recorded["tags"])

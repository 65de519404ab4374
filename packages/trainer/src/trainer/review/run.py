"""`trainer review`, as a function: out-of-sample label probabilities for every word of a
snapshot's receipts, then three ranked queues of labels to look at first (`review.queues`).

Cross-fitting (the default): the snapshot's receipts are cut into K seeded folds, stratified by
merchant, each published as a derived snapshot (`dataset_builder.review`); fold i's model is a
child Job of the review, trained by `trainer.training.fit.fit()` on the other folds, and scores fold i,
which it never trained on. `--from-job JOB` (cheap): one trained model scores the val split of
its own snapshot. In both, a model picks its best epoch on the receipts it then scores (one
choice among the evaluations, never the weights): a mild optimism the fold models share.

The review is a Job of its own (`job_config.kind` "review") with a lease, statuses and logs
like a run: a signal or a stopped fold leaves it `interrupted`, an error `failed`, and
`trainer review --resume JOB` continues it without training a finished fold again.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from dataset_builder.review import WordsSource, fold_root, open_or_publish_fold, plan_folds, snapshot_labels
from metrics_store import Job, JobConfig, JobReader, JobRecorders
from metrics_store.keys import utc_now_iso
from trainer.errors import FitError
from trainer.inference.model_ref import resolve_model
from trainer.jobs.folders import claim, run_folder
from trainer.jobs.lifecycle import JobSession
from trainer.jobs.signals import RunInterrupted, SignalGuard
from trainer.review.config import ReviewRequest
from trainer.review.folds import (
    SCORED_COLUMNS,
    fold_child,
    fold_request,
    load_scores,
    save_scores,
    score_words,
)
from trainer.review.output import QUEUE_DIR, summary_payload, write_queues
from trainer.review.queues import build_queues
from trainer.training.fit import fit_child, recorded_child, snapshot_lineage
from trainer.training.preflight import open_gated_snapshot

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot

Log = Callable[[str], None]


@dataclass(frozen=True)
class ReviewResult:
    job_id: str
    status: str
    folder: str
    summary: dict[str, Any] | None
    stopped_by: str | None = None


def open_inputs(request: ReviewRequest, jobs: JobReader) -> tuple[Snapshot, Job | None]:
    """The snapshot to review (gated like a run's) and, in `--from-job` mode, the job."""
    source = None
    if request.from_job:
        source = jobs.find_job(request.from_job)
        config = source.config
        if source.status != "succeeded" or not source.outcome.best_checkpoint_uri or config.kind != "fit":
            raise FitError(
                f"--from-job {source.job_id} is {source.status} and has no best model: give a finished `trainer "
                "fit` job"
            )
        root, ref = (
            config.request.get("snapshot_root") or request.snapshot_root,
            config.snapshot.id if config.snapshot else None,
        )
        if request.snapshot not in ("latest", ref):
            raise FitError(
                f"--from-job {source.job_id} trained on {ref}, not {request.snapshot}: it can only review its own "
                "val split"
            )
        request = dataclasses.replace(request, snapshot_root=root, snapshot=ref)
    snapshot = open_gated_snapshot(
        dataclasses.replace(
            request.recipe,
            snapshot_root=request.snapshot_root,
            snapshot=request.snapshot,
            allow_contract_failures=request.allow_contract_failures,
        )
    )
    if (
        source is not None
        and (source.config.snapshot.content_sha256 if source.config.snapshot else None) != snapshot.content_sha256
    ):
        raise FitError(
            f"{snapshot.id} in {request.snapshot_root} is not the data job {source.job_id} trained on (content differs)"
        )
    return snapshot, source


def review_job(request: ReviewRequest, snapshot: Snapshot, job_id: str, folds: list[Any], source: Job | None) -> Job:
    name = request.job_name or f"review-{snapshot.id}-{utc_now_iso()[:19].replace(':', '')}"
    return Job(
        job_id=job_id,
        name=name,
        created_at=utc_now_iso(),
        description=request.description,
        created_by=request.created_by,
        job_config=JobConfig(
            "review",
            request.to_dict(),
            snapshot_lineage(snapshot),
            None,
            {"folds": [f.describe() for f in folds], "from_job": source.job_id if source else None},
        ).to_dict(),
        storage={"output_dir": str(run_folder(request.output_dir, name, job_id))},
        tags={"kind": "review", "snapshot_id": snapshot.id, "model": request.recipe.model.source},
    )


def run_review(
    request: ReviewRequest,
    recorder_for: JobRecorders,
    jobs: JobReader,
    words: WordsSource,
    *,
    resume_job_id: str | None = None,
    log: Log = lambda _: None,
) -> ReviewResult:
    """Run (or continue) a review; its status tells how it ended. `recorder_for` makes the
    recorders of the review and its fold jobs, `jobs` reads them back, `words` gives the
    receipts' words when a fold snapshot must be built."""
    snapshot, source = open_inputs(request, jobs)
    folds = [] if source else plan_folds(snapshot, request.folds, request.fold_seed, ratio=request.fold_ratio)
    job_id = resume_job_id or str(uuid.uuid4())
    proposed = review_job(request, snapshot, job_id, folds, source)
    session, job, created = JobSession.open(
        recorder_for(job_id, source="review"), proposed, "review", resuming=resume_job_id is not None
    )
    folder = Path((job.storage or {})["output_dir"])
    if job.status == "succeeded":
        return ReviewResult(job.job_id, "succeeded", str(folder), job.outcome.get("review"))
    recorded = [f.get("definition_sha256") for f in job.config.extra.get("folds", [])]
    if recorded != [f.definition_sha256 for f in folds]:
        raise FitError(
            f"review {job.job_id} recorded other folds than {snapshot.id} gives now: the snapshot's data changed"
        )
    session.acquire("resumed" if resume_job_id else "reviewing")
    try:
        with SignalGuard():
            claim(folder, job.job_id, recorded=resume_job_id is not None)
            session.folder = folder
            if created:
                session.log(
                    {"type": "review_config", "request": request.to_dict(), "folds": [f.describe() for f in folds]}
                )
            outcome = _score_all(request, recorder_for, jobs, words, job, folder, snapshot, folds, source, session, log)
            if isinstance(outcome, ReviewResult):
                return outcome
            summary = _finish(request, job, folder, snapshot, outcome, session)
    except KeyboardInterrupt as exc:  # a signal outside a fold's training loop
        stopped = f"signal {exc.signum}" if isinstance(exc, RunInterrupted) else "keyboard interrupt"
        return _interrupted(session, job, folder, stopped)
    except BaseException as exc:
        session.failed(exc)
        session.close()
        raise
    session.close()
    return ReviewResult(job.job_id, "succeeded", str(folder), summary)


def _interrupted(session: JobSession, job: Job, folder: Path, stopped_by: str) -> ReviewResult:
    session.interrupted(stopped_by)
    session.close()
    return ReviewResult(job.job_id, "interrupted", str(folder), None, stopped_by)


@dataclass
class _Scored:
    words: list[pl.DataFrame]
    probabilities: list[np.ndarray]
    tags: list[str]
    folds: list[dict[str, Any]]


def _score_all(
    request: ReviewRequest,
    recorder_for: JobRecorders,
    jobs: JobReader,
    words_source: WordsSource,
    job: Job,
    folder: Path,
    snapshot: Snapshot,
    folds: list[Any],
    source: Job | None,
    session: JobSession,
    log: Log,
) -> _Scored | ReviewResult:
    """Every fold trained (or found finished) and scored; or the interrupted result."""
    splits = dict(snapshot.receipts.select("receipt_key", "split").iter_rows())
    scored = _Scored([], [], list(snapshot.tags), [])
    if source is not None:
        model = resolve_model(str(source.outcome.best_checkpoint_uri))
        log(f"scoring the val split of {snapshot.id} with job {source.job_id}'s model")
        words, probabilities, tags = score_words(
            model, snapshot.words.filter(pl.col("split") == "val"), batch_size=request.batch_size, device=request.device
        )
        scored.words.append(
            words.select(SCORED_COLUMNS).with_columns(
                pl.lit(None, pl.Int32).alias("fold"), pl.lit("val").alias("snapshot_split")
            )
        )
        scored.probabilities.append(probabilities)
        scored.tags = tags
        scored.folds.append(
            {
                "fold": None,
                "job_id": source.job_id,
                "name": source.name,
                "status": source.status,
                "receipts": words["receipt_key"].n_unique(),
                "words": words.height,
                "best_f1": source.outcome.best_f1,
            }
        )
        return scored
    raw = _LazyRead(words_source, snapshot, log)
    root = request.folds_root or str(folder / "fold-snapshots")
    for fold in folds:
        health = session.recorder.health()
        if health:
            return _interrupted(session, job, folder, health)
        fold_snapshot = open_or_publish_fold(root, fold, raw, dict(words_source.describe()))
        fit_request = fold_request(request, job, folder, fold, fold_root(root, fold))
        child = fold_child(job.job_id, fold)
        recorded = recorded_child(jobs, child)
        finished_before = recorded is not None and recorded.status == "succeeded"
        log(
            f"fold {fold.index}/{fold.folds}: "
            + ("finished before" if finished_before else "resuming" if recorded else "training")
        )
        run = fit_child(fit_request, recorder_for, child, recorded)
        session.log(
            {
                "type": "review_fold",
                "fold": fold.index,
                "job_id": run.job_id,
                "status": run.status,
                "trained": not finished_before,
            }
        )
        if run.status != "succeeded":
            return _interrupted(
                session, job, folder, f"fold {fold.index} ({run.job_id}) {run.status}: {run.stopped_by or run.status}"
            )
        best_dir = run.best_dir or run.results.get("best_checkpoint_s3_path")
        meta = {"job_id": run.job_id, "definition_sha256": fold.definition_sha256}
        cached = load_scores(folder / "scores" / f"fold-{fold.index}.parquet", meta)
        if cached is None:
            words = fold_snapshot.words.filter(pl.col("split") == "val")
            words, probabilities, tags_out = score_words(
                resolve_model(str(best_dir)), words, batch_size=request.batch_size, device=request.device
            )
            words = words.select(SCORED_COLUMNS).with_columns(
                pl.lit(fold.index, pl.Int32).alias("fold"),
                pl.col("receipt_key").replace_strict(splits).alias("snapshot_split"),
            )
            save_scores(folder / "scores" / f"fold-{fold.index}.parquet", words, probabilities, tags_out, meta)
            cached = (words, probabilities, tags_out)
        words, probabilities, tags_out = cached
        if tags_out != scored.tags:
            raise FitError(f"fold {fold.index}'s model has tags {tags_out[:4]}..., the snapshot {scored.tags[:4]}...")
        child_job = jobs.get_job(run.job_id)
        scored.words.append(words)
        scored.probabilities.append(probabilities)
        scored.folds.append(
            {
                "fold": fold.index,
                "job_id": run.job_id,
                "name": child_job.name,
                "status": child_job.status,
                "receipts": words["receipt_key"].n_unique(),
                "words": words.height,
                "best_f1": child_job.outcome.best_f1,
                "definition_sha256": fold.definition_sha256,
                "snapshot_uri": fold_snapshot.uri,
            }
        )
    return scored


class _LazyRead:
    """The words of the snapshot's receipts, read (and checked) once, when a fold snapshot must
    be built."""

    def __init__(self, source: WordsSource, snapshot: Snapshot, log: Log):
        self.source, self.snapshot, self.log, self.raw = source, snapshot, log, None

    def __call__(self) -> Any:
        if self.raw is None:
            where = self.source.describe().get("table", "the table")
            self.log(f"reading the words of {self.snapshot.id}'s {self.snapshot.receipts.height} receipts from {where}")
            self.raw = self.source.read(self.snapshot)
        return self.raw


def _finish(
    request: ReviewRequest, job: Job, folder: Path, snapshot: Snapshot, scored: _Scored, session: JobSession
) -> dict[str, Any]:
    words = pl.concat(scored.words, how="vertical_relaxed")
    probabilities = np.concatenate(scored.probabilities)
    items = snapshot.labels.select("receipt_key", "line_id", "word_id", "label", "validation_status")
    label_of = snapshot_labels(items["label"].unique().to_list(), snapshot.spec)
    queues = build_queues(
        words, probabilities, scored.tags, items, label_of, request.queues, selected=snapshot.spec.statuses
    )
    files = write_queues(folder / QUEUE_DIR, queues)
    summary = summary_payload(
        job=job,
        status="succeeded",
        mode=request.mode,
        snapshot=snapshot,
        folds=scored.folds,
        queues=queues,
        files=files,
        config=request.queues,
        folder=folder,
    )
    (folder / QUEUE_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    session.recorder.results({"review": summary})
    session.log({"type": "review_summary", "scored": queues.scored, "labels": queues.labels})
    session.succeeded(
        f"{files['suspect_valid']['rows']} suspect VALID labels, {files['triage']['rows']} items triaged, "
        f"{files['missing']['rows']} missing labels"
    )
    return summary

"""`trainer review`, as a function: out-of-sample label probabilities for every word of a
snapshot's receipts, then three ranked queues of labels to look at first (`review.queues`).

Cross-fitting (the default): the snapshot's receipts are cut into K seeded folds, stratified by
merchant, each published as a derived snapshot (`dataset_builder.review`); fold i's model is a
child Job of the review, trained by `trainer.fit.fit()` on the other folds, and scores fold i,
which it never trained on. `--from-job JOB` (cheap): one trained model scores the val split of
its own snapshot. In both, a model picks its best epoch on the receipts it then scores (one
choice among the evaluations, never the weights): a mild optimism the fold models share.

The review is a Job of its own (`job_config.kind` "review") with a lease, statuses and logs
like a run: a signal or a stopped fold leaves it `interrupted`, an error `failed`, and
`trainer review --resume JOB` continues it without training a finished fold again.
"""

from __future__ import annotations

import json
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from metrics_store import DynamoRecorder, Job, JobConfig, Queries, TableRef
from metrics_store.keys import utc_now_iso

from ..errors import FitError
from .config import ReviewRequest

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot

Log = Callable[[str], None]
CLOSE_TIMEOUT_S = 330.0


@dataclass(frozen=True)
class ReviewResult:
    job_id: str
    status: str
    folder: str
    summary: dict[str, Any] | None
    stopped_by: str | None = None


def resume_command(job_id: str) -> str:
    return f"trainer review --resume {job_id}"


def open_inputs(request: ReviewRequest, queries: Queries) -> tuple[Snapshot, Job | None]:
    """The snapshot to review (gated like a run's) and, in `--from-job` mode, the job."""
    from dataclasses import replace

    from ..preflight import open_gated_snapshot

    source = None
    if request.from_job:
        source = queries.find_job(request.from_job)
        config = source.config
        if source.status != "succeeded" or not source.outcome.best_checkpoint_uri or config.kind != "fit":
            raise FitError(f"--from-job {source.job_id} is {source.status} and has no best model: give a finished `trainer fit` job")
        root, ref = config.request.get("snapshot_root") or request.snapshot_root, config.snapshot.id if config.snapshot else None
        if request.snapshot not in ("latest", ref):
            raise FitError(f"--from-job {source.job_id} trained on {ref}, not {request.snapshot}: it can only review its own val split")
        request = replace(request, snapshot_root=root, snapshot=ref)
    snapshot = open_gated_snapshot(replace(request.recipe, snapshot_root=request.snapshot_root, snapshot=request.snapshot,
                                           allow_contract_failures=request.allow_contract_failures))
    if source is not None and (source.config.snapshot.content_sha256 if source.config.snapshot else None) != snapshot.content_sha256:
        raise FitError(f"{snapshot.id} in {request.snapshot_root} is not the data job {source.job_id} trained on (content differs)")
    return snapshot, source


def review_job(request: ReviewRequest, snapshot: Snapshot, job_id: str, folds: list[Any], source: Job | None) -> Job:
    from ..fit import snapshot_lineage

    name = request.job_name or f"review-{snapshot.id}-{utc_now_iso()[:19].replace(':', '')}"
    from ..run_dir import run_folder

    return Job(
        job_id=job_id, name=name, created_at=utc_now_iso(), description=request.description, created_by=request.created_by,
        job_config=JobConfig("review", request.to_dict(), snapshot_lineage(snapshot), None,
                             {"folds": [f.describe() for f in folds], "from_job": source.job_id if source else None}).to_dict(),
        storage={"output_dir": str(run_folder(request.output_dir, name, job_id))},
        tags={"kind": "review", "snapshot_id": snapshot.id, "model": request.recipe.model.source},
    )


def run_review(request: ReviewRequest, table: TableRef, *, resume_job_id: str | None = None, log: Log = lambda _: None,
               progress: Callable[[int, int], None] | None = None) -> ReviewResult:
    """Run (or continue) a review; its status tells how it ended."""
    from dataset_builder.review import plan_folds

    from ..run_dir import claim

    queries = Queries(table)
    snapshot, source = open_inputs(request, queries)
    folds = [] if source else plan_folds(snapshot, request.folds, request.fold_seed, ratio=request.fold_ratio)
    recorder = DynamoRecorder(table, resume_job_id or str(uuid.uuid4()), source="review")
    job, created = recorder.open(review_job(request, snapshot, recorder.job_id, folds, source))
    if resume_job_id and created:
        raise FitError(f"no review job {resume_job_id} to resume")
    folder = Path(job.storage["output_dir"])
    if job.status == "succeeded":
        return ReviewResult(job.job_id, "succeeded", str(folder), job.outcome.get("review"))
    recorded = [f.get("definition_sha256") for f in job.config.extra.get("folds", [])]
    if recorded != [f.definition_sha256 for f in folds]:
        raise FitError(f"review {job.job_id} recorded other folds than {snapshot.id} gives now: the snapshot's data changed")
    recorder.acquire(message="resumed" if resume_job_id else "reviewing")
    from ..signals import RunInterrupted, SignalGuard

    try:
        with SignalGuard():
            claim(folder, job.job_id, recorded=resume_job_id is not None)
            if created:
                recorder.log({"type": "review_config", "request": request.to_dict(), "folds": [f.describe() for f in folds]})
            outcome = _score_all(request, table, job, folder, snapshot, folds, source, recorder, log)
            if isinstance(outcome, ReviewResult):
                return outcome
            summary = _finish(request, job, folder, snapshot, outcome, recorder)
    except KeyboardInterrupt as exc:  # a signal outside a fold's training loop
        stopped = f"signal {exc.signum}" if isinstance(exc, RunInterrupted) else "keyboard interrupt"
        return _interrupted(recorder, job, folder, stopped)
    except BaseException as exc:
        recorder.log({"type": "error", "error": f"{type(exc).__name__}: {exc}", "resume": resume_command(job.job_id)}, level="ERROR",
                     exception="".join(traceback.format_exception(exc))[-20000:])
        recorder.status("failed", message=f"{type(exc).__name__}: {exc}"[:400] + f"; resume with `{resume_command(job.job_id)}`")
        recorder.close(CLOSE_TIMEOUT_S)
        raise
    recorder.close(CLOSE_TIMEOUT_S)
    return ReviewResult(job.job_id, "succeeded", str(folder), summary)


def _interrupted(recorder: DynamoRecorder, job: Job, folder: Path, stopped_by: str) -> ReviewResult:
    recorder.log({"type": "interrupted", "stopped_by": stopped_by, "resume": resume_command(job.job_id)}, level="WARNING")
    recorder.status("interrupted", message=f"stopped by {stopped_by}; resume with `{resume_command(job.job_id)}`")
    recorder.close(CLOSE_TIMEOUT_S)
    return ReviewResult(job.job_id, "interrupted", str(folder), None, stopped_by)


@dataclass
class _Scored:
    words: list[pl.DataFrame]
    probabilities: list[np.ndarray]
    tags: list[str]
    folds: list[dict[str, Any]]


def _score_all(request: ReviewRequest, table: TableRef, job: Job, folder: Path, snapshot: Snapshot, folds: list[Any],
               source: Job | None, recorder: DynamoRecorder, log: Log) -> _Scored | ReviewResult:
    """Every fold trained (or found finished) and scored; or the interrupted result."""
    from ..model_ref import resolve_model
    from .folds import SCORED_COLUMNS, load_scores, save_scores, score_words

    splits = dict(snapshot.receipts.select("receipt_key", "split").iter_rows())
    scored = _Scored([], [], list(snapshot.tags), [])
    if source is not None:
        model = resolve_model(str(source.outcome.best_checkpoint_uri))
        log(f"scoring the val split of {snapshot.id} with job {source.job_id}'s model")
        words, probabilities, tags = score_words(model, snapshot.words.filter(pl.col("split") == "val"),
                                                 batch_size=request.batch_size, device=request.device)
        scored.words.append(words.select(SCORED_COLUMNS).with_columns(pl.lit(None, pl.Int32).alias("fold"), pl.lit("val").alias("snapshot_split")))
        scored.probabilities.append(probabilities)
        scored.tags = tags
        scored.folds.append({"fold": None, "job_id": source.job_id, "name": source.name, "status": source.status,
                             "receipts": words["receipt_key"].n_unique(), "words": words.height, "best_f1": source.outcome.best_f1})
        return scored
    from .folds import fold_child, fold_request, recorded_child, train_fold

    raw = _LazyRead(table, snapshot, log)
    root = request.folds_root or str(folder / "fold-snapshots")
    for fold in folds:
        if recorder.health():
            return _interrupted(recorder, job, folder, str(recorder.health()))
        from dataset_builder.review import fold_root, open_or_publish_fold

        fold_snapshot = open_or_publish_fold(root, fold, raw, {"table": table.name, "endpoint_url": table.endpoint_url})
        fit_request = fold_request(request, job, folder, fold, fold_root(root, fold))
        child = fold_child(job.job_id, fold)
        recorded = recorded_child(Queries(table), child)
        log(f"fold {fold.index}/{fold.folds}: " + ("finished before" if recorded and recorded.status == "succeeded" else
                                                   "resuming" if recorded else "training"))
        run = train_fold(fit_request, lambda job_id: DynamoRecorder(table, job_id), child, recorded)
        recorder.log({"type": "review_fold", "fold": fold.index, "job_id": run.job_id, "status": run.status,
                      "trained": run.result is not None})
        if run.status != "succeeded":
            stopped = (run.result.stopped_by if run.result else None) or run.status
            return _interrupted(recorder, job, folder, f"fold {fold.index} ({run.job_id}) {run.status}: {stopped}")
        meta = {"job_id": run.job_id, "definition_sha256": fold.definition_sha256}
        cached = load_scores(folder / "scores" / f"fold-{fold.index}.parquet", meta)
        if cached is None:
            words = fold_snapshot.words.filter(pl.col("split") == "val")
            words, probabilities, tags_out = score_words(resolve_model(str(run.best_dir)), words, batch_size=request.batch_size,
                                                         device=request.device)
            words = words.select(SCORED_COLUMNS).with_columns(pl.lit(fold.index, pl.Int32).alias("fold"),
                                                       pl.col("receipt_key").replace_strict(splits).alias("snapshot_split"))
            save_scores(folder / "scores" / f"fold-{fold.index}.parquet", words, probabilities, tags_out, meta)
            cached = (words, probabilities, tags_out)
        words, probabilities, tags_out = cached
        if tags_out != scored.tags:
            raise FitError(f"fold {fold.index}'s model has tags {tags_out[:4]}..., the snapshot {scored.tags[:4]}...")
        child_job = Queries(table).get_job(run.job_id)
        scored.words.append(words)
        scored.probabilities.append(probabilities)
        scored.folds.append({"fold": fold.index, "job_id": run.job_id, "name": child_job.name, "status": child_job.status,
                             "receipts": words["receipt_key"].n_unique(), "words": words.height,
                             "best_f1": child_job.outcome.best_f1, "definition_sha256": fold.definition_sha256,
                             "snapshot_uri": fold_snapshot.uri})
    return scored


class _LazyRead:
    """The table's words of the snapshot's receipts, read (and checked) once, when a fold
    snapshot must be built."""

    def __init__(self, table: TableRef, snapshot: Snapshot, log: Log):
        self.table, self.snapshot, self.log, self.raw = table, snapshot, log, None

    def __call__(self) -> Any:
        if self.raw is None:
            from dataset_builder.review import check_reproduces, read_review_words

            self.log(f"reading the words of {self.snapshot.id}'s {self.snapshot.receipts.height} receipts from {self.table.name}")
            raw = read_review_words(self.table, self.snapshot)
            check_reproduces(self.snapshot, raw)
            self.raw = raw
        return self.raw


def _finish(request: ReviewRequest, job: Job, folder: Path, snapshot: Snapshot, scored: _Scored, recorder: DynamoRecorder) -> dict[str, Any]:
    from dataset_builder.review import snapshot_labels

    from .output import QUEUE_DIR, summary_payload, write_queues
    from .queues import build_queues

    words = pl.concat(scored.words, how="vertical_relaxed")
    probabilities = np.concatenate(scored.probabilities)
    items = snapshot.labels.select("receipt_key", "line_id", "word_id", "label", "validation_status")
    label_of = snapshot_labels(items["label"].unique().to_list(), snapshot.spec)
    queues = build_queues(words, probabilities, scored.tags, items, label_of, request.queues, selected=snapshot.spec.statuses)
    files = write_queues(folder / QUEUE_DIR, queues)
    summary = summary_payload(job=job, status="succeeded", mode=request.mode, snapshot=snapshot, folds=scored.folds, queues=queues,
                              files=files, config=request.queues, folder=folder)
    (folder / QUEUE_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    recorder.results({"review": summary})
    recorder.log({"type": "review_summary", "scored": queues.scored, "labels": queues.labels})
    recorder.status("succeeded", progress=100.0, message=f"{files['suspect_valid']['rows']} suspect VALID labels, {files['triage']['rows']} "
                    f"items triaged, {files['missing']['rows']} missing labels")
    return summary

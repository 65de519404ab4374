"""`trainer fit`: train LayoutLM on a snapshot and record the run. A recipe in three parts:

    setup()   open and gate the snapshot, open (or resume) the job under its lease, build
              model and features, record the start
    train()   Hugging Face Trainer with our loss, evaluation, recording and signal handling
    cleanup() export the best model, write run.json and the run summary, close the job

`fit()` wires them together under a `SignalGuard`: from the moment the job exists, every
way out ends in a terminal or resumable status (a crash `failed`, a signal, an outage longer
than the budget or a lost lease `interrupted`; resumable with `--resume JOB_ID`), and nothing
is recorded twice. docs/runs.md ("Faults") says what each status means.
Jobs started by other jobs (a sweep's trials) run through the same code (`child=`,
`callbacks=`, a callback's `RunEnding`: trainer.training.hooks).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_store import (
    Job,
    JobConfig,
    JobNotFound,
    JobResource,
    LeaseLost,
    NullRecorder,
    RunRecorder,
    SnapshotLineage,
)
from metrics_store.keys import utc_now_iso
from trainer.analysis import write_run_report_from_recorder
from trainer.errors import FitError, TrainingDiverged
from trainer.jobs.children import ChildJob
from trainer.jobs.folders import claim, prune_checkpoints, run_folder
from trainer.jobs.lifecycle import JobSession, RecorderFactory, find_resume_point
from trainer.jobs.signals import RunInterrupted, SignalGuard
from trainer.jobs.spool import sync_pending
from trainer.jobs.storage import delete_uploaded_checkpoints, upload_folder
from trainer.model import features as features_lib
from trainer.model.build import BuiltModel, build_tokenizer_and_model
from trainer.model.evaluate import make_compute_metrics
from trainer.model.features import Feature, ReceiptExample
from trainer.model.pretrained import PretrainingRef, pretraining_of
from trainer.training.arguments import planned_schedule, shared_job_id, training_arguments
from trainer.training.batching import make_trainer
from trainer.training.callbacks import (
    ConsoleCallback,
    RecordingCallback,
    StoreHealth,
    machine_resource,
    released,
)
from trainer.training.feature_cache import feature_cache_key_parts, load_or_build_features
from trainer.training.hooks import RunEnding, ending_of
from trainer.training.loss import resolve_class_weights
from trainer.training.outputs import export_best, package_for_run, write_run_file
from trainer.training.preflight import open_gated_snapshot
from trainer.training.request import FitRequest, FitResult, request_for_resume
from trainer.training.summary import history_from_metrics, merge_history, results_of, summarize

if TYPE_CHECKING:
    from transformers import PreTrainedModel, TrainingArguments

    from dataset_builder.snapshot import Snapshot

log = logging.getLogger(__name__)

__all__ = [
    "FitError",
    "FitRequest",
    "FitResult",
    "Run",
    "TrainOutcome",
    "cleanup",
    "fit",
    "fit_child",
    "setup",
    "train",
]


@dataclass(frozen=True)
class RunData:
    """The features a run trains and evaluates on."""

    train: list[Feature]
    val: list[Feature]
    train_examples: list[ReceiptExample]
    val_examples: list[ReceiptExample]
    class_weights: list[float] | None


@dataclass(frozen=True)
class Run:
    """What setup() prepared; train() and cleanup() only read it."""

    request: FitRequest
    job: Job
    resumed: bool
    resume_from: Path | None  # the checkpoint this attempt continues from
    session: JobSession
    snapshot: Snapshot
    output_dir: Path
    args: TrainingArguments
    built: BuiltModel
    data: RunData
    guard: SignalGuard
    resource: JobResource | None = None  # the machine this attempt trains on (recorded by the main process)
    pretraining: PretrainingRef | None = None  # what `trainer pretrain` job the model folder came from

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def recorder(self) -> RunRecorder:
        return self.session.recorder

    @property
    def is_main(self) -> bool:
        """Only the first process of a distributed run records and exports."""
        return self.args.process_index == 0


@dataclass(frozen=True)
class TrainOutcome:
    """What train() hands to cleanup(): the model with the best weights loaded, and the record."""

    model: PreTrainedModel
    stopped_by: str | None
    history: list[dict[str, Any]]
    train_runtime: float | None
    total_flos: float | None
    early_stopping_triggered: bool
    ending: RunEnding | None = None  # a callback ended the run on purpose


def fit(
    request: FitRequest,
    recorder_for: RecorderFactory,
    *,
    resume_job_id: str | None = None,
    restart: bool = False,
    snapshot: Snapshot | None = None,
    child: ChildJob | None = None,
    callbacks: list[Any] | None = None,
) -> FitResult:
    """Set up, train, clean up. `snapshot`: already opened and gated (by `preflight`); `child`,
    `callbacks`: see trainer.training.hooks. A signal anywhere after the job exists ends in an
    `interrupted` result that names the job (the CLI prints how to resume it)."""
    with SignalGuard() as guard:
        try:
            run = setup(
                request,
                recorder_for,
                guard=guard,
                resume_job_id=resume_job_id,
                restart=restart,
                snapshot=snapshot,
                child=child,
            )
        except RunInterrupted as exc:
            if exc.job_id is None:
                raise  # before the job existed: nothing to resume
            return FitResult(
                exc.job_id, "interrupted", exc.output_dir or "", {}, stopped_by=f"{exc} during {exc.where}"
            )
        try:
            return cleanup(run, train(run, callbacks or []))
        except RunInterrupted as exc:  # outside the training loop: the export
            release_machine(run)
            run.session.failed(exc)
            return finish(
                run,
                FitResult(run.job_id, "interrupted", str(run.output_dir), {}, stopped_by=f"{exc} during the export"),
            )
        except BaseException as exc:
            release_machine(run)
            run.session.failed(exc, diverged_results(exc))
            finish(run, FitResult(run.job_id, "failed", str(run.output_dir), {}))
            raise


def fit_child(
    request: FitRequest,
    recorder_for: RecorderFactory,
    child: ChildJob,
    recorded: Job | None,
    *,
    snapshot: Snapshot | None = None,
    callbacks: list[Any] | None = None,
) -> FitResult:
    """Run a child job (a sweep's trial, a review's fold): new when nothing was `recorded`,
    else continued from its checkpoint as `trainer fit --resume` would. A child that
    succeeded before is not trained again: its recorded result is returned as it is."""
    if recorded is not None and recorded.status == "succeeded":
        return FitResult(
            recorded.job_id,
            "succeeded",
            (recorded.storage or {}).get("output_dir", ""),
            dict(recorded.results or {}),
            recorded.outcome.best_checkpoint_uri,
        )
    if recorded is not None:
        return fit(
            request_for_resume(recorded),
            recorder_for,
            resume_job_id=recorded.job_id,
            snapshot=snapshot,
            callbacks=callbacks,
        )
    return fit(request, recorder_for, snapshot=snapshot, child=child, callbacks=callbacks)


def recorded_child(jobs: Any, child: ChildJob) -> Job | None:
    """The child's job, when an earlier attempt created it (`jobs`: a `metrics_store.JobReader`)."""
    try:
        return jobs.get_job(child.job_id)
    except JobNotFound:
        return None


# --- setup ---------------------------------------------------------------------------------


def setup(
    request: FitRequest,
    recorder_for: RecorderFactory,
    *,
    guard: SignalGuard | None = None,
    resume_job_id: str | None = None,
    restart: bool = False,
    snapshot: Snapshot | None = None,
    child: ChildJob | None = None,
) -> Run:
    snapshot = snapshot or open_gated_snapshot(request)
    pretraining = pretraining_of(request.model)
    job, session, args, output_dir, resume_from = open_job(
        request, snapshot, recorder_for, resume_job_id, restart, child, pretraining
    )
    recorder = session.recorder
    started = not resume_job_id or restart or not _started(recorder)
    try:
        built, data = build_model_and_features(request, snapshot)
        resource = None
        if args.process_index == 0:
            resource = machine_resource(job.job_id, args.world_size)
            recorder.resource(resource)
        run = Run(
            request,
            job,
            resume_job_id is not None,
            resume_from,
            session,
            snapshot,
            output_dir,
            args,
            built,
            data,
            guard or SignalGuard(),
            resource,
            pretraining,
        )
        if started:
            record_start(run)
    except BaseException as exc:
        _name_job(exc, job.job_id, output_dir, "set-up")
        session.failed(exc, diverged_results(exc))
        session.close()
        raise
    return run


def _started(recorder: RunRecorder) -> bool:
    """Whether this attempt recorded its start (`run_config`): a run stopped during set-up did
    not, and its resume records it."""
    recorded = recorder.read_back()
    return recorded is None or any(
        '"type": "run_config"' in log.message
        for log in recorded.logs
        if not recorded.job.restarted_at or log.timestamp >= recorded.job.restarted_at
    )


def _name_job(exc: BaseException, job_id: str, output_dir: Path, where: str) -> None:
    """A signal once the job exists names it, so the CLI can say how to resume it."""
    if isinstance(exc, RunInterrupted):
        exc.job_id, exc.output_dir, exc.where = job_id, str(output_dir), where


def snapshot_lineage(snapshot: Snapshot) -> SnapshotLineage:
    """What a job records about its data, so analyses can find and compare it later."""
    return SnapshotLineage(
        snapshot.id,
        snapshot.uri,
        snapshot.content_sha256,
        snapshot.manifest_sha256,
        dict(snapshot.lock.split_hashes),
        tuple(snapshot.label_list),
        dict(snapshot.lock.coordinate_convention),
    )


def open_job(
    request: FitRequest,
    snapshot: Snapshot,
    recorder_for: RecorderFactory,
    resume_job_id: str | None,
    restart: bool,
    child: ChildJob | None = None,
    pretraining: PretrainingRef | None = None,
) -> tuple[Job, JobSession, TrainingArguments, Path, Path | None]:
    """Create the job (or find the one to resume), take its lease, claim its folder and find
    the checkpoint to continue from. `pretraining`: the lineage of a pretrained model folder,
    recorded in the job config (`pretraining`) for run analysis."""
    name = request.job_name or f"{snapshot.id}-{request.model.source}-{utc_now_iso()[:19].replace(':', '')}"
    args = training_arguments(request, Path(request.train.output_dir))  # output_dir set below, once the job is known
    job_id = shared_job_id(args, resume_job_id or (child.job_id if child else str(uuid.uuid4())))
    is_main = args.process_index == 0
    output_dir = run_folder(request.train.output_dir, name, job_id)
    proposed = Job(
        job_id=job_id,
        name=name,
        created_at=utc_now_iso(),
        description=request.description,
        created_by=request.created_by,
        job_config=JobConfig(
            "fit",
            request.to_dict(),
            snapshot_lineage(snapshot),
            request.train.seed,
            {"pretraining": pretraining.to_dict()} if pretraining else {},
        ).to_dict(),
        storage={"output_dir": str(output_dir)},
        tags={"snapshot_id": snapshot.id, "model": request.model.source},
    )
    recorder = recorder_for(job_id) if is_main else NullRecorder(job_id)
    session, job, _ = JobSession.open(
        recorder, proposed, "fit", resuming=resume_job_id is not None, child=child, strict=is_main
    )
    recorded_content = job.config.snapshot.content_sha256 if job.config.snapshot else None
    if resume_job_id and is_main and recorded_content != snapshot.content_sha256:
        raise FitError(
            f"job {job_id} trained on snapshot content {str(recorded_content)[:12]}, but {snapshot.id} now holds "
            f"{snapshot.content_sha256[:12]}: a resumed run must see the same data"
        )
    if resume_job_id and is_main and recorder.queries is not None:
        sync_pending(recorder.queries.table, job)  # what the last attempt could not write, first
    try:
        session.acquire(("restarted from step 0" if restart else "resumed") if resume_job_id else "setting up")
    except RunInterrupted as exc:
        _name_job(exc, job_id, output_dir, "set-up")
        raise
    try:
        if resume_job_id and (job.storage or {}).get("output_dir"):
            output_dir = Path((job.storage or {})["output_dir"])  # where the job said it is, from any working directory
        claim(output_dir, job_id, recorded=resume_job_id is not None)
        args.output_dir = str(output_dir)
        resume_from = (
            find_resume_point(session, output_dir, restart, progress_metric="val_f1", doing="training")
            if resume_job_id
            else None
        )
    except FitError as exc:  # refused before anything ran: the job stays resumable
        session.refused(str(exc))
        session.close()
        raise
    except BaseException as exc:
        _name_job(exc, job_id, output_dir, "set-up")
        session.failed(exc)
        session.close()
        raise
    if is_main:
        session.folder = output_dir  # from here on, records the table does not take wait in the run's folder
    return job, session, args, output_dir, resume_from


def build_model_and_features(request: FitRequest, snapshot: Snapshot) -> tuple[BuiltModel, RunData]:
    """Seeded model and tokenizer, then the windows of both splits (from the feature cache
    when the same snapshot, tokenizer and window sizes were tokenized before)."""
    from transformers import set_seed

    set_seed(request.train.seed)
    words, tags, model_config = snapshot.words, snapshot.tags, request.model
    built = build_tokenizer_and_model(model_config, tags, words.filter(words["split"] == "train")["text"].to_list())
    cache_dir = Path(request.cache_dir or Path(request.train.output_dir) / ".feature-cache")
    examples, features = {}, {}
    for split in ("train", "val"):
        examples[split] = features_lib.examples_from_frame(words, tags, split=split)
        key = {
            **feature_cache_key_parts(
                snapshot.content_sha256, built.tokenizer, model_config.max_seq_length, model_config.doc_stride, tags
            ),
            "split": split,
        }

        def build(s: str = split) -> list[Feature]:
            return features_lib.build_features(
                examples[s], built.tokenizer, model_config.max_seq_length, model_config.doc_stride
            )

        features[split] = load_or_build_features(cache_dir, key, build).features
    if not features["train"] or not features["val"]:
        raise FitError(f"snapshot {snapshot.id} has an empty {'train' if not features['train'] else 'val'} split")
    tag_counts = features_lib.supervised_tag_counts(words, "train")
    class_weights = resolve_class_weights(
        request.train.class_weights, tags, tag_counts, request.train.class_weight_clip
    )
    return built, RunData(features["train"], features["val"], examples["train"], examples["val"], class_weights)


def record_start(run: Run) -> None:
    """The run_config log and the dataset metrics, written once per attempt from step 0."""
    snapshot, data, tags = run.snapshot, run.data, run.snapshot.tags
    splits = snapshot.lock.counts.splits
    weights = dict(zip(tags, data.class_weights, strict=True)) if data.class_weights else None
    run.recorder.log(
        {
            "type": "run_config",
            "job_id": run.job_id,
            "request": run.request.to_dict(),
            "snapshot": snapshot_lineage(snapshot).to_dict(),
            "snapshot_counts": {s: c.model_dump() for s, c in splits.items()},
            "model_source": run.built.source,
            "warm_start": run.built.warm_start.to_dict() if run.built.warm_start else None,
            "pretraining": run.pretraining.to_dict() if run.pretraining else None,
            "num_parameters": sum(p.numel() for p in run.built.model.parameters()),
            "class_weights": weights,
            "world_size": run.args.world_size,
            "schedule": planned_schedule(run.request.train, len(data.train), run.args.world_size),
        }
    )
    metrics: dict[str, Any] = {
        "num_train_samples": len(data.train),
        "num_val_samples": len(data.val),
        "num_train_receipts": len(data.train_examples),
        "num_val_receipts": len(data.val_examples),
    }
    ratios = snapshot.lock.o_entity_ratio.after
    metrics.update({f"o_entity_ratio_{s}": ratios[s] for s in ("train", "val") if ratios.get(s) is not None})
    if weights:
        metrics["class_weights"] = weights
    if splits["train"].entities:
        metrics["train_label_support"] = dict(splits["train"].entities)
    run.recorder.metrics(metrics, units={"num_train_samples": "windows", "num_val_samples": "windows"})
    pretrained = run.pretraining
    if pretrained is not None and pretrained.excluded_val_split_hash != snapshot.split_hash("val"):
        run.session.warn(
            f"the model was pretrained on corpus {pretrained.corpus_id}, which was not built for {snapshot.id}'s val "
            f"split (it left out {pretrained.excluded_val_of or 'no split'}): pretraining may have read words this run "
            f"is scored on; build the corpus with `dsb corpus create --exclude-val-of {snapshot.id}`"
        )


# --- train ---------------------------------------------------------------------------------


def train(run: Run, extra_callbacks: list[Any] | None = None) -> TrainOutcome:
    from transformers import EarlyStoppingCallback, PreTrainedModel, PrinterCallback

    request, args, model, guard = run.request, run.args, run.built.model, run.guard
    upload = (
        (lambda folder: upload_folder(folder, str(request.upload_uri), name=f"{run.output_dir.name}/{folder.name}"))
        if request.upload_uri
        else None
    )
    recording = RecordingCallback(
        run.recorder,
        samples_per_step=args.train_batch_size * args.gradient_accumulation_steps * args.world_size,
        checkpoint_metric=request.train.checkpoint_metric,
        upload=upload,
    )
    callbacks: list[Any] = [
        recording,
        guard,
        StoreHealth(run.recorder, guard.request_stop),
        ConsoleCallback(request.train.checkpoint_metric),
    ]
    early = None
    if request.train.early_stopping_patience:
        early = EarlyStoppingCallback(early_stopping_patience=request.train.early_stopping_patience)
        callbacks.append(early)
    callbacks += extra_callbacks or []
    trainer = make_trainer(
        request.train,
        model=model,
        tokenizer=run.built.tokenizer,
        args=args,
        max_seq_length=request.model.max_seq_length,
        train_dataset=run.data.train,
        eval_dataset=run.data.val,
        compute_metrics=make_compute_metrics(run.data.val, run.data.val_examples, run.snapshot.tags),
        callbacks=callbacks,
        class_weights=run.data.class_weights,
    )
    trainer.remove_callback(PrinterCallback)
    if run.resumed:
        run.recorder.log(
            {
                "type": "resume",
                "from_checkpoint": str(run.resume_from) if run.resume_from else None,
                "note": None if run.resume_from else "no checkpoint was saved yet: training starts at step 0",
            }
        )
    with guard.graceful():
        output = trainer.train(resume_from_checkpoint=str(run.resume_from) if run.resume_from else None)
    if recording.uploads_waiting and not run.recorder.lease_lost:
        recording.upload_waiting()  # the uploads S3 refused during training, once more
    earlier = history_from_metrics(run.recorder.recorded_metrics()) if run.resumed else []
    state = trainer.state
    stopped_by = f"signal {guard.received}" if guard.received is not None else guard.stop_reason
    assert isinstance(trainer.model, PreTrainedModel), "fit trains a transformers model"
    return TrainOutcome(
        model=trainer.model,
        stopped_by=stopped_by,
        history=merge_history(earlier, recording.history),
        train_runtime=output.metrics.get("train_runtime"),
        total_flos=float(state.total_flos or 0),
        early_stopping_triggered=bool(
            early
            and early.early_stopping_patience_counter >= (request.train.early_stopping_patience or 0)
            and state.global_step < state.max_steps
        ),
        ending=ending_of(extra_callbacks or []),
    )


# --- cleanup -------------------------------------------------------------------------------


def cleanup(run: Run, outcome: TrainOutcome) -> FitResult:
    """Record how the run ended and leave its folder: the best model exported, and checkpoints
    pruned only once the final records are stored (until then, a resume still needs them)."""
    train_config, recorder = run.request.train, run.recorder
    if recorder.lease_lost:
        return lost(run, outcome.stopped_by)
    summary = summarize(
        outcome.history,
        job_id=run.job_id,
        snapshot_id=run.snapshot.id,
        checkpoint_metric=train_config.checkpoint_metric,
        greater_is_better=train_config.greater_is_better,
        early_stopping_triggered=outcome.early_stopping_triggered,
        train_runtime=outcome.train_runtime,
        total_flos=outcome.total_flos,
    )
    if outcome.ending is not None:  # before a signal: the run had ended on purpose when it came
        return close_ended(run, outcome.ending, summary, outcome.stopped_by)
    if outcome.stopped_by is not None:
        run.session.interrupted(outcome.stopped_by)
        release_machine(run)
        return finish(run, FitResult(run.job_id, "interrupted", str(run.output_dir), {}, stopped_by=outcome.stopped_by))
    best_dir = best_uri = None
    if run.is_main:
        try:
            recorder.confirm_lease()  # the folder is ours to write in only while the job is
        except LeaseLost:
            return lost(run, None)
        package = package_for_run(run.job_id, run.request, run.snapshot, summary, pretraining=run.pretraining)
        best_dir = export_best(outcome.model, run.built.tokenizer, run.output_dir, package=package)
        best_uri = str(best_dir.resolve())
        if run.request.upload_uri:
            try:
                best_uri = upload_folder(best_dir, run.request.upload_uri, name=f"{run.output_dir.name}/best")
            except Exception as exc:  # noqa: BLE001 - S3 stayed down through the retries: the model is here, say where
                run.session.warn(
                    f"the best model could not be uploaded to {run.request.upload_uri} ({type(exc).__name__}: {exc}); "
                    f"it is in {best_uri}"
                )
        summary["best_checkpoint_s3_path"] = best_uri
        write_run_file(run.output_dir, summary)
    results = results_of(summary, best_uri)
    recorder.log(summary)
    run.session.succeeded(
        f"best {summary['checkpoint_metric']} {summary['best_metric']} at epoch {summary['best_epoch']}", results
    )
    run.guard.finished()
    release_machine(run)
    result = finish(
        run, FitResult(run.job_id, "succeeded", str(run.output_dir), results, str(best_dir) if best_dir else None)
    )
    if run.is_main and result.recorded:
        remove_checkpoints(run)
        write_report(recorder, run.output_dir)
    return result


def close_ended(run: Run, ending: RunEnding, summary: dict[str, Any], stopped_by: str | None) -> FitResult:
    """A callback ended the run on purpose: its summary and results are recorded, no model is
    exported, its checkpoints are removed (once that is recorded), and the job takes the
    ending's final status."""
    recorder, results = run.recorder, {**results_of(summary, None), **ending.results}
    if run.is_main:
        write_run_file(run.output_dir, {**summary, "ended": ending.message})
    recorder.log(summary)
    recorder.results(results)
    run.session.ended(ending.status, ending.message)
    run.guard.finished()
    release_machine(run)
    result = finish(run, FitResult(run.job_id, ending.status, str(run.output_dir), results, stopped_by=stopped_by))
    if run.is_main and result.recorded:
        remove_checkpoints(run)
    return result


def finish(run: Run, result: FitResult) -> FitResult:
    """Close the job: every record written (`recorded`), or what was not kept on disk in the
    run's folder (`pending`), to be written at the next contact (`trainer.jobs.spool`)."""
    closed = run.session.close()
    return dataclasses.replace(result, recorded=closed.recorded, pending=closed.pending)


def lost(run: Run, stopped_by: str | None) -> FitResult:
    """Another process took the job (or it was marked interrupted): this one writes nothing
    more, to the table or to the run's folder, and says so."""
    run.session.release()
    return FitResult(
        run.job_id,
        "interrupted",
        str(run.output_dir),
        {},
        stopped_by=stopped_by or run.recorder.health(),
        recorded=False,
        lease_lost=True,
    )


def remove_checkpoints(run: Run) -> None:
    """The run's checkpoints, in its folder and (uploaded) in S3, once its final records are stored."""
    prune_checkpoints(run.output_dir)
    if run.request.upload_uri:
        try:
            delete_uploaded_checkpoints(run.request.upload_uri, run.output_dir.name)
        except Exception as exc:  # noqa: BLE001 - the run succeeded; stray copies are a warning
            log.warning("could not remove the uploaded checkpoints of %s: %s", run.job_id, exc)


def release_machine(run: Run) -> None:
    """The attempt's JobResource, now `released`."""
    resource = released(run.resource)
    if resource is not None:
        try:
            run.recorder.resource(resource)
        except Exception:  # noqa: BLE001 - bookkeeping; the run's own end matters more
            log.warning("could not record the release of %s", resource.resource_id)


def write_report(recorder: RunRecorder, output_dir: Path) -> None:
    """run_report.json and the plots beside the model; a report that cannot be made is a
    warning, never a failed run."""
    try:
        write_run_report_from_recorder(recorder, output_dir)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        log.warning("could not write the run report: %s", exc)
        recorder.log(
            {"type": "warning", "warning": f"run report not written: {type(exc).__name__}: {exc}"}, level="WARNING"
        )


def diverged_results(exc: BaseException) -> dict[str, Any] | None:
    """What a diverged run records about where it diverged (None for any other failure)."""
    if not isinstance(exc, TrainingDiverged):
        return None
    return {
        "diverged": {
            "step": exc.step,
            "loss": repr(exc.loss),
            "learning_rate": exc.learning_rate,
            "last_finite_step": exc.last_finite[0] if exc.last_finite else None,
            "last_finite_loss": exc.last_finite[1] if exc.last_finite else None,
        }
    }

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
`callbacks=`, a callback's `RunEnding`: trainer.run_hooks).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_store import (
    Job,
    JobConfig,
    JobLeased,
    JobResource,
    LeaseLost,
    NullRecorder,
    RunRecorder,
    SnapshotLineage,
)
from metrics_store.keys import utc_now_iso

from .errors import FitError, JobExists, TrainingDiverged
from .preflight import open_gated_snapshot
from .request import FitRequest, FitResult
from .run_hooks import ChildJob, RunEnding, ending_of
from .signals import RunInterrupted, SignalGuard
from .summary import history_from_metrics, merge_history, results_of, summarize

if TYPE_CHECKING:
    from transformers import PreTrainedModel, TrainingArguments

    from dataset_builder.snapshot import Snapshot

    from .data import Feature, ReceiptExample
    from .model import BuiltModel

log = logging.getLogger(__name__)
RecorderFactory = Callable[[str], RunRecorder]
CLOSE_TIMEOUT_S = 330.0  # the recorder's outage budget, and a little more
"""How long the end of a run waits for its last records to reach the table."""

__all__ = ["FitError", "FitRequest", "FitResult", "Run", "TrainOutcome", "cleanup", "fit", "setup", "train"]


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
    recorder: RunRecorder
    snapshot: Snapshot
    output_dir: Path
    args: TrainingArguments
    built: BuiltModel
    data: RunData
    guard: SignalGuard
    resource: JobResource | None = None  # the machine this attempt trains on (recorded by the main process)

    @property
    def job_id(self) -> str:
        return self.job.job_id

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


def fit(request: FitRequest, recorder_for: RecorderFactory, *, resume_job_id: str | None = None, restart: bool = False,
        snapshot: Snapshot | None = None, child: ChildJob | None = None, callbacks: list[Any] | None = None) -> FitResult:
    """Set up, train, clean up. `snapshot`: already opened and gated (by `preflight`); `child`,
    `callbacks`: see trainer.run_hooks. A signal anywhere after the job exists ends in an
    `interrupted` result that names the job (the CLI prints how to resume it)."""
    with SignalGuard() as guard:
        try:
            run = setup(request, recorder_for, guard=guard, resume_job_id=resume_job_id, restart=restart, snapshot=snapshot, child=child)
        except RunInterrupted as exc:
            if exc.job_id is None:
                raise  # before the job existed: nothing to resume
            return FitResult(exc.job_id, "interrupted", exc.output_dir or "", {}, stopped_by=f"{exc} during {exc.where}")
        try:
            return cleanup(run, train(run, callbacks or []))
        except RunInterrupted as exc:  # outside the training loop: the export
            release_machine(run)
            mark_failed(run.recorder, exc)
            return finish(run, FitResult(run.job_id, "interrupted", str(run.output_dir), {}, stopped_by=f"{exc} during the export"))
        except BaseException as exc:
            release_machine(run)
            mark_failed(run.recorder, exc)
            finish(run, FitResult(run.job_id, "failed", str(run.output_dir), {}))
            raise


# --- setup ---------------------------------------------------------------------------------


def setup(request: FitRequest, recorder_for: RecorderFactory, *, guard: SignalGuard | None = None, resume_job_id: str | None = None,
          restart: bool = False, snapshot: Snapshot | None = None, child: ChildJob | None = None) -> Run:
    snapshot = snapshot or open_gated_snapshot(request)
    job, recorder, args, output_dir, resume_from = open_job(request, snapshot, recorder_for, resume_job_id, restart, child)
    started = not resume_job_id or restart or not _started(recorder)
    try:
        built, data = build_model_and_features(request, snapshot)
        resource = None
        if args.process_index == 0:
            from .callbacks import machine_resource

            resource = machine_resource(job.job_id, args.world_size)
            recorder.resource(resource)
        run = Run(request, job, resume_job_id is not None, resume_from, recorder, snapshot, output_dir, args, built, data,
                  guard or SignalGuard(), resource)
        if started:
            record_start(run)
    except BaseException as exc:
        _name_job(exc, job.job_id, output_dir, "set-up")
        mark_failed(recorder, exc)
        _close(recorder, output_dir if args.process_index == 0 else None)
        raise
    return run


def _started(recorder: RunRecorder) -> bool:
    """Whether this attempt recorded its start (`run_config`): a run stopped during set-up did
    not, and its resume records it."""
    recorded = recorder.read_back()
    return recorded is None or any('"type": "run_config"' in log.message for log in recorded.logs
                                   if not recorded.job.restarted_at or log.timestamp >= recorded.job.restarted_at)


def _name_job(exc: BaseException, job_id: str, output_dir: Path, where: str) -> None:
    """A signal once the job exists names it, so the CLI can say how to resume it."""
    if isinstance(exc, RunInterrupted):
        exc.job_id, exc.output_dir, exc.where = job_id, str(output_dir), where


def snapshot_lineage(snapshot: Snapshot) -> SnapshotLineage:
    """What a job records about its data, so analyses can find and compare it later."""
    return SnapshotLineage(snapshot.id, snapshot.uri, snapshot.content_sha256, snapshot.manifest_sha256,
                           dict(snapshot.lock.split_hashes), tuple(snapshot.label_list), dict(snapshot.lock.coordinate_convention))


def open_job(request: FitRequest, snapshot: Snapshot, recorder_for: RecorderFactory, resume_job_id: str | None,
             restart: bool, child: ChildJob | None = None) -> tuple[Job, RunRecorder, TrainingArguments, Path, Path | None]:
    """Create the job (or find the one to resume), take its lease, claim its folder and find
    the checkpoint to continue from."""
    from .arguments import shared_job_id, training_arguments
    from .run_dir import claim, locate_checkpoint, run_folder

    name = request.job_name or f"{snapshot.id}-{request.model.source}-{utc_now_iso()[:19].replace(':', '')}"
    args = training_arguments(request, Path(request.train.output_dir))  # output_dir set below, once the job is known
    job_id = shared_job_id(args, resume_job_id or (child.job_id if child else str(uuid.uuid4())))
    is_main = args.process_index == 0
    recorder = recorder_for(job_id) if is_main else NullRecorder(job_id)
    output_dir = run_folder(request.train.output_dir, name, job_id)
    proposed = Job(
        job_id=job_id, name=name, created_at=utc_now_iso(), description=request.description, created_by=request.created_by,
        job_config=JobConfig("fit", request.to_dict(), snapshot_lineage(snapshot), request.train.seed).to_dict(),
        storage={"output_dir": str(output_dir)}, tags={"snapshot_id": snapshot.id, "model": request.model.source},
    )
    job, created = recorder.open(child.apply(proposed) if child and not resume_job_id else proposed)
    if resume_job_id and created and is_main:
        raise FitError(f"no job {resume_job_id} to resume")
    if not resume_job_id and not created and is_main:
        raise JobExists(job_id)  # a child another process claimed first: not ours to touch
    recorded_content = job.config.snapshot.content_sha256 if job.config.snapshot else None
    if resume_job_id and is_main and recorded_content != snapshot.content_sha256:
        raise FitError(f"job {job_id} trained on snapshot content {str(recorded_content)[:12]}, but {snapshot.id} now holds "
                       f"{snapshot.content_sha256[:12]}: a resumed run must see the same data")
    if resume_job_id and is_main and recorder.queries is not None:
        from .spool import sync_pending

        sync_pending(recorder.queries.table, job)  # what the last attempt could not write, first
    try:
        recorder.acquire(message=("restarted from step 0" if restart else "resumed") if resume_job_id else "setting up")
    except JobLeased:
        raise  # a live job: another process trains it; nothing here may touch its status
    except BaseException as exc:
        _name_job(exc, job_id, output_dir, "set-up")
        mark_failed(recorder, exc)
        _close(recorder, None)
        raise
    try:
        if resume_job_id and (job.storage or {}).get("output_dir"):
            output_dir = Path(job.storage["output_dir"])  # where the job said it is, from any working directory
        claim(output_dir, job_id, recorded=resume_job_id is not None)
        args.output_dir = str(output_dir)
        resume_from = None
        if resume_job_id and restart:
            from .artifacts import prune_checkpoints

            prune_checkpoints(output_dir)  # this job's own earlier attempt; its records stay in the table
            recorder.restart(reason="--restart: training the job again from step 0; earlier records are superseded")
        elif resume_job_id:
            recorded = recorder.read_back()
            checkpoints = list(recorded.checkpoints) if recorded else []
            point = locate_checkpoint(output_dir, checkpoints, job_id=job_id)
            resume_from = point.checkpoint
            for name in point.skipped:
                message = f"{name} was cut off while being saved (the run was killed mid-save): resuming from " \
                          f"{resume_from.name if resume_from else 'step 0'}; it is kept as .incomplete-{name}"
                print(f"warning: {message}", file=sys.stderr, flush=True)
                recorder.log({"type": "warning", "warning": message}, level="WARNING")
            evaluations = [m for m in (recorded.metrics if recorded else ()) if m.metric_name == "val_f1"]
            if resume_from is None and evaluations:
                raise FitError(f"job {job_id} recorded {len(evaluations)} evaluation(s) but no checkpoint to continue from: "
                               "pass --restart to train it again from step 0")
    except FitError as exc:  # refused before anything ran: the job stays resumable
        recorder.status("interrupted", message=f"resume refused: {exc}"[:500])
        _close(recorder, None)
        raise
    except BaseException as exc:
        _name_job(exc, job_id, output_dir, "set-up")
        mark_failed(recorder, exc)
        _close(recorder, None)
        raise
    return job, recorder, args, output_dir, resume_from


def build_model_and_features(request: FitRequest, snapshot: Snapshot) -> tuple[BuiltModel, RunData]:
    """Seeded model and tokenizer, then the windows of both splits (from the feature cache
    when the same snapshot, tokenizer and window sizes were tokenized before)."""
    from transformers import set_seed

    from . import data as features_lib
    from .feature_cache import feature_cache_key_parts, load_or_build_features
    from .loss import resolve_class_weights
    from .model import build_tokenizer_and_model

    set_seed(request.train.seed)
    words, tags, model_config = snapshot.words, snapshot.tags, request.model
    built = build_tokenizer_and_model(model_config, tags, words.filter(words["split"] == "train")["text"].to_list())
    cache_dir = Path(request.cache_dir or Path(request.train.output_dir) / ".feature-cache")
    examples, features = {}, {}
    for split in ("train", "val"):
        examples[split] = features_lib.examples_from_frame(words, tags, split=split)
        key = {**feature_cache_key_parts(snapshot.content_sha256, built.tokenizer, model_config.max_seq_length, model_config.doc_stride, tags),
               "split": split}
        build = lambda s=split: features_lib.build_features(examples[s], built.tokenizer, model_config.max_seq_length, model_config.doc_stride)  # noqa: E731
        features[split] = load_or_build_features(cache_dir, key, build).features
    if not features["train"] or not features["val"]:
        raise FitError(f"snapshot {snapshot.id} has an empty {'train' if not features['train'] else 'val'} split")
    tag_counts = features_lib.supervised_tag_counts(words, "train")
    class_weights = resolve_class_weights(request.train.class_weights, tags, tag_counts, request.train.class_weight_clip)
    return built, RunData(features["train"], features["val"], examples["train"], examples["val"], class_weights)


def record_start(run: Run) -> None:
    """The run_config log and the dataset metrics, written once per attempt from step 0."""
    from .arguments import planned_schedule

    snapshot, data, tags = run.snapshot, run.data, run.snapshot.tags
    splits = snapshot.lock.counts.splits
    weights = dict(zip(tags, data.class_weights, strict=True)) if data.class_weights else None
    run.recorder.log({
        "type": "run_config", "job_id": run.job_id, "request": run.request.to_dict(), "snapshot": snapshot_lineage(snapshot).to_dict(),
        "snapshot_counts": {s: c.model_dump() for s, c in splits.items()}, "model_source": run.built.source,
        "warm_start": run.built.warm_start.to_dict() if run.built.warm_start else None,
        "num_parameters": sum(p.numel() for p in run.built.model.parameters()), "class_weights": weights,
        "world_size": run.args.world_size, "schedule": planned_schedule(run.request.train, len(data.train), run.args.world_size),
    })
    metrics: dict[str, Any] = {
        "num_train_samples": len(data.train), "num_val_samples": len(data.val),
        "num_train_receipts": len(data.train_examples), "num_val_receipts": len(data.val_examples),
    }
    ratios = snapshot.lock.o_entity_ratio.after
    metrics.update({f"o_entity_ratio_{s}": ratios[s] for s in ("train", "val") if ratios.get(s) is not None})
    if weights:
        metrics["class_weights"] = weights
    if splits["train"].entities:
        metrics["train_label_support"] = dict(splits["train"].entities)
    run.recorder.metrics(metrics, units={"num_train_samples": "windows", "num_val_samples": "windows"})


# --- train ---------------------------------------------------------------------------------


def train(run: Run, extra_callbacks: list[Any] | None = None) -> TrainOutcome:
    from transformers import EarlyStoppingCallback, PrinterCallback

    from .artifacts import upload_folder
    from .batching import make_trainer
    from .callbacks import ConsoleCallback, RecordingCallback, StoreHealth
    from .evaluate import make_compute_metrics

    request, args, model, guard = run.request, run.args, run.built.model, run.guard
    upload = (lambda folder: upload_folder(folder, str(request.upload_uri), name=f"{run.output_dir.name}/{folder.name}")) \
        if request.upload_uri else None
    recording = RecordingCallback(run.recorder, samples_per_step=args.train_batch_size * args.gradient_accumulation_steps * args.world_size,
                                  checkpoint_metric=request.train.checkpoint_metric, upload=upload)
    callbacks: list[Any] = [recording, guard, StoreHealth(run.recorder, guard.request_stop), ConsoleCallback(request.train.checkpoint_metric)]
    early = None
    if request.train.early_stopping_patience:
        early = EarlyStoppingCallback(early_stopping_patience=request.train.early_stopping_patience)
        callbacks.append(early)
    callbacks += extra_callbacks or []
    trainer = make_trainer(
        request.train, model=model, tokenizer=run.built.tokenizer, args=args, max_seq_length=request.model.max_seq_length,
        train_dataset=run.data.train, eval_dataset=run.data.val,
        compute_metrics=make_compute_metrics(run.data.val, run.data.val_examples, run.snapshot.tags),
        callbacks=callbacks, class_weights=run.data.class_weights,
    )
    trainer.remove_callback(PrinterCallback)
    if run.resumed:
        run.recorder.log({"type": "resume", "from_checkpoint": str(run.resume_from) if run.resume_from else None,
                          "note": None if run.resume_from else "no checkpoint was saved yet: training starts at step 0"})
    with guard.graceful():
        output = trainer.train(resume_from_checkpoint=str(run.resume_from) if run.resume_from else None)
    if recording.uploads_waiting and not run.recorder.lease_lost:
        recording.upload_waiting()  # the uploads S3 refused during training, once more
    earlier = history_from_metrics(run.recorder.recorded_metrics()) if run.resumed else []
    state = trainer.state
    stopped_by = f"signal {guard.received}" if guard.received is not None else guard.stop_reason
    return TrainOutcome(
        model=trainer.model, stopped_by=stopped_by, history=merge_history(earlier, recording.history),
        train_runtime=output.metrics.get("train_runtime"), total_flos=float(state.total_flos or 0),
        early_stopping_triggered=bool(early and early.early_stopping_patience_counter >= request.train.early_stopping_patience
                                      and state.global_step < state.max_steps),
        ending=ending_of(extra_callbacks or []),
    )


# --- cleanup -------------------------------------------------------------------------------


def cleanup(run: Run, outcome: TrainOutcome) -> FitResult:
    """Record how the run ended and leave its folder: the best model exported, and checkpoints
    pruned only once the final records are stored (until then, a resume still needs them)."""
    from .artifacts import export_best, upload_folder, write_run_file
    from .package import package_for_run

    train_config, recorder = run.request.train, run.recorder
    if recorder.lease_lost:
        return lost(run, outcome.stopped_by)
    summary = summarize(outcome.history, job_id=run.job_id, snapshot_id=run.snapshot.id, checkpoint_metric=train_config.checkpoint_metric,
                        greater_is_better=train_config.greater_is_better, early_stopping_triggered=outcome.early_stopping_triggered,
                        train_runtime=outcome.train_runtime, total_flos=outcome.total_flos)
    if outcome.ending is not None:  # before a signal: the run had ended on purpose when it came
        return close_ended(run, outcome.ending, summary, outcome.stopped_by)
    if outcome.stopped_by is not None:
        hint = f"resume with `trainer fit --resume {run.job_id}`"
        recorder.log({"type": "interrupted", "stopped_by": outcome.stopped_by, "resume": f"trainer fit --resume {run.job_id}"}, level="WARNING")
        recorder.status("interrupted", message=f"stopped by {outcome.stopped_by}; {hint}")
        release_machine(run)
        return finish(run, FitResult(run.job_id, "interrupted", str(run.output_dir), {}, stopped_by=outcome.stopped_by))
    best_dir = best_uri = None
    if run.is_main:
        try:
            recorder.confirm_lease()  # the folder is ours to write in only while the job is
        except LeaseLost:
            return lost(run, None)
        best_dir = export_best(outcome.model, run.built.tokenizer, run.output_dir, package=package_for_run(run, summary))
        best_uri = str(best_dir.resolve())
        if run.request.upload_uri:
            try:
                best_uri = upload_folder(best_dir, run.request.upload_uri, name=f"{run.output_dir.name}/best")
            except Exception as exc:  # noqa: BLE001 - S3 stayed down through the retries: the model is here, say where
                message = f"the best model could not be uploaded to {run.request.upload_uri} ({type(exc).__name__}: {exc}); it is in {best_uri}"
                print(f"warning: {message}", file=sys.stderr, flush=True)
                recorder.log({"type": "warning", "warning": message}, level="WARNING")
        summary["best_checkpoint_s3_path"] = best_uri
        write_run_file(run.output_dir, summary)
    results = results_of(summary, best_uri)
    recorder.log(summary)
    recorder.results(results)
    recorder.status("succeeded", progress=100.0, message=f"best {summary['checkpoint_metric']} {summary['best_metric']} at epoch {summary['best_epoch']}")
    run.guard.finished()
    release_machine(run)
    result = finish(run, FitResult(run.job_id, "succeeded", str(run.output_dir), results, str(best_dir) if best_dir else None))
    if run.is_main and result.recorded:
        remove_checkpoints(run)
        write_report(recorder, run.output_dir)
    return result


def close_ended(run: Run, ending: RunEnding, summary: dict[str, Any], stopped_by: str | None) -> FitResult:
    """A callback ended the run on purpose: its summary and results are recorded, no model is
    exported, its checkpoints are removed (once that is recorded), and the job takes the
    ending's final status."""
    from .artifacts import write_run_file

    recorder, results = run.recorder, {**results_of(summary, None), **ending.results}
    if run.is_main:
        write_run_file(run.output_dir, {**summary, "ended": ending.message})
    recorder.log(summary)
    recorder.results(results)
    recorder.status(ending.status, message=ending.message[:500])
    run.guard.finished()
    release_machine(run)
    result = finish(run, FitResult(run.job_id, ending.status, str(run.output_dir), results, stopped_by=stopped_by))
    if run.is_main and result.recorded:
        remove_checkpoints(run)
    return result


def finish(run: Run, result: FitResult) -> FitResult:
    """Close the recorder: every record written (`recorded`), or what was not kept on disk in
    the run's folder (`pending`), to be written at the next contact (`trainer.spool`)."""
    recorded, pending = _close(run.recorder, run.output_dir if run.is_main else None)
    return dataclasses.replace(result, recorded=recorded, pending=pending)


def _close(recorder: RunRecorder, folder: Path | None) -> tuple[bool, str | None]:
    """`recorder.close`, then the unwritten records spooled in `folder` (when given)."""
    from .spool import pending_path

    if recorder.close(CLOSE_TIMEOUT_S):
        return True, None
    if folder is None or recorder.lease_lost or not folder.is_dir():
        return False, None
    path = pending_path(folder)
    return False, str(path) if recorder.spool(path) else None


def lost(run: Run, stopped_by: str | None) -> FitResult:
    """Another process took the job (or it was marked interrupted): this one writes nothing
    more, to the table or to the run's folder, and says so."""
    recorder = run.recorder
    recorder.close(0)
    return FitResult(run.job_id, "interrupted", str(run.output_dir), {}, stopped_by=stopped_by or recorder.health(), recorded=False,
                     lease_lost=True)


def remove_checkpoints(run: Run) -> None:
    """The run's checkpoints, in its folder and (uploaded) in S3, once its final records are stored."""
    from .artifacts import delete_uploaded_checkpoints, prune_checkpoints

    prune_checkpoints(run.output_dir)
    if run.request.upload_uri:
        try:
            delete_uploaded_checkpoints(run.request.upload_uri, run.output_dir.name)
        except Exception as exc:  # noqa: BLE001 - the run succeeded; stray copies are a warning
            log.warning("could not remove the uploaded checkpoints of %s: %s", run.job_id, exc)


def release_machine(run: Run) -> None:
    """The attempt's JobResource, now `released`."""
    from .callbacks import released

    resource = released(run.resource)
    if resource is not None:
        try:
            run.recorder.resource(resource)
        except Exception:  # noqa: BLE001 - bookkeeping; the run's own end matters more
            log.warning("could not record the release of %s", resource.resource_id)


def write_report(recorder: RunRecorder, output_dir: Path) -> None:
    """run_report.json and the plots beside the model; a report that cannot be made is a
    warning, never a failed run."""
    from .analysis import write_run_report_from_recorder

    try:
        write_run_report_from_recorder(recorder, output_dir)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        log.warning("could not write the run report: %s", exc)
        recorder.log({"type": "warning", "warning": f"run report not written: {type(exc).__name__}: {exc}"}, level="WARNING")


def mark_failed(recorder: RunRecorder, exc: BaseException) -> None:
    """A crash is recorded `failed` (a signal `interrupted`), never left `running`. Both can
    be resumed; a diverged run also records where it diverged."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    if recorder.lease_lost:
        return  # another process owns the job now: nothing here may write to it
    try:
        if isinstance(exc, TrainingDiverged):
            recorder.results({"diverged": {"step": exc.step, "loss": repr(exc.loss), "learning_rate": exc.learning_rate,
                                           "last_finite_step": exc.last_finite[0] if exc.last_finite else None,
                                           "last_finite_loss": exc.last_finite[1] if exc.last_finite else None}})
        recorder.log({"type": "interrupted" if interrupted else "error", "error": f"{type(exc).__name__}: {exc}",
                      "resume": f"trainer fit --resume {recorder.job_id}"}, level="WARNING" if interrupted else "ERROR",
                     exception=None if interrupted else "".join(traceback.format_exception(exc))[-20000:])
        hint = f"; resume with `trainer fit --resume {recorder.job_id}`"
        recorder.status("interrupted" if interrupted else "failed", message=(f"{exc}" if interrupted else f"{type(exc).__name__}: {exc}")[:400] + hint)
    except Exception:  # noqa: BLE001 - the original error matters more than a failed record
        log.exception("could not record the failure of job %s", recorder.job_id)
        print(f"warning: could not record the end of job {recorder.job_id}", file=sys.stderr)

"""`trainer pretrain`: masked visual-language pretraining on a corpus, as a recorded job.

    open      open and gate the corpus, create the job (kind `pretrain`, its request and the
              corpus in its config) or find the one to resume, take its lease, claim its
              folder, find the checkpoint to continue from
    set up    seeded model and tokenizer, the corpus windows, a held-out share of receipts
              and their masked-LM score before pretraining; the start is recorded
    pretrain  `loop.pretrain` (the Hugging Face Trainer) with the `SignalGuard`, fit's
              `StoreHealth` and `recording.PretrainRecording`: loss, learning rate and
              tokens/s per logging step, checkpoints marked and recorded
    save      the held-out score after, the model in `<run folder>/pretrained/` with its
              `pretraining.json` (the corpus, the job), the results; checkpoints pruned once
              the end is recorded

Every way out after the job exists ends in a final or resumable status (never `running`):
a signal or an outage stops at the end of a step, with a checkpoint, as `interrupted`; a
crash is `failed`; both continue with `trainer pretrain --resume JOB` from the last
checkpoint (`jobs.lifecycle.JobSession`, as fit). docs/pretraining.md.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_store import Job, JobConfig, JobResource, LeaseLost, NullRecorder, RunRecorder
from metrics_store.keys import utc_now_iso
from trainer.errors import FitError
from trainer.jobs.folders import claim, prune_checkpoints, run_folder
from trainer.jobs.lifecycle import JobSession, RecorderFactory, find_resume_point
from trainer.jobs.signals import RunInterrupted, SignalGuard
from trainer.jobs.spool import sync_pending
from trainer.pretraining.loop import MaskedLMScore, PretrainOutcome, masked_lm_score, pretrain, training_arguments
from trainer.pretraining.model import BuiltMaskedLM, build_masked_lm
from trainer.pretraining.output import PretrainLineage, corpus_ref, save_pretrained_model
from trainer.pretraining.preflight import open_gated_corpus
from trainer.pretraining.recording import PretrainRecording, Progress
from trainer.pretraining.request import MODEL_DIR, PretrainRequest, PretrainResult
from trainer.pretraining.windows import corpus_examples, corpus_windows, hold_out
from trainer.training.arguments import shared_job_id
from trainer.training.callbacks import StoreHealth, machine_resource, released
from trainer.training.fit import diverged_results

if TYPE_CHECKING:
    from dataset_builder.corpus import Corpus

log = logging.getLogger(__name__)

SCORE_SEED = 1
"""Seeds the fixed masks of the held-out score, before and after alike (`masked_lm_score`)."""
SCORE_METRICS = {"held_out_mlm_loss": "loss", "held_out_mlm_accuracy": "ratio"}


@dataclass
class PretrainRun:
    """An opened pretrain job: what `open_run` prepared, and the phase it is in."""

    request: PretrainRequest
    job: Job
    session: JobSession
    corpus: Corpus
    output_dir: Path
    resumed: bool
    resume_from: Path | None
    guard: SignalGuard
    is_main: bool
    world_size: int
    device: Any
    resource: JobResource | None = None
    phase: str = "set-up"
    scores: dict[str, MaskedLMScore | None] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def recorder(self) -> RunRecorder:
        return self.session.recorder


def run_pretrain(
    request: PretrainRequest,
    recorder_for: RecorderFactory,
    *,
    resume_job_id: str | None = None,
    restart: bool = False,
    corpus: Corpus | None = None,
) -> PretrainResult:
    """Open (or resume), pretrain, save. `recorder_for` makes a job id's recorder
    (`lambda job_id: DynamoRecorder(table, job_id)`, or `metrics_store.MemoryJobs()`);
    `corpus`: already opened and gated (`preflight`). `restart` (with `resume_job_id`):
    pretrain the job again from step 0. A signal anywhere after the job exists ends in an
    `interrupted` result that names the job (the CLI prints how to resume it)."""
    with SignalGuard() as guard:
        try:
            run = open_run(request, recorder_for, guard, resume_job_id, restart, corpus)
        except RunInterrupted as exc:
            if exc.job_id is None:
                raise  # before the job existed: nothing to resume
            return PretrainResult(
                exc.job_id, "interrupted", exc.output_dir or "", {}, stopped_by=f"{exc} during {exc.where}"
            )
        try:
            return train_and_save(run)
        except RunInterrupted as exc:  # outside the training loop: set-up, scoring, the save
            release_machine(run)
            run.session.failed(exc)
            return finish(
                run,
                PretrainResult(
                    run.job_id, "interrupted", str(run.output_dir), {}, stopped_by=f"{exc} during {run.phase}"
                ),
            )
        except BaseException as exc:
            release_machine(run)
            run.session.failed(exc, diverged_results(exc))
            finish(run, PretrainResult(run.job_id, "failed", str(run.output_dir), {}))
            raise


# --- open ----------------------------------------------------------------------------------


def default_name(request: PretrainRequest, corpus: Corpus) -> str:
    return f"pretrain-{corpus.id}-{request.model.source}-{utc_now_iso()[:19].replace(':', '')}"


def open_run(
    request: PretrainRequest,
    recorder_for: RecorderFactory,
    guard: SignalGuard,
    resume_job_id: str | None,
    restart: bool,
    corpus: Corpus | None,
) -> PretrainRun:
    """Create the job (or find the one to resume), take its lease, claim its folder and find
    the checkpoint to continue from."""
    if restart and resume_job_id is None:
        raise FitError("a restart needs the job to restart (--resume JOB)")
    corpus = corpus or open_gated_corpus(request)
    args = training_arguments(request.pretrain, Path(request.output_dir))  # the processes of this launch
    name = request.job_name or default_name(request, corpus)
    job_id = shared_job_id(args, resume_job_id or str(uuid.uuid4()))
    is_main = args.process_index == 0
    output_dir = run_folder(request.output_dir, name, job_id)
    lineage = corpus_ref(corpus).model_dump(mode="json")
    proposed = Job(
        job_id=job_id,
        name=name,
        created_at=utc_now_iso(),
        description=request.description,
        created_by=request.created_by,
        job_config=JobConfig("pretrain", request.to_dict(), None, request.pretrain.seed, {"corpus": lineage}).to_dict(),
        storage={"output_dir": str(output_dir)},
        tags={"kind": "pretrain", "corpus_id": corpus.id, "model": request.model.source},
    )
    resuming = resume_job_id is not None
    recorder = recorder_for(job_id) if is_main else NullRecorder(job_id)
    session, job, _ = JobSession.open(recorder, proposed, "pretrain", resuming=resuming, strict=is_main)
    recorded = (job.config.extra.get("corpus") or {}).get("content_sha256")
    if resuming and is_main and recorded != corpus.content_sha256:
        raise FitError(
            f"job {job_id} pretrained on corpus content {str(recorded)[:12]}, but {corpus.id} now holds "
            f"{corpus.content_sha256[:12]}: a resumed job must read the same corpus"
        )
    if resuming and is_main and recorder.queries is not None:
        sync_pending(recorder.queries.table, job)  # what the last attempt could not write, first
    try:
        session.acquire(("restarted from step 0" if restart else "resumed") if resuming else "setting up")
    except RunInterrupted as exc:
        _name_job(exc, job_id, output_dir, "set-up")
        raise
    try:
        recorded_dir = (job.storage or {}).get("output_dir")
        if resuming and recorded_dir:
            output_dir = Path(recorded_dir)  # where the job said it is, from any working directory
        claim(output_dir, job_id, recorded=resuming)
        resume_from = (
            find_resume_point(session, output_dir, restart, progress_metric="step_train_loss", doing="pretraining")
            if resuming
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
    resource = None
    if is_main:
        session.folder = output_dir  # from here on, records the table does not take wait in the run's folder
        resource = machine_resource(job_id, args.world_size)
        recorder.resource(resource)
    return PretrainRun(
        request,
        job,
        session,
        corpus,
        output_dir,
        resuming,
        resume_from,
        guard,
        is_main,
        args.world_size,
        args.device,
        resource,
    )


def _name_job(exc: BaseException, job_id: str, output_dir: Path, where: str) -> None:
    """A signal once the job exists names it, so the CLI can say how to resume it."""
    if isinstance(exc, RunInterrupted):
        exc.job_id, exc.output_dir, exc.where = job_id, str(output_dir), where


# --- set up, pretrain, save ----------------------------------------------------------------


def train_and_save(run: PretrainRun) -> PretrainResult:
    from transformers import set_seed

    request, recorder, model_config = run.request, run.recorder, run.request.model
    set_seed(request.pretrain.seed)  # fresh weights come from torch's RNG: a resume rebuilds the same model
    built = build_masked_lm(model_config, run.corpus.words["text"].to_list())
    examples = corpus_examples(run.corpus.words)
    cache_dir = Path(request.cache_dir or Path(request.output_dir) / ".feature-cache")
    windows = corpus_windows(
        examples,
        built.tokenizer,
        model_config.max_seq_length,
        model_config.doc_stride,
        cache_dir=cache_dir,
        corpus_sha256=run.corpus.content_sha256,
    )
    train, held = hold_out(windows, examples, request.held_out_fraction, seed=request.pretrain.seed)
    if not train:
        raise FitError(
            f"corpus {run.corpus.id} leaves no window to pretrain on after holding out "
            f"{request.held_out_fraction:.0%} of its receipts"
        )
    if not run.resumed or not _started(recorder):
        record_start(run, built, train, held, examples)
    if run.is_main:
        built.model.to(run.device)
        run.scores["before"] = score_before(run, built, held)
    recording = PretrainRecording(recorder, Progress.of_checkpoint(run.resume_from), echo=run.is_main)
    if run.resumed:
        recorder.log(
            {
                "type": "resume",
                "from_checkpoint": str(run.resume_from) if run.resume_from else None,
                "note": None if run.resume_from else "no checkpoint was saved yet: pretraining starts at step 0",
            }
        )
    run.phase = "pretraining"
    with run.guard.graceful():
        outcome = pretrain(
            built.model,
            built.tokenizer,
            train,
            request.pretrain,
            output_dir=run.output_dir,
            max_seq_length=model_config.max_seq_length,
            on_log=recording.record,
            callbacks=[run.guard, StoreHealth(recorder, run.guard.request_stop), recording],
            resume_from_checkpoint=run.resume_from,
        )
    guard = run.guard
    stopped_by = f"signal {guard.received}" if guard.received is not None else guard.stop_reason
    if recorder.lease_lost:
        return lost(run, stopped_by)
    if stopped_by is not None:
        run.session.interrupted(stopped_by)
        release_machine(run)
        return finish(run, PretrainResult(run.job_id, "interrupted", str(run.output_dir), {}, stopped_by=stopped_by))
    return save(run, built, outcome, recording.base, held, len(train))


def _started(recorder: RunRecorder) -> bool:
    """Whether an attempt recorded the job's start (`run_config`) since its last restart: a
    job stopped during set-up did not, and its resume records it."""
    recorded = recorder.read_back()
    return recorded is None or any(
        '"type": "run_config"' in log.message
        for log in recorded.logs
        if not recorded.job.restarted_at or log.timestamp >= recorded.job.restarted_at
    )


def planned_schedule(request: PretrainRequest, windows: int, world_size: int) -> dict[str, Any]:
    """The optimiser schedule the Trainer will follow (its own arithmetic), recorded up front."""
    config = request.pretrain
    batches = math.ceil(windows / (config.batch_size * world_size))
    steps_per_epoch = max(math.ceil(batches / config.gradient_accumulation_steps), 1)
    max_steps = config.max_steps or math.ceil(steps_per_epoch * config.epochs)
    return {
        "lr_scheduler_type": "linear",
        "steps_per_epoch": steps_per_epoch,
        "max_steps": max_steps,
        "warmup_steps": math.ceil(config.warmup_ratio * max_steps),
        "peak_learning_rate": config.learning_rate,
    }


def record_start(run: PretrainRun, built: BuiltMaskedLM, train: list, held: list, examples: list) -> None:
    """The run_config log and the corpus figures, written once per attempt from step 0."""
    held_receipts = len({w["example_index"] for w in held})
    run.recorder.log(
        {
            "type": "run_config",
            "job_id": run.job_id,
            "request": run.request.to_dict(),
            "corpus": corpus_ref(run.corpus).model_dump(mode="json"),
            "model_source": built.describe(run.request.model),
            "num_parameters": sum(p.numel() for p in built.model.parameters()),
            "world_size": run.world_size,
            "schedule": planned_schedule(run.request, len(train), run.world_size),
        }
    )
    run.recorder.metrics(
        {
            "num_train_windows": len(train),
            "num_held_out_windows": len(held),
            "num_corpus_receipts": len(examples),
            "num_held_out_receipts": held_receipts,
            "num_corpus_words": int(run.corpus.lock.counts.words),
        },
        units={
            "num_train_windows": "windows",
            "num_held_out_windows": "windows",
            "num_corpus_receipts": "receipts",
            "num_held_out_receipts": "receipts",
            "num_corpus_words": "words",
        },
    )


def _score(model: Any, tokenizer: Any, held: list, run: PretrainRun) -> MaskedLMScore | None:
    if not held:
        return None
    return masked_lm_score(model, tokenizer, held, run.request.pretrain.masking, seed=SCORE_SEED)


def score_before(run: PretrainRun, built: BuiltMaskedLM, held: list) -> MaskedLMScore | None:
    """The held-out masked-LM score of the model before pretraining: recorded at step 0 by the
    job's first attempt (a resume reads it back: the checkpoint's weights are not the start)."""
    recorded = {
        m.metric_name: float(m.value)
        for m in run.recorder.recorded_metrics()
        if m.step == 0 and m.metric_name in SCORE_METRICS and isinstance(m.value, int | float)
    }
    if set(recorded) == set(SCORE_METRICS):
        return MaskedLMScore(recorded["held_out_mlm_loss"], recorded["held_out_mlm_accuracy"], 0, len(held))
    score = _score(built.model, built.tokenizer, held, run)
    if score is None:
        return None
    if math.isfinite(score.loss):
        run.recorder.metrics(
            {"held_out_mlm_loss": score.loss, "held_out_mlm_accuracy": score.accuracy},
            step=0,
            epoch=0.0,
            units=SCORE_METRICS,
        )
    return score


def save(
    run: PretrainRun,
    built: BuiltMaskedLM,
    outcome: PretrainOutcome,
    base: Progress,
    held: list,
    train_windows: int,
) -> PretrainResult:
    """Score after, save the model with its lineage, record the results and close the job."""
    recorder = run.recorder
    model_dir = None
    results: dict[str, Any] = {}
    if run.is_main:
        run.phase = "the final scoring"
        after = _score(outcome.model, built.tokenizer, held, run)
        before = run.scores.get("before")
        total_tokens = base.tokens_seen + outcome.tokens_seen
        runtime = base.train_runtime_s + outcome.train_runtime_s
        held_out = (
            None
            if after is None or before is None
            else {"windows": len(held), "before": before.to_dict(), "after": after.to_dict()}
        )
        run.phase = "the save"
        try:
            recorder.confirm_lease()  # the folder is ours to write in only while the job is
        except LeaseLost:
            return lost(run, None)
        lineage = PretrainLineage(
            corpus=corpus_ref(run.corpus),
            source=built.describe(run.request.model),
            steps=outcome.global_step,
            epochs=outcome.epochs,
            tokens_seen=total_tokens,
            train_runtime_s=runtime,
            tokens_per_second=total_tokens / runtime if runtime else 0.0,
            max_seq_length=run.request.model.max_seq_length,
            doc_stride=run.request.model.doc_stride,
            windows=train_windows,
            config=run.request.pretrain.to_dict(),
            held_out=held_out,
            job_id=run.job_id,
            created_at=utc_now_iso(),
        )
        model_dir = save_model(outcome.model, built.tokenizer, run.output_dir, lineage)
        results = results_of(run, lineage, model_dir, before, after)
        final = {
            k: v
            for k, v in {
                "held_out_mlm_loss": after.loss if after else None,
                "held_out_mlm_accuracy": after.accuracy if after else None,
                "tokens_seen": total_tokens,
                "tokens_per_second": lineage.tokens_per_second,
            }.items()
            if _finite(v)
        }
        recorder.metrics(
            final,
            step=outcome.global_step,
            epoch=round(outcome.epochs, 4),
            units={**SCORE_METRICS, "tokens_seen": "tokens", "tokens_per_second": "tokens/s"},
        )
        recorder.log({"type": "pretrain_summary", **results})
    run.session.succeeded(succeeded_message(results), results)
    run.guard.finished()
    release_machine(run)
    result = finish(
        run,
        PretrainResult(run.job_id, "succeeded", str(run.output_dir), results, str(model_dir) if model_dir else None),
    )
    if run.is_main and result.recorded:
        prune_checkpoints(run.output_dir)
    return result


def save_model(model: Any, tokenizer: Any, output_dir: Path, lineage: PretrainLineage) -> Path:
    """`<run folder>/pretrained/`, written beside and swapped in by renames, so a save stopped
    half-way never leaves a half-written model where `trainer fit --model` would read it."""
    final = output_dir / MODEL_DIR
    for leftover in output_dir.glob(f".{MODEL_DIR}.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = output_dir / f".{MODEL_DIR}.partial-{os.getpid()}"
    save_pretrained_model(model, tokenizer, staging, lineage)
    old = output_dir / f".{MODEL_DIR}.old-{os.getpid()}"
    if final.exists():
        os.rename(final, old)
    os.rename(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def results_of(
    run: PretrainRun,
    lineage: PretrainLineage,
    model_dir: Path,
    before: MaskedLMScore | None,
    after: MaskedLMScore | None,
) -> dict[str, Any]:
    """The job's results: what it read, what it cost, what it learned, where the model is."""
    scores = {
        "held_out_mlm_loss_before": before.loss if before else None,
        "held_out_mlm_accuracy_before": before.accuracy if before else None,
        "held_out_mlm_loss_after": after.loss if after else None,
        "held_out_mlm_accuracy_after": after.accuracy if after else None,
    }
    return {
        "corpus_id": lineage.corpus.id,
        "corpus_sha256": lineage.corpus.content_sha256,
        "model_dir": str(model_dir.resolve()),
        "steps": lineage.steps,
        "epochs": round(lineage.epochs, 4),
        "tokens_seen": lineage.tokens_seen,
        "tokens_per_second": round(lineage.tokens_per_second, 2),
        "train_runtime": round(lineage.train_runtime_s, 3),
        "minutes": round(lineage.train_runtime_s / 60, 3),
        "train_windows": lineage.windows,
        "held_out_windows": (lineage.held_out or {}).get("windows", 0),
        **{k: v for k, v in scores.items() if _finite(v)},
    }


def succeeded_message(results: dict[str, Any]) -> str:
    loss = (
        f"held-out masked-LM loss {results['held_out_mlm_loss_before']:.4f} -> "
        f"{results['held_out_mlm_loss_after']:.4f}; "
        if "held_out_mlm_loss_after" in results and "held_out_mlm_loss_before" in results
        else ""
    )
    fine_tune = f"fine-tune with `trainer fit --model {results.get('model_dir')}`"
    return f"{results.get('steps')} steps on {results.get('corpus_id')}: {loss}{fine_tune}"


# --- ends ----------------------------------------------------------------------------------


def finish(run: PretrainRun, result: PretrainResult) -> PretrainResult:
    """Close the job: every record written (`recorded`), or what was not kept on disk in the
    run's folder (`pending`), to be written at the next contact (`trainer.jobs.spool`)."""
    closed = run.session.close()
    return dataclasses.replace(result, recorded=closed.recorded, pending=closed.pending)


def lost(run: PretrainRun, stopped_by: str | None) -> PretrainResult:
    """Another process took the job: this one writes nothing more, to the table or the folder."""
    run.session.release()
    return PretrainResult(
        run.job_id,
        "interrupted",
        str(run.output_dir),
        {},
        stopped_by=stopped_by or run.recorder.health(),
        recorded=False,
        lease_lost=True,
    )


def release_machine(run: PretrainRun) -> None:
    """The attempt's JobResource, now `released` (bookkeeping: never fails the job)."""
    resource = released(run.resource)
    if resource is not None:
        try:
            run.recorder.resource(resource)
        except Exception:  # noqa: BLE001 - the job's own end matters more
            log.warning("could not record the release of %s", resource.resource_id)

"""`trainer fit`: train LayoutLM on a snapshot and record the run. A recipe in three parts:

    setup()   open and check the snapshot, open (or resume) the job, build model and features
    train()   Hugging Face Trainer with our loss, evaluation, recording and signal handling
    cleanup() export the best model, write run.json and the run summary, close the job

`fit()` wires them together and makes sure a crash is recorded as `failed` and a
SIGTERM/SIGINT as `interrupted` (resumable with `--resume JOB_ID`); nothing is recorded twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrics_store import Job, RunRecorder
from metrics_store.keys import utc_now_iso

from .config import ModelConfig, TinySizes, TrainConfig

log = logging.getLogger(__name__)
RecorderFactory = Callable[[str], RunRecorder]


class FitError(Exception):
    """The run cannot start as asked (bad snapshot, refused contracts, nothing to resume)."""


@dataclass(frozen=True)
class FitRequest:
    """Everything `trainer fit` was asked for; recorded in the job so `--resume` can rebuild it."""

    snapshot_root: str
    snapshot: str = "latest"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    job_name: str | None = None
    description: str = ""
    created_by: str = ""
    allow_contract_failures: bool = False
    upload_uri: str | None = None
    cache_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "train")},
                "model": self.model.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitRequest:
        model = dict(d["model"])
        model["tiny"] = TinySizes(**model.get("tiny", {}))
        train = dict(d["train"])
        train["class_weight_clip"] = tuple(train.get("class_weight_clip", (0.1, 10.0)))
        rest = {k: v for k, v in d.items() if k not in ("model", "train")}
        return cls(model=ModelConfig(**model), train=TrainConfig(**train), **rest)


@dataclass(frozen=True)
class FitResult:
    job_id: str
    status: str
    output_dir: str
    results: dict[str, Any]
    best_dir: str | None = None


class NullRecorder:
    """What ranks other than 0 record through: nothing (only rank 0 writes records)."""

    def __init__(self, job_id: str):
        self.job_id = job_id

    def open(self, job: Job) -> tuple[Job, bool]:
        return job, True

    def status(self, *a: Any, **k: Any) -> None: ...

    def metrics(self, *a: Any, **k: Any) -> int:
        return 0

    def log(self, *a: Any, **k: Any) -> None: ...

    def checkpoint(self, *a: Any, **k: Any) -> None: ...

    def resource(self, *a: Any, **k: Any) -> None: ...

    def results(self, *a: Any, **k: Any) -> None: ...


@dataclass
class Run:
    """What setup() prepared and train()/cleanup() use."""

    request: FitRequest
    job_id: str
    resumed: bool
    recorder: Any
    snapshot: Any
    output_dir: Path
    args: Any
    built: Any
    train_features: list
    val_features: list
    val_examples: list
    class_weights: list[float] | None
    is_main: bool
    trainer: Any = None


def _training_arguments(request: FitRequest, output_dir: Path) -> Any:
    import torch
    from transformers import TrainingArguments

    train = request.train
    precision = train.precision(torch.cuda.is_available(), torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    per_steps = train.eval_steps is not None
    schedule = {
        "eval_strategy": "steps" if per_steps else "epoch",
        "save_strategy": "steps" if per_steps else "epoch",
        "logging_strategy": "steps" if per_steps else "epoch",
        **({"eval_steps": train.eval_steps, "save_steps": train.eval_steps, "logging_steps": train.eval_steps} if per_steps else {}),
    }
    metric = train.checkpoint_metric
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size or train.batch_size,
        learning_rate=train.learning_rate,
        warmup_steps=train.warmup_ratio,  # a float in [0, 1) is a ratio in transformers 5.x
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        **schedule,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=metric.removeprefix("val_").removeprefix("eval_"),
        greater_is_better=train.greater_is_better,
        seed=train.seed,
        data_seed=train.seed,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        dataloader_num_workers=train.num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without CUDA, accelerate sets up torchrun's processes as one DDP group (gloo) only
        # when told it is a CPU run; otherwise each process would train alone.
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        report_to="none",
        disable_tqdm=True,
    )


def planned_schedule(train: TrainConfig, n_train_windows: int, world_size: int) -> dict[str, Any]:
    """The optimiser schedule the Trainer will follow (its own arithmetic), recorded up front so
    an analysis need not infer warmup and length from a handful of learning-rate samples."""
    batches = math.ceil(n_train_windows / (train.batch_size * world_size))
    steps_per_epoch = max(math.ceil(batches / train.gradient_accumulation_steps), 1)
    max_steps = steps_per_epoch * train.epochs
    return {"lr_scheduler_type": "linear", "steps_per_epoch": steps_per_epoch, "max_steps": max_steps,
            "warmup_steps": math.ceil(train.warmup_ratio * max_steps), "peak_learning_rate": train.learning_rate}


def _shared_job_id(args: Any, proposed: str) -> str:
    """Every process of a torchrun/accelerate launch must record under the same job id."""
    if args.world_size <= 1:
        return proposed
    import torch.distributed as dist

    holder = [proposed]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def setup(request: FitRequest, recorder_for: RecorderFactory, *, resume_job_id: str | None = None) -> Run:
    from transformers import set_seed

    from dataset_builder.snapshot import SnapshotError, open_snapshot

    from . import data as features_lib
    from .loss import resolve_class_weights
    from .model import build_tokenizer_and_model

    try:
        snapshot = open_snapshot(request.snapshot_root, request.snapshot)
    except SnapshotError as exc:
        raise FitError(str(exc)) from exc
    contracts = snapshot.manifest.get("contracts", {})
    if contracts.get("status") == "failed" and not request.allow_contract_failures:
        raise FitError(f"snapshot {snapshot.id} failed its data contracts; check it with `dsb contracts check --snapshot {snapshot.id}`, "
                       "or pass --allow-contract-failures to train on it anyway")

    job_id = resume_job_id or str(uuid.uuid4())
    name = request.job_name or f"{snapshot.id}-{request.model.source}-{utc_now_iso()[:19].replace(':', '')}"
    output_dir = Path(request.train.output_dir) / name
    args = _training_arguments(request, output_dir)
    job_id = _shared_job_id(args, job_id)
    is_main = args.process_index == 0
    recorder = recorder_for(job_id) if is_main else NullRecorder(job_id)

    lineage = {"id": snapshot.id, "uri": snapshot.uri, "content_sha256": snapshot.content_sha256, "manifest_sha256": snapshot.manifest_sha256,
               "split_hashes": snapshot.manifest.get("split_hashes"), "label_list": snapshot.label_list,
               "coordinate_convention": snapshot.manifest.get("coordinate_convention")}
    job = Job(
        job_id=job_id, name=name, created_at=utc_now_iso(), description=request.description, created_by=request.created_by,
        job_config={"request": request.to_dict(), "snapshot": lineage, "seed": request.train.seed},
        storage={"output_dir": str(output_dir.resolve())}, tags={"snapshot_id": snapshot.id, "model": request.model.source},
    )
    job, created = recorder.open(job)
    if resume_job_id and created and is_main:
        raise FitError(f"no job {resume_job_id} to resume")
    recorded_content = job.job_config.get("snapshot", {}).get("content_sha256")
    if resume_job_id and is_main and recorded_content != snapshot.content_sha256:
        raise FitError(f"job {job_id} trained on snapshot content {str(recorded_content)[:12]}, but {snapshot.id} now holds "
                       f"{snapshot.content_sha256[:12]}: a resumed run must see the same data")
    recorder.status("running", message="resumed" if resume_job_id else "setting up", progress=0.0)

    try:
        set_seed(request.train.seed)
        words = snapshot.words
        tags = snapshot.tags
        train_words = words.filter(words["split"] == "train")["text"].to_list()
        built = build_tokenizer_and_model(request.model, tags, train_words)
        cache_dir = Path(request.cache_dir or Path(request.train.output_dir) / ".feature-cache")
        features = {}
        examples = {}
        for split in ("train", "val"):
            examples[split] = features_lib.examples_from_frame(words, tags, split=split)
            key = {**features_lib.feature_cache_key_parts(snapshot.content_sha256, built.tokenizer, request.model.max_seq_length,
                                                          request.model.doc_stride, tags), "split": split}
            features[split] = features_lib.load_or_build_features(
                cache_dir, key, lambda s=split: features_lib.build_features(examples[s], built.tokenizer, request.model.max_seq_length, request.model.doc_stride)
            ).features
        if not features["train"] or not features["val"]:
            raise FitError(f"snapshot {snapshot.id} has an empty {'train' if not features['train'] else 'val'} split")
        tag_counts = features_lib.supervised_tag_counts(words, "train")
        class_weights = resolve_class_weights(request.train.class_weights, tags, tag_counts, request.train.class_weight_clip)
    except BaseException as exc:
        mark_failed(recorder, exc)
        raise

    if not resume_job_id:
        ratios = snapshot.manifest.get("o_entity_ratio", {}).get("after", {})
        train_entities = snapshot.manifest.get("counts", {}).get("splits", {}).get("train", {}).get("entities", {})
        recorder.log({"type": "run_config", "job_id": job_id, "request": request.to_dict(), "snapshot": lineage,
                      "snapshot_counts": snapshot.manifest.get("counts", {}).get("splits"), "model_source": built.source,
                      "warm_start": built.warm_start.to_dict() if built.warm_start else None,
                      "num_parameters": sum(p.numel() for p in built.model.parameters()),
                      "class_weights": dict(zip(tags, class_weights, strict=True)) if class_weights else None,
                      "world_size": args.world_size, "schedule": planned_schedule(request.train, len(features["train"]), args.world_size)})
        dataset_metrics: dict[str, Any] = {
            "num_train_samples": len(features["train"]), "num_val_samples": len(features["val"]),
            "num_train_receipts": len(examples["train"]), "num_val_receipts": len(examples["val"]),
        }
        dataset_metrics.update({f"o_entity_ratio_{s}": ratios[s] for s in ("train", "val") if ratios.get(s) is not None})
        if class_weights:
            dataset_metrics["class_weights"] = dict(zip(tags, class_weights, strict=True))
        if train_entities:
            dataset_metrics["train_label_support"] = dict(train_entities)
        recorder.metrics(dataset_metrics, units={"num_train_samples": "windows", "num_val_samples": "windows"})
    return Run(request, job_id, bool(resume_job_id), recorder, snapshot, output_dir, args, built,
               features["train"], features["val"], examples["val"], class_weights, is_main)


@dataclass
class TrainOutcome:
    interrupted_by: int | None
    history: list[dict[str, Any]]
    train_runtime: float | None
    total_flos: float | None
    early_stopping_triggered: bool
    best_checkpoint: str | None


def train(run: Run) -> TrainOutcome:
    from transformers import EarlyStoppingCallback, PrinterCallback
    from transformers.trainer_utils import get_last_checkpoint

    from .callbacks import ConsoleCallback, RecordingCallback, StopOnSignal
    from .data import FeatureCollator
    from .evaluate import make_compute_metrics
    from .loss import WeightedLossTrainer

    request, args = run.request, run.args
    recording = RecordingCallback(run.recorder, samples_per_step=args.train_batch_size * args.gradient_accumulation_steps * args.world_size,
                                  checkpoint_metric=request.train.checkpoint_metric)
    stop = StopOnSignal().install()
    callbacks: list[Any] = [recording, stop, ConsoleCallback(request.train.checkpoint_metric)]
    early = None
    if request.train.early_stopping_patience:
        early = EarlyStoppingCallback(early_stopping_patience=request.train.early_stopping_patience)
        callbacks.append(early)
    model = run.built.model
    trainer = WeightedLossTrainer(
        model=model, args=args, train_dataset=run.train_features, eval_dataset=run.val_features,
        data_collator=FeatureCollator(run.built.tokenizer.pad_token_id, pad_to_multiple_of=request.train.pad_to_multiple_of,
                                      max_length=model.config.max_position_embeddings),
        processing_class=run.built.tokenizer,
        compute_metrics=make_compute_metrics(run.val_features, run.val_examples, run.snapshot.tags),
        callbacks=callbacks, class_weights=run.class_weights, label_smoothing=request.train.label_smoothing,
        length_jitter=request.train.length_jitter,
    )
    trainer.remove_callback(PrinterCallback)
    resume_from = get_last_checkpoint(str(run.output_dir)) if run.resumed and run.output_dir.is_dir() else None
    if run.resumed:
        run.recorder.log({"type": "resume", "from_checkpoint": resume_from})
    try:
        output = trainer.train(resume_from_checkpoint=resume_from)
    finally:
        stop.uninstall()
    history = _merge_history(run, recording.history)
    run.trainer = trainer
    triggered = bool(early and early.early_stopping_patience_counter >= request.train.early_stopping_patience
                     and trainer.state.global_step < trainer.state.max_steps)
    return TrainOutcome(
        interrupted_by=stop.received, history=history,
        train_runtime=output.metrics.get("train_runtime"), total_flos=float(trainer.state.total_flos or 0),
        early_stopping_triggered=triggered, best_checkpoint=trainer.state.best_model_checkpoint,
    )


def _merge_history(run: Run, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluations of this process, plus those a resumed job recorded before its restart
    (rebuilt from its JobMetrics, so nothing but the metrics needs to be stored)."""
    if not run.resumed or not hasattr(run.recorder, "queries"):
        return fresh
    by_step: dict[int, dict[str, Any]] = {}
    for metric in run.recorder.queries.iter_job_metrics(run.job_id):
        if metric.step is None:
            continue
        row = by_step.setdefault(metric.step, {"epoch": metric.epoch, "step": metric.step, "per_label_metrics": {}})
        if metric.metric_name.startswith("label_") and isinstance(metric.value, dict):
            row["per_label_metrics"][metric.metric_name.removeprefix("label_")] = metric.value
        else:
            row[metric.metric_name] = metric.value
    steps = {h["step"] for h in fresh}
    return sorted([h for s, h in by_step.items() if s not in steps] + fresh, key=lambda h: h["step"])


def summarize(run: Run, outcome: TrainOutcome) -> dict[str, Any]:
    """The run summary: best epoch, early stopping, per-epoch metrics."""
    metric = run.request.train.checkpoint_metric
    history = outcome.history
    scored = [h for h in history if metric in h]
    best = (max if run.request.train.greater_is_better else min)(scored, key=lambda h: h[metric]) if scored else None
    f1s = [h["val_f1"] for h in history if "val_f1" in h]
    last_epoch = history[-1]["epoch"] if history else None
    return {
        "type": "run_summary",
        "job_id": run.job_id,
        "snapshot_id": run.snapshot.id,
        "checkpoint_metric": metric,
        "best_f1": max(f1s) if f1s else None,
        "best_epoch": best["epoch"] if best else None,
        "best_step": best["step"] if best else None,
        "best_metric": best[metric] if best else None,
        "early_stopping_triggered": outcome.early_stopping_triggered,
        "epochs_since_best": round(last_epoch - best["epoch"], 4) if best and last_epoch is not None else None,
        "train_runtime": outcome.train_runtime,
        "total_flos": outcome.total_flos,
        "epoch_metrics": history,
    }


def cleanup(run: Run, outcome: TrainOutcome) -> FitResult:
    from .artifacts import export_best, prune_checkpoints, upload_folder, write_run_file

    summary = summarize(run, outcome)
    recorder = run.recorder
    if outcome.interrupted_by is not None:
        recorder.log({"type": "interrupted", "signal": outcome.interrupted_by, "resume": f"trainer fit --resume {run.job_id}"}, level="WARNING")
        recorder.status("interrupted", message=f"stopped by signal {outcome.interrupted_by}; resume with `trainer fit --resume {run.job_id}`")
        return FitResult(run.job_id, "interrupted", str(run.output_dir), summary)
    best_dir = None
    if run.is_main:
        card = {"job_id": run.job_id, "snapshot": {"id": run.snapshot.id, "content_sha256": run.snapshot.content_sha256},
                "tags": run.snapshot.tags, "label_list": run.snapshot.label_list,
                "coordinate_convention": run.snapshot.manifest.get("coordinate_convention"),
                "max_seq_length": run.request.model.max_seq_length, "doc_stride": run.request.model.doc_stride,
                "best_epoch": summary["best_epoch"], "best_f1": summary["best_f1"]}
        best_dir = export_best(run.trainer.model, run.built.tokenizer, run.output_dir, card=card)
        prune_checkpoints(run.output_dir)
        best_uri = upload_folder(best_dir, run.request.upload_uri) if run.request.upload_uri else str(best_dir.resolve())
        summary["best_checkpoint_s3_path"] = best_uri
        write_run_file(run.output_dir, summary)
    results = {k: summary[k] for k in ("best_f1", "best_epoch", "best_step", "checkpoint_metric", "best_metric", "train_runtime",
                                       "total_flos", "early_stopping_triggered", "epochs_since_best")}
    results["best_checkpoint_s3_path"] = summary.get("best_checkpoint_s3_path")
    recorder.log(summary)
    recorder.results({k: v for k, v in results.items() if v is not None})
    recorder.status("succeeded", progress=100.0, message=f"best {summary['checkpoint_metric']} {summary['best_metric']} at epoch {summary['best_epoch']}")
    if run.is_main:
        write_report(recorder, run.output_dir)
    return FitResult(run.job_id, "succeeded", str(run.output_dir), results, str(best_dir) if best_dir else None)


def write_report(recorder: Any, output_dir: Path) -> None:
    """run_report.json and the plots beside the model; a report that cannot be made is a
    warning, never a failed run."""
    from .analysis import write_run_report_from_recorder

    try:
        write_run_report_from_recorder(recorder, output_dir)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        log.warning("could not write the run report: %s", exc)
        recorder.log({"type": "warning", "warning": f"run report not written: {type(exc).__name__}: {exc}"}, level="WARNING")


def mark_failed(recorder: Any, exc: BaseException) -> None:
    """A crash is recorded, never left `running`."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    try:
        recorder.log({"type": "error", "error": f"{type(exc).__name__}: {exc}"}, level="ERROR",
                     exception="".join(traceback.format_exception(exc))[-20000:])
        recorder.status("interrupted" if interrupted else "failed", message=f"{type(exc).__name__}: {exc}"[:500])
    except Exception:  # noqa: BLE001 - the original error matters more than a failed record
        log.exception("could not record the failure of job %s", recorder.job_id)


def fit(request: FitRequest, recorder_for: RecorderFactory, *, resume_job_id: str | None = None) -> FitResult:
    """Set up, train, clean up; a crash marks the job failed, a signal interrupted."""
    run = setup(request, recorder_for, resume_job_id=resume_job_id)
    try:
        outcome = train(run)
        return cleanup(run, outcome)
    except BaseException as exc:
        mark_failed(run.recorder, exc)
        raise


def request_for_resume(job: Job) -> FitRequest:
    """The request a job was started with, pinned to the snapshot it trained on."""
    recorded = job.job_config.get("request")
    if not recorded:
        raise FitError(f"job {job.job_id} was not started by `trainer fit` (no recorded request); it cannot be resumed")
    request = FitRequest.from_dict(json.loads(json.dumps(recorded)))
    return dataclasses.replace(request, snapshot=job.job_config["snapshot"]["id"], job_name=job.name)

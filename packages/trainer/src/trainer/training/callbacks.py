"""Hugging Face Trainer callbacks: what gets recorded at each logging step, evaluation and
checkpoint. (How a signal becomes a clean, resumable stop: signals.SignalGuard.)"""

from __future__ import annotations

import dataclasses
import math
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from metrics_store import JobCheckpoint, JobResource, LeaseLost, RunRecorder
from metrics_store.keys import utc_now_iso
from trainer.jobs.folders import mark_complete

SCALAR_METRICS = {  # our name -> (key in the Trainer's eval metrics, unit)
    "val_f1": ("eval_f1", "ratio"),
    "val_precision": ("eval_precision", "ratio"),
    "val_recall": ("eval_recall", "ratio"),
    "val_f1_lenient": ("eval_f1_lenient", "ratio"),
    "val_accuracy": ("eval_accuracy", "ratio"),
    "eval_loss": ("eval_loss", "loss"),
}


def peak_memory_mb() -> tuple[float, str]:
    """Peak GPU memory when training on a GPU, else the process's peak resident set."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20, "gpu"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss / 2**20 if sys.platform == "darwin" else rss / 1024), "rss"


def machine_resource(job_id: str, world_size: int) -> JobResource:
    """What this attempt trains on, as a JobResource: one per job and machine (a deterministic
    UUID, so a retry overwrites it), released when the attempt ends."""
    import os
    import socket
    import uuid

    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    host = socket.gethostname() or "localhost"
    return JobResource(
        job_id=job_id,
        resource_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"receipt-ml:resource/{job_id}/{host}")),
        instance_id=host,
        instance_type=torch.cuda.get_device_name(0) if gpus else f"cpu-{os.cpu_count()}-cores",
        resource_type="gpu" if gpus else "cpu",
        allocated_at=utc_now_iso(),
        gpu_count=gpus or None,
        resource_config={"world_size": world_size, "cpu_count": os.cpu_count() or 0, "torch": torch.__version__},
    )


def released(resource: JobResource | None) -> JobResource | None:
    return None if resource is None else dataclasses.replace(resource, status="released", released_at=utc_now_iso())


def gpu_utilization() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    try:
        return float(torch.cuda.utilization())
    except Exception:  # noqa: BLE001 - needs pynvml; absent is fine, the metric is optional
        return None


STEP_SERIES = {"step_train_loss": "loss", "step_learning_rate": "rate"}
"""Metrics recorded at every logging step (about 100 per run, see arguments.LOGGING_STEPS)."""


class RecordingCallback(TrainerCallback):
    """Turns each logging step into two JobMetrics (`step_train_loss`, `step_learning_rate`),
    each evaluation into one batch of JobMetrics and each save into a JobCheckpoint.

    Evaluation metric names are the user's dashboards': val_f1, val_precision, val_recall,
    eval_loss, train_loss (the mean logged training loss since the previous evaluation),
    learning_rate, label_<LABEL> = {f1, precision, recall, support}, plus val_f1_lenient (the
    old, lenient seqeval figure) and system metrics. The recorder batches these writes."""

    def __init__(
        self,
        recorder: RunRecorder,
        *,
        samples_per_step: int,
        checkpoint_metric: str,
        upload: Callable[[Path], str] | None = None,
    ):
        self.recorder = recorder
        self.samples_per_step = samples_per_step
        self.checkpoint_metric = checkpoint_metric
        self.upload = upload
        self.history: list[dict[str, Any]] = []
        self._last_train: dict[str, float] = {}
        self._window: list[tuple[float, int]] = []  # (logged mean loss, steps it covers) since the last evaluation
        self._last_logged_step = 0
        self._clock: tuple[float, int] | None = None
        self._waiting_uploads: list[tuple[Path, JobCheckpoint]] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self._clock = (time.perf_counter(), state.global_step)
        self._last_logged_step = state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        loss, lr = float(logs["loss"]), float(logs.get("learning_rate", 0.0))
        steps = max(state.global_step - self._last_logged_step, 1)
        self._last_logged_step = state.global_step
        if not math.isfinite(loss):
            return  # never stored (DynamoDB refuses it); the divergence check names it
        self._window.append((loss, steps))
        self._last_train = {
            "train_loss": sum(v * n for v, n in self._window) / sum(n for _, n in self._window),
            "learning_rate": lr,
        }
        self.recorder.metrics(
            {"step_train_loss": loss, "step_learning_rate": lr},
            epoch=round(float(state.epoch or 0), 4),
            step=state.global_step,
            units=STEP_SERIES,
        )

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or "eval_f1" not in metrics:
            return
        now, step = time.perf_counter(), state.global_step
        started, start_step = self._clock or (now, step)
        eval_seconds = float(metrics.get("eval_runtime") or 0.0)
        elapsed = max(now - started - eval_seconds, 1e-9)  # training time only
        self._clock = (now, step)
        memory, memory_kind = peak_memory_mb()
        values: dict[str, Any] = {
            name: float(metrics[key]) for name, (key, _) in SCALAR_METRICS.items() if key in metrics
        }
        values.update(self._last_train)
        self._window = []
        units = {name: unit for name, (_, unit) in SCALAR_METRICS.items()}
        units.update({"train_loss": "loss", "learning_rate": "rate"})
        for label, figures in (metrics.get("eval_per_label") or {}).items():
            values[f"label_{label}"] = {k: float(v) if k != "support" else int(v) for k, v in figures.items()}
            units[f"label_{label}"] = "per_label"
        if eval_seconds:
            values["eval_runtime"] = eval_seconds
            units["eval_runtime"] = "s"
        if step > start_step:
            values["samples_per_second"] = (step - start_step) * self.samples_per_step / elapsed
            values["steps_per_second"] = (step - start_step) / elapsed
            units.update({"samples_per_second": "samples/s", "steps_per_second": "steps/s"})
        values[f"peak_memory_mb_{memory_kind}"] = memory
        units[f"peak_memory_mb_{memory_kind}"] = "MB"
        utilization = gpu_utilization()
        if utilization is not None:
            values["gpu_utilization"] = utilization
            units["gpu_utilization"] = "percent"
        epoch = round(float(state.epoch or 0), 4)
        self.recorder.metrics(values, epoch=epoch, step=step, units=units)
        self.history.append(
            {
                "epoch": epoch,
                "step": step,
                **{k: v for k, v in values.items() if not k.startswith("label_")},
                "per_label_metrics": {k.removeprefix("label_"): v for k, v in values.items() if k.startswith("label_")},
            }
        )
        progress = 100.0 * step / state.max_steps if state.max_steps else None
        self.recorder.status(
            "running",
            progress=min(progress, 100.0) if progress is not None else None,
            message=f"epoch {epoch:g}: {self.checkpoint_metric}={values.get(self.checkpoint_metric, float('nan')):.4f}",
        )

    def on_save(self, args, state, control, **kwargs):
        """The Trainer has finished writing `checkpoint-N/`: mark it complete (a resume never
        picks a half-written one: `run_dir.locate_checkpoint`), upload it when asked (another
        machine can resume from it) and record it. An upload that fails after its retries
        leaves the checkpoint recorded as local and is tried again at the next save."""
        folder = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        mark_complete(folder, state.global_step)
        latest = self.history[-1] if self.history and self.history[-1]["step"] == state.global_step else None
        checkpoint = JobCheckpoint(
            job_id=self.recorder.job_id,
            timestamp=utc_now_iso(),
            s3_bucket="",
            s3_key=str(folder.resolve()),
            size_bytes=sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()),
            step=state.global_step,
            epoch=round(float(state.epoch or 0), 4),
            is_best=state.best_model_checkpoint is not None and Path(state.best_model_checkpoint) == folder,
            metrics={k: latest[k] for k in ("val_f1", "eval_loss") if latest and k in latest} or None,
        )
        if self.upload is None:
            self.recorder.checkpoint(checkpoint)
            return
        self._waiting_uploads.append((folder, checkpoint))
        self.upload_waiting()
        if any(c is checkpoint for _, c in self._waiting_uploads):
            self.recorder.checkpoint(checkpoint)  # recorded as local until its upload succeeds

    def upload_waiting(self) -> None:
        """Upload the checkpoints that wait (oldest first) and record each as uploaded; the
        first that fails stops the round, with a warning, until the next save."""
        upload = self.upload
        while upload is not None and self._waiting_uploads:
            folder, checkpoint = self._waiting_uploads[0]
            if not folder.is_dir():  # rotated away by the Trainer meanwhile: a newer one stands for it
                self._waiting_uploads.pop(0)
                continue
            try:
                uri = upload(folder)
            except Exception as exc:  # noqa: BLE001 - S3 is down: keep training, try again at the next save
                message = (
                    f"checkpoint-{checkpoint.step} not uploaded yet ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]}); "
                    "training goes on and the upload is tried again at the next save"
                )
                print(f"warning: {message}", file=sys.stderr, flush=True)
                self.recorder.log({"type": "warning", "warning": message}, level="WARNING")
                return
            bucket, _, key = uri.removeprefix("s3://").rstrip("/").partition("/")
            self.recorder.checkpoint(
                dataclasses.replace(checkpoint, timestamp=utc_now_iso(), s3_bucket=bucket, s3_key=key)
            )
            self._waiting_uploads.pop(0)

    @property
    def uploads_waiting(self) -> int:
        return len(self._waiting_uploads)


class ConsoleCallback(TrainerCallback):
    """One readable line per evaluation on stderr, in place of the Trainer's raw dicts."""

    def __init__(self, checkpoint_metric: str):
        self.checkpoint_metric = checkpoint_metric
        self._train_loss: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self._train_loss = float(logs["loss"])

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or not state.is_world_process_zero:
            return
        train_loss = f"{self._train_loss:.4f}" if self._train_loss is not None else "-"
        print(
            f"epoch {float(state.epoch or 0):6.2f}  step {state.global_step:>6}/{state.max_steps}  "
            f"train_loss {train_loss}  eval_loss {metrics.get('eval_loss', float('nan')):.4f}  "
            f"val_f1 {metrics.get('eval_f1', float('nan')):.4f}  (lenient "
            f"{metrics.get('eval_f1_lenient', float('nan')):.4f})",
            file=sys.stderr,
            flush=True,
        )


class StoreHealth(TrainerCallback):
    """Stops the loop (checkpoint, then `interrupted`) when the recorder says this run must
    stop: its writes failed for longer than the outage budget, or another process took the
    job's lease."""

    def __init__(self, recorder: RunRecorder, stop: Callable[[str], None]):
        self.recorder, self.stop = recorder, stop

    def on_epoch_end(self, args, state, control, **kwargs):
        self.on_step_end(args, state, control, **kwargs)  # the epoch's checkpoint is decided here

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save:
            try:
                # a checkpoint is about to be written into the run's folder: is it still ours?
                self.recorder.check_lease()
            except LeaseLost:
                pass  # reported by health() below
        reason = self.recorder.health()
        if reason:
            self.stop(reason)
            control.should_save = not self.recorder.lease_lost  # the folder is no longer ours: no checkpoint
            control.should_training_stop = True

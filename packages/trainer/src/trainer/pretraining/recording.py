"""What a pretrain job records while it trains: each logging step (masked-LM loss, learning
rate, tokens/s), its progress, and each checkpoint, marked complete and recorded with the
tokens seen up to it (so a resumed job counts its tokens and time from step 0).

fit's `RecordingCallback` records evaluations (F1 per label) and fit's checkpoint metrics; a
pretraining has no evaluation, so this is its own small callback, with the same checkpoint
marking (`jobs.folders.mark_complete`) and the same step series names (`step_train_loss`,
`step_learning_rate`), so `trainer runs` reads both alike."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from metrics_store import JobCheckpoint, RunRecorder
from metrics_store.keys import utc_now_iso
from trainer.jobs.folders import mark_complete
from trainer.pretraining.loop import PretrainLog

STEP_UNITS = {"step_train_loss": "loss", "step_learning_rate": "rate", "step_tokens_per_second": "tokens/s"}
"""Metrics recorded at every logging step (about 100 per job, as fit's)."""
PROGRESS_FILE = "receipt-ml-pretrain.json"
"""Written into each `checkpoint-N/`: tokens seen and training time up to step N, all attempts."""
STATUS_EVERY = 5.0
"""Percent of the steps between two `running` status updates (and console lines)."""


@dataclass(frozen=True)
class Progress:
    """Tokens read and seconds trained up to a checkpoint, over every attempt of the job."""

    step: int = 0
    tokens_seen: int = 0
    masked_tokens_seen: int = 0
    train_runtime_s: float = 0.0

    @classmethod
    def of_checkpoint(cls, folder: Path | None) -> Progress:
        """What the checkpoint a resume continues from says (nothing: step 0, or a checkpoint
        written without it, whose earlier tokens are then not counted)."""
        path = folder / PROGRESS_FILE if folder is not None else None
        if path is None or not path.is_file():
            return cls()
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: values[k] for k in ("step", "tokens_seen", "masked_tokens_seen", "train_runtime_s")})
        except (ValueError, KeyError, TypeError):
            return cls()

    def plus(self, log: PretrainLog | None) -> Progress:
        """This progress and what the current attempt has logged since it started."""
        if log is None:
            return self
        return Progress(
            log.step,
            self.tokens_seen + log.tokens_seen,
            self.masked_tokens_seen + log.masked_tokens_seen,
            self.train_runtime_s + log.elapsed_s,
        )


class PretrainRecording(TrainerCallback):
    """Pass `record` as `pretrain(on_log=...)` and the callback itself in `callbacks`, last
    (after the `SignalGuard` and `StoreHealth`, whose stops ask for a checkpoint first)."""

    def __init__(self, recorder: RunRecorder, base: Progress, *, echo: bool = True):
        self.recorder, self.base, self.echo = recorder, base, echo
        self.last: PretrainLog | None = None
        self.max_steps: int | None = None
        self._reported = -math.inf

    @property
    def progress(self) -> Progress:
        """Tokens and time up to the last logging step, all attempts."""
        return self.base.plus(self.last)

    def on_train_begin(self, args, state, control, **kwargs):
        self.max_steps = state.max_steps or None

    def record(self, log: PretrainLog) -> None:
        """One logging step (`pretrain`'s `on_log`)."""
        self.last = log
        if not math.isfinite(log.loss):
            return  # never stored (DynamoDB refuses it); the divergence check names it
        self.recorder.metrics(
            {
                "step_train_loss": log.loss,
                "step_learning_rate": log.learning_rate,
                "step_tokens_per_second": log.tokens_per_second,
            },
            epoch=log.epoch,
            step=log.step,
            units=STEP_UNITS,
        )
        progress = 100.0 * log.step / self.max_steps if self.max_steps else None
        if progress is None or progress - self._reported < STATUS_EVERY and log.step != self.max_steps:
            return
        self._reported = progress
        line = (
            f"step {log.step}/{self.max_steps}: masked-LM loss {log.loss:.4f}, lr {log.learning_rate:.2e}, "
            f"{log.tokens_per_second:,.0f} tokens/s"
        )
        self.recorder.status("running", progress=min(progress, 100.0), message=line)
        if self.echo:
            print(line, file=sys.stderr, flush=True)

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save:
            control.should_log = True  # a checkpoint's tokens are those logged at its very step

    def on_save(self, args, state, control, **kwargs):
        """The Trainer has written `checkpoint-N/`: note the tokens and time up to it, mark it
        complete (a resume never picks a half-written one) and record it."""
        folder = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        progress = self.progress
        (folder / PROGRESS_FILE).write_text(json.dumps(asdict(progress)) + "\n", encoding="utf-8")
        mark_complete(folder, state.global_step)
        metrics: dict[str, Any] = {"tokens_seen": progress.tokens_seen}
        if self.last is not None and self.last.step == state.global_step and math.isfinite(self.last.loss):
            metrics["mlm_loss"] = self.last.loss
        self.recorder.checkpoint(
            JobCheckpoint(
                job_id=self.recorder.job_id,
                timestamp=utc_now_iso(),
                s3_bucket="",
                s3_key=str(folder.resolve()),
                size_bytes=sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()),
                step=state.global_step,
                epoch=round(float(state.epoch or 0), 4),
                is_best=False,
                metrics=metrics,
            )
        )

"""Pruning inside `fit()`: a Trainer callback that reports val_f1 at each evaluation to the
trial's optuna pruner and, when the pruner says so, ends the run as pruned (trainer.training.hooks:
the job becomes `cancelled` with `results.trial.state = "pruned"`, never `failed`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback

from trainer.sweep.config import epoch_step
from trainer.training.hooks import RunEnding


class PruneOnF1(TrainerCallback):
    """`prior`: the val_f1 an earlier attempt of this trial recorded (a resumed trial), by step."""

    def __init__(self, trial: Any, prior: Mapping[int, float] | None = None):
        self.trial = trial
        self.ending: RunEnding | None = None
        for step, value in sorted((prior or {}).items()):
            trial.report(value, step)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or "eval_f1" not in metrics or self.ending is not None:
            return
        epoch, value = round(float(state.epoch or 0), 4), float(metrics["eval_f1"])
        self.trial.report(value, epoch_step(epoch))
        if self.trial.should_prune():
            self.ending = RunEnding(
                "cancelled",
                f"pruned by the sweep at epoch {epoch:g}: val_f1 {value:.4f} is below the median of the "
                "finished trials there",
                results={"trial": {"state": "pruned", "epoch": epoch, "step": state.global_step, "value": value}},
            )
            control.should_training_stop = True

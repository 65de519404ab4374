"""The trainer's user-facing errors: what a person can fix (an option, a file, a snapshot).

`cli_edge` maps `TrainerError` to one line and exit code 2; any other exception is a bug and
keeps its traceback. Each subclass also derives from the builtin it refines, so callers that
catch ValueError or RuntimeError keep working.
"""

from __future__ import annotations

import signal


class TrainerError(Exception):
    """Base class: the trainer cannot do what was asked, and the message says why."""


class ConfigError(TrainerError, ValueError):
    """An option value that cannot work; the message names the option."""


class FitError(TrainerError):
    """A run cannot start or continue as asked (bad snapshot, refused contracts, nothing to resume)."""


class ModelError(TrainerError, ValueError):
    """A model or tokenizer that cannot be built as asked (wrong type, sizes that do not fit)."""


class ModelNotCachedError(ModelError):
    """A hub model was asked for but is not in the local Hugging Face cache."""


class DataError(TrainerError, ValueError):
    """Snapshot data the trainer cannot use (unknown tags, boxes outside 0..1000...)."""


class TrainingDiverged(TrainerError):
    """The training loss became non-finite: the optimisation diverged (learning rate too high,
    bad data). The run stops there; nothing non-finite is recorded."""

    def __init__(self, step: int, loss: float, last_finite: tuple[int, float] | None, learning_rate: float | None):
        before = (
            f"last finite loss {last_finite[1]:.4g} at step {last_finite[0]}"
            if last_finite
            else "no finite loss before it"
        )
        lr = f", learning rate {learning_rate:.3g}" if learning_rate is not None else ""
        super().__init__(
            f"training diverged at step {step}: the loss is {loss} ({before}{lr}); "
            "lower --lr or check the data, then start a new run"
        )
        self.step, self.loss, self.last_finite, self.learning_rate = step, loss, last_finite, learning_rate


class JobExists(FitError):
    """A new job's id is taken: another process created that child job first (a sweep's trial
    another worker claimed). Nothing of the existing job was touched."""

    def __init__(self, job_id: str):
        super().__init__(f"job {job_id} exists already: another process started it")
        self.job_id = job_id


class RunInterrupted(KeyboardInterrupt):
    """A signal arrived outside the training loop (or twice inside it)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum} ({signal.Signals(signum).name})")
        self.signum = signum
        self.job_id: str | None = None  # set once the job exists: the CLI says how to resume it
        self.output_dir: str | None = None
        self.where = "set-up"

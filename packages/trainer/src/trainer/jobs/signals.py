"""SIGTERM, SIGINT and SIGHUP (a closed SSH session) for the whole run, not only the training loop.

`SignalGuard` is installed by `fit()` as soon as the job exists. Inside the training loop
(`graceful()`), a signal asks the loop to stop: the Trainer finishes its step, saves a
checkpoint and returns, and the job is marked `interrupted`. Anywhere else (setup, the final
export), a signal raises `RunInterrupted` at once, which `fit()` records as `interrupted`
too: every exit after the job exists ends in a terminal or resumable status. A second signal
during the loop does not wait for the step. Once the run's final status is recorded
(`finished()`), a signal changes nothing: the run is over, only its report is being written.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import TrainerCallback

from trainer.errors import RunInterrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class SignalGuard(TrainerCallback):
    """Signal handlers for the run; also the Trainer callback that stops the loop."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.stop_reason: str | None = None
        self._graceful = False
        self._finished = False
        self._previous: dict[int, Any] = {}

    def install(self) -> SignalGuard:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __enter__(self) -> SignalGuard:
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

    @contextmanager
    def graceful(self) -> Iterator[None]:
        """Inside: a signal stops the training loop at the end of the current step."""
        self._graceful = True
        try:
            yield
        finally:
            self._graceful = False

    def finished(self) -> None:
        """The run's final status is recorded: later signals are noted, nothing more."""
        self._finished = True

    def request_stop(self, reason: str) -> None:
        """Stop the loop as a signal would (the store is unreachable, the lease was lost)."""
        self.stop_reason = self.stop_reason or reason

    def _handle(self, signum: int, _frame: Any) -> None:
        first = self.received is None
        self.received = signum
        if self._finished:
            return
        if not self._graceful or not first:
            raise RunInterrupted(signum)

    @property
    def stopping(self) -> bool:
        return self.received is not None or self.stop_reason is not None

    def on_step_end(self, args, state, control, **kwargs):
        if self.stopping:
            control.should_save = True
            control.should_training_stop = True

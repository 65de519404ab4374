"""What a caller of `fit()` can add to a run, for jobs started by other jobs (a sweep's
trials, a review's folds: `jobs.children.ChildJob`) without a second training path:

- extra Hugging Face Trainer callbacks (`fit(..., callbacks=[...])`), run after the built-in
  ones (so an evaluation is recorded before they see it);
- `RunEnding`: a callback that stops the run on purpose sets its `ending` attribute to one
  (and `control.should_training_stop`); `fit()` then records the run's summary and results,
  merged with the ending's own results, exports no model, and gives the job the ending's
  terminal status instead of `succeeded` (a pruned sweep trial: `cancelled`, with
  `results.trial.state = "pruned"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainer.errors import ConfigError

ENDING_STATUSES = ("succeeded", "cancelled")
"""The statuses a callback may end a run with: final ones (a run ended on purpose is not resumed)."""


@dataclass(frozen=True)
class RunEnding:
    """Why a callback ended a run before its schedule did, and what to record for it."""

    status: str
    message: str
    results: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in ENDING_STATUSES:
            raise ConfigError(f"a run can only be ended as {' or '.join(ENDING_STATUSES)}, not {self.status!r}")


def ending_of(callbacks: list[Any]) -> RunEnding | None:
    """The first ending any of the caller's callbacks chose."""
    return next((c.ending for c in callbacks if isinstance(getattr(c, "ending", None), RunEnding)), None)

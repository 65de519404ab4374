"""What a caller of `fit()` can add to a run, for jobs started by other jobs (a sweep's trials,
a review's folds) without a second training path:

- `ChildJob`: the new job's parent, its id and extra tags. The id is deterministic
  (`child_job_id(parent, key)`), so creating the job is a claim: a second process creating the
  same child gets `JobExists` before it touches anything, and a retry never makes a second job.
- extra Hugging Face Trainer callbacks (`fit(..., callbacks=[...])`), run after the built-in
  ones (so an evaluation is recorded before they see it);
- `RunEnding`: a callback that stops the run on purpose sets its `ending` attribute to one
  (and `control.should_training_stop`); `fit()` then records the run's summary and results,
  merged with the ending's own results, exports no model, and gives the job the ending's
  terminal status instead of `succeeded` (a pruned sweep trial: `cancelled`, with
  `results.trial.state = "pruned"`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from metrics_store import Job

from .errors import ConfigError

ENDING_STATUSES = ("succeeded", "cancelled")
"""The statuses a callback may end a run with: final ones (a run ended on purpose is not resumed)."""


def child_job_id(parent_job_id: str, key: str) -> str:
    """The id of the child `key` ("trial-0003") of a job: the same for every process."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"receipt-ml:job/{parent_job_id}/{key}"))


@dataclass(frozen=True)
class ChildJob:
    """A job started by another job: recorded with `parent_job_id` (and the tag of that name)."""

    parent_job_id: str
    job_id: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, parent_job_id: str, key: str, **tags: str) -> ChildJob:
        return cls(parent_job_id, child_job_id(parent_job_id, key), dict(tags))

    def apply(self, job: Job) -> Job:
        """The proposed job as this child: its parent recorded (and tagged), its tags added."""
        tags = {**(job.tags or {}), **self.tags, "parent_job_id": self.parent_job_id}
        return dataclasses.replace(job, job_id=self.job_id, parent_job_id=self.parent_job_id, tags=tags)


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

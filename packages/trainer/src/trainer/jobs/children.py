"""Jobs started by other jobs (a sweep's trials, a review's folds): `ChildJob` names the new
job's parent, its id and extra tags. The id is deterministic (`child_job_id(parent, key)`), so
creating the job is a claim: a second process creating the same child gets `JobExists` before
it touches anything, and a retry never makes a second job."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from metrics_store import Job


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

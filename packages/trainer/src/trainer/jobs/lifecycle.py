"""One job lifecycle for every job the trainer runs: `fit`, `sweep`, `review` (and `pretrain`),
and the child jobs they start (a sweep's trials, a review's folds, which are `fit` runs).

    open       create the job, or find the one to resume. Creating is a conditional put, so
               a retry or a second process never makes a second job (`JobExists`)
    acquire    take its lease; a job another live process holds is refused (`JobLeased`)
               and left untouched
    ...        the job's own work, recorded through `session.recorder`
    end        `succeeded`, or `interrupted` / `failed`, both resumable: the status message
               and the log name the command that continues the job
    close      wait for the last records; what the table did not take waits in the job's
               folder (`jobs.spool`) and is written at the next contact

Every way out after `open` ends in one of those statuses (never `running`), and a process
that lost its lease writes nothing more. A new job type names its command in `JOB_COMMANDS`
and calls these; docs/architecture.md ("A new job type") says the rest.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metrics_store import Job, JobLeased, RunRecorder
from trainer.errors import FitError, JobExists
from trainer.jobs.children import ChildJob
from trainer.jobs.folders import locate_checkpoint, prune_checkpoints
from trainer.jobs.spool import pending_path

log = logging.getLogger(__name__)

RecorderFactory = Callable[[str], RunRecorder]
"""Makes the recorder of a job id (`DynamoRecorder` on a table; `MemoryJobs.recorder_for` in tests)."""

CLOSE_TIMEOUT_S = 330.0  # the recorder's outage budget, and a little more
"""How long the end of a job waits for its last records to reach the table."""

JOB_COMMANDS = {"fit": "fit", "sweep": "sweep", "review": "review", "pretrain": "pretrain", "data_curve": "data-curve"}
"""The `trainer` command that runs (and resumes) each kind of job."""


def resume_command(kind: str, job_id: str) -> str:
    """The command that continues a stopped job of this kind."""
    return f"trainer {JOB_COMMANDS[kind]} --resume {job_id}"


@dataclass(frozen=True)
class Closed:
    """How a job's records ended: all in the table (`recorded`), or waiting in `pending`."""

    recorded: bool
    pending: str | None = None


class JobSession:
    """A job this process holds: its recorder, its kind (which says how to resume it) and its
    folder (where records the table did not take wait; None: nowhere, as on a helper rank)."""

    def __init__(self, recorder: RunRecorder, kind: str, folder: Path | None = None):
        if kind not in JOB_COMMANDS:
            raise ValueError(f"unknown job kind {kind!r}")
        self.recorder, self.kind, self.folder = recorder, kind, folder

    @property
    def job_id(self) -> str:
        return self.recorder.job_id

    @property
    def resume_command(self) -> str:
        return resume_command(self.kind, self.job_id)

    @classmethod
    def open(
        cls,
        recorder: RunRecorder,
        proposed: Job,
        kind: str,
        *,
        resuming: bool,
        child: ChildJob | None = None,
        strict: bool = True,
    ) -> tuple[JobSession, Job, bool]:
        """Create `proposed` (as `child`'s job when given), or find the job to resume. Returns
        the session, the job as recorded and whether this call created it. `strict`: refuse a
        resume of a job that is not there, and a new job whose id another process took."""
        job, created = recorder.open(child.apply(proposed) if child and not resuming else proposed)
        if strict and resuming and created:
            raise FitError(f"no {kind} job {proposed.job_id} to resume")
        if strict and not resuming and not created:
            raise JobExists(proposed.job_id)  # a child another process claimed first: not ours to touch
        return cls(recorder, kind), job, created

    def acquire(self, message: str) -> None:
        """Take the lease. `JobLeased` (a live job of another process) passes through with the
        job untouched; any other failure leaves the job `failed`."""
        try:
            self.recorder.acquire(message=message)
        except JobLeased:
            raise
        except BaseException as exc:
            self.failed(exc)
            self.close()
            raise

    def log(self, entry: Mapping[str, Any], *, level: str = "INFO") -> None:
        self.recorder.log(entry, level=level)

    def warn(self, message: str) -> None:
        """A warning a person should see now and find in the job's log later."""
        print(f"warning: {message}", file=sys.stderr, flush=True)
        self.recorder.log({"type": "warning", "warning": message}, level="WARNING")

    def succeeded(self, message: str, results: Mapping[str, Any] | None = None) -> None:
        if results is not None:
            self.recorder.results(results)
        self.recorder.status("succeeded", progress=100.0, message=message[:500])

    def ended(self, status: str, message: str) -> None:
        """A final status other than `succeeded` chosen on purpose (a pruned trial: `cancelled`)."""
        self.recorder.status(status, message=message[:500])

    def interrupted(self, stopped_by: str) -> None:
        """Stopped (a signal, an outage, a stopped child): resumable, and the status says how."""
        if self.recorder.lease_lost:
            return
        self.recorder.log(
            {"type": "interrupted", "stopped_by": stopped_by, "resume": self.resume_command}, level="WARNING"
        )
        self.recorder.status(
            "interrupted", message=f"stopped by {stopped_by}; resume with `{self.resume_command}`"[:500]
        )

    def refused(self, reason: str) -> None:
        """A resume refused before anything ran: the job stays resumable as it was."""
        self.recorder.status("interrupted", message=f"resume refused: {reason}"[:500])

    def failed(self, exc: BaseException, results: Mapping[str, Any] | None = None) -> None:
        """A crash is recorded `failed` (a signal `interrupted`), never left `running`; both can be
        resumed. `results`: what the job knows about the failure (where a run diverged). A
        record that cannot be written is a warning: the original error matters more."""
        if self.recorder.lease_lost:
            return  # another process owns the job now: nothing here may write to it
        interrupted = isinstance(exc, KeyboardInterrupt)
        try:
            if results:
                self.recorder.results(results)
            self.recorder.log(
                {
                    "type": "interrupted" if interrupted else "error",
                    "error": f"{type(exc).__name__}: {exc}",
                    "resume": self.resume_command,
                },
                level="WARNING" if interrupted else "ERROR",
                exception=None if interrupted else "".join(traceback.format_exception(exc))[-20000:],
            )
            what = f"{exc}" if interrupted else f"{type(exc).__name__}: {exc}"
            self.recorder.status(
                "interrupted" if interrupted else "failed",
                message=what[:400] + f"; resume with `{self.resume_command}`",
            )
        except Exception:  # noqa: BLE001 - the original error matters more than a failed record
            log.exception("could not record the end of job %s", self.job_id)
            print(f"warning: could not record the end of job {self.job_id}", file=sys.stderr)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> Closed:
        """Wait for the last records; what the table did not take is kept in the job's folder."""
        if self.recorder.close(timeout):
            return Closed(True)
        folder = self.folder
        if folder is None or self.recorder.lease_lost or not folder.is_dir():
            return Closed(False)
        path = pending_path(folder)
        return Closed(False, str(path) if self.recorder.spool(path) else None)

    def release(self) -> None:
        """Stop at once without another record: the job is another process's now."""
        self.recorder.close(0)


def find_resume_point(
    session: JobSession, output_dir: Path, restart: bool, *, progress_metric: str, doing: str
) -> Path | None:
    """The checkpoint a resumed job continues from (None: step 0), for every job that trains
    (`doing`: "training", "pretraining"). `restart` starts the job again from step 0; a
    checkpoint cut off mid-save is skipped (and kept aside); a job that recorded
    `progress_metric` but has no checkpoint is refused rather than silently started over."""
    recorder = session.recorder
    if restart:
        prune_checkpoints(output_dir)  # this job's own earlier attempt; its records stay in the table
        recorder.restart(reason=f"--restart: {doing} the job again from step 0; earlier records are superseded")
        return None
    recorded = recorder.read_back()
    point = locate_checkpoint(output_dir, list(recorded.checkpoints) if recorded else [], job_id=session.job_id)
    for name in point.skipped:
        session.warn(
            f"{name} was cut off while being saved (the job was killed mid-save): resuming from "
            f"{point.checkpoint.name if point.checkpoint else 'step 0'}; it is kept as .incomplete-{name}"
        )
    progress = [m for m in (recorded.metrics if recorded else ()) if m.metric_name == progress_metric]
    if point.checkpoint is None and progress:
        raise FitError(
            f"job {session.job_id} recorded {len(progress)} {progress_metric} value(s) but no checkpoint to continue "
            f"from: pass --restart to run it again from step 0"
        )
    return point.checkpoint

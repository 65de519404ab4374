"""Records a run could not write (the table was unreachable for longer than the outage
budget, or at its end): they wait in its folder, `pending-records.jsonl`, and are written at the
next contact: `trainer fit --resume`, `trainer runs sync`, or any `trainer runs` command that
opens the job on the machine that holds the folder. Until they are written the run keeps its
checkpoints (a resume may need them); once its final `succeeded` is stored, they are pruned."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metrics_store import Job, Queries, Store, TableRef, read_spool, replay
from trainer.jobs.folders import prune_checkpoints

PENDING_RECORDS = "pending-records.jsonl"
MODEL_FOLDERS = ("best", "pretrained")
"""What a succeeded job leaves in its folder: fit's best model, a pretraining's model."""


def pending_path(folder: Path) -> Path:
    return folder / PENDING_RECORDS


@dataclass(frozen=True)
class SyncReport:
    job_id: str
    folder: str | None
    written: int
    status: str | None
    checkpoints_removed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "folder": self.folder,
            "written": self.written,
            "status": self.status,
            "checkpoints_removed": self.checkpoints_removed,
        }


def waiting(job: Job) -> Path | None:
    """The job's spool, when its folder is on this machine and holds one."""
    folder = (job.storage or {}).get("output_dir")
    path = pending_path(Path(folder)) if folder else None
    return path if path is not None and path.is_file() else None


def sync_pending(table: TableRef, job: Job) -> SyncReport:
    """Write the job's waiting records (if any), then, for a run that turns out to have
    succeeded, remove the checkpoints it kept for them."""

    path = waiting(job)
    if path is None:
        return SyncReport(job.job_id, (job.storage or {}).get("output_dir"), 0, job.status, [])
    count = len(read_spool(path))
    replay(Store(table), path)
    now = Queries(table).get_job(job.job_id)
    saved = any((path.parent / name).is_dir() for name in MODEL_FOLDERS)
    removed = prune_checkpoints(path.parent) if now.status == "succeeded" and saved else []
    return SyncReport(job.job_id, str(path.parent), count, now.status, removed)

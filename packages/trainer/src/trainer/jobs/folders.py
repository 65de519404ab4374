"""A run's folder: unique per job, owned by its job, found again on resume.

The folder is `<output dir>/<job name>-<first 8 characters of the job id>`, resolved to an
absolute path and recorded in the job (`storage.output_dir`), so a resume from any working
directory finds it. A marker file names the job that owns the folder; a folder that belongs
to another job is never written to or cleaned. Job names are validated: no path separators,
no `..`, nothing a shell or S3 key would mangle.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from metrics_store import JobCheckpoint
from metrics_store.keys import utc_now_iso
from trainer.errors import ConfigError, FitError
from trainer.jobs.storage import download_folder

OWNER_FILE = ".receipt-ml-job"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,119}$")


def check_job_name(name: str) -> str:
    """A job name that is safe as one path segment (and an S3 key segment)."""
    if not NAME_PATTERN.match(name) or ".." in name:
        raise ConfigError(
            f"--job-name {name!r}: use letters, digits and . _ = + - (at most 120, no '/' and no '..'), "
            "starting with a letter or digit"
        )
    return name


def run_folder(output_dir: str | Path, name: str, job_id: str) -> Path:
    return Path(output_dir).expanduser().resolve() / f"{check_job_name(name)}-{job_id[:8]}"


def claim(folder: Path, job_id: str, *, recorded: bool = False) -> None:
    """Make `folder` this job's, or refuse one that holds another job's files. `recorded`:
    the job itself recorded this folder (a resume), so files without a marker are its own
    (runs recorded before markers existed)."""
    marker = folder / OWNER_FILE
    if marker.is_file():
        owner = marker.read_text().strip()
        if owner != job_id:
            raise FitError(
                f"{folder} belongs to job {owner}; it is never overwritten: pass another --job-name or --output-dir"
            )
        return
    if folder.is_dir() and any(folder.iterdir()) and not recorded:
        raise FitError(
            f"{folder} already holds files of no known job; it is never overwritten: pass another --job-name or "
            "--output-dir"
        )
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(job_id + "\n")


def owns(folder: Path, job_id: str) -> bool:
    marker = folder / OWNER_FILE
    return marker.is_file() and marker.read_text().strip() == job_id


def checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[-1])


COMPLETE_MARKER = "receipt-ml-complete.json"
"""Written into `checkpoint-N/` once the Trainer has saved all of it (`mark_complete`); a folder
without it was cut off mid-save (a kill, a second signal) and is never resumed from."""
LEGACY_COMPLETE = "trainer_state.json"
"""What the Trainer writes last into a checkpoint: how a run from before the marker tells one."""


def mark_complete(folder: Path, step: int) -> None:
    staging = folder / f".{COMPLETE_MARKER}.partial"
    staging.write_text(json.dumps({"step": step, "completed_at": utc_now_iso()}) + "\n")
    staging.replace(folder / COMPLETE_MARKER)


@dataclass(frozen=True)
class ResumePoint:
    """Where a resume continues from, and the checkpoints it had to pass over."""

    checkpoint: Path | None
    skipped: tuple[str, ...] = ()
    """Half-written checkpoints (a kill during a save), moved aside as `.incomplete-checkpoint-N`."""


def local_checkpoints(folder: Path) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) `checkpoint-N` folders, oldest first. A run that wrote markers is
    judged by them; one from before them by the Trainer's own last file."""
    found = (
        sorted(
            (p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()),
            key=checkpoint_step,
        )
        if folder.is_dir()
        else []
    )
    marked = any((p / COMPLETE_MARKER).is_file() for p in found)
    complete = [p for p in found if (p / (COMPLETE_MARKER if marked else LEGACY_COMPLETE)).is_file()]
    return complete, [p for p in found if p not in complete]


def locate_checkpoint(
    folder: Path, recorded: list[JobCheckpoint], *, job_id: str, s3_client: object | None = None
) -> ResumePoint:
    """The checkpoint a resume continues from: the newest complete one in the run folder, or
    the newest recorded one (downloaded from S3 when it was uploaded); no checkpoint when the
    job never saved one. A half-written checkpoint is moved aside and named. A recorded
    checkpoint that is nowhere to be found is an error, never a silent restart from step 0."""
    complete, incomplete = local_checkpoints(folder)
    skipped = []
    for path in incomplete:
        path.rename(path.with_name(f".incomplete-{path.name}"))  # out of the Trainer's sight (it rotates checkpoint-*)
        skipped.append(path.name)
    newest = max(recorded, key=lambda c: c.step, default=None)
    if complete and (newest is None or checkpoint_step(complete[-1]) >= newest.step):
        return ResumePoint(complete[-1], tuple(skipped))
    if newest is None:
        return ResumePoint(None, tuple(skipped))
    if newest.s3_bucket:
        return ResumePoint(
            download_folder(newest.uri, folder / f"checkpoint-{newest.step}", s3_client=s3_client), tuple(skipped)
        )
    if skipped and f"checkpoint-{newest.step}" in skipped:
        raise FitError(
            f"job {job_id}'s last checkpoint (step {newest.step}) was cut off while being saved and no complete one "
            "is left: pass --restart to train the job again from step 0"
        )
    raise FitError(
        f"job {job_id}'s last checkpoint (step {newest.step}) was saved at {newest.s3_key}, which is not here: "
        "resume on the machine that has it (or copy it there), or pass --restart to train the job again from step 0"
    )


def prune_checkpoints(output_dir: Path, keep: Path | None = None) -> list[str]:
    """Remove the Trainer's checkpoint-* folders once the best model is exported."""
    removed = []
    for folder in sorted(output_dir.glob("checkpoint-*")):
        if keep is not None and folder.resolve() == keep.resolve():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed

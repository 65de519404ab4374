"""A run's folder: unique per job, owned by its job, found again on resume.

The folder is `<output dir>/<job name>-<first 8 characters of the job id>`, resolved to an
absolute path and recorded in the job (`storage.output_dir`), so a resume from any working
directory finds it. A marker file names the job that owns the folder; a folder that belongs
to another job is never written to or cleaned. Job names are validated: no path separators,
no `..`, nothing a shell or S3 key would mangle.
"""

from __future__ import annotations

import re
from pathlib import Path

from metrics_store import JobCheckpoint

from .errors import ConfigError, FitError

OWNER_FILE = ".receipt-ml-job"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,119}$")


def check_job_name(name: str) -> str:
    """A job name that is safe as one path segment (and an S3 key segment)."""
    if not NAME_PATTERN.match(name) or ".." in name:
        raise ConfigError(f"--job-name {name!r}: use letters, digits and . _ = + - (at most 120, no '/' and no '..'), "
                          "starting with a letter or digit")
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
            raise FitError(f"{folder} belongs to job {owner}; it is never overwritten: pass another --job-name or --output-dir")
        return
    if folder.is_dir() and any(folder.iterdir()) and not recorded:
        raise FitError(f"{folder} already holds files of no known job; it is never overwritten: pass another --job-name or --output-dir")
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(job_id + "\n")


def owns(folder: Path, job_id: str) -> bool:
    marker = folder / OWNER_FILE
    return marker.is_file() and marker.read_text().strip() == job_id


def checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[-1])


def locate_checkpoint(folder: Path, recorded: list[JobCheckpoint], *, job_id: str, s3_client: object | None = None) -> Path | None:
    """The checkpoint a resume continues from: the newest one in the run folder, or the newest
    recorded one (downloaded from S3 when it was uploaded). None when the job never saved a
    checkpoint. A recorded checkpoint that is nowhere to be found is an error, never a silent
    restart from step 0."""
    local = sorted((p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()),
                   key=checkpoint_step) if folder.is_dir() else []
    newest = max(recorded, key=lambda c: c.step, default=None)
    if local and (newest is None or checkpoint_step(local[-1]) >= newest.step):
        return local[-1]
    if newest is None:
        return None
    if newest.s3_bucket:
        from .artifacts import download_folder

        return download_folder(newest.uri, folder / f"checkpoint-{newest.step}", s3_client=s3_client)
    raise FitError(f"job {job_id}'s last checkpoint (step {newest.step}) was saved at {newest.s3_key}, which is not here: "
                   "resume on the machine that has it (or copy it there), or pass --restart to train the job again from step 0")

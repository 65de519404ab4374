"""What the `trainer` commands share: recorded paths, quiet Hugging Face output, and the exact
command that continues (or syncs) a job with the connection options it was run with."""

from __future__ import annotations

from pathlib import Path

from metrics_store import StoreConfig
from trainer.jobs.lifecycle import resume_command


def absolute_path(location: str) -> str:
    """Paths are recorded absolute, so a resume from another working directory finds them."""
    return location if location.startswith("s3://") else str(Path(location).expanduser().resolve())


def quiet_hugging_face() -> None:
    """Per-evaluation lines on stderr say enough: no shard-writing progress bars."""
    from huggingface_hub.utils.tqdm import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.disable_progress_bar()


def with_store(command: str, store: StoreConfig) -> str:
    """`command` with the connection options that differ from the defaults."""
    parts = [command]
    defaults = StoreConfig()
    for option, value, default in (
        ("--table", store.table, defaults.table),
        ("--endpoint-url", store.endpoint_url, None),
        ("--region", store.region, None),
        ("--profile", store.profile, None),
    ):
        if value and value != default:
            parts += [option, value]
    return " ".join(parts)


def resume_line(kind: str, job_id: str, store: StoreConfig) -> str:
    """The command that continues a stopped job of this kind, against the same table."""
    return with_store(resume_command(kind, job_id), store)


def sync_line(job_id: str, store: StoreConfig) -> str:
    """The command that writes the records a job left waiting in its folder."""
    return with_store(f"trainer runs sync {job_id}", store)

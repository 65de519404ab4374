"""The first rows of a finished review's queues, per label: what `trainer runs queues REVIEW
--json` prints and the MCP server's `review_queues` tool returns. Read-only: the job's recorded
summary names the queue files (Parquet, in the review folder on the machine that ran it).

Each queue groups its rows by the label it is about: the given label of a suspect VALID word,
the proposed label of a triaged item (`(not scorable)` when the snapshot has no such label), the
model's label of a missing one. Within a label, rows keep the queue's rank (most likely errors
first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metrics_store import Queries

from ..analysis.values import json_safe
from ..errors import ConfigError, FitError
from .queues import QUEUES

LABEL_COLUMN = {"suspect_valid": "given_label", "triage": "given_label", "missing": "model_label"}
NOT_SCORABLE = "(not scorable)"
MAX_TOP = 100
SCHEMA_VERSION = 1


def review_queues(queries: Queries, job_ref: str, *, top: int = 10, label: str | None = None, queue: str | None = None) -> dict[str, Any]:
    """The first `top` rows of each queue (or of `queue`) for each label (or `label`)."""
    import polars as pl

    if not 1 <= top <= MAX_TOP:
        raise ConfigError(f"--top must be between 1 and {MAX_TOP}, got {top}")
    if queue is not None and queue not in QUEUES:
        raise ConfigError(f"--queue must be one of {', '.join(QUEUES)}, got {queue!r}")
    job = queries.find_job(job_ref)
    if job.config.kind != "review":
        raise FitError(f"job {job.job_id} ({job.name}) is a {job.config.kind} job, not a review: `trainer runs list` shows the reviews")
    summary = job.outcome.get("review")
    if not summary:
        raise FitError(f"review {job.job_id} ({job.name}) has no queues yet (status {job.status}): "
                       f"`trainer review --resume {job.job_id}` finishes it")
    out: dict[str, Any] = {}
    for name in [queue] if queue else QUEUES:
        where = Path(summary["queues"][name]["parquet"])
        if not where.is_file():
            raise FitError(f"the queues of review {job.job_id} are not on this machine ({where} is missing): read them where it ran")
        column = LABEL_COLUMN[name]
        frame = pl.read_parquet(where).with_columns(pl.col(column).fill_null(NOT_SCORABLE).alias("_label")).sort("rank")
        if label is not None:
            frame = frame.filter(pl.col("_label") == label)
        groups = []
        for value, rows in frame.group_by("_label", maintain_order=True):
            groups.append({"label": value[0], "rows": rows.height, "first": rows.drop("_label").head(top).to_dicts()})
        groups.sort(key=lambda g: (-g["rows"], g["label"]))
        out[name] = {"rows": frame.height, "label_column": column, "labels": groups}
    return json_safe({"schema": "review_queues", "schema_version": SCHEMA_VERSION, "job_id": job.job_id, "name": job.name,
                      "status": job.status, "snapshot": summary.get("snapshot"), "folder": summary.get("folder"), "top": top,
                      "label": label, "queue": queue, "thresholds": summary.get("thresholds"), "queues": out})

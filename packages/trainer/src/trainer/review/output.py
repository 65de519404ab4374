"""What a review leaves behind: the queues as Parquet and JSONL files, the summary (`--json`,
the job's results, `trainer runs show`), and the suggestions `--write-suggestions` writes.

Suggestions are the model's own labels where it disagrees with the table: a suspect VALID
word's model label, a missing label, and the model's label for a proposal it calls likely
invalid; each with at least `missing_above` confidence, written as a PENDING ReceiptWordLabel
proposed by `model:<review job id>` with the confidence in `reasoning`. A suggestion is written
under the table's name of the label; a merged label (AMOUNT under `amounts`) stands for several
names, none of which the model chose, so it is counted as not writable instead."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from trainer.errors import FitError
from trainer.review.config import QueueConfig, ReviewRequest
from trainer.review.queues import QUEUES, Queues

if TYPE_CHECKING:
    from dataset_builder.config import BuildConfig
    from metrics_store import ReceiptWordLabel

SCHEMA_VERSION = 1
QUEUE_DIR = "queues"


def proposer(job_id: str) -> str:
    return f"model:{job_id}"


def write_queues(folder: Path, queues: Queues) -> dict[str, dict[str, Any]]:
    """Each queue as `<name>.parquet` and `<name>.jsonl` in `folder`; returns rows and paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in queues.frames().items():
        parquet, jsonl = folder / f"{name}.parquet", folder / f"{name}.jsonl"
        frame.write_parquet(parquet)
        with jsonl.open("w", encoding="utf-8") as handle:
            for row in frame.iter_rows(named=True):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        written[name] = {"rows": frame.height, "parquet": str(parquet), "jsonl": str(jsonl)}
    return written


def read_queues(folder: Path) -> dict[str, pl.DataFrame]:
    """The queues a finished review wrote (for `--resume JOB --write-suggestions`)."""
    missing = [name for name in QUEUES if not (folder / f"{name}.parquet").is_file()]
    if missing:
        raise FitError(
            f"the review's queues are not in {folder} ({', '.join(missing)} missing): resume it on the machine that "
            "ran it"
        )
    return {name: pl.read_parquet(folder / f"{name}.parquet") for name in QUEUES}


def summary_payload(
    *,
    job: Any,
    status: str,
    mode: str,
    snapshot: Any,
    folds: list[dict[str, Any]],
    queues: Queues,
    files: Mapping[str, Mapping[str, Any]],
    config: QueueConfig,
    folder: Path,
) -> dict[str, Any]:
    """The review summary (docs/schemas/review_summary.json)."""
    triage = queues.triage
    buckets = dict(triage.group_by("bucket").len().iter_rows()) if triage.height else {}
    return {
        "schema": "review_summary",
        "schema_version": SCHEMA_VERSION,
        "job_id": job.job_id,
        "name": job.name,
        "status": status,
        "mode": mode,
        "snapshot": {"id": snapshot.id, "content_sha256": snapshot.content_sha256, "uri": snapshot.uri},
        "folder": str(folder),
        "folds": folds,
        "scored": queues.scored,
        "thresholds": {
            "valid_above": config.valid_above,
            "invalid_below": config.invalid_below,
            "missing_above": config.missing_above,
        },
        "suspect_score": config.suspect_score,
        "queues": {
            name: {**dict(files.get(name, {})), **({"buckets": buckets} if name == "triage" else {})} for name in QUEUES
        },
        "labels": queues.labels,
        "suggestions": None,
    }


# --- suggestions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestions:
    labels: list[ReceiptWordLabel]
    not_writable: dict[str, int]
    """Suggested labels with no single table name (merges), and how many words each."""
    by_queue: dict[str, int]


def _candidates(frames: Mapping[str, pl.DataFrame], floor: float) -> pl.DataFrame:
    columns = [
        "image_id",
        "receipt_id",
        "line_id",
        "word_id",
        "model_label",
        "model_confidence",
        "fold",
        "items",
        "queue",
    ]
    strong = (pl.col("model_label") != "O") & (pl.col("model_confidence") >= floor)
    parts = [
        frames["suspect_valid"].filter(strong & (pl.col("model_label") != pl.col("given_label"))),
        frames["missing"].filter(strong),
        frames["triage"].filter(
            strong & (pl.col("bucket") == "likely_invalid") & (pl.col("model_label") != pl.col("given_label"))
        ),
    ]
    joined = (
        pl.concat([p.select(columns) for p in parts if p.height], how="vertical_relaxed")
        if any(p.height for p in parts)
        else None
    )
    if joined is None:
        return pl.DataFrame(schema={c: frames["missing"].schema.get(c, pl.Utf8) for c in columns})
    return joined.sort("model_confidence", descending=True).unique(
        ["image_id", "receipt_id", "line_id", "word_id", "model_label"], keep="first", maintain_order=True
    )


def build_suggestions(
    frames: Mapping[str, pl.DataFrame], spec: BuildConfig, config: QueueConfig, *, job_id: str, timestamp: str
) -> Suggestions:
    """The suggestions of a review's queues (module docstring); `timestamp` (the review job's
    creation time) makes a rewrite of the same suggestion identical."""
    from dataset_builder.review import table_names
    from metrics_store import ReceiptWordLabel

    labels, not_writable, by_queue = [], {}, {}
    for row in _candidates(frames, config.missing_above).iter_rows(named=True):
        names = table_names(row["model_label"], spec)
        if len(names) != 1:
            not_writable[row["model_label"]] = not_writable.get(row["model_label"], 0) + 1
            continue
        fold = f", fold {row['fold']}" if row["fold"] is not None else ""
        reasoning = (
            f"confidence {row['model_confidence']:.4f}: out-of-sample probability of {row['model_label']} "
            f"(review {job_id}, {row['queue']} queue{fold}); items before: {row['items'] or 'none'}"
        )
        labels.append(
            ReceiptWordLabel(
                row["image_id"],
                int(row["receipt_id"]),
                int(row["line_id"]),
                int(row["word_id"]),
                names[0],
                "PENDING",
                timestamp,
                reasoning=reasoning[:1000],
                label_proposed_by=proposer(job_id),
            )
        )
        by_queue[row["queue"]] = by_queue.get(row["queue"], 0) + 1
    return Suggestions(labels, not_writable, by_queue)


def classify(
    labels: list[ReceiptWordLabel], existing: Mapping[tuple[str, str], ReceiptWordLabel], job_id: str
) -> dict[str, int]:
    """What a write would do to each suggestion: `new` (no item), `rewrite` (this review's own
    PENDING item), `validated` (a VALID or INVALID item: left alone), `other` (someone else's
    item: left alone)."""
    from metrics_store.suggestions import label_key

    counts = {"new": 0, "rewrite": 0, "validated": 0, "other": 0}
    for label in labels:
        there = existing.get(label_key(label))
        if there is None:
            counts["new"] += 1
        elif there.validation_status in ("VALID", "INVALID"):
            counts["validated"] += 1
        elif there.label_proposed_by == proposer(job_id) and there.validation_status == "PENDING":
            counts["rewrite"] += 1
        else:
            counts["other"] += 1
    return counts


def write_suggestions(table: Any, suggestions: Suggestions, *, job_id: str, yes: bool) -> dict[str, Any]:
    """Dry run (counts of what would happen) unless `yes`; then the conditional writes."""
    from metrics_store import Queries, Store
    from metrics_store.suggestions import label_key

    existing = Queries(table).word_labels(label_key(label) for label in suggestions.labels)
    report: dict[str, Any] = {
        "mode": "written" if yes else "dry_run",
        "proposer": proposer(job_id),
        "suggestions": len(suggestions.labels),
        "by_queue": suggestions.by_queue,
        "not_writable": suggestions.not_writable,
        "before": classify(suggestions.labels, existing, job_id),
        "outcome": None,
    }
    if yes and suggestions.labels:
        report["outcome"] = Store(table, concurrency=8).suggestions.put_label_suggestions(suggestions.labels).counts()
    elif yes:
        report["outcome"] = {"written": 0, "rewritten": 0, "left_alone": 0}
    return report


def apply_suggestions(table: Any, job_id: str, *, yes: bool) -> dict[str, Any]:
    """`--write-suggestions` of a finished review: its queues (from its folder), dry run or
    written; the report is recorded in the job (a `review_suggestions` log and its results)."""
    from dataset_builder.snapshot import open_snapshot
    from metrics_store import JobLog, Queries, Store
    from metrics_store.keys import utc_now_iso

    job = Queries(table).get_job(job_id)
    config = job.config
    request = ReviewRequest.from_dict(dict(config.request))
    lineage = config.snapshot
    if lineage is None or not lineage.id:
        raise FitError(f"review {job_id} recorded no snapshot")
    root = lineage.uri.rstrip("/").rsplit("/", 1)[0] if lineage.uri else request.snapshot_root
    spec = open_snapshot(root, lineage.id, verify=False).spec
    frames = read_queues(Path((job.storage or {})["output_dir"]) / QUEUE_DIR)
    report = write_suggestions(
        table,
        build_suggestions(frames, spec, request.queues, job_id=job_id, timestamp=job.created_at),
        job_id=job_id,
        yes=yes,
    )
    store = Store(table)
    store.add_logs(
        [JobLog(job_id, utc_now_iso(), json.dumps({"type": "review_suggestions", **report}), "INFO", "review")]
    )
    results = dict(job.results or {})
    results["review"] = {**(job.outcome.get("review") or {}), "suggestions": report}
    store.jobs.update_job(job_id, results=results)
    return report

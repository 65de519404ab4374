"""`trainer data-curve`, as a function: the recipe trained on nested subsets of a snapshot's
train receipts, each point a child job, then every label's measured learning curve.

The data-curve job (`job_config.kind` "data_curve") holds a lease like a run: a signal or a
stopped point leaves it `interrupted`, an error `failed`, and `trainer data-curve --resume JOB`
continues it without training a finished point again (a point's job id derives from the curve's:
`run_hooks.ChildJob`, tag `kind: data_curve_point`). Its results hold the curves
(`results.data_curve`, the same document `--json` prints)."""

from __future__ import annotations

import dataclasses
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_store import DynamoRecorder, Job, JobConfig, JobNotFound, Queries, TableRef
from metrics_store.keys import utc_now_iso

from ..errors import FitError
from ..request import FitRequest, request_for_resume
from ..run_hooks import ChildJob
from .config import CurveRequest

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot
    from dataset_builder.subsets import Subset

Log = Callable[[str], None]
CLOSE_TIMEOUT_S = 330.0
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CurveResult:
    job_id: str
    status: str
    folder: str
    summary: dict[str, Any] | None
    stopped_by: str | None = None


def resume_command(job_id: str) -> str:
    return f"trainer data-curve --resume {job_id}"


def point_child(curve_job_id: str, subset: Subset, seed: int) -> ChildJob:
    return ChildJob.of(curve_job_id, f"{subset.key}-seed{seed}", kind="data_curve_point", data_curve_fraction=f"{subset.fraction:g}",
                       snapshot_id=subset.parent_id)


def curve_job(request: CurveRequest, snapshot: Snapshot, job_id: str, subsets: list[Subset]) -> Job:
    from ..fit import snapshot_lineage
    from ..run_dir import run_folder

    name = request.job_name or f"data-curve-{snapshot.id}-{utc_now_iso()[:19].replace(':', '')}"
    return Job(job_id=job_id, name=name, created_at=utc_now_iso(), description=request.description, created_by=request.created_by,
               job_config=JobConfig("data_curve", request.to_dict(), snapshot_lineage(snapshot), None,
                                    {"subsets": [s.describe() for s in subsets]}).to_dict(),
               storage={"output_dir": str(run_folder(request.output_dir, name, job_id))},
               tags={"kind": "data_curve", "snapshot_id": snapshot.id, "model": request.recipe.model.source})


def point_request(request: CurveRequest, job: Job, folder: Path, subset: Subset, seed: int, root: str) -> FitRequest:
    """The recipe pointed at the subset's snapshot (the parent itself for the full fraction)."""
    recipe = request.recipe
    where = (request.snapshot_root, subset.parent_id) if subset.is_parent else (root, "v1")
    name = f"{job.name}-{subset.key}" + (f"-s{seed}" if request.repeats > 1 else "")
    return dataclasses.replace(
        recipe, snapshot_root=where[0], snapshot=where[1], train=dataclasses.replace(recipe.train, output_dir=str(folder), seed=seed),
        job_name=name, description=f"{subset.fraction:g} of {subset.parent_id}'s train receipts, data curve {job.job_id}",
        created_by=request.created_by, allow_contract_failures=request.allow_contract_failures, cache_dir=str(folder / ".feature-cache"))


def run_data_curve(request: CurveRequest, table: TableRef, *, resume_job_id: str | None = None, log: Log = lambda _: None) -> CurveResult:
    """Run (or continue) a data curve; its status tells how it ended."""
    from dataset_builder.subsets import plan_subsets

    from ..preflight import open_gated_snapshot
    from ..run_dir import claim
    from ..signals import RunInterrupted, SignalGuard

    snapshot = open_gated_snapshot(dataclasses.replace(request.recipe, snapshot_root=request.snapshot_root, snapshot=request.snapshot,
                                                       allow_contract_failures=request.allow_contract_failures))
    subsets = plan_subsets(snapshot, request.fractions, request.subset_seed)
    recorder = DynamoRecorder(table, resume_job_id or str(uuid.uuid4()), source="data_curve")
    job, created = recorder.open(curve_job(request, snapshot, recorder.job_id, subsets))
    if resume_job_id and created:
        raise FitError(f"no data-curve job {resume_job_id} to resume")
    folder = Path(job.storage["output_dir"])
    if job.status == "succeeded":
        return CurveResult(job.job_id, "succeeded", str(folder), job.outcome.get("data_curve"))
    if [s.get("definition_sha256") for s in job.config.extra.get("subsets", [])] != [s.definition_sha256 for s in subsets]:
        raise FitError(f"data curve {job.job_id} recorded other subsets than {snapshot.id} gives now: the snapshot's data changed")
    recorder.acquire(message="resumed" if resume_job_id else "measuring")
    try:
        with SignalGuard():
            claim(folder, job.job_id, recorded=resume_job_id is not None)
            if created:
                recorder.log({"type": "data_curve_config", "request": request.to_dict(), "subsets": [s.describe() for s in subsets]})
            stopped = _train_points(request, table, job, folder, snapshot, subsets, recorder, log)
            if stopped:
                return _interrupted(recorder, job, folder, stopped)
            summary = curve_summary(Queries(table), job)
            recorder.results({"data_curve": summary})
            rising = [r["label"] for r in summary["labels"] if r["verdict"] == "rising"]
            recorder.status("succeeded", progress=100.0, message=f"{len(summary['points'])} points; still rising: {', '.join(rising) or 'none'}")
    except KeyboardInterrupt as exc:  # a signal outside a point's training loop
        return _interrupted(recorder, job, folder, f"signal {exc.signum}" if isinstance(exc, RunInterrupted) else "keyboard interrupt")
    except BaseException as exc:
        recorder.log({"type": "error", "error": f"{type(exc).__name__}: {exc}", "resume": resume_command(job.job_id)}, level="ERROR",
                     exception="".join(traceback.format_exception(exc))[-20000:])
        recorder.status("failed", message=f"{type(exc).__name__}: {exc}"[:400] + f"; resume with `{resume_command(job.job_id)}`")
        recorder.close(CLOSE_TIMEOUT_S)
        raise
    recorder.close(CLOSE_TIMEOUT_S)
    return CurveResult(job.job_id, "succeeded", str(folder), summary)


def _train_points(request: CurveRequest, table: TableRef, job: Job, folder: Path, snapshot: Snapshot, subsets: list[Subset],
                  recorder: DynamoRecorder, log: Log) -> str | None:
    """Every point trained (or found finished); why it stopped otherwise."""
    from dataset_builder.subsets import open_or_publish_subset, subset_root

    from ..fit import fit

    raw = _LazyRead(table, snapshot, log)
    root = request.subsets_root or str(folder / "subset-snapshots")
    queries = Queries(table)
    seeds = [request.recipe.train.seed + i for i in range(request.repeats)]
    for subset in subsets:
        if not subset.is_parent:
            open_or_publish_subset(root, subset, raw, {"table": table.name, "endpoint_url": table.endpoint_url})
        for seed in seeds:
            if recorder.health():
                return str(recorder.health())
            child = point_child(job.job_id, subset, seed)
            recorded = _recorded(queries, child)
            log(f"{subset.key} ({len(subset.train_keys)} train receipts, seed {seed}): "
                + ("finished before" if recorded and recorded.status == "succeeded" else "resuming" if recorded else "training"))
            if recorded is not None and recorded.status == "succeeded":
                continue
            recorder_for = lambda job_id: DynamoRecorder(table, job_id)  # noqa: E731
            if recorded is not None:
                result = fit(request_for_resume(recorded), recorder_for, resume_job_id=recorded.job_id)
            else:
                result = fit(point_request(request, job, folder, subset, seed, subset_root(root, subset)), recorder_for, child=child)
            recorder.log({"type": "data_curve_point", "fraction": subset.fraction, "seed": seed, "job_id": result.job_id,
                          "status": result.status})
            recorder.status("running", progress=100.0 * (subsets.index(subset) + 1) / len(subsets), message=f"{subset.key} seed {seed}: {result.status}")
            if result.status != "succeeded":
                return f"point {subset.key} ({result.job_id}) {result.status}: {result.stopped_by or result.status}"
    return None


def _recorded(queries: Queries, child: ChildJob) -> Job | None:
    try:
        return queries.get_job(child.job_id)
    except JobNotFound:
        return None


def _interrupted(recorder: DynamoRecorder, job: Job, folder: Path, stopped_by: str) -> CurveResult:
    recorder.log({"type": "interrupted", "stopped_by": stopped_by, "resume": resume_command(job.job_id)}, level="WARNING")
    recorder.status("interrupted", message=f"stopped by {stopped_by}; resume with `{resume_command(job.job_id)}`"[:500])
    recorder.close(CLOSE_TIMEOUT_S)
    return CurveResult(job.job_id, "interrupted", str(folder), None, stopped_by)


class _LazyRead:
    """The table's words of the snapshot's receipts, read (and checked) once, when a subset must be built."""

    def __init__(self, table: TableRef, snapshot: Snapshot, log: Log):
        self.table, self.snapshot, self.log, self.raw = table, snapshot, log, None

    def __call__(self) -> Any:
        if self.raw is None:
            from dataset_builder.review import check_reproduces, read_review_words

            self.log(f"reading the words of {self.snapshot.id}'s {self.snapshot.receipts.height} receipts from {self.table.name}")
            raw = read_review_words(self.table, self.snapshot)
            check_reproduces(self.snapshot, raw)
            self.raw = raw
        return self.raw


def curve_summary(queries: Queries, job: Job) -> dict[str, Any]:
    """The data curve's document (`--json`, `results.data_curve`): its points and every label's
    measured curve, read back from its children in the table."""
    from ..analysis.curve_evidence import CURVE_POINT_KIND
    from ..analysis.data_needs import DATA_CURVE, CurvePoint, CurveSeries, rank_labels
    from ..analysis.diagnose import Thresholds, label_rows
    from ..analysis.lineage import resolve_snapshot
    from ..analysis.runs import load_run

    points, rows = [], []
    for child in sorted(queries.jobs_by_parent(job.job_id), key=lambda j: (float(j.tags.get("data_curve_fraction", 0)), j.name)):
        if (child.tags or {}).get("kind") != CURVE_POINT_KIND:
            continue
        run = load_run(queries, child.job_id, sync=False)
        info = resolve_snapshot(run, queries)
        receipts = (info.to_dict().get("receipts") or {}).get("train")
        rows.append({"fraction": float(child.tags["data_curve_fraction"]), "job_id": child.job_id, "name": child.name, "status": child.status,
                     "snapshot_uri": info.uri, "train_receipts": receipts, "seed": run.train_config.get("seed"), "best_f1": run.best_f1})
        labels = label_rows(run.best("val_f1"))
        if child.status == "succeeded" and labels and receipts is not None:
            points.append(CurvePoint(child.job_id, child.name, info.id, int(receipts), run.train_config.get("seed"),
                                     {r["label"]: float(r["f1"]) for r in labels}, info.train_entity_words() or {}, run.best_f1))
    series = CurveSeries(DATA_CURVE, tuple(points), job.job_id, False)
    lineage = job.config.snapshot
    return {"schema": "data_curve", "schema_version": SCHEMA_VERSION, "job_id": job.job_id, "name": job.name, "status": job.status,
            "snapshot": {"id": lineage.id if lineage else None, "content_sha256": lineage.content_sha256 if lineage else None},
            "folder": (job.storage or {}).get("output_dir"), "fractions": job.config.request.get("fractions"), "points": rows,
            "sizes": series.sizes, "labels": rank_labels(series, Thresholds().data_needs_min_gain) if len(series.sizes) >= 2 else [],
            "thresholds": {"data_needs_min_gain": Thresholds().data_needs_min_gain}}

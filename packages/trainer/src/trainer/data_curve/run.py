"""`trainer data-curve`, as a function: the recipe trained on nested subsets of a snapshot's
train receipts, each point a child job, then every label's measured learning curve.

The data-curve job (`job_config.kind` "data_curve") holds a lease like a run: a signal or a
stopped point leaves it `interrupted`, an error `failed`, and `trainer data-curve --resume JOB`
continues it without training a finished point again (a point's job id derives from the curve's:
`jobs.children.ChildJob`, tag `kind: data_curve_point`). Its lifecycle is every job's
(`jobs.lifecycle.JobSession`); each point is a `fit` child (`training.fit.fit_child`). Its results hold the curves
(`results.data_curve`, the same document `--json` prints)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataset_builder.review import WordsSource
from dataset_builder.subsets import Subset, open_or_publish_subset, plan_subsets, subset_root
from metrics_store import Job, JobConfig, JobRecorders, Queries
from metrics_store.keys import utc_now_iso
from trainer.analysis.curve_evidence import CURVE_POINT_KIND
from trainer.analysis.data_needs import DATA_CURVE, CurvePoint, CurveSeries, rank_labels
from trainer.analysis.diagnose import Thresholds, label_rows
from trainer.analysis.lineage import resolve_snapshot
from trainer.analysis.runs import load_run
from trainer.data_curve.config import CurveRequest
from trainer.errors import FitError
from trainer.jobs.children import ChildJob
from trainer.jobs.folders import claim, run_folder
from trainer.jobs.lifecycle import JobSession
from trainer.jobs.signals import RunInterrupted, SignalGuard
from trainer.training.fit import fit_child, recorded_child, snapshot_lineage
from trainer.training.preflight import open_gated_snapshot
from trainer.training.request import FitRequest

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot

Log = Callable[[str], None]
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CurveResult:
    job_id: str
    status: str
    folder: str
    summary: dict[str, Any] | None
    stopped_by: str | None = None


def point_child(curve_job_id: str, subset: Subset, seed: int) -> ChildJob:
    return ChildJob.of(
        curve_job_id,
        f"{subset.key}-seed{seed}",
        kind="data_curve_point",
        data_curve_fraction=f"{subset.fraction:g}",
        snapshot_id=subset.parent_id,
    )


def curve_job(request: CurveRequest, snapshot: Snapshot, job_id: str, subsets: list[Subset]) -> Job:
    name = request.job_name or f"data-curve-{snapshot.id}-{utc_now_iso()[:19].replace(':', '')}"
    return Job(
        job_id=job_id,
        name=name,
        created_at=utc_now_iso(),
        description=request.description,
        created_by=request.created_by,
        job_config=JobConfig(
            "data_curve",
            request.to_dict(),
            snapshot_lineage(snapshot),
            None,
            {"subsets": [s.describe() for s in subsets]},
        ).to_dict(),
        storage={"output_dir": str(run_folder(request.output_dir, name, job_id))},
        tags={"kind": "data_curve", "snapshot_id": snapshot.id, "model": request.recipe.model.source},
    )


def point_request(request: CurveRequest, job: Job, folder: Path, subset: Subset, seed: int, root: str) -> FitRequest:
    """The recipe pointed at the subset's snapshot (the parent itself for the full fraction)."""
    recipe = request.recipe
    where = (request.snapshot_root, subset.parent_id) if subset.is_parent else (root, "v1")
    name = f"{job.name}-{subset.key}" + (f"-s{seed}" if request.repeats > 1 else "")
    return dataclasses.replace(
        recipe,
        snapshot_root=where[0],
        snapshot=where[1],
        train=dataclasses.replace(recipe.train, output_dir=str(folder), seed=seed),
        job_name=name,
        description=f"{subset.fraction:g} of {subset.parent_id}'s train receipts, data curve {job.job_id}",
        created_by=request.created_by,
        allow_contract_failures=request.allow_contract_failures,
        cache_dir=str(folder / ".feature-cache"),
    )


def run_data_curve(
    request: CurveRequest,
    recorder_for: JobRecorders,
    queries: Queries,
    words: WordsSource,
    *,
    resume_job_id: str | None = None,
    log: Log = lambda _: None,
) -> CurveResult:
    """Run (or continue) a data curve; its status tells how it ended. `recorder_for` makes the
    recorders of the curve and its points, `queries` reads them back (the curve's summary reads
    each point's run), `words` gives the receipts' words when a subset must be built."""
    snapshot = open_gated_snapshot(
        dataclasses.replace(
            request.recipe,
            snapshot_root=request.snapshot_root,
            snapshot=request.snapshot,
            allow_contract_failures=request.allow_contract_failures,
        )
    )
    subsets = plan_subsets(snapshot, request.fractions, request.subset_seed)
    job_id = resume_job_id or str(uuid.uuid4())
    session, job, created = JobSession.open(
        recorder_for(job_id, source="data_curve"),
        curve_job(request, snapshot, job_id, subsets),
        "data_curve",
        resuming=resume_job_id is not None,
    )
    folder = Path((job.storage or {})["output_dir"])
    if job.status == "succeeded":
        return CurveResult(job.job_id, "succeeded", str(folder), job.outcome.get("data_curve"))
    recorded = [s.get("definition_sha256") for s in job.config.extra.get("subsets", [])]
    if recorded != [s.definition_sha256 for s in subsets]:
        raise FitError(
            f"data curve {job.job_id} recorded other subsets than {snapshot.id} gives now: the snapshot's data changed"
        )
    session.acquire("resumed" if resume_job_id else "measuring")
    try:
        with SignalGuard():
            claim(folder, job.job_id, recorded=resume_job_id is not None)
            session.folder = folder
            if created:
                session.log(
                    {
                        "type": "data_curve_config",
                        "request": request.to_dict(),
                        "subsets": [s.describe() for s in subsets],
                    }
                )
            stopped = _train_points(request, recorder_for, queries, words, job, folder, snapshot, subsets, session, log)
            if stopped:
                return _interrupted(session, job, folder, stopped)
            summary = curve_summary(queries, job)
            rising = [r["label"] for r in summary["labels"] if r["verdict"] == "rising"]
            session.succeeded(
                f"{len(summary['points'])} points; still rising: {', '.join(rising) or 'none'}", {"data_curve": summary}
            )
    except KeyboardInterrupt as exc:  # a signal outside a point's training loop
        stopped_by = f"signal {exc.signum}" if isinstance(exc, RunInterrupted) else "keyboard interrupt"
        return _interrupted(session, job, folder, stopped_by)
    except BaseException as exc:
        session.failed(exc)
        session.close()
        raise
    session.close()
    return CurveResult(job.job_id, "succeeded", str(folder), summary)


def _train_points(
    request: CurveRequest,
    recorder_for: JobRecorders,
    queries: Queries,
    words: WordsSource,
    job: Job,
    folder: Path,
    snapshot: Snapshot,
    subsets: list[Subset],
    session: JobSession,
    log: Log,
) -> str | None:
    """Every point trained (or found finished); why it stopped otherwise."""
    raw = _LazyRead(words, snapshot, log)
    root = request.subsets_root or str(folder / "subset-snapshots")
    seeds = [request.recipe.train.seed + i for i in range(request.repeats)]
    for subset in subsets:
        if not subset.is_parent:
            open_or_publish_subset(root, subset, raw, dict(words.describe()))
        for seed in seeds:
            health = session.recorder.health()
            if health:
                return health
            child = point_child(job.job_id, subset, seed)
            recorded = recorded_child(queries, child)
            finished_before = recorded is not None and recorded.status == "succeeded"
            state = "finished before" if finished_before else "resuming" if recorded else "training"
            log(f"{subset.key} ({len(subset.train_keys)} train receipts, seed {seed}): {state}")
            if finished_before:
                continue
            fit_request = point_request(request, job, folder, subset, seed, subset_root(root, subset))
            result = fit_child(fit_request, recorder_for, child, recorded)
            session.log(
                {
                    "type": "data_curve_point",
                    "fraction": subset.fraction,
                    "seed": seed,
                    "job_id": result.job_id,
                    "status": result.status,
                }
            )
            session.recorder.status(
                "running",
                progress=100.0 * (subsets.index(subset) + 1) / len(subsets),
                message=f"{subset.key} seed {seed}: {result.status}",
            )
            if result.status != "succeeded":
                return f"point {subset.key} ({result.job_id}) {result.status}: {result.stopped_by or result.status}"
    return None


def _interrupted(session: JobSession, job: Job, folder: Path, stopped_by: str) -> CurveResult:
    session.interrupted(stopped_by)
    session.close()
    return CurveResult(job.job_id, "interrupted", str(folder), None, stopped_by)


class _LazyRead:
    """The words of the snapshot's receipts, read (and checked) once, when a subset must be built."""

    def __init__(self, source: WordsSource, snapshot: Snapshot, log: Log):
        self.source, self.snapshot, self.log, self.raw = source, snapshot, log, None

    def __call__(self) -> Any:
        if self.raw is None:
            where = self.source.describe().get("table", "the table")
            self.log(f"reading the words of {self.snapshot.id}'s {self.snapshot.receipts.height} receipts from {where}")
            self.raw = self.source.read(self.snapshot)
        return self.raw


def curve_summary(queries: Queries, job: Job) -> dict[str, Any]:
    """The data curve's document (`--json`, `results.data_curve`): its points and every label's
    measured curve, read back from its children in the table."""
    points, rows = [], []
    for child in sorted(
        queries.jobs_by_parent(job.job_id), key=lambda j: (float((j.tags or {}).get("data_curve_fraction", 0)), j.name)
    ):
        if (child.tags or {}).get("kind") != CURVE_POINT_KIND:
            continue
        run = load_run(queries, child.job_id, sync=False)
        info = resolve_snapshot(run, queries)
        receipts = (info.to_dict().get("receipts") or {}).get("train")
        rows.append(
            {
                "fraction": float((child.tags or {})["data_curve_fraction"]),
                "job_id": child.job_id,
                "name": child.name,
                "status": child.status,
                "snapshot_uri": info.uri,
                "train_receipts": receipts,
                "seed": run.train_config.get("seed"),
                "best_f1": run.best_f1,
            }
        )
        labels = label_rows(run.best("val_f1"))
        if child.status == "succeeded" and labels and receipts is not None:
            points.append(
                CurvePoint(
                    child.job_id,
                    child.name,
                    info.id,
                    int(receipts),
                    run.train_config.get("seed"),
                    {r["label"]: float(r["f1"]) for r in labels},
                    info.train_entity_words() or {},
                    run.best_f1,
                )
            )
    series = CurveSeries(DATA_CURVE, tuple(points), job.job_id, False)
    lineage = job.config.snapshot
    return {
        "schema": "data_curve",
        "schema_version": SCHEMA_VERSION,
        "job_id": job.job_id,
        "name": job.name,
        "status": job.status,
        "snapshot": {
            "id": lineage.id if lineage else None,
            "content_sha256": lineage.content_sha256 if lineage else None,
        },
        "folder": (job.storage or {}).get("output_dir"),
        "fractions": job.config.request.get("fractions"),
        "points": rows,
        "sizes": series.sizes,
        "labels": rank_labels(series, Thresholds().data_needs_min_gain) if len(series.sizes) >= 2 else [],
        "thresholds": {"data_needs_min_gain": Thresholds().data_needs_min_gain},
    }

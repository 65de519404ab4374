"""Finding the runs that measure a run's learning curves (data_needs.py says what is measured).

Nested snapshots of a run's data: snapshots with the same val split hash, label set and build
spec but for how the split was drawn (`val_keys`, `val_fraction`, `seed`, `split_by`,
`holdout_merchants`), whose train receipts form a chain of subsets through the run's own. Runs
on them that succeeded are grouped by training recipe (the flattened request, seed and bookkeeping left out):
the run's own recipe when it was trained on two sizes or more, else the newest `trainer
data-curve` job's, else any recipe measured on two sizes. Opening snapshots is the only I/O
besides the table; a snapshot that cannot be opened here cannot be checked, and says so."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from metrics_store import Job, Queries, SnapshotLineage
from trainer.analysis.compare import SEED_KEYS, training_config
from trainer.analysis.data_needs import DATA_CURVE, NESTED, CurvePoint, CurveSeries
from trainer.analysis.diagnose import label_rows
from trainer.analysis.lineage import SnapshotInfo, resolve_snapshot
from trainer.analysis.runs import RunData, load_run

SPLIT_FIELDS = frozenset({"val_keys", "val_fraction", "seed", "split_by", "holdout_merchants"})
CURVE_POINT_KIND = "data_curve_point"
"""The `kind` tag of a `trainer data-curve` child job."""


@dataclass(frozen=True)
class _Family:
    """A snapshot of the run's family: its info and train receipt keys."""

    info: SnapshotInfo
    train: frozenset[str]


def _spec_but_split(info: SnapshotInfo) -> dict[str, Any]:
    spec = info.manifest.spec.to_dict() if info.manifest is not None else {}
    return {k: v for k, v in spec.items() if k not in SPLIT_FIELDS}


def _train_keys(info: SnapshotInfo) -> frozenset[str]:
    import polars as pl

    receipts = info.opened.receipts
    return frozenset(receipts.filter(pl.col("split") == "train")["receipt_key"].to_list())


def recipe(job: Job) -> str:
    """What a job's run learned from, seed and bookkeeping aside, as one comparable key."""
    config = training_config(RunData(job))
    return repr(sorted((k, repr(v)) for k, v in config.items() if k not in SEED_KEYS))


def _chain(base: _Family, others: Iterable[_Family]) -> list[_Family]:
    """The run's snapshot and the others that nest with it and with each other, smallest first."""
    smaller = sorted((f for f in others if f.train < base.train), key=lambda f: -len(f.train))
    larger = sorted((f for f in others if f.train > base.train), key=lambda f: len(f.train))
    chain = [base]
    for family in smaller:
        if family.train < chain[0].train:
            chain.insert(0, family)
    for family in larger:
        if family.train > chain[-1].train:
            chain.append(family)
    return chain


def _family(
    queries: Queries, run: RunData, snapshot: SnapshotInfo, cache: dict[tuple, SnapshotInfo]
) -> tuple[list[_Family], list[Job]]:
    """The chain of nested snapshots through the run's, and the fit jobs on them."""
    base = _Family(snapshot, _train_keys(snapshot))
    spec, labels, val = _spec_but_split(snapshot), sorted(snapshot.label_list), snapshot.split_hash("val")
    by_content: dict[str, _Family | None] = {str(snapshot.content_sha256): base}
    jobs: list[tuple[Job, str]] = []
    for job in queries.iter_all_jobs():
        lineage = job.config.snapshot
        if (
            job.config.kind != "fit"
            or job.status != "succeeded"
            or lineage is None
            or (lineage.split_hashes or {}).get("val") != val
        ):
            continue
        content = str(lineage.content_sha256)
        if content not in by_content:
            info = resolve_snapshot(RunData(job), queries, cache=cache)
            nests = info.opened is not None and sorted(info.label_list) == labels and _spec_but_split(info) == spec
            by_content[content] = _Family(info, _train_keys(info)) if nests else None
        if by_content[content] is not None:
            jobs.append((job, content))
    chain = _chain(base, [f for f in by_content.values() if f is not None and f is not base])
    kept = {str(f.info.content_sha256) for f in chain}
    return chain, [job for job, content in jobs if content in kept]


def _point(queries: Queries, job: Job, family: _Family) -> CurvePoint | None:
    run = load_run(queries, job.job_id, sync=False)
    rows = label_rows(run.best("val_f1"))
    if not rows:
        return None
    seed = run.train_config.get("seed")
    return CurvePoint(
        job.job_id,
        job.name,
        family.info.id,
        len(family.train),
        int(seed) if seed is not None else None,
        {r["label"]: float(r["f1"]) for r in rows},
        family.info.train_entity_words() or {},
        run.best_f1,
    )


def find_series(
    queries: Queries, run: RunData, snapshot: SnapshotInfo, *, cache: dict[tuple, SnapshotInfo] | None = None
) -> tuple[CurveSeries | None, str | None]:
    """The runs that measure this run's learning curves, or None and why there are none."""
    cache = {} if cache is None else cache
    command = f"`trainer data-curve --snapshot {snapshot.id}`" + (
        f" (--root {_root(snapshot)})" if _root(snapshot) else ""
    )
    if snapshot.opened is None:
        return (
            None,
            f"the run's snapshot {snapshot.id} cannot be opened here ({snapshot.reason}), so no nested snapshot can "
            "be checked",
        )
    chain, jobs = _family(queries, run, snapshot, cache)
    family_of = {str(f.info.content_sha256): f for f in chain}
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(recipe(job), []).append(job)

    def sizes(members: list[Job]) -> int:
        return len({str(j.config.snapshot.content_sha256) for j in members if j.config.snapshot})

    own = recipe(run.job)
    measured = {key: members for key, members in groups.items() if sizes(members) >= 2}
    if not measured:
        if len(chain) < 2:
            return None, (
                f"no run trained on a snapshot nested with {snapshot.id} (same val split, labels and build spec; train "
                f"receipts a subset or superset), and no data-curve run measured it: run {command}"
            )
        return None, (
            f"{len(chain)} nested snapshots of {snapshot.id} exist ({', '.join(str(f.info.id) for f in chain)}), "
            "but no "
            f"training recipe was run on two of them: run {command}"
        )

    def curve_parent(members: list[Job]) -> str | None:
        return next((j.parent_job_id for j in members if (j.tags or {}).get("kind") == CURVE_POINT_KIND), None)

    def newest(members: list[Job]) -> str:
        return max(j.created_at for j in members)

    if own in measured:
        key = own
    else:
        curves = [k for k, m in measured.items() if curve_parent(m)]
        key = max(curves or list(measured), key=lambda k: (newest(measured[k]), k))
    members = measured[key]
    points = [
        p
        for p in (
            _point(queries, j, family_of[str((j.config.snapshot or SnapshotLineage()).content_sha256)]) for j in members
        )
        if p is not None
    ]
    parent = curve_parent(members)
    differences = _differences(members[0], run.job) if key != own else ()
    series = CurveSeries(DATA_CURVE if parent else NESTED, tuple(points), parent, key == own, differences)
    if len(series.sizes) < 2:
        return (
            None,
            f"the runs on nested snapshots of {snapshot.id} recorded no per-label F1 on two sizes: run {command}",
        )
    return series, None


def _root(snapshot: SnapshotInfo) -> str | None:
    uri, sid = snapshot.uri, snapshot.id
    return uri[: -len(sid) - 1] if uri and sid and uri.rstrip("/").endswith("/" + sid) else None


def _differences(series_job: Job, run_job: Job) -> tuple[dict[str, Any], ...]:
    a, b = training_config(RunData(series_job)), training_config(RunData(run_job))
    return tuple(
        {"key": k, "series": a.get(k), "run": b.get(k)}
        for k in sorted(set(a) | set(b))
        if k not in SEED_KEYS and repr(a.get(k)) != repr(b.get(k))
    )

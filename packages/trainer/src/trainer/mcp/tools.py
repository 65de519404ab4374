"""The tools: each one calls the domain function its `--json` command calls, so its structured
answer is that command's JSON (a list field cut into pages when long; `snapshots_list` wraps the
CLI's array as `snapshots`). Pure Python: the MCP SDK is only in server.py.

`call(session, name, args)` validates the arguments against the tool's input schema
(`ArgumentError`), runs the domain call and returns an `Answer`; domain errors (an unknown job,
a table that is down) propagate as they are, for the server to turn into tool errors."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cache import FINAL_STATUSES
from .paging import BadCursor, page
from .schemas import input_schema, output_schema, with_page, wrapped
from .session import Session

JOB = {"type": "string", "minLength": 1, "description": "job id, unique id prefix (8+ characters) or job name (the newest with it)"}
STATUSES = {"type": "array", "items": {"enum": ["pending", "running", "succeeded", "failed", "cancelled", "interrupted"]},
            "description": "only jobs in these statuses"}
SNAPSHOT = {"type": "string", "minLength": 1, "description": "snapshot id (v12) or `latest`"}


class ArgumentError(ValueError):
    """Arguments a tool cannot take: the message names the argument and what it must be."""


@dataclass(frozen=True)
class Answer:
    structured: dict[str, Any]
    images: dict[str, bytes] = field(default_factory=dict)
    """PNG name -> bytes, returned as image content beside the structured answer."""


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    cli: str
    """The command whose `--json` this tool returns."""
    properties: dict[str, Any]
    run: Callable[[Session, dict[str, Any]], Any]
    output: str
    required: tuple[str, ...] = ()
    page_field: str | None = None
    page_size: int = 100
    wrap: str | None = None
    """The key under which a `--json` array is returned (MCP structured content is an object)."""

    @property
    def input_schema(self) -> dict[str, Any]:
        return input_schema(self.properties, self.required, paged=self.page_field is not None)

    @property
    def output_schema(self) -> dict[str, Any]:
        schema = wrapped(self.output, self.wrap) if self.wrap else output_schema(self.output)
        return with_page(schema) if self.page_field else schema


# --- the domain calls -------------------------------------------------------------------------


STATS_FRESH_FOR = 60.0
"""Seconds a dataset_stats answer is reused: it reads every label item of the table, which changes
only when receipts or labels are written (an agent asks it several times in one conversation)."""


def _dataset_stats(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from dataset_builder.config import BuildConfig
    from dataset_builder.stats import table_stats

    statuses = tuple(a.get("statuses") or BuildConfig().statuses)
    return s.kept(("dataset_stats", statuses), lambda: table_stats(s.queries, statuses), seconds=STATS_FRESH_FOR)


def _snapshots_list(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from dataset_builder.snapshot import list_snapshots
    from dataset_builder.stats import recorded_manifest_hashes

    return {"snapshots": list_snapshots(s.root, backend=s.backend(), recorded=recorded_manifest_hashes(s.queries))}


def _snapshot_show(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from dataset_builder.snapshot import open_snapshot

    return open_snapshot(s.root, a.get("snapshot", "latest"), verify=False, backend=s.backend()).manifest.to_dict()


def _snapshot_diff(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from dataset_builder.diff import diff_snapshots
    from dataset_builder.snapshot import open_snapshot

    backend = s.backend()
    return diff_snapshots(open_snapshot(s.root, a["a"], backend=backend), open_snapshot(s.root, a.get("b", "latest"), backend=backend))


def _runs_list(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.commands import list_runs

    return list_runs(s.queries, statuses=a.get("status"), name=a.get("name"), snapshot=a.get("snapshot"), min_f1=a.get("min_f1"),
                     sort=a.get("sort", "best_f1"), limit=a.get("limit"), parent=a.get("parent"))


def _run_show(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.commands import show_run

    return show_run(s.queries, a["job"], epoch=a.get("epoch"), sync=False)


def _run_report(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.commands import report_run

    return report_run(s.queries, a["job"], sync=False)


def _runs_compare(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.commands import compare_jobs

    return compare_jobs(s.queries, a["jobs"], sync=False)


def _runs_explain(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.commands import explain_jobs

    return explain_jobs(s.queries, a["job_a"], a["job_b"], sync=False)


def _runs_history(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.commands import training_history

    return training_history(s.queries, statuses=a.get("status"), limit=a.get("limit"), group_by=a.get("group_by"), sync=False)


def _runs_monitor(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.commands import monitor_job

    return monitor_job(s.queries, a.get("job"), sync=False)


def _sweep_report(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.sweep import sweep_report

    return sweep_report(s.queries, a["sweep"])


def _review_queues(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..review.browse import review_queues

    return review_queues(s.queries, a["review"], top=a.get("top", 10), label=a.get("label"), queue=a.get("queue"))


def _what_next(s: Session, a: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.next_run import what_next

    return what_next(s.queries, snapshot=a.get("snapshot"))


def _run_plots(s: Session, a: dict[str, Any]) -> Answer:
    from ..analysis.plots import plot_images
    from ..analysis.runs import load_run
    from ..analysis.views import stamped

    run = load_run(s.queries, a["job"], sync=False)
    if run.job.status in FINAL_STATUSES:  # a finished run's plots never change
        images = s.kept(("run_plots", run.job_id), lambda: plot_images(run))
    else:
        images = plot_images(run)
    return Answer(stamped("run_plots", {"job_id": run.job_id, "name": run.job.name,
                                        "plots": [{"name": n, "mime_type": "image/png", "bytes": len(b)} for n, b in images.items()]}), images)


TOOLS: tuple[Tool, ...] = (
    Tool("dataset_stats", "Dataset statistics", "What the table holds before any training: receipts, words, label items by label and "
         "validation status (VALID, INVALID, NEEDS_REVIEW...), words by label state (labelled, unknown, unlabelled), merchants. "
         "Answers: label distribution, class imbalance, should I add a label. It reads every label item, so an answer is reused for "
         f"{STATS_FRESH_FOR:g} s.", "dsb stats --json",
         {"statuses": {"type": "array", "items": {"enum": ["VALID", "INVALID", "NEEDS_REVIEW", "PENDING", "NONE"]}, "minItems": 1,
                       "description": "statuses that make a word labelled (default VALID)"}}, _dataset_stats, "dataset_stats"),
    Tool("snapshots_list", "Snapshots", "Every published dataset snapshot (oldest first): train/val receipts, label count, contracts, "
         "whether the table has its record.", "dsb snapshot list --json", {}, _snapshots_list, "snapshot_list",
         page_field="snapshots", wrap="snapshots"),
    Tool("snapshot_show", "Snapshot manifest", "One snapshot's manifest: spec (what was asked: statuses, merges, allowed labels, O:entity "
         "ratio, split) and lock (what came out: counts per split and label, hashes, contracts).", "dsb snapshot show SNAPSHOT --json",
         {"snapshot": SNAPSHOT}, _snapshot_show, "snapshot_manifest"),
    Tool("snapshot_diff", "Snapshot diff", "What changed between two snapshots: receipts added/removed, entity words per label, "
         "relabelled words, status transitions, split moves, spec changes.", "dsb snapshot diff A B --json",
         {"a": {**SNAPSHOT, "description": "the older snapshot"}, "b": {**SNAPSHOT, "description": "the newer snapshot (default latest)"}},
         _snapshot_diff, "snapshot_diff", required=("a",)),
    Tool("runs_list", "Runs", "Jobs with their best val F1 (the maximum over evaluations), filtered and sorted: best runs so far, the best "
         "run on a snapshot, a sweep's trials (parent).", "trainer runs list --json",
         {"status": STATUSES, "name": {"type": "string", "description": "name contains this (case-insensitive)"},
          "snapshot": {"type": "string", "description": "trained on this snapshot id"},
          "min_f1": {"type": "number", "minimum": 0, "maximum": 1, "description": "best val F1 at least this"},
          "sort": {"enum": ["best_f1", "created", "name"], "description": "best_f1 (highest first), created (newest first) or name"},
          "limit": {"type": "integer", "minimum": 1}, "parent": {**JOB, "description": "only the jobs this job started (sweep trials, review folds)"}},
         _runs_list, "runs_list", page_field="runs"),
    Tool("run_show", "Run", "One run: config, snapshot lineage, per-evaluation metrics (learning rate, losses, F1, speed), per-label "
         "F1 at the best evaluation or at `epoch`, results, throughput, checkpoints, problems. Answers: LR at epoch N, which checkpoint, "
         "why a run failed, is it slow.", "trainer runs show JOB [--epoch E] --json",
         {"job": JOB, "epoch": {"type": "number", "minimum": 0, "description": "per-label figures at this epoch (nearest evaluation)"}},
         _run_show, "run_show", required=("job",)),
    Tool("run_report", "Run diagnoses", "The diagnoses of one run with their evidence: overfitting, plateau, learning-rate schedule, "
         "early stopping, best vs last, weak labels, which labels need more data (measured learning curves, or why not measured).",
         "trainer runs report JOB --json", {"job": JOB}, _run_report, "run_report", required=("job",)),
    Tool("run_plots", "Run plots", "The learning curves (loss, F1, learning rate, per-label F1 over epochs) and the per-label F1 bars of "
         "a run, as PNG images; nothing is written.", "trainer runs plot JOB (as images)", {"job": JOB}, _run_plots, "run_plots",
         required=("job",)),
    Tool("runs_compare", "Compare runs", "Runs side by side against the first: config differences, metrics, per-label F1 changes, and "
         "whether each is comparable (same val split, labels, unknown-word treatment).", "trainer runs compare JOB JOB... --json",
         {"jobs": {"type": "array", "items": JOB, "minItems": 2, "maxItems": 20, "description": "the first is the baseline"}},
         _runs_compare, "runs_compare", required=("jobs",)),
    Tool("runs_explain", "Explain an F1 change", "Why best F1 moved from run A to run B: confounders first, then config changes, snapshot "
         "changes, per-label changes by impact, and the cause.", "trainer runs explain A B --json",
         {"job_a": {**JOB, "description": "the earlier (reference) run"}, "job_b": {**JOB, "description": "the later run"}},
         _runs_explain, "runs_explain", required=("job_a", "job_b")),
    Tool("runs_history", "Training history", "Every run with its flattened config, best F1 and curve, best first; `group_by` a config key "
         "(batch_size, learning_rate...) adds mean/max/min best F1 per value. Answers: what's the best batch size.",
         "trainer runs history [--group-by KEY] --json",
         {"status": STATUSES, "limit": {"type": "integer", "minimum": 1, "description": "only the newest N runs"},
          "group_by": {"type": "string", "minLength": 1, "description": "a flattened config key or a unique suffix (batch_size)"}},
         _runs_history, "runs_history", page_field="runs", page_size=25),
    Tool("runs_monitor", "What is training now", "One frame of the newest running job (or `job`): epoch, step, latest metrics, best so "
         "far, throughput, progress, ETA, recent logs; `job: null` when nothing runs.", "trainer runs monitor --json",
         {"job": JOB}, _runs_monitor, "run_monitor"),
    Tool("sweep_report", "Sweep results", "A hyperparameter sweep: trials ranked by best F1, parameter importances, the best config as a "
         "`trainer fit` command, seed noise, and whether each parameter mattered beyond it.", "trainer runs sweep SWEEP --json",
         {"sweep": {**JOB, "description": "the sweep job"}}, _sweep_report, "sweep_report", required=("sweep",),
         page_field="trials"),
    Tool("review_queues", "Label review queues", "The first rows of a label review's queues per label: suspect VALID labels, triage of "
         "unreviewed items, missing labels, each with the word, its line and the model's label and confidence.",
         "trainer runs queues REVIEW [--top K] --json",
         {"review": {**JOB, "description": "the review job"}, "top": {"type": "integer", "minimum": 1, "maximum": 100},
          "label": {"type": "string", "minLength": 1}, "queue": {"enum": ["suspect_valid", "triage", "missing"]}},
         _review_queues, "review_queues", required=("review",)),
    Tool("what_next", "What to train next", "The best config found so far as an exact `trainer fit` command, the evidence behind each "
         "choice (runs by value, sweep verdicts) and the adjustments the best run's diagnoses call for.", "trainer runs next --json",
         {"snapshot": {"type": "string", "minLength": 1, "description": "runs on this snapshot id (default: the newest run's)"}},
         _what_next, "next_run"),
)
BY_NAME = {t.name: t for t in TOOLS}


def check_arguments(tool: Tool, args: dict[str, Any]) -> None:
    """The arguments follow the tool's input schema, or one line says which does not and why."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(tool.input_schema).iter_errors(args), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = f"argument {'.'.join(map(str, first.path))!r}" if first.path else "arguments"
        raise ArgumentError(f"{tool.name}: {where}: {first.message}")


def call(session: Session, name: str, args: dict[str, Any]) -> Answer:
    """Run a tool: arguments checked, the domain call made, a long answer paged."""
    tool = BY_NAME.get(name)
    if tool is None:
        raise ArgumentError(f"no tool {name!r}; the tools are {', '.join(BY_NAME)}")
    check_arguments(tool, args)
    try:
        with session.queries.call():
            result = tool.run(session, args)
        answer = result if isinstance(result, Answer) else Answer(result)
        if tool.page_field:
            answer = Answer(page(name, args, answer.structured, tool.page_field, tool.page_size), answer.images)
    except BadCursor as exc:
        raise ArgumentError(str(exc)) from None
    return answer


def closest_jobs(session: Session, ref: str, count: int = 5, cutoff: float = 0.5) -> list[str]:
    """The jobs whose name, or id prefix of the same length, is closest to `ref` ("<id> (<name>,
    <status>)"), for an unknown-job error."""
    def score(job: Any) -> float:
        return max(difflib.SequenceMatcher(None, ref, job.job_id[: len(ref)]).ratio(), difflib.SequenceMatcher(None, ref, job.name).ratio())

    scored = sorted(((score(j), j.created_at, j) for j in session.queries.iter_all_jobs()), key=lambda t: (-t[0], t[1]))
    return [f"{j.job_id} ({j.name}, {j.status})" for s, _, j in scored[:count] if s >= cutoff]

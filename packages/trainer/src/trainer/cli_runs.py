"""`trainer runs ...`: read recorded runs back, for people (tables) and agents (`--json`).

Each command parses its options, makes one call into `trainer.analysis.commands`, and
renders the payload; `--json` prints it as is (schemas in docs/schemas/). Errors become a
one-line message and exit code 2 in `run_or_exit`. Heavy modules load only inside commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli_edge import JsonOpt, console, new_app, print_json, run_or_exit, store_options
from metrics_store import StoreConfig

runs_app = new_app("Read runs back: list, show, compare, monitor, history, report, explain, plot, sweep, next, queues; "
                   "mark a dead job interrupted.")

JobArg = Annotated[str, typer.Argument(help="Job id, unique id prefix (8+ characters) or job name.")]
StatusOpt = Annotated[list[str] | None, typer.Option("--status", help="Only jobs in this status (repeatable).")]


def _queries(store: StoreConfig):
    from metrics_store import Queries, connect

    return Queries(connect(store))


def _emit(payload: dict[str, Any], as_json: bool, renderer_name: str) -> None:
    if as_json:
        print_json(payload)
        return
    from .analysis import render

    getattr(render, renderer_name)(payload, console())


@runs_app.command("sync")
@store_options(StoreConfig)
def sync_command(store: StoreConfig, job: JobArg, as_json: JsonOpt = False) -> None:
    """Write the records a run could not write to the table (an outage outlasted it): they wait
    in its folder (`pending-records.jsonl`), on the machine that trained it."""
    from .analysis.commands import sync_run

    payload = run_or_exit(lambda: sync_run(_queries(store), job))
    if as_json:
        print_json(payload)
        return
    if not payload["written"]:
        typer.echo(f"job {payload['job_id']}: nothing waits to be written (status {payload['status']})")
        return
    typer.echo(f"job {payload['job_id']}: {payload['written']} waiting record(s) written from {payload['folder']}; now {payload['status']}"
               + (f"; {len(payload['checkpoints_removed'])} checkpoint(s) removed" if payload["checkpoints_removed"] else ""))


@runs_app.command("list")
@store_options(StoreConfig)
def list_command(
    store: StoreConfig,
    status: StatusOpt = None,
    name: Annotated[str | None, typer.Option(help="Only jobs whose name contains this (case-insensitive).")] = None,
    snapshot: Annotated[str | None, typer.Option(help="Only jobs trained on this snapshot id (v12).")] = None,
    min_f1: Annotated[float | None, typer.Option(help="Only jobs whose best val_f1 (max over evaluations) is at least this.")] = None,
    sort: Annotated[str, typer.Option(help="best_f1 (highest first), created (newest first) or name.")] = "best_f1",
    limit: Annotated[int | None, typer.Option(help="Show at most this many.")] = None,
    parent: Annotated[str | None, typer.Option(help="Only the jobs this job started (a sweep's trials, a review's folds).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Jobs with their best F1, filtered and sorted."""
    from .analysis.commands import list_runs

    payload = run_or_exit(lambda: list_runs(_queries(store), statuses=status, name=name, snapshot=snapshot, min_f1=min_f1,
                                            sort=sort, limit=limit, parent=parent))
    _emit(payload, as_json, "render_list")


@runs_app.command("show")
@store_options(StoreConfig)
def show_command(
    store: StoreConfig,
    job: JobArg,
    epoch: Annotated[float | None, typer.Option(help="Per-label table (and metrics) at this epoch instead of the best.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: config, snapshot lineage, per-epoch table, per-label table, results."""
    from .analysis.commands import show_run

    payload = run_or_exit(lambda: show_run(_queries(store), job, epoch=epoch))
    _emit(payload, as_json, "render_show")


@runs_app.command("compare")
@store_options(StoreConfig)
def compare_command(
    store: StoreConfig,
    jobs: Annotated[list[str], typer.Argument(help="Two or more jobs; the first is the baseline.")],
    as_json: JsonOpt = False,
) -> None:
    """Config and metric differences, per label, and whether the runs are comparable."""
    from .analysis.commands import compare_jobs

    payload = run_or_exit(lambda: compare_jobs(_queries(store), jobs))
    _emit(payload, as_json, "render_compare")


@runs_app.command("monitor")
@store_options(StoreConfig)
def monitor_command(
    store: StoreConfig,
    job: Annotated[str | None, typer.Option("--job", help="Job to watch (default: the newest running job).")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 30.0,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Epoch, latest metrics, throughput, ETA and recent logs of a running job, refreshed until it ends."""
    from .analysis.commands import monitor_job
    from .analysis.render import render_monitor

    queries = run_or_exit(lambda: _queries(store))
    out = console()
    while True:
        frame = run_or_exit(lambda: monitor_job(queries, job))
        if as_json:
            print_json(frame)
            return
        if out.is_terminal and not once:
            out.clear()
        render_monitor(frame, out)
        if once or frame["finished"]:
            return
        time.sleep(interval)


@runs_app.command("history")
@store_options(StoreConfig)
def history_command(
    store: StoreConfig,
    status: StatusOpt = None,
    limit: Annotated[int | None, typer.Option(help="Only the newest N jobs.")] = None,
    group_by: Annotated[str | None, typer.Option(help="Also group best F1 by this config key (batch_size, train.learning_rate...).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every run with its config and best F1, best first (the training history analyzer)."""
    from .analysis.commands import training_history

    payload = run_or_exit(lambda: training_history(_queries(store), statuses=status,
                                                   limit=limit, group_by=group_by))
    if out is not None:
        import json

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
    _emit(payload, as_json, "render_history")


@runs_app.command("report")
@store_options(StoreConfig)
def report_command(
    store: StoreConfig,
    job: JobArg,
    out: Annotated[Path | None, typer.Option(help="Write OUT/run_report.json (and the plots) here.")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="With --out, also write the PNG plots.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Diagnoses of one run (overfitting, plateau, LR schedule, early stopping, weak labels, data needs)."""
    from .analysis.commands import report_run

    payload = run_or_exit(lambda: report_run(_queries(store), job, out_dir=out, plots=plots))
    _emit(payload, as_json, "render_report")


@runs_app.command("explain")
@store_options(StoreConfig)
def explain_command(
    store: StoreConfig,
    job_a: Annotated[str, typer.Argument(help="The earlier (reference) job.")],
    job_b: Annotated[str, typer.Argument(help="The later job.")],
    as_json: JsonOpt = False,
) -> None:
    """Why best F1 changed from JOB_A to JOB_B: confounders, config, data, labels."""
    from .analysis.commands import explain_jobs

    payload = run_or_exit(lambda: explain_jobs(_queries(store), job_a, job_b))
    _emit(payload, as_json, "render_explain")


@runs_app.command("plot")
@store_options(StoreConfig)
def plot_command(
    store: StoreConfig,
    job: JobArg,
    out: Annotated[Path, typer.Option(help="Folder for learning_curves.png and per_label_f1.png.")] = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Learning curves and per-label F1 as PNGs."""
    from .analysis.commands import plot_run

    payload = run_or_exit(lambda: plot_run(_queries(store), job, out))
    _emit(payload, as_json, "render_plot")


@runs_app.command("mark-interrupted")
@store_options(StoreConfig)
def mark_interrupted_command(store: StoreConfig, job: JobArg, as_json: JsonOpt = False) -> None:
    """Mark a stale running job (no heartbeat for 10 minutes: its process was killed) as
    interrupted, so `trainer fit --resume` continues it. A live job is refused."""
    from .analysis.commands import mark_interrupted

    payload = run_or_exit(lambda: mark_interrupted(_queries(store), job))
    if as_json:
        print_json(payload)
    else:
        typer.echo(f"job {payload['job_id']}: interrupted (last heartbeat {payload['previous_heartbeat_at'] or '-'}); "
                   f"resume with: {payload['resume']}")


@runs_app.command("sweep")
@store_options(StoreConfig)
def sweep_command(
    store: StoreConfig,
    job: Annotated[str, typer.Argument(help="The sweep job: id, unique id prefix (8+ characters) or name.")],
    out: Annotated[Path | None, typer.Option(help="Write OUT/sweep_report.json (and the plots) here.")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="With --out, also write the PNG plots.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """A sweep's trials ranked by best F1, parameter importances, the best config as a
    `trainer fit` command, and whether each parameter mattered beyond seed noise."""
    from .analysis.sweep import sweep_report

    payload = run_or_exit(lambda: sweep_report(_queries(store), job, out_dir=out, plots=plots))
    _emit(payload, as_json, "render_sweep")


@runs_app.command("next")
@store_options(StoreConfig)
def next_command(
    store: StoreConfig,
    snapshot: Annotated[str | None, typer.Option(help="Runs on this snapshot id (default: the newest run's snapshot).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """What to train next: the best config found so far as an exact `trainer fit` command, the
    evidence behind each choice (runs by value, sweep verdicts) and the adjustments its diagnoses call for."""
    from .analysis.next_run import what_next

    payload = run_or_exit(lambda: what_next(_queries(store), snapshot=snapshot))
    _emit(payload, as_json, "render_next")


@runs_app.command("queues")
@store_options(StoreConfig)
def queues_command(
    store: StoreConfig,
    job: Annotated[str, typer.Argument(help="The review job: id, unique id prefix (8+ characters) or name.")],
    top: Annotated[int, typer.Option(help="Rows per label and queue (1-100).")] = 10,
    label: Annotated[str | None, typer.Option(help="Only this label.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue: suspect_valid, triage or missing.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The first rows of a finished review's queues, per label (from its Parquet files)."""
    from .review.browse import review_queues

    payload = run_or_exit(lambda: review_queues(_queries(store), job, top=top, label=label, queue=queue))
    if as_json:
        print_json(payload)
        return
    from .review.render import render_queues

    render_queues(payload, console())

"""The server's resources: the agent context document and each run's report.

The agent context follows the user's guide to an AI training assistant, sections 1-5: the
infrastructure in use (table, snapshot root, model cache), the latest config as a template, a
history summary, dataset statistics and the active runs. Every number in it comes from the same
domain calls as the tools; a section whose source cannot be read says why instead of failing
the whole document."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from importlib import metadata
from typing import Any

from .session import Session
from .tools import TOOLS

CONTEXT_URI = "receipt-ml://agent-context"
REPORT_TEMPLATE = "receipt-ml://runs/{job}/report"
REPORT_PREFIX, REPORT_SUFFIX = "receipt-ml://runs/", "/report"
RECENT_REPORTS = 20
PACKAGES = ("receipt-ml-trainer", "receipt-ml-dataset-builder", "receipt-ml-metrics-store", "torch", "transformers", "mcp")


class UnknownResource(LookupError):
    pass


def _section(title: str, build: Callable[[], list[str]]) -> list[str]:
    from cli_edge import exit_code_for

    try:
        lines = build()
    except Exception as exc:
        if exit_code_for(exc) is None:
            raise
        lines = [f"unavailable: {' '.join(str(exc).split())}"]
    return [f"## {title}", "", *lines, ""]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _infrastructure(session: Session) -> list[str]:
    from ..config import TrainConfig

    where = session.describe()
    lines = [f"- {k.replace('_', ' ')}: `{v}`" for k, v in where.items() if v is not None]
    lines.append(f"- run folders (`trainer fit --output-dir`, default): `{TrainConfig().output_dir}/<job name>-<id>/`")
    lines.append(f"- python {platform.python_version()}; " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES))
    lines.append("- this server is read-only: it never writes to the table or to snapshots; training is `trainer fit` in a shell")
    return lines


def _current_config(session: Session) -> list[str]:
    from ..sweep.options import fit_command_line

    job = next((j for j in session.queries.iter_jobs_by_status("succeeded") if j.config.kind == "fit" and not j.parent_job_id), None)
    if job is None:
        return ["no succeeded `trainer fit` run yet: start from `trainer fit --help` (docs/cli/trainer.md)"]
    request = {**dict(job.config.request), "snapshot": job.config.snapshot.id if job.config.snapshot else None}
    template = {k: v for k, v in request.items() if k in ("snapshot", "snapshot_root", "model", "train")}
    return [f"latest succeeded run: {job.name} (`{job.job_id}`), {job.created_at[:19]}, best val F1 {job.outcome.best_f1}", "",
            "as a command (the template to change):", "", f"    {fit_command_line(request)}", "", "as recorded:", "",
            "```json", json.dumps(template, indent=2), "```"]


def _history(session: Session) -> list[str]:
    from ..analysis.commands import list_runs
    from ..analysis.next_run import what_next

    runs = list_runs(session.queries)["runs"]
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run["status"]] = by_status.get(run["status"], 0) + 1
    lines = [f"{len(runs)} jobs: " + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())), "", "best runs:"]
    lines += [f"- {r['name']} (`{r['job_id']}`): best val F1 {r['best_f1']} at epoch {r['best_epoch']}, snapshot {r['snapshot_id']}, "
              f"{r['status']}" for r in runs[:5] if r["best_f1"] is not None]
    advice = what_next(session.queries)
    lines += ["", f"key findings: {advice['summary']}"]
    for choice in advice["choices"]:
        lines += [f"- {e['sentence']}" for e in choice["evidence"]]
    if advice["command"]:
        lines += ["", "next (the `what_next` tool explains each choice):", "", f"    {advice['command']}"]
    return lines


def _dataset(session: Session) -> list[str]:
    from dataset_builder.snapshot import list_snapshots, open_snapshot
    from dataset_builder.stats import table_stats

    stats = table_stats(session.queries)
    states = stats["label_states"]
    lines = [f"table: {stats['receipts']:,} receipts, {stats['words']:,} words, {stats['label_items']:,} label items "
             f"({stats['valid_labels']:,} VALID); words {states['labelled']:,} labelled, {states['unknown']:,} unknown "
             f"(items awaiting review: not trained or scored by default), {states['unlabelled']:,} unlabelled", "",
             "| label | VALID | other statuses |", "|---|---|---|"]
    for label, counts in sorted(stats["labels_by_status"].items(), key=lambda kv: -kv[1].get("VALID", 0)):
        others = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()) if s != "VALID") or "-"
        lines.append(f"| {label} | {counts.get('VALID', 0)} | {others} |")
    snapshots = list_snapshots(session.root, backend=session.backend())
    if snapshots:
        latest = snapshots[-1]
        spec = open_snapshot(session.root, latest["id"], verify=False, backend=session.backend()).spec
        lines += ["", f"latest snapshot {latest['id']} ({len(snapshots)} in {session.root}): {latest['train_receipts']} train / "
                      f"{latest['val_receipts']} val receipts, {latest['labels']} labels, contracts {latest['contracts']}; spec: merge "
                      f"{spec.merge_preset}, allowed labels {', '.join(spec.allowed_labels) if spec.allowed_labels else 'all'}, "
                      f"O:entity ratio {spec.o_entity_ratio}, unknown words {spec.unvalidated}"]
    else:
        lines += ["", f"no snapshot in {session.root} yet (`dsb snapshot create`)"]
    return lines


def _active(session: Session) -> list[str]:
    from ..analysis.commands import monitor_job

    running = list(session.queries.iter_jobs_by_status("running"))
    if not running:
        return ["nothing is training now"]
    lines = []
    for job in running[:5]:
        frame = monitor_job(session.queries, job.job_id, sync=False)
        latest = frame["latest"]
        eta = f"{frame['eta_seconds']:.0f} s" if frame.get("eta_seconds") is not None else "unknown"
        lines.append(f"- {job.name} (`{job.job_id}`): epoch {frame['epoch']} of {frame['configured_epochs']}, progress "
                     f"{frame['progress']}%, val F1 {latest.get('val_f1')}, eval loss {latest.get('eval_loss')}, lr "
                     f"{latest.get('learning_rate')}, ETA {eta}" + (" (STALE: no heartbeat)" if frame["lease"]["stale"] else ""))
    return lines


def agent_context(session: Session) -> str:
    """The agent context document (Markdown)."""
    lines = ["# receipt-ml: context for a training assistant", "",
             "Sections follow the training-assistant guide (1-5). Every figure comes from the tools listed at the end; call them "
             "for details (each returns the same JSON as its `--json` command).", ""]
    lines += _section("1. Infrastructure", lambda: _infrastructure(session))
    lines += _section("2. Current training configuration", lambda: _current_config(session))
    lines += _section("3. Training history", lambda: _history(session))
    lines += _section("4. Dataset statistics", lambda: _dataset(session))
    lines += _section("5. Active runs", lambda: _active(session))
    lines += ["## Tools", ""] + [f"- `{t.name}`: {t.title.lower()} (`{t.cli}`)" for t in TOOLS]
    return "\n".join(lines) + "\n"


def run_report_json(session: Session, job: str) -> str:
    from ..analysis.commands import report_run

    return json.dumps(report_run(session.queries, job, sync=False), indent=2)


def read(session: Session, uri: str) -> tuple[str, str]:
    """(text, mime type) of a resource."""
    if uri == CONTEXT_URI:
        with session.queries.call():
            return agent_context(session), "text/markdown"
    if uri.startswith(REPORT_PREFIX) and uri.endswith(REPORT_SUFFIX):
        with session.queries.call():
            return run_report_json(session, uri[len(REPORT_PREFIX):-len(REPORT_SUFFIX)]), "application/json"
    raise UnknownResource(f"no resource {uri!r}: {CONTEXT_URI} or {REPORT_TEMPLATE}")


def recent_reports(session: Session) -> list[dict[str, Any]]:
    """The newest runs' report resources, for clients that list rather than fill in templates."""
    from ..analysis.commands import list_runs

    rows = list_runs(session.queries, sort="created", limit=RECENT_REPORTS)["runs"]
    return [{"uri": f"{REPORT_PREFIX}{r['job_id']}{REPORT_SUFFIX}", "name": f"report of {r['name']}",
             "description": f"diagnoses of {r['name']} ({r['status']}, best val F1 {r['best_f1']})"} for r in rows]

"""`dsb contracts ...`: check a published snapshot against the data contracts, list the suites.

Exit codes of `check`: 0 every error-level expectation passed (warnings allowed), 1 a contract
failed, 2 the check could not run (no such snapshot, an unreadable suite file...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli_edge import EXIT_FAILED, JsonOpt, console, key_table, new_app, print_json, run_or_exit
from cli_edge.options import DEFAULT_ROOT, RootOpt

from .common import backend

app = new_app("Data contracts: Great Expectations suites that gate every snapshot.")

ContractsDirOpt = Annotated[
    Path | None,
    typer.Option("--contracts-dir", help="Folder of suite files (default: the repository's data_contracts/)."),
]
STATUS_STYLE = {"passed": "green", "warned": "yellow", "failed": "red", "unchecked": "dim", "skipped": "dim"}
REDUNDANT_KEYS = ("image_id", "receipt_id")
"""Shown in JSON, left out of tables when `receipt_key` (which holds both) is there."""


def _table(title: str | None, columns: list[str], rows: list[list[Any]]):
    """A table whose long names fold instead of being cut (CI logs are 80 wide)."""
    from cli_edge import Column

    return key_table(title, [Column(c, key=False) for c in columns], rows)


@app.command("check")
def check(
    snapshot: Annotated[str, typer.Option("--snapshot", help="Snapshot id (v12) or `latest`.")] = "latest",
    root: RootOpt = DEFAULT_ROOT,
    contracts_dir: ContractsDirOpt = None,
    max_failing_rows: Annotated[
        int, typer.Option(min=0, help="Failing rows shown per expectation, identified by their keys.")
    ] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Check a published snapshot against the contracts, and its drift against its parent.

    Exit 0: passed or warned; 1: a contract failed; 2: the check could not run."""
    from ..contracts import check_snapshot
    from ..snapshot import SnapshotNotFound, open_snapshot

    def run() -> dict[str, Any]:
        store = backend(root)
        snap = open_snapshot(root, snapshot, backend=store)
        parent = None
        if snap.parent_id:
            try:
                parent = open_snapshot(root, snap.parent_id, verify=False, backend=store)
            except SnapshotNotFound:
                parent = None  # drift is reported as skipped, naming the missing parent
        return check_snapshot(snap, parent, contracts_dir, max_failing_rows=max_failing_rows)

    report = run_or_exit(run)
    if as_json:
        print_json(report)
    else:
        render_report(report, console())
    if report["status"] == "failed":
        raise typer.Exit(EXIT_FAILED)


@app.command("list")
def list_(contracts_dir: ContractsDirOpt = None, as_json: JsonOpt = False) -> None:
    """The suites and their expectations (loading them validates every file): those that gate
    snapshots and the one that gates corpora (`dsb corpus`)."""
    from ..contracts import default_contracts_dir, load_suites

    suites = run_or_exit(lambda: load_suites(contracts_dir or default_contracts_dir(), subject=None))
    if as_json:
        print_json(
            [
                {
                    "suite": s.name,
                    "subject": s.subject,
                    "path": str(s.path),
                    "description": s.description,
                    "expectation_count": len(s.expectations),
                    "expectations": [
                        {
                            "type": e.type,
                            "frame": e.frame,
                            "kwargs": e.kwargs,
                            "severity": e.severity,
                            "requires": list(e.requires),
                            "notes": e.notes,
                        }
                        for e in s.expectations
                    ],
                }
                for s in suites
            ]
        )
        return
    out = console()
    for s in suites:
        out.print(
            _table(
                f"{s.name} ({s.subject}, {len(s.expectations)} expectations): {s.description}",
                ["#", "frame", "expectation", "kwargs", "severity"],
                [[e.index + 1, e.frame, e.type, _kwargs_text(e.kwargs), e.severity] for e in s.expectations],
            )
        )


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


def _observed_text(observed: dict[str, Any]) -> str:
    if "exception" in observed:
        return f"error: {observed['exception']}"
    if "unexpected_count" in observed:
        text = (
            f"{observed['unexpected_count']} of {observed.get('element_count')} rows "
            f"({observed.get('unexpected_percent') or 0:.2f}%)"
        )
        values = observed.get("unexpected_values") or []
        return text + (f"; e.g. {', '.join(str(v['value']) for v in values[:3])}" if values else "")
    return f"observed {observed.get('observed_value')}" if "observed_value" in observed else ""


def render_report(report: dict[str, Any], out) -> None:
    """A contract report as rich tables: per suite, every failure with its failing rows, drift."""
    status = report.get("status", "unchecked")
    name = (
        f"snapshot {report['snapshot_id']}: "
        if report.get("snapshot_id")
        else f"corpus {report['corpus_id']}: "
        if report.get("corpus_id")
        else ""
    )
    out.print(
        f"[bold]{name}contracts [{STATUS_STYLE.get(status, '')}]{status}[/][/] (checked "
        f"{report.get('checked_at', '-')})"
    )
    suites = report.get("suites", {})
    if suites:
        out.print(
            _table(
                "suites",
                ["suite", "expectations", "failed", "skipped"],
                [[n, s["expectations"], s["failed"], s.get("skipped", 0)] for n, s in suites.items()],
            )
        )
    failures = [r for r in report.get("results", []) if not r["success"]]
    failures.sort(key=lambda r: r["severity"] != "error")
    if failures:
        out.print(
            _table(
                "failed expectations",
                ["severity", "suite", "expectation", "column", "observed"],
                [
                    [r["severity"], r["suite"], r["expectation"], r.get("column"), _observed_text(r["observed"])]
                    for r in failures
                ],
            )
        )
    for r in failures:
        rows = r.get("failing_rows") or []
        if rows:
            columns = list(dict.fromkeys(k for row in rows for k in row))
            if "receipt_key" in columns:
                columns = [c for c in columns if c not in REDUNDANT_KEYS]
            out.print(f"{r['suite']}: {r['expectation']} ({r.get('column')}): first {len(rows)} failing rows")
            out.print(_table(None, columns, [[row.get(c) for c in columns] for row in rows]))
    drift = report.get("drift") or {}
    if drift.get("status") == "skipped":
        out.print(f"drift: skipped ({drift.get('reason')})")
    elif drift.get("metrics"):
        out.print(
            _table(
                f"drift against {drift.get('parent_id')}: {drift.get('status')}",
                ["metric", "PSI", "largest shifts (parent -> current)"],
                [
                    [
                        m,
                        "-" if d["psi"] is None else f"{d['psi']:.3f}",
                        ", ".join(
                            f"{s['bucket']} {s['parent']:.1%}->{s['current']:.1%}" for s in d["largest_shifts"][:3]
                        ),
                    ]
                    for m, d in drift["metrics"].items()
                ],
            )
        )

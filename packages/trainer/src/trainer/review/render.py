"""The review summary as tables, for `trainer review` and `trainer runs show REVIEW_JOB`: the
same dict `--json` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from cli_edge import Column


def render_review(summary: dict[str, Any], console: Console) -> None:
    from ..analysis.render import fmt, table

    snapshot, scored = summary["snapshot"], summary["scored"]
    console.print(f"review [bold]{summary['name']}[/bold] {summary['job_id']}  {summary['status']}  {summary['mode']} on "
                  f"{snapshot['id']} (content {str(snapshot['content_sha256'])[:12]})")
    console.print(f"scored out of sample: {scored['words']} words of {scored['receipts']} receipts "
                  f"({scored['labelled_words']} labelled, {scored['unlabelled_words']} unlabelled, {scored['unknown_words']} unknown)")
    folds = summary["folds"]
    if folds:
        console.print(table("models (each scores receipts it never trained on)",
                            [Column("fold"), Column("job", key=True), Column("status"), Column("receipts"), Column("words"), Column("best f1")],
                            [[f["fold"] if f["fold"] is not None else "-", f["job_id"][:8], f["status"], f["receipts"], f["words"],
                              fmt(f["best_f1"])] for f in folds]))
    rows = [[r["label"], r["valid_words"], r["suspect_valid"], r["triage"], r["likely_valid"], r["likely_invalid"], r["uncertain"], r["missing"]]
            for r in summary["labels"] if r["label"] != "O" and any(v for k, v in r.items() if k != "label")]
    limits = summary["thresholds"]
    console.print(table(f"per label: VALID words, suspect VALID, triage items (ok: likely valid >= {fmt(limits['valid_above'])}, "
                        f"wrong: likely invalid <= {fmt(limits['invalid_below'])}, unsure between), missing (>= {fmt(limits['missing_above'])})",
                        [Column("label", key=True), Column("VALID"), Column("suspect"), Column("triage"), Column("ok"), Column("wrong"),
                         Column("unsure"), Column("missing")], rows))
    queues = summary["queues"]
    console.print(table("queues: <queue>.parquet and <queue>.jsonl", [Column("queue", key=True), Column("rows")],
                        [[name, q.get("rows")] for name, q in queues.items()]))
    folder = {str(Path(q["parquet"]).parent) for q in queues.values()}
    console.print(f"in {', '.join(sorted(folder))}", soft_wrap=True)
    if summary.get("suggestions"):
        render_suggestions(summary["suggestions"], console)


def render_suggestions(report: dict[str, Any], console: Console) -> None:
    before = report["before"]
    head = "dry run (nothing written; add --yes to write)" if report["mode"] == "dry_run" else "written"
    console.print(f"suggestions ({head}): {report['suggestions']} PENDING items proposed by {report['proposer']} "
                  f"({', '.join(f'{q} {n}' for q, n in report['by_queue'].items()) or 'none'}); before writing: {before['new']} new, "
                  f"{before['rewrite']} this review's own (rewritten), {before['validated']} VALID/INVALID and {before['other']} "
                  "other proposers' items left alone")
    if report["not_writable"]:
        console.print("not writable (a merged label names no single table label): "
                      + ", ".join(f"{label} {n}" for label, n in report["not_writable"].items()))
    if report.get("outcome"):
        outcome = report["outcome"]
        console.print(f"outcome: {outcome['written']} written, {outcome['rewritten']} rewritten, {outcome['left_alone']} left alone")


def render_queues(payload: dict[str, Any], console: Console) -> None:
    """The first rows of each queue per label (`trainer runs queues`)."""
    from ..analysis.render import fmt, table

    console.print(f"review [bold]{payload['name']}[/bold] {payload['job_id']}  {payload['status']}; first {payload['top']} per label")
    for name, queue in payload["queues"].items():
        rows = [[group["label"], row["rank"], fmt(row["score"]), row["text"], row["line_text"], row["receipt_key"]]
                for group in queue["labels"] for row in group["first"]]
        console.print(table(f"{name}: {queue['rows']} rows (label = {queue['label_column']})",
                            [Column("label", key=True), Column("rank"), Column("score"), Column("word"), Column("line", drop=1),
                             Column("receipt", drop=2)], rows))

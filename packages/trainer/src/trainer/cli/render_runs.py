"""Readable rich tables for the `trainer runs` payloads. They read the same dicts `--json`
prints, so people and agents always see the same numbers."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from cli_edge import Column, short_id, short_time
from trainer.cli.render_review import render_review
from trainer.cli.tables import fmt, signed, table

EPOCH_COLUMNS = (
    "train_loss",
    "eval_loss",
    "val_f1",
    "val_precision",
    "val_recall",
    "learning_rate",
    "samples_per_second",
)


def _labels_table(title: str, labels: list[dict[str, Any]]) -> Any:
    return table(
        title,
        ["label", "f1", "precision", "recall", "support"],
        [[r["label"], r["f1"], r["precision"], r["recall"], r["support"]] for r in labels],
    )


def _epochs_table(rows: list[dict[str, Any]], best_epoch: Any) -> Any:
    present = [c for c in EPOCH_COLUMNS if any(c in r for r in rows)]
    body = [
        [f"{fmt(r['epoch'])}{' *' if r['epoch'] == best_epoch else ''}", r["step"], *(r.get(c) for c in present)]
        for r in rows
    ]
    return table("per evaluation (* best)", ["epoch", "step", *present], body)


JOB_COLUMNS = [Column("job", key=True), Column("name"), Column("status", whole=True), Column("snapshot", drop=1)]
"""The first columns of every table of jobs: the job's short id (8 characters; a prefix resolves,
`--json` has the full id) is the key, and a status is never wrapped."""


def render_list(payload: dict[str, Any], console: Console) -> None:
    rows = [
        [
            short_id(r["job_id"]),
            r["name"],
            _status(r["status"], r["lease"]),
            r["snapshot_id"],
            r["best_f1"],
            r["best_epoch"],
            r["last_f1"],
            r["evaluations"],
            short_time(r["created_at"]),
        ]
        for r in payload["runs"]
    ]
    console.print(
        table(
            f"runs ({len(rows)} of {payload['matched']}, sorted by {payload['filters']['sort']})",
            [
                *JOB_COLUMNS,
                Column("best f1"),
                Column("best epoch", drop=2),
                Column("last f1", drop=3),
                Column("evals", drop=4),
                Column("created", drop=5, whole=True),
            ],
            rows,
        )
    )


def _status(status: str, lease: dict[str, Any] | None) -> str:
    return f"{status} (stale)" if lease and lease.get("stale") else status


def _lease_line(status: str, lease: dict[str, Any] | None) -> str | None:
    if status != "running" or not lease:
        return None
    age = lease.get("heartbeat_age_seconds")
    seen = f"last heartbeat {age:.0f} s ago" if age is not None else "no heartbeat recorded"
    if lease.get("stale"):
        return (
            f"[red]stale[/red]: {seen} (over {lease['stale_after_seconds']:.0f} s): the process that trained it is "
            "gone; "
            "`trainer runs mark-interrupted JOB` makes it resumable"
        )
    return f"lease held by {lease.get('owner') or '-'}, {seen}"


def render_show(payload: dict[str, Any], console: Console) -> None:
    job, best, snap = payload["job"], payload["best"], payload["snapshot"]
    console.print(
        f"[bold]{job['name']}[/bold] {job['job_id']}  status "
        f"[bold]{_status(job['status'], payload.get('lease'))}[/bold]  "
        f"created {job['created_at']}"
    )
    lease = _lease_line(job["status"], payload.get("lease"))
    if lease:
        console.print(lease)
    if job["tags"].get("kind") == "sweep":
        console.print(
            f"a sweep: `trainer runs sweep {job['job_id']}` ranks its trials and says which parameters mattered"
        )
    if job["tags"].get("kind") == "review":
        console.print(f"a label review: its fold models are `trainer runs list --parent {job['job_id']}`")
    corpus = payload.get("corpus")
    if corpus:
        model_dir = payload["results"].get("model_dir")
        console.print(
            f"a pretraining on corpus {corpus.get('id')} (content {str(corpus.get('content_sha256'))[:12]}, val split "
            f"of {corpus.get('excluded_val_of') or 'no snapshot'} left out)"
            + (f": fine-tune it with `trainer fit --model {model_dir}`" if model_dir else "")
        )
    pretrained = payload.get("pretraining")
    if pretrained:
        console.print(
            f"pretrained by job {pretrained.get('job_id') or '-'} on corpus {pretrained.get('corpus_id')} (content "
            f"{str(pretrained.get('corpus_sha256'))[:12]}), {pretrained.get('steps')} steps from "
            f"{pretrained.get('started_from')}"
        )
    console.print(
        f"snapshot {snap.get('id')} (parent {snap.get('parent_id') or '-'}, content "
        f"{str(snap.get('content_sha256'))[:12]}, "
        f"contracts {snap.get('contracts') or '-'}, {'reachable' if snap.get('reachable') else 'unreachable'}) "
        f"{snap.get('uri') or ''}"
    )
    also = f"; best val_f1 {fmt(best['best_f1'])}" if best["metric"] != "val_f1" else ""
    console.print(f"best {best['metric']} {fmt(best['value'])} at epoch {fmt(best['epoch'])}{also}")
    config = payload["config"]
    train = next((config[k] for k in ("train", "pretrain") if isinstance(config.get(k), dict)), config)
    console.print(
        table(
            "training config",
            ["option", "value"],
            [[k, v] for k, v in sorted(train.items()) if not isinstance(v, dict)],
        )
    )
    if payload["dataset"]:
        console.print(
            table(
                "dataset",
                ["metric", "value"],
                [
                    [k, v if not isinstance(v, dict) else ", ".join(f"{a}={fmt(b)}" for a, b in v.items())]
                    for k, v in payload["dataset"].items()
                ],
            )
        )
    if payload["epochs"]:
        console.print(_epochs_table(payload["epochs"], best["epoch"]))
    selected = payload["selected"]
    if selected and selected["labels"]:
        which = "best evaluation" if selected["is_best"] else "selected evaluation"
        console.print(
            _labels_table(f"per label at epoch {fmt(selected['epoch'])} ({which}, weakest first)", selected["labels"])
        )
    review = payload["results"].get("review") if job["tags"].get("kind") == "review" else None
    if review:
        render_review(review, console)
    elif payload["results"]:
        console.print(table("results", ["result", "value"], [[k, v] for k, v in payload["results"].items()]))
    speed = payload["throughput"]
    console.print(table("throughput", ["measure", "value"], [[k, v] for k, v in speed.items() if v is not None]))
    for problem in payload["problems"]:
        console.print(f"[red]{problem['level']}[/red] {problem['timestamp']} {problem['message']}")


def render_compare(payload: dict[str, Any], console: Console) -> None:
    names = [f"{r['name']} ({r['job_id']})" for r in payload["runs"]]
    verdict = "comparable" if payload["comparable"] else "[red]NOT comparable[/red]"
    console.print(f"baseline {names[0]}; {verdict}")
    for check in payload["comparability"]:
        if not check.get("same_pretraining", True):
            console.print(f"  {check['job_id']}: its model was pretrained differently (see the pretraining.* options)")
        if not check["comparable"]:
            console.print(
                f"  {check['job_id']}: same val split {fmt(check['same_val_split'])} (by {check['basis']}), "
                f"same label set {fmt(check['same_label_set'])}, same --unvalidated {fmt(check['same_unvalidated'])} "
                f"({check['unvalidated_a'] or '?'} vs {check['unvalidated_b'] or '?'})"
            )
    console.print(
        table(
            "config differences", ["option", *names], [[d["key"], *d["values"]] for d in payload["config_differences"]]
        )
    )
    console.print(
        table(
            "metrics at the best evaluation",
            ["metric", *names],
            [[m["metric"], *m["values"]] for m in payload["metrics"]],
        )
    )
    console.print(
        table(
            "per-label F1 (change vs baseline)",
            ["label", *names],
            [
                [
                    row["label"],
                    *(
                        f"{fmt(f)} ({signed(c)})" if i else fmt(f)
                        for i, (f, c) in enumerate(zip(row["f1"], row["change"], strict=True))
                    ),
                ]
                for row in payload["labels"]
            ],
        )
    )


def render_explain(payload: dict[str, Any], console: Console) -> None:
    console.print(
        f"A {payload['a']['name']} ({payload['a']['job_id']}) -> B {payload['b']['name']} ({payload['b']['job_id']})"
    )
    console.print(f"[bold]cause: {payload['cause']['kind']}[/bold]")
    for sentence in payload["explanation"]:
        console.print(f"- {sentence}")
    console.print(
        table(
            "per-label F1, by impact on the micro F1",
            ["label", "A", "B", "change", "support B", "impact"],
            [
                [c["label"], c["f1_a"], c["f1_b"], signed(c["change"]), c["support_b"], signed(c["impact"])]
                for c in payload["label_changes"]
            ],
        )
    )


def render_monitor(payload: dict[str, Any], console: Console) -> None:
    if payload["job"] is None:
        console.print(payload["message"])
        return
    job = payload["job"]
    eta = payload["eta_seconds"]
    lease = _lease_line(payload["status"], payload.get("lease"))
    if lease:
        console.print(lease)
    console.print(
        f"[bold]{job['name']}[/bold] {job['job_id']}  {_status(payload['status'], payload.get('lease'))}  epoch "
        f"{fmt(payload['epoch'])}/"
        f"{fmt(payload['configured_epochs'])}  step {fmt(payload['step'])}/{fmt(payload['max_steps'])}  "
        f"progress {fmt(payload['progress'], 1)}%  ETA {_duration(eta)}"
    )
    speed = payload["throughput"]
    console.print(
        f"{fmt(speed['samples_per_second'], 1)} samples/s, {fmt(speed['steps_per_second'], 2)} steps/s; "
        f"elapsed {_duration(payload['elapsed_seconds'])}; best {payload['best']['metric']} "
        f"{fmt(payload['best']['value'])} "
        f"at epoch {fmt(payload['best']['epoch'])}"
    )
    latest = payload["latest"]
    console.print(
        table("latest evaluation", ["metric", "value"], [[k, latest.get(k)] for k in EPOCH_COLUMNS if k in latest])
    )
    console.print(
        table(
            "recent logs",
            ["time", "level", "message"],
            [[log["timestamp"][11:19], log["level"], log["message"]] for log in payload["recent_logs"]],
        )
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def render_history(payload: dict[str, Any], console: Console) -> None:
    if payload["groups"]:
        console.print(
            table(
                f"best F1 by {payload['group_by']}",
                [payload["group_by"], "runs", "mean", "max", "min"],
                [
                    [g["value"], g["runs"], g["best_f1_mean"], g["best_f1_max"], g["best_f1_min"]]
                    for g in payload["groups"]
                ],
            )
        )
    rows = []
    for run in payload["runs"]:
        config = run["config"]
        rows.append(
            [
                short_id(run["job_id"]),
                run["name"],
                run["status"],
                run["snapshot_id"],
                run["best_f1"],
                run["best_epoch"],
                config.get("train.learning_rate", config.get("learning_rate")),
                config.get("train.batch_size", config.get("batch_size")),
                config.get("train.epochs", config.get("epochs")),
            ]
        )
    console.print(
        table(
            f"training history ({payload['total_runs']} runs, best first)",
            [
                *JOB_COLUMNS,
                Column("best f1"),
                Column("best epoch", drop=2),
                Column("lr"),
                Column("batch"),
                Column("epochs", drop=3),
            ],
            rows,
        )
    )


def render_report(payload: dict[str, Any], console: Console) -> None:
    run = payload["run"]
    console.print(
        f"[bold]{run['name']}[/bold] {run['job_id']}  {run['status']}  best F1 {fmt(run['best_f1'])} at epoch "
        f"{fmt(run['best_epoch'])}"
    )
    console.print(
        table(
            "diagnoses",
            ["diagnosis", "verdict", "explanation"],
            [[d["name"], d["verdict"], d["explanation"]] for d in payload["diagnoses"]],
        )
    )
    needs = next(d for d in payload["diagnoses"] if d["name"] == "data_needs")["evidence"]
    if needs.get("ranking"):
        sizes = needs["series"]["sizes"]
        console.print(
            table(
                f"measured learning curves ({needs['method']}; F1 by train receipts {', '.join(map(str, sizes))}; "
                "examples = the label's train entity words)",
                ["label", "verdict", "F1 by size", "examples by size", "per doubling", "advice"],
                [
                    [
                        r["label"],
                        r["verdict"],
                        " / ".join(fmt(p["f1"]) for p in r["points"]),
                        " / ".join(str(p["train_examples"]) for p in r["points"]),
                        r["gain_per_doubling"],
                        r["advice"],
                    ]
                    for r in needs["ranking"]
                ],
            )
        )
    if payload["plots"]:
        console.print("plots: " + ", ".join(payload["plots"]))


def render_plot(payload: dict[str, Any], console: Console) -> None:
    for file in payload["files"]:
        console.print(f"wrote {file['path']} ({file['bytes']:,} bytes)")


def render_sweep(payload: dict[str, Any], console: Console) -> None:
    from trainer.sweep.verdict import fmt_value

    sweep, counts, best, noise = payload["sweep"], payload["counts"], payload["best"], payload["seed_noise"]
    config = sweep["config"]
    console.print(
        f"[bold]{sweep['name']}[/bold] {sweep['job_id']}  status "
        f"[bold]{_status(sweep['status'], sweep['lease'])}[/bold]  "
        f"{config['sampler']}, pruner {config['pruner']}, seed {config['seed']}; snapshots "
        f"{', '.join(sweep['snapshots'])}"
    )
    console.print(
        f"{counts['trials']} of {counts['planned']} trials: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['failed']} failed"
        + (f", {counts['running']} running" if counts["running"] else "")
        + (f", {counts['interrupted'] + counts['stale']} to resume" if counts["interrupted"] + counts["stale"] else "")
        + f"; {counts['seed_repeats']} seed repeat(s)"
        + (f"; stopped by {sweep['stopped_by']}" if sweep["stopped_by"] not in (None, "trials") else "")
    )
    rows = [
        [
            short_id(r["job_id"]),
            r["number"],
            r["state"],
            r["best_f1"],
            ", ".join(f"{k}={fmt_value(v)}" for k, v in r["params"].items()),
            _duration(r["duration_seconds"]),
        ]
        for r in payload["trials"]
    ]
    console.print(
        table(
            "trials, best first",
            [
                Column("job", key=True),
                Column("trial"),
                Column("state", whole=True),
                Column("best f1"),
                Column("params"),
                Column("time", drop=1),
            ],
            rows,
        )
    )
    if best:
        console.print(f"best: trial {best['number']} ({best['job_id']}), val_f1 {fmt(best['best_f1'])}")
        console.print(f"  {best['command']}")
    console.print(
        f"seed noise: {noise['note']}"
        + (f": {fmt(noise['margin'])} (stdev {fmt(noise['stdev'])})" if noise["available"] else "")
    )
    if payload["within_noise_of_best"]:
        console.print(f"within seed noise of the best: trial(s) {', '.join(map(str, payload['within_noise_of_best']))}")
    values = payload["importances"]["values"]
    if values:
        console.print(
            table(
                f"parameter importances ({payload['importances']['method']})",
                ["parameter", "importance"],
                [[k, v] for k, v in values.items()],
            )
        )
    else:
        console.print(f"parameter importances: {payload['importances']['note']}")
    console.print(
        table(
            "verdicts",
            ["parameter", "verdict", "why"],
            [[v["parameter"], v["verdict"], v["sentence"]] for v in payload["verdicts"]],
        )
    )
    console.print(f"[bold]{payload['summary']}[/bold]")
    if payload.get("plots"):
        console.print("plots: " + ", ".join(payload["plots"]))


def render_next(payload: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]{payload['summary']}[/bold]")
    if payload["best"]:
        console.print(f"best found: {payload['best']['command']}", soft_wrap=True)
    for change in payload["adjustments"]:
        console.print(
            f"adjust {change['flag']} {fmt(change['from'])} -> {fmt(change['to'])}: {change['reason']}", soft_wrap=True
        )
    if payload["command"]:
        console.print(f"next: {payload['command']}", soft_wrap=True)
    rows = [[c["option"], c["value"], e["kind"], e["sentence"]] for c in payload["choices"] for e in c["evidence"]]
    if rows:
        console.print(
            table(
                "evidence per option",
                [Column("option", key=True), Column("chosen"), Column("from"), Column("evidence")],
                rows,
            )
        )
    if payload["untested"]:
        console.print(
            "never varied (no evidence either way): "
            + ", ".join(f"{u['option']}={fmt(u['value'])}" for u in payload["untested"]),
            soft_wrap=True,
        )

"""`trainer data-curve`: measure which labels still gain from more data. Defaults come from
`trainer fit`'s dataclasses (or `--recipe-from JOB`); heavy modules load inside the command."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from cli_edge import EXIT_INTERRUPTED, JsonOpt, console, print_json, run_or_exit, store_options
from cli_edge.options import DEFAULT_ROOT, RootOpt, current_user
from metrics_store import StoreConfig

from .config import ModelConfig, TrainConfig
from .data_curve.config import DEFAULT_FRACTIONS, CurveRequest

DEFAULTS = CurveRequest(snapshot_root="")


def data_curve_command(
    store: StoreConfig,
    snapshot: Annotated[str, typer.Option(help="Snapshot whose train receipts are cut into nested subsets (v12) or `latest`.")] = DEFAULTS.snapshot,
    root: RootOpt = DEFAULT_ROOT,
    fractions: Annotated[str, typer.Option(help="Shares of the train receipts to train on, comma-separated; 1 is the snapshot itself.")]
    = ",".join(f"{f:g}" for f in DEFAULT_FRACTIONS),
    subset_seed: Annotated[int, typer.Option(help="Seed of the order in which train receipts join the subsets.")] = DEFAULTS.subset_seed,
    repeats: Annotated[int, typer.Option(help="Training seeds per fraction (seed, seed+1...): the noise a gain must beat.")] = DEFAULTS.repeats,
    recipe_from: Annotated[str | None, typer.Option(help="Train every point with this job's recorded `trainer fit` options (the options below override).")] = None,
    model: Annotated[str | None, typer.Option(help=f"Hub id (local cache), a folder or tiny (default: {ModelConfig().model}).")] = None,
    max_seq_length: Annotated[int | None, typer.Option(help="Sub-tokens per window.")] = None,
    doc_stride: Annotated[int | None, typer.Option(help="Sub-tokens shared by consecutive windows.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the windows.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Windows per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Training seed of the first repeat.")] = None,
    output_dir: Annotated[Path, typer.Option(help="The data curve's folder goes to OUTPUT_DIR/<job name>-<id>/.")] = Path(TrainConfig().output_dir),
    subsets_root: Annotated[str | None, typer.Option(help="Where subset snapshots are published (default: in the data-curve folder).")] = None,
    job_name: Annotated[str | None, typer.Option(help="Job name (default: data-curve-<snapshot>-<time>).")] = None,
    description: Annotated[str, typer.Option(help="Free text stored with the job.")] = "",
    allow_contract_failures: Annotated[bool, typer.Option("--allow-contract-failures", help="Use a snapshot whose contracts failed.")] = False,
    resume: Annotated[str | None, typer.Option(help="Continue a data-curve job (finished points are not trained again).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train one recipe on nested 25/50/100% subsets of a snapshot's train receipts (child jobs,
    the same val split) and measure each label's learning curve: which labels still gain from
    more examples. `trainer runs report` uses these curves for its data-needs answer."""
    from metrics_store import connect

    def run() -> Any:
        from .data_curve.run import run_data_curve
        from .preflight import check_model_source, check_table

        table = connect(store)
        check_table(table)
        if resume:
            from metrics_store import Queries

            job = Queries(table).find_job(resume)
            if job.config.kind != "data_curve":
                raise typer.BadParameter(f"{job.job_id} is not a data-curve job")
            request, resume_id = CurveRequest.from_dict(dict(job.config.request)), job.job_id
        else:
            request, resume_id = _request(table, root=root, snapshot=snapshot, fractions=fractions, subset_seed=subset_seed, repeats=repeats,
                                          recipe_from=recipe_from, overrides={"model": model, "max_seq_length": max_seq_length,
                                                                              "doc_stride": doc_stride},
                                          train={"epochs": epochs, "batch_size": batch_size, "learning_rate": lr, "seed": seed},
                                          output_dir=output_dir, subsets_root=subsets_root, job_name=job_name, description=description,
                                          allow_contract_failures=allow_contract_failures), None
        check_model_source(request.recipe)
        log = (lambda message: None) if as_json else (lambda message: console(stderr=True).print(message, markup=False, highlight=False))
        return run_data_curve(request, table, resume_job_id=resume_id, log=log)

    result = run_or_exit(run)
    summary = dict(result.summary or {}) or {"schema": "data_curve", "schema_version": 1, "job_id": result.job_id, "folder": result.folder}
    summary["status"] = result.status
    if result.status == "interrupted":
        summary.update(stopped_by=result.stopped_by, resume_command=f"trainer data-curve --resume {result.job_id}")
    if as_json:
        print_json(summary)
    elif result.status == "succeeded":
        render_curve(summary)
    else:
        typer.echo(f"data curve {result.job_id}: {result.status} ({result.stopped_by}); resume with: trainer data-curve --resume {result.job_id}")
    if result.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


def _request(table: Any, *, root: str, fractions: str, recipe_from: str | None, overrides: dict[str, Any], train: dict[str, Any],
             output_dir: Path, subsets_root: str | None, **options: Any) -> CurveRequest:
    from .cli import _absolute
    from .request import FitRequest

    try:
        shares = tuple(float(f) for f in fractions.split(",") if f.strip())
    except ValueError:
        raise typer.BadParameter(f"--fractions must be numbers separated by commas, got {fractions!r}") from None
    base = FitRequest(snapshot_root=_absolute(root))
    if recipe_from:
        from metrics_store import Queries

        from .request import request_for_resume

        base = request_for_resume(Queries(table).find_job(recipe_from))
    model = dataclasses.replace(base.model, **{k: v for k, v in overrides.items() if v is not None})
    trained = dataclasses.replace(base.train, output_dir=_absolute(str(output_dir)), **{k: v for k, v in train.items() if v is not None})
    recipe = FitRequest(snapshot_root=_absolute(root), model=model, train=trained)
    return CurveRequest(snapshot_root=_absolute(root), fractions=shares, recipe=recipe, created_by=current_user(),
                        subsets_root=_absolute(subsets_root) if subsets_root else None, **options)


def render_curve(summary: dict[str, Any]) -> None:
    from cli_edge import Column

    from .analysis.render import fmt, table

    out = console()
    out.print(f"data curve [bold]{summary['name']}[/bold] {summary['job_id']}  {summary['status']}  on {summary['snapshot']['id']}; "
              f"train receipts {', '.join(map(str, summary['sizes']))}")
    out.print(table("points (child jobs, the same val split)", [Column("fraction"), Column("job", key=True), Column("status"),
                                                                 Column("train receipts"), Column("seed"), Column("best f1")],
                    [[p["fraction"], p["job_id"], p["status"], p["train_receipts"], p["seed"], fmt(p["best_f1"])] for p in summary["points"]]))
    out.print(table("per label, the most F1 per doubling of its examples first",
                    [Column("label", key=True), Column("verdict"), Column("F1 by size"), Column("examples by size"), Column("per doubling"),
                     Column("advice", drop=1)],
                    [[r["label"], r["verdict"], " / ".join(fmt(p["f1"]) for p in r["points"]),
                      " / ".join(str(p["train_examples"]) for p in r["points"]), fmt(r["gain_per_doubling"]), r["advice"]]
                     for r in summary["labels"]]))


def add_data_curve(app: typer.Typer) -> None:
    """Register `data-curve` on the trainer app."""
    app.command("data-curve")(store_options(StoreConfig)(data_curve_command))

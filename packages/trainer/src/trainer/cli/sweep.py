"""`trainer sweep`: hyperparameter search, every trial a recorded child job run by the same
code as `trainer fit` (trainer.sweep). Option defaults come from `SweepConfig()`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli_edge import EXIT_INTERRUPTED, JsonOpt, fail, print_json, run_or_exit, store_options
from cli_edge.options import DEFAULT_ROOT, RootOpt, current_user
from metrics_store import StoreConfig
from trainer.cli.common import absolute_path, quiet_hugging_face, resume_line
from trainer.config import TrainConfig
from trainer.sweep.config import SweepConfig

SWEEP = SweepConfig()


def sweep_command(
    store: StoreConfig,
    space: Annotated[
        Path | None,
        typer.Option(
            help="Search space file (YAML or JSON): `search:` option -> distribution, `fixed:` option -> value."
        ),
    ] = None,
    snapshot: Annotated[
        str,
        typer.Option(help="Snapshot id (v12) or `latest`; several, comma-separated (v3,v4): trials choose among them."),
    ] = "latest",
    trials: Annotated[
        int, typer.Option(help="Trials to run (pruned and failed ones count; the seed repeats come on top).")
    ] = SWEEP.trials,
    budget_minutes: Annotated[
        float | None,
        typer.Option(help="Start no trial once the sweep has run this many minutes (wall clock, all attempts)."),
    ] = SWEEP.budget_minutes,
    sampler: Annotated[str, typer.Option(help="tpe (optuna's TPESampler) or random (RandomSampler).")] = SWEEP.sampler,
    startup_trials: Annotated[
        int, typer.Option(help="tpe: random trials before it models the results (optuna's n_startup_trials).")
    ] = SWEEP.startup_trials,
    pruner: Annotated[
        str, typer.Option(help="median (optuna's MedianPruner on val F1 at each evaluation) or none.")
    ] = SWEEP.pruner,
    prune_startup_trials: Annotated[
        int, typer.Option(help="Completed trials before any trial can be pruned.")
    ] = SWEEP.prune_startup_trials,
    prune_warmup_epochs: Annotated[
        float, typer.Option(help="No trial is pruned before this epoch.")
    ] = SWEEP.prune_warmup_epochs,
    seed: Annotated[
        int, typer.Option(help="Seed of the sampler (a trial's training seed is the `seed` fit option).")
    ] = SWEEP.seed,
    seed_repeats: Annotated[
        int,
        typer.Option(
            help="Extra runs of the best config with training seeds +1, +2...: the seed noise the verdicts use (0: "
            "none)."
        ),
    ] = SWEEP.seed_repeats,
    set_options: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="OPTION=VALUE: a `trainer fit` option for every trial (repeatable; wins over `fixed:`)."
        ),
    ] = None,
    root: RootOpt = DEFAULT_ROOT,
    output_dir: Annotated[
        Path, typer.Option(help="The sweep and its trials go to OUTPUT_DIR/<sweep name>-<id>/.")
    ] = Path(TrainConfig().output_dir),
    job_name: Annotated[
        str | None,
        typer.Option(help="Sweep job name (default: sweep-<snapshots>-<time>); trials are <name>-t<number>."),
    ] = None,
    description: Annotated[str, typer.Option(help="Free text stored with the sweep and its trials.")] = "",
    allow_contract_failures: Annotated[
        bool, typer.Option("--allow-contract-failures", help="Train on snapshots whose contracts failed.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue an interrupted sweep from the table (or join a running one as another worker)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search hyperparameters with optuna: each trial is a child job trained exactly as
    `trainer fit` trains (records, early stopping, best checkpoint), pruned on val F1.

    The space file and every option are checked before the sweep job exists. A stopped
    sweep prints the command that resumes it; `trainer runs sweep JOB` reads it back."""
    from metrics_store import connect
    from metrics_store.keys import utc_now_iso
    from trainer.jobs.folders import check_job_name
    from trainer.sweep.plan import SweepPlan, base_request
    from trainer.sweep.space import load_space, parse_assignment
    from trainer.training.preflight import check_table

    if resume and space:
        fail("--resume continues the sweep as it was recorded: leave out --space (and the other sweep options)")
    if not resume and not space:
        fail("--space FILE is required (or --resume SWEEP_JOB)")

    def run():
        _require_optuna()
        table = connect(store)
        check_table(table)
        from functools import partial

        from metrics_store import DynamoRecorder, Queries
        from trainer.sweep.runner import resume_sweep, start_sweep

        echo = lambda line: typer.echo(line, err=True)  # noqa: E731
        recorders, jobs = partial(DynamoRecorder, table), Queries(table)
        if resume:
            quiet_hugging_face()
            return resume_sweep(resume, recorders, jobs, echo=echo)
        assert space is not None  # refused above without --resume
        plan_space = load_space(space).with_fixed(dict(parse_assignment(a) for a in set_options or []))
        snapshots = [s.strip() for s in snapshot.split(",") if s.strip()] or ["latest"]
        if len(snapshots) > 1:
            plan_space = plan_space.with_snapshots(snapshots)
        config = SweepConfig(
            trials=trials,
            budget_minutes=budget_minutes,
            sampler=sampler,
            startup_trials=startup_trials,
            pruner=pruner,
            seed=seed,
            prune_startup_trials=prune_startup_trials,
            prune_warmup_epochs=prune_warmup_epochs,
            seed_repeats=seed_repeats,
        )
        name = check_job_name(job_name or f"sweep-{'+'.join(snapshots)}-{utc_now_iso()[:19].replace(':', '')}")
        base = base_request(
            plan_space,
            root=absolute_path(root),
            snapshot=snapshots[0],
            output_dir=absolute_path(str(output_dir)),
            description=description,
            created_by=current_user(),
            allow_contract_failures=allow_contract_failures,
        )
        quiet_hugging_face()
        return start_sweep(SweepPlan(name, plan_space, config, base), recorders, jobs, echo=echo)

    result = run_or_exit(run)
    resume_command = resume_line("sweep", result.job_id, store)
    if as_json:
        print_json(
            {
                "job_id": result.job_id,
                "name": result.name,
                "status": result.status,
                "stopped_by": result.stopped_by,
                "counts": result.counts,
                "best": result.best,
                "output_dir": result.output_dir,
                "recorded": result.recorded,
                "report_command": f"trainer runs sweep {result.job_id}",
                "resume_command": resume_command if result.status == "interrupted" else None,
            }
        )
    else:
        counts = result.counts
        typer.echo(
            f"sweep {result.job_id} ({result.name}): {result.status}"
            + (f" (stopped by {result.stopped_by})" if result.stopped_by else "")
        )
        typer.echo(
            f"  {counts.get('trials', 0)} trials: {counts.get('complete', 0)} complete, {counts.get('pruned', 0)} "
            "pruned, "
            f"{counts.get('failed', 0)} failed; {counts.get('seed_repeats', 0)} seed repeat(s)"
        )
        if result.best:
            typer.echo(
                f"  best: trial {result.best['trial']} ({result.best['job_id']}), val_f1 {result.best['best_f1']:.4f}"
            )
        typer.echo(f"  output: {result.output_dir}")
        typer.echo(f"  report: trainer runs sweep {result.job_id}")
        if result.status == "interrupted":
            typer.echo(f"  resume with: {resume_command}")
    if result.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


def _require_optuna() -> None:
    from trainer.errors import ConfigError

    try:
        import optuna  # noqa: F401
    except ImportError as exc:
        raise ConfigError("trainer sweep needs optuna: pip install 'receipt-ml-trainer[sweep]'") from exc


def register(app: typer.Typer) -> None:
    app.command("sweep")(store_options(StoreConfig)(sweep_command))

"""`trainer fit`: parse the options, check them before anything heavy loads, call
`trainer.training.fit`, and report how the run ended (with the command that resumes it).

The options come from the one table of `trainer fit` options (`training.options`): their
help, defaults and flags, and the request they build."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cli_edge import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    JsonOpt,
    fail,
    print_json,
    run_or_exit,
    store_options,
)
from cli_edge.options import current_user
from metrics_store import StoreConfig
from trainer.cli.common import absolute_path, quiet_hugging_face, resume_line, sync_line
from trainer.config import TrainConfig
from trainer.training.options import FIT_OPTION_TABLE, FitOption

TRAIN = TrainConfig()


def _parameter(option: FitOption) -> inspect.Parameter:
    declared = typer.Option(*option.flags, help=option.help, hidden=option.hidden, envvar=option.envvar)
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=option.default,
        annotation=Annotated[option.annotation, declared],
    )


def with_fit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Replace the command's `options` parameter by one option per row of the table (in its
    order) and call the command with `options={name: value}`."""
    signature = inspect.signature(command, eval_str=True)
    kept = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()]
    at = list(signature.parameters).index("options")
    table = [_parameter(o) for o in FIT_OPTION_TABLE]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        options = {o.name: kwargs.pop(o.name) for o in FIT_OPTION_TABLE}
        return command(**kwargs, options=options)

    parameters = [*kept[:at], *table, *kept[at + 1 :]]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]  # typer reads it
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    del wrapper.__wrapped__  # typer must read the new signature, not the command's
    return wrapper


def fit_command(
    store: StoreConfig,
    options: dict[str, Any],
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue an interrupted or failed job (same job id, same snapshot), from its last checkpoint."
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="With --resume: train the job again from step 0 (its earlier records are superseded)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train on a snapshot; every run is recorded (job, metrics, logs, checkpoints).

    Options, the table, the snapshot, the model source and the upload destination are checked
    before the job is created; a stopped run prints the command that resumes it."""
    from metrics_store import DynamoRecorder, Queries, connect
    from trainer.training.options import request_from_options
    from trainer.training.preflight import check_table, preflight
    from trainer.training.request import request_for_resume

    if restart and not resume:
        fail("--restart needs --resume JOB: it trains an existing job again from step 0")
    batching = legacy_batching(options["batching"], options["group_by_length"])

    def run():
        table_ref = connect(store)
        check_table(table_ref)  # one DescribeTable, before anything heavy is imported
        resume_id = None
        if resume:
            job = Queries(table_ref).find_job(resume)
            request, resume_id = request_for_resume(job), job.job_id
        else:
            values = {
                **options,
                "root": absolute_path(options["root"]),
                "output_dir": absolute_path(str(options["output_dir"])),
                "batching": batching,
            }
            request = request_from_options(values, created_by=current_user())
        opened = preflight(request)
        from trainer.training.fit import (
            fit,  # torch and transformers load only once every check has passed
        )

        quiet_hugging_face()
        return fit(
            request,
            lambda job_id: DynamoRecorder(table_ref, job_id),
            resume_job_id=resume_id,
            restart=restart,
            snapshot=opened,
        )

    from trainer.errors import RunInterrupted

    try:
        result = run_or_exit(run)
    except RunInterrupted as exc:  # before the job existed: nothing was recorded, nothing to resume
        fail(f"{exc} before the job was created: nothing was recorded", code=EXIT_INTERRUPTED)
    report_fit(result, store, as_json)


def report_fit(result, store: StoreConfig, as_json: bool) -> None:
    """How a run ended, the command that continues it, and what the table did not get; the
    exit code: 130 stopped (resumable), 1 finished but not recorded, 0 otherwise."""
    resume_command = resume_line("fit", result.job_id, store)
    sync_command = sync_line(result.job_id, store)
    if as_json:
        print_json(
            {
                "job_id": result.job_id,
                "status": result.status,
                "output_dir": result.output_dir,
                "best_dir": result.best_dir,
                "results": result.results,
                "stopped_by": result.stopped_by,
                "recorded": result.recorded,
                "pending_records": result.pending,
                "lease_lost": result.lease_lost,
                "resume_command": resume_command if result.status == "interrupted" and not result.lease_lost else None,
            }
        )
    else:
        typer.echo(
            f"job {result.job_id}: {result.status}"
            + (f" (stopped by {result.stopped_by})" if result.stopped_by else "")
        )
        for key, value in result.results.items():
            typer.echo(f"  {key}: {value}")
        typer.echo(f"  output: {result.output_dir}")
        if result.status == "interrupted" and not result.lease_lost:
            typer.echo(f"  resume with: {resume_command}")
    if result.lease_lost:
        typer.secho(
            f"warning: job {result.job_id} is no longer this process's: it wrote nothing more to the job or its folder "
            f"({result.stopped_by})",
            fg=typer.colors.YELLOW,
            err=True,
        )
    elif not result.recorded:
        where = (
            f"they wait in {result.pending}, and `{sync_command}` (or `{resume_command}`, or any `trainer runs` "
            "command on "
            "this machine) writes them; the checkpoints are kept until then"
            if result.pending
            else "they are lost"
        )
        typer.secho(
            f"warning: the end of job {result.job_id} could not be written to the table at "
            f"{store.endpoint_url or 'AWS'}: "
            f"{where}",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if result.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if not result.recorded:
        raise typer.Exit(EXIT_FAILED)


def legacy_batching(batching: str | None, group_by_length: bool | None) -> str:
    """--batching (default: TrainConfig's); the old `--group-by-length` / `--random-batches`
    mean length / random, and contradicting an explicit --batching they are an error."""
    if group_by_length is None:
        return batching or TRAIN.batching
    meant = "length" if group_by_length else "random"
    if batching not in (None, meant):
        flag = "--group-by-length" if group_by_length else "--random-batches"
        raise typer.BadParameter(f"{flag} means --batching {meant}; it contradicts --batching {batching}")
    return meant


def register(app: typer.Typer) -> None:
    """Register `fit` on the trainer app."""
    app.command("fit")(store_options(StoreConfig)(with_fit_options(fit_command)))

"""`trainer`: train LayoutLM on a snapshot (`fit`) and read runs back (`runs ...`).

Every default below is read from the config dataclasses (`TrainConfig()`, `ModelConfig()`),
so the CLI and the code that runs without it cannot disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli_edge import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    JsonOpt,
    fail,
    new_app,
    print_json,
    run_or_exit,
    store_options,
)
from cli_edge.options import DEFAULT_ROOT, RootOpt, current_user
from metrics_store import StoreConfig

from .cli_data_curve import add_data_curve
from .cli_mcp import add_mcp
from .cli_predict import add_commands
from .cli_review import add_review
from .cli_runs import runs_app
from .cli_sweep import add_sweep_command
from .config import Batching, ModelConfig, TrainConfig

app = new_app("Train LayoutLM token classification on a dataset snapshot and record every run.")
app.add_typer(runs_app, name="runs")

TRAIN = TrainConfig()
MODEL = ModelConfig()


@app.callback()
def main() -> None:
    """Train LayoutLM on a snapshot (`fit`); read runs back (`runs`)."""


@app.command("fit")
@store_options(StoreConfig)
def fit_command(
    store: StoreConfig,
    snapshot: Annotated[str, typer.Option(help="Snapshot id (v12) or `latest`.")] = "latest",
    root: RootOpt = DEFAULT_ROOT,
    model: Annotated[str, typer.Option(help="Hub id (cached, or downloaded on first use unless HF_HUB_OFFLINE=1), a local model folder, or `tiny`.")] = MODEL.model,
    warm_start: Annotated[str | None, typer.Option(help="Local BERT (uncased) folder: its encoder seeds LayoutLM; 2-D embeddings start fresh.")] = None,
    max_seq_length: Annotated[int, typer.Option(help="Sub-tokens per window, [CLS] and [SEP] included.")] = MODEL.max_seq_length,
    doc_stride: Annotated[int, typer.Option(help="Sub-tokens shared by consecutive windows of a long receipt (at most).")] = MODEL.doc_stride,
    epochs: Annotated[int, typer.Option(help="Passes over the training windows (early stopping may end sooner).")] = TRAIN.epochs,
    batch_size: Annotated[int, typer.Option(help="Windows per device per step.")] = TRAIN.batch_size,
    lr: Annotated[float, typer.Option(help="Peak learning rate (per optimiser step, after warm-up).")] = TRAIN.learning_rate,
    warmup_ratio: Annotated[float, typer.Option(help="Share of all optimiser steps spent warming up, in [0, 1).")] = TRAIN.warmup_ratio,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (decoupled, per step).")] = TRAIN.weight_decay,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing epsilon in [0, 1), applied with the class weights.")] = TRAIN.label_smoothing,
    gradient_accumulation_steps: Annotated[int, typer.Option(help="Batches per optimiser step (windows per update = batch size x this).")] = TRAIN.gradient_accumulation_steps,
    early_stopping_patience: Annotated[int, typer.Option(help="Evaluations without improvement before stopping; 0 disables.")] = TRAIN.early_stopping_patience or 0,
    checkpoint_metric: Annotated[str, typer.Option(help="Metric that picks the best checkpoint (val_f1, eval_loss...).")] = TRAIN.checkpoint_metric,
    class_weights: Annotated[str, typer.Option(help="auto (inverse train frequency, clipped), none, or a JSON file {tag: weight}.")] = TRAIN.class_weights,
    seed: Annotated[int, typer.Option(help="Seed of the weights, batch order and dropout.")] = TRAIN.seed,
    fp16: Annotated[bool | None, typer.Option("--fp16/--no-fp16", help="Half precision (default: bf16 or fp16 on a GPU, fp32 on CPU).")] = TRAIN.fp16,
    bf16: Annotated[bool | None, typer.Option("--bf16/--no-bf16", help="bfloat16 (default: on when the GPU supports it).")] = TRAIN.bf16,
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes (0: load in the training process).")] = TRAIN.num_workers,
    batching: Annotated[Batching | None, typer.Option(help="How windows form batches: packed (several per sequence, little padding), length (similar lengths "
                                                           f"together) or random (default: {TRAIN.batching}).")] = None,
    length_jitter: Annotated[float, typer.Option(help="With --batching length: lengths times a random factor 1 +- JITTER, in [0, 1) (0: exact sort).")] = TRAIN.length_jitter,
    group_by_length: Annotated[bool | None, typer.Option("--group-by-length/--random-batches", hidden=True,
                                                         help="Old spelling of --batching length / random.")] = None,
    eval_steps: Annotated[int | None, typer.Option(help="Evaluate every N optimiser steps (default: once per epoch).")] = TRAIN.eval_steps,
    output_dir: Annotated[Path, typer.Option(help="Runs go to OUTPUT_DIR/<job name>/.")] = Path(TRAIN.output_dir),
    job_name: Annotated[str | None, typer.Option(help="Job name (default: <snapshot>-<model>-<time>).")] = None,
    description: Annotated[str, typer.Option(help="Free text stored with the job.")] = "",
    upload_uri: Annotated[str | None, typer.Option(help="Also copy the best model to s3://bucket/prefix/.")] = None,
    allow_contract_failures: Annotated[bool, typer.Option("--allow-contract-failures", help="Train on a snapshot whose contracts failed.")] = False,
    resume: Annotated[str | None, typer.Option(help="Continue an interrupted or failed job (same job id, same snapshot), from its last checkpoint.")] = None,
    restart: Annotated[bool, typer.Option("--restart", help="With --resume: train the job again from step 0 (its earlier records are superseded).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train on a snapshot; every run is recorded (job, metrics, logs, checkpoints).

    Options, the table, the snapshot, the model source and the upload destination are checked
    before the job is created; a stopped run prints the command that resumes it."""
    from metrics_store import DynamoRecorder, Queries, connect

    from .preflight import check_table, preflight
    from .request import FitRequest, request_for_resume

    if restart and not resume:
        fail("--restart needs --resume JOB: it trains an existing job again from step 0")
    batching = legacy_batching(batching, group_by_length)

    def run():
        table_ref = connect(store)
        check_table(table_ref)  # one DescribeTable, before anything heavy is imported
        resume_id = None
        if resume:
            job = Queries(table_ref).find_job(resume)
            request, resume_id = request_for_resume(job), job.job_id
        else:
            request = FitRequest(
                snapshot_root=_absolute(root), snapshot=snapshot,
                model=ModelConfig(model=model, warm_start_text_encoder=warm_start, max_seq_length=max_seq_length, doc_stride=doc_stride),
                train=TrainConfig(
                    epochs=epochs, batch_size=batch_size, learning_rate=lr, warmup_ratio=warmup_ratio, weight_decay=weight_decay,
                    label_smoothing=label_smoothing, gradient_accumulation_steps=gradient_accumulation_steps,
                    early_stopping_patience=early_stopping_patience or None, checkpoint_metric=checkpoint_metric,
                    class_weights=class_weights, seed=seed, fp16=fp16, bf16=bf16, num_workers=num_workers,
                    eval_steps=eval_steps, batching=batching, length_jitter=length_jitter, output_dir=_absolute(str(output_dir)),
                ),
                job_name=job_name, description=description, created_by=current_user(),
                allow_contract_failures=allow_contract_failures, upload_uri=upload_uri,
            )
        opened = preflight(request)
        from .fit import fit  # torch and transformers load only once every check has passed

        _quiet_hugging_face()
        return fit(request, lambda job_id: DynamoRecorder(table_ref, job_id), resume_job_id=resume_id, restart=restart, snapshot=opened)

    from .errors import RunInterrupted

    try:
        result = run_or_exit(run)
    except RunInterrupted as exc:  # before the job existed: nothing was recorded, nothing to resume
        fail(f"{exc} before the job was created: nothing was recorded", code=EXIT_INTERRUPTED)
    report_fit(result, store, as_json)


def report_fit(result, store: StoreConfig, as_json: bool) -> None:
    """How a run ended, the command that continues it, and what the table did not get; the
    exit code: 130 stopped (resumable), 1 finished but not recorded, 0 otherwise."""
    resume_command = _resume_command(result.job_id, store)
    sync_command = _resume_command(result.job_id, store).replace("fit --resume", "runs sync")
    if as_json:
        print_json({"job_id": result.job_id, "status": result.status, "output_dir": result.output_dir, "best_dir": result.best_dir,
                    "results": result.results, "stopped_by": result.stopped_by, "recorded": result.recorded,
                    "pending_records": result.pending, "lease_lost": result.lease_lost,
                    "resume_command": resume_command if result.status == "interrupted" and not result.lease_lost else None})
    else:
        typer.echo(f"job {result.job_id}: {result.status}" + (f" (stopped by {result.stopped_by})" if result.stopped_by else ""))
        for key, value in result.results.items():
            typer.echo(f"  {key}: {value}")
        typer.echo(f"  output: {result.output_dir}")
        if result.status == "interrupted" and not result.lease_lost:
            typer.echo(f"  resume with: {resume_command}")
    if result.lease_lost:
        typer.secho(f"warning: job {result.job_id} is no longer this process's: it wrote nothing more to the job or its folder "
                    f"({result.stopped_by})", fg=typer.colors.YELLOW, err=True)
    elif not result.recorded:
        where = f"they wait in {result.pending}, and `{sync_command}` (or `{resume_command}`, or any `trainer runs` command on " \
                "this machine) writes them; the checkpoints are kept until then" if result.pending else "they are lost"
        typer.secho(f"warning: the end of job {result.job_id} could not be written to the table at {store.endpoint_url or 'AWS'}: "
                    f"{where}", fg=typer.colors.YELLOW, err=True)
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


def _absolute(location: str) -> str:
    """Paths are recorded absolute, so a resume from another working directory finds them."""
    return location if location.startswith("s3://") else str(Path(location).expanduser().resolve())


def _quiet_hugging_face() -> None:
    """Per-evaluation lines on stderr say enough: no shard-writing progress bars."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.disable_progress_bar()


def _resume_command(job_id: str, store: StoreConfig) -> str:
    """The exact command that continues a job, with the connection options it was run with."""
    parts = ["trainer", "fit", "--resume", job_id]
    defaults = StoreConfig()
    for option, value, default in (("--table", store.table, defaults.table), ("--endpoint-url", store.endpoint_url, None),
                                   ("--region", store.region, None), ("--profile", store.profile, None)):
        if value and value != default:
            parts += [option, value]
    return " ".join(parts)


add_commands(app)  # predict, export
add_sweep_command(app)
add_review(app)
add_data_curve(app)
add_mcp(app)
if __name__ == "__main__":
    app()

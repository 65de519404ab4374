"""`trainer pretrain`: masked visual-language pretraining on a corpus (`dsb corpus create`),
recorded as a job; its model folder is what `trainer fit --model DIR` fine-tunes.

Parse the options (defaults from `PretrainConfig`, `ModelConfig` and `PretrainRequest`), check
them and the table, the corpus, the model source and the output folder before anything heavy
loads, call `trainer.pretraining.job.run_pretrain`, and report how the job ended (with the
command that resumes it)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli_edge import EXIT_FAILED, EXIT_INTERRUPTED, JsonOpt, fail, print_json, run_or_exit, store_options
from cli_edge.options import DEFAULT_ROOT, RootOpt, current_user
from metrics_store import StoreConfig
from trainer.cli.common import absolute_path, quiet_hugging_face, resume_line, sync_line
from trainer.config import ModelConfig
from trainer.pretraining.config import MaskingConfig, PretrainConfig
from trainer.pretraining.request import DEFAULT_HELD_OUT_FRACTION, DEFAULT_OUTPUT_DIR, MODEL_DIR

MODEL = ModelConfig()
PRETRAIN = PretrainConfig()
MASKING = MaskingConfig()


def pretrain_command(
    store: StoreConfig,
    corpus: Annotated[
        str, typer.Option(help="Corpus id (c3) or `latest`: every receipt's words, from `dsb corpus create`.")
    ] = "latest",
    root: RootOpt = DEFAULT_ROOT,
    model: Annotated[
        str,
        typer.Option(
            help="Where to start: a hub id (cached, or downloaded on first use unless HF_HUB_OFFLINE=1), a local "
            "LayoutLM folder, or `tiny`."
        ),
    ] = MODEL.model,
    warm_start: Annotated[
        str | None,
        typer.Option(help="Local BERT (uncased) folder: its encoder (and MLM head) seed LayoutLM; replaces --model."),
    ] = None,
    max_seq_length: Annotated[
        int, typer.Option(help="Sub-tokens per window, [CLS] and [SEP] included (fine-tune with the same).")
    ] = MODEL.max_seq_length,
    doc_stride: Annotated[
        int, typer.Option(help="Sub-tokens shared by consecutive windows of a long receipt (at most).")
    ] = MODEL.doc_stride,
    steps: Annotated[
        int | None, typer.Option(help="Optimiser steps to pretrain for (instead of --epochs).")
    ] = PRETRAIN.max_steps,
    epochs: Annotated[
        float | None,
        typer.Option(help=f"Passes over the corpus windows, when --steps is not given (default {PRETRAIN.epochs:g})."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Windows per device step.")] = PRETRAIN.batch_size,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")] = PRETRAIN.learning_rate,
    warmup_ratio: Annotated[
        float, typer.Option(help="Share of the steps spent warming the learning rate up, in [0, 1).")
    ] = PRETRAIN.warmup_ratio,
    seed: Annotated[
        int,
        typer.Option(help="Seeds the fresh weights, dropout, the batch order, the masks and the held-out receipts."),
    ] = PRETRAIN.seed,
    mlm_probability: Annotated[
        float, typer.Option(help="Share of each window's word pieces masked (whole words at a time).")
    ] = MASKING.mlm_probability,
    box_mask_probability: Annotated[
        float, typer.Option(help="Share of the masked words whose box is masked too (0: boxes kept).")
    ] = MASKING.box_mask_probability,
    held_out_fraction: Annotated[
        float,
        typer.Option(
            help="Share of the corpus's receipts kept out of pretraining to measure the masked-LM loss on, before and "
            "after (0: none)."
        ),
    ] = DEFAULT_HELD_OUT_FRACTION,
    save_steps: Annotated[
        float | None,
        typer.Option(help="Checkpoint every N steps (a share of the steps when below 1); a resume continues from one."),
    ] = PRETRAIN.save_steps,
    output_dir: Annotated[
        str, typer.Option(help=f"The job's folder is OUTPUT_DIR/<job name>-<id>/; the model its {MODEL_DIR}/.")
    ] = DEFAULT_OUTPUT_DIR,
    job_name: Annotated[
        str | None, typer.Option(help="Job name (default: pretrain-<corpus>-<model source>-<time>).")
    ] = None,
    description: Annotated[str, typer.Option(help="Free text stored with the job.")] = "",
    allow_contract_failures: Annotated[
        bool, typer.Option("--allow-contract-failures", help="Pretrain on a corpus whose contracts failed.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue an interrupted or failed pretrain job (same job id, same corpus) from its last checkpoint."
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="With --resume: pretrain the job again from step 0 (earlier records superseded)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pretrain LayoutLM on a corpus of every receipt (masked visual-language modelling); the job
    is recorded (loss, learning rate and tokens/s per step, held-out masked-LM loss before and
    after) and its model folder is what `trainer fit --model DIR` fine-tunes.

    The table, the corpus, the model source and the output folder are checked before the job is
    created; a stopped job prints the command that resumes it."""
    if restart and not resume:
        fail("--restart needs --resume JOB: it pretrains an existing job again from step 0")
    if steps is not None and epochs is not None:
        fail("pass --steps or --epochs, not both")

    def run():
        from metrics_store import DynamoRecorder, Queries, connect
        from trainer.pretraining.preflight import preflight
        from trainer.pretraining.request import PretrainRequest, request_for_resume
        from trainer.training.preflight import check_table

        table_ref = connect(store)
        check_table(table_ref)  # one DescribeTable, before anything heavy is imported
        resume_id = None
        if resume:
            job = Queries(table_ref).find_job(resume)
            request, resume_id = request_for_resume(job), job.job_id
        else:
            request = PretrainRequest(
                corpus_root=absolute_path(root),
                corpus=corpus,
                model=ModelConfig(
                    model=model,
                    warm_start_text_encoder=warm_start,
                    max_seq_length=max_seq_length,
                    doc_stride=doc_stride,
                ),
                pretrain=PretrainConfig(
                    max_steps=steps,
                    epochs=epochs if epochs is not None else PRETRAIN.epochs,
                    batch_size=batch_size,
                    learning_rate=lr,
                    warmup_ratio=warmup_ratio,
                    seed=seed,
                    save_steps=save_steps,
                    masking=MaskingConfig(mlm_probability=mlm_probability, box_mask_probability=box_mask_probability),
                ),
                held_out_fraction=held_out_fraction,
                output_dir=absolute_path(output_dir),
                job_name=job_name,
                description=description,
                created_by=current_user(),
                allow_contract_failures=allow_contract_failures,
            )
        opened = preflight(request)
        from trainer.pretraining.job import run_pretrain  # torch loads only once every check has passed

        quiet_hugging_face()
        return run_pretrain(
            request,
            lambda job_id: DynamoRecorder(table_ref, job_id),
            resume_job_id=resume_id,
            restart=restart,
            corpus=opened,
        )

    from trainer.errors import RunInterrupted

    try:
        result = run_or_exit(run)
    except RunInterrupted as exc:  # before the job existed: nothing was recorded, nothing to resume
        fail(f"{exc} before the job was created: nothing was recorded", code=EXIT_INTERRUPTED)
    report_pretrain(result, store, as_json)


def report_pretrain(result, store: StoreConfig, as_json: bool) -> None:
    """How the job ended, the command that continues it or fine-tunes its model, and what the
    table did not get; the exit code: 130 stopped (resumable), 1 finished but not recorded, 0 otherwise."""
    resume_command = resume_line("pretrain", result.job_id, store)
    resumable = result.status == "interrupted" and not result.lease_lost
    if as_json:
        print_json(
            {
                "job_id": result.job_id,
                "status": result.status,
                "output_dir": result.output_dir,
                "model_dir": result.model_dir,
                "results": result.results,
                "stopped_by": result.stopped_by,
                "recorded": result.recorded,
                "pending_records": result.pending,
                "lease_lost": result.lease_lost,
                "resume_command": resume_command if resumable else None,
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
        if result.model_dir:
            typer.echo(f"  fine-tune it with: trainer fit --model {result.model_dir}")
        if resumable:
            typer.echo(f"  resume with: {resume_command}")
    if result.lease_lost:
        typer.secho(
            f"warning: job {result.job_id} is no longer this process's: it wrote nothing more to the job or its folder "
            f"({result.stopped_by})",
            fg=typer.colors.YELLOW,
            err=True,
        )
    elif not result.recorded:
        sync_command = sync_line(result.job_id, store)
        where = (
            f"they wait in {result.pending}, and `{sync_command}` (or `{resume_command}`) writes them; the checkpoints "
            "are kept until then"
            if result.pending
            else "they are lost"
        )
        typer.secho(
            f"warning: the end of job {result.job_id} could not be written to the table at "
            f"{store.endpoint_url or 'AWS'}: {where}",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if result.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if not result.recorded:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Register `pretrain` on the trainer app."""
    app.command("pretrain")(store_options(StoreConfig)(pretrain_command))

"""`trainer`: train LayoutLM on a snapshot (`fit`) and read runs back (`runs ...`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from metrics_store.cli_support import (
    EndpointOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TableOpt,
    fail,
    print_json,
    store_config,
)

from .cli_runs import runs_app

app = typer.Typer(help="Train LayoutLM token classification on a dataset snapshot and record every run.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

DEFAULT_MODEL = "microsoft/layoutlm-base-uncased"
EXIT_INTERRUPTED = 130  # like a shell's SIGINT: stopped cleanly, resumable with --resume


@app.callback()
def main() -> None:
    """Train LayoutLM on a snapshot (`fit`); read runs back (`runs`)."""


@app.command("fit")
def fit_command(
    snapshot: Annotated[str, typer.Option(help="Snapshot id (v12) or `latest`.")] = "latest",
    root: Annotated[str, typer.Option("--root", envvar="RECEIPT_ML_SNAPSHOT_ROOT", help="Snapshot root: a folder or s3://bucket/prefix.")] = "snapshots",
    model: Annotated[str, typer.Option(help="Hub id (from the local cache only), a local model folder, or `tiny`.")] = DEFAULT_MODEL,
    warm_start: Annotated[str | None, typer.Option(help="Local BERT (uncased) folder: its encoder seeds LayoutLM; 2-D embeddings start fresh.")] = None,
    max_seq_length: Annotated[int, typer.Option(help="Sub-tokens per window, [CLS]/[SEP] included.")] = 512,
    doc_stride: Annotated[int, typer.Option(help="Sub-tokens shared by consecutive windows of a long receipt.")] = 128,
    epochs: Annotated[int, typer.Option(help="Epochs (early stopping may end sooner).")] = 20,
    batch_size: Annotated[int, typer.Option(help="Windows per device step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-5,
    warmup_ratio: Annotated[float, typer.Option(help="Share of optimiser steps spent warming up.")] = 0.1,
    weight_decay: Annotated[float, typer.Option()] = 0.01,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing epsilon (applied with the class weights).")] = 0.0,
    gradient_accumulation_steps: Annotated[int, typer.Option()] = 1,
    early_stopping_patience: Annotated[int, typer.Option(help="Evaluations without improvement before stopping; 0 disables.")] = 5,
    checkpoint_metric: Annotated[str, typer.Option(help="Metric that picks the best checkpoint (val_f1, eval_loss...).")] = "val_f1",
    class_weights: Annotated[str, typer.Option(help="auto (inverse train frequency, clipped), none, or a JSON file {tag: weight}.")] = "none",
    seed: Annotated[int, typer.Option()] = 42,
    fp16: Annotated[bool | None, typer.Option("--fp16/--no-fp16", help="Default: automatic on GPU.")] = None,
    bf16: Annotated[bool | None, typer.Option("--bf16/--no-bf16", help="Default: automatic on GPU.")] = None,
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    group_by_length: Annotated[bool, typer.Option("--group-by-length/--random-batches",
                                                  help="Batch windows of similar length (less padding, faster) or draw them at random.")] = True,
    length_jitter: Annotated[float, typer.Option(help="Randomness of the length grouping: lengths are sorted times a random factor 1 +- JITTER (0: exact sort; < 1).")] = 0.6,
    eval_steps: Annotated[int | None, typer.Option(help="Evaluate every N steps (default: every epoch).")] = None,
    output_dir: Annotated[Path, typer.Option(help="Runs go to OUTPUT_DIR/<job name>/.")] = Path("runs"),
    job_name: Annotated[str | None, typer.Option(help="Job name (default: <snapshot>-<model>-<time>).")] = None,
    description: Annotated[str, typer.Option()] = "",
    upload_uri: Annotated[str | None, typer.Option(help="Also copy the best model to s3://bucket/prefix/.")] = None,
    allow_contract_failures: Annotated[bool, typer.Option(help="Train on a snapshot whose contracts failed.")] = False,
    resume: Annotated[str | None, typer.Option(help="Continue an interrupted or failed job (same job id, same snapshot).")] = None,
    table: TableOpt = "ReceiptsTable",
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train on a snapshot; every run is recorded (job, metrics, logs, checkpoints)."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    from metrics_store import DynamoRecorder, Queries, StoreError, connect

    from .config import ModelConfig, TrainConfig
    from .fit import FitError, FitRequest, fit, request_for_resume
    from .model import ModelNotCachedError

    disable_progress_bars()  # per-evaluation lines on stderr say enough; no shard-writing bars
    hf_logging.disable_progress_bar()
    try:
        table_ref = connect(store_config(table, endpoint_url, region, profile))
        if resume:
            request = request_for_resume(Queries(table_ref).find_job(resume))
        else:
            request = FitRequest(
                snapshot_root=root, snapshot=snapshot,
                model=ModelConfig(model=model, warm_start_text_encoder=warm_start, max_seq_length=max_seq_length, doc_stride=doc_stride),
                train=TrainConfig(
                    epochs=epochs, batch_size=batch_size, learning_rate=lr, warmup_ratio=warmup_ratio, weight_decay=weight_decay,
                    label_smoothing=label_smoothing, gradient_accumulation_steps=gradient_accumulation_steps,
                    early_stopping_patience=early_stopping_patience or None, checkpoint_metric=checkpoint_metric,
                    class_weights=class_weights, seed=seed, fp16=fp16, bf16=bf16, num_workers=num_workers,
                    eval_steps=eval_steps, group_by_length=group_by_length, length_jitter=length_jitter, output_dir=str(output_dir),
                ),
                job_name=job_name, description=description, created_by=os.environ.get("USER", ""),
                allow_contract_failures=allow_contract_failures, upload_uri=upload_uri,
            )
        resume_id = Queries(table_ref).find_job(resume).job_id if resume else None
        result = fit(request, lambda job_id: DynamoRecorder(table_ref, job_id), resume_job_id=resume_id)
    except (FitError, ModelNotCachedError, StoreError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
        return
    if as_json:
        print_json({"job_id": result.job_id, "status": result.status, "output_dir": result.output_dir, "best_dir": result.best_dir, "results": result.results})
    else:
        typer.echo(f"job {result.job_id}: {result.status}")
        for key, value in result.results.items():
            typer.echo(f"  {key}: {value}")
        typer.echo(f"  output: {result.output_dir}")
    if result.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    app()

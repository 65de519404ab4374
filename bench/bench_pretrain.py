"""Layout pretraining on unlabelled receipts, then fine-tuning on CORD: with pretraining against
without, side by side, in one run.

The corpus (`dataset_builder.corpus`, built by `create_corpus` as `dsb corpus create` builds
one) is CORD's 800 train receipts with their labels ignored plus `--generated` generated
receipts written to the table without any label item, read from one DynamoDB Local table that
also holds CORD's 100 test receipts: the corpus is built for the snapshot whose val split is
CORD's test split, so it leaves them out (checked: no test receipt in the corpus). Pretraining
(`trainer.pretraining.pretrain`, masked visual-language modelling, whole-word masking of 15%
of the word pieces, boxes kept) starts from the same model as the fine-tune it is compared
with, and the fine-tunes (`trainer.training.fit.fit`, recorded in memory) share everything else: the
snapshot, the recipe, the epochs, the learning rate, the seeds.

Three sections (`--sections`):

- `main`: tiny and MiniLM warm start (`--models`), fine-tuned on all 800 labelled receipts,
  without pretraining and after `--pretrain-steps` steps, each over `--seeds` (at least 3 for a
  spread): strict F1 mean and standard deviation, the gain with its standard error, per label,
  and the pretraining cost (steps, minutes, tokens/s, held-out masked-LM loss before/after).
  The tiny model also gets `corpus vocab, 0 steps`: fine-tuned from an untrained model with
  the corpus's vocabulary, which tells the vocabulary's share of the gain from the training's.
  `--box-mask 0,1` adds pretrained variants whose masked words also lose their box.
- `scarce`: the label-scarce curve: fine-tune on 50, 100, 200 and all 800 labelled CORD
  receipts (`--label-curve`; a fixed random order of the train receipts, so each set holds
  the smaller ones), pretrained on all 800 unlabelled (the same corpus and pretrained model)
  against the same without, for `--curve-models`. Each size is its own table: the chosen
  receipts imported with their labels, the others without (what a user's table looks like).
- `steps`: strict F1 against pretraining steps (`--steps-curve 0,500,2000`), for
  `--curve-models`, on all 800: each point a pretraining of that many steps (its own
  schedule), so it is what `--steps N` would give a user.

CORD's test split is the val split of every snapshot: the best epoch is chosen on it, alike
for every recipe, as bench/bench_cord.py does; the last epoch's F1 is kept too.

    .venv/bin/python bench/bench_pretrain.py                                     # everything, defaults below
    .venv/bin/python bench/bench_pretrain.py --sections main --models warm --seeds 1,2,3 --pretrain-steps 2000
    # a smoke run on 2 cores, a few minutes:
    .venv/bin/python bench/bench_pretrain.py --models tiny --seeds 1 --epochs-tiny 1 --pretrain-steps 20 \\
        --steps-curve 0,10 --label-curve 50 --curve-models tiny --generated 20 --pretrain-batch-size 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import re
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from _local import CORD_JSONL, REPO_ROOT, fresh_table, local_endpoint, print_table
from _recipes import machine_line, set_threads, warm_start_dir
from bench_cord import LABEL_MAP, run_ours

from dataset_builder.build import create_snapshot
from dataset_builder.config import BuildConfig
from dataset_builder.contracts import corpus_gate
from dataset_builder.corpus import corpus_backend, create_corpus, open_corpus, val_overlap
from dataset_builder.labels import MERGE_PRESETS
from dataset_builder.receipts import generate_receipts, import_jsonl, write_bundles
from dataset_builder.snapshot import open_snapshot
from dataset_builder.storage import LocalBackend
from trainer.config import ModelConfig, TrainConfig
from trainer.training.fit import FitRequest

SECTIONS = ("main", "scarce", "steps")
NONE = "none"


def _list(arg: str, cast=str) -> list:
    items = [cast(item.strip()) for item in arg.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


# ---- data ----------------------------------------------------------------------------------


def cord_lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORD_JSONL.read_text(encoding="utf-8").splitlines() if line.strip()]


def train_order(lines: list[dict[str, Any]], seed: int) -> list[str]:
    """CORD's train receipt ids in a fixed random order: the first n are the n labelled ones."""
    ids = sorted(line["receipt_id"] for line in lines if line["split"] == "train")
    random.Random(seed).shuffle(ids)
    return ids


def write_cord(path: Path, lines: list[dict[str, Any]], labelled: set[str] | None) -> Path:
    """CORD as a receipt JSONL file (named cord.jsonl, so every copy keys receipts alike);
    train receipts outside `labelled` (None: all) lose their labels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            if labelled is not None and line["split"] == "train" and line["receipt_id"] not in labelled:
                line = {**line, "words": [{k: v for k, v in word.items() if k != "label"} for word in line["words"]]}
            out.write(json.dumps(line) + "\n")
    return path


def import_cord(table: Any, path: Path, merge_preset: str, root: Path) -> Any:
    """Import a CORD file; build its snapshot (val split: CORD's test receipts) in `root`."""
    keys_out = path.with_name("test_keys.txt")
    import_jsonl(table, path, label_map=LABEL_MAP, status="VALID", strict=True, split_keys_out=keys_out)
    config = BuildConfig(val_keys=tuple(keys_out.read_text(encoding="utf-8").split()), merge_preset=merge_preset)
    result = create_snapshot(
        table=table, backend=LocalBackend(root), config=config, source={"table": table.name}, record=False
    )
    return open_snapshot(root, result.snapshot_id)


def build_data(args: argparse.Namespace, out: Path) -> tuple[dict[int, Any], Any]:
    """Snapshots per number of labelled receipts ({800: the full one, n: ...}) and the corpus."""
    lines = cord_lines()
    n_train = sum(line["split"] == "train" for line in lines)
    order = train_order(lines, args.label_seed)
    snapshots: dict[int, Any] = {}
    with local_endpoint() as endpoint:
        with fresh_table(endpoint, "bench-pretrain") as (_, table):
            start = time.perf_counter()
            root = out / "full"
            snapshots[n_train] = import_cord(
                table, write_cord(root / "cord.jsonl", lines, None), args.merge_preset, root
            )
            generated = [
                dataclasses.replace(r, labels=()) for r in generate_receipts(args.generated_seed, args.generated)
            ]
            if generated:
                write_bundles(table, generated)
            result = create_corpus(
                table=table,
                backend=corpus_backend(root),
                source={"table": table.name},
                exclude=snapshots[n_train],
                check_contracts=corpus_gate(),
            )
            corpus = open_corpus(root, result.corpus_id)
            print(
                f"table: CORD (900, every label VALID) + {len(generated)} unlabelled generated receipts in "
                f"{time.perf_counter() - start:.0f}s; "
                f"snapshot {snapshots[n_train].id}: {len(snapshots[n_train].receipts)} receipts; corpus {corpus.id}: "
                f"{corpus.lock.counts.receipts} receipts ({corpus.lock.counts.receipts_without_labels} without a "
                "label item), "
                f"{corpus.lock.counts.words:,} words, contracts {corpus.contracts.status}",
                flush=True,
            )
        for n in sorted(set(args.label_curve) - {n_train}) if "scarce" in args.sections else []:
            if not 0 < n < n_train:
                raise SystemExit(f"--label-curve {n}: between 1 and {n_train}")
            with fresh_table(endpoint, f"bench-pretrain-{n}") as (_, table):
                root = out / f"labelled-{n}"
                snapshots[n] = import_cord(
                    table, write_cord(root / "cord.jsonl", lines, set(order[:n])), args.merge_preset, root
                )
                print(
                    f"snapshot of {n} labelled receipts: {snapshots[n].lock.counts.split('train').receipts} train, "
                    f"{snapshots[n].lock.counts.split('val').receipts} val",
                    flush=True,
                )
    for n, snapshot in snapshots.items():
        leaked = val_overlap(corpus, snapshot)
        if leaked:
            raise SystemExit(
                f"the corpus holds {len(leaked)} val receipts of the {n}-receipt snapshot: refusing to score on them"
            )
    return snapshots, corpus


# ---- pretraining ---------------------------------------------------------------------------


def model_config(name: str, args: argparse.Namespace, folder: Path | None = None) -> ModelConfig:
    common = {"max_seq_length": args.max_seq_length, "doc_stride": args.doc_stride}
    if folder is not None:
        return ModelConfig(model=str(folder), **common)
    if name == "tiny":
        return ModelConfig(model="tiny", **common)
    return ModelConfig(warm_start_text_encoder=str(warm_start_dir()), **common)


def pretrain_model(
    name: str, steps: int, box_mask: float, corpus: Any, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """Pretrain `name` for `steps` steps (0: build only) on the corpus; save the folder; return its cost."""
    from transformers import set_seed

    from trainer.pretraining import (
        MaskingConfig,
        PretrainConfig,
        PretrainLineage,
        build_masked_lm,
        corpus_examples,
        corpus_ref,
        corpus_windows,
        hold_out,
        masked_lm_score,
        pretrain,
        save_pretrained_model,
    )

    config_of = model_config(name, args)
    set_seed(args.pretrain_seed)
    built = build_masked_lm(config_of, corpus.words["text"].to_list())
    examples = corpus_examples(corpus.words)
    windows = corpus_windows(
        examples,
        built.tokenizer,
        args.max_seq_length,
        args.doc_stride,
        cache_dir=out / "feature-cache",
        corpus_sha256=corpus.content_sha256,
    )
    train, held = hold_out(windows, examples, args.held_out, seed=args.pretrain_seed)
    masking = MaskingConfig(box_mask_probability=box_mask)
    before = masked_lm_score(built.model, built.tokenizer, held, masking, seed=1)
    config = PretrainConfig(
        max_steps=max(steps, 1),
        batch_size=args.pretrain_batch_size,
        learning_rate=args.pretrain_lr_tiny if name == "tiny" else args.pretrain_lr_warm,
        warmup_ratio=args.warmup_ratio,
        seed=args.pretrain_seed,
        masking=masking,
        logging_steps=0.05,
        save_steps=None,
    )
    folder = out / "pretrained" / f"{name}-{steps}-box{box_mask:g}"
    shutil.rmtree(folder, ignore_errors=True)
    print(
        f"== pretraining {name} for {steps} steps (box mask {box_mask:g}) on {len(train)} windows, {len(held)} "
        "held out",
        file=sys.stderr,
        flush=True,
    )
    if steps > 0:
        outcome = pretrain(
            built.model,
            built.tokenizer,
            train,
            config,
            output_dir=folder / "checkpoints",
            max_seq_length=args.max_seq_length,
            on_log=lambda log: print(
                f"   step {log.step} loss {log.loss:.3f} lr {log.learning_rate:.2e} "
                f"{log.tokens_per_second:,.0f} tokens/s",
                file=sys.stderr,
                flush=True,
            ),
        )
        model, figures = outcome.model, outcome.summary()
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    else:
        model, figures = (
            built.model,
            {"steps": 0, "epochs": 0.0, "train_runtime_s": 0.0, "tokens_seen": 0, "tokens_per_second": 0.0},
        )
    after = masked_lm_score(model, built.tokenizer, held, masking, seed=1)
    lineage = PretrainLineage(
        corpus=corpus_ref(corpus),
        source=built.describe(config_of),
        steps=figures["steps"],
        epochs=figures["epochs"],
        tokens_seen=figures["tokens_seen"],
        train_runtime_s=figures["train_runtime_s"],
        tokens_per_second=figures["tokens_per_second"],
        max_seq_length=args.max_seq_length,
        doc_stride=args.doc_stride,
        windows=len(train),
        config=config.to_dict(),
        held_out={"before": before.to_dict(), "after": after.to_dict()},
    )
    save_pretrained_model(model, built.tokenizer, folder, lineage)
    cost = {
        "model": name,
        "steps": steps,
        "box_mask": box_mask,
        "folder": str(folder),
        "minutes": figures["train_runtime_s"] / 60,
        "tokens_per_second": figures["tokens_per_second"],
        "tokens_seen": figures["tokens_seen"],
        "epochs": figures["epochs"],
        "windows": len(train),
        "mlm_before": before.to_dict(),
        "mlm_after": after.to_dict(),
        "mlm_head": built.head,
    }
    print(
        f"   held-out masked-LM loss {before.loss:.3f} -> {after.loss:.3f}, accuracy {before.accuracy:.3f} -> "
        f"{after.accuracy:.3f}, "
        f"{cost['minutes']:.1f} min, {cost['tokens_per_second']:,.0f} tokens/s",
        file=sys.stderr,
        flush=True,
    )
    return cost


# ---- fine-tuning ---------------------------------------------------------------------------


def fine_tune(
    name: str, recipe: str, seed: int, snapshot: Any, folder: Path | None, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    epochs, lr = (args.epochs_tiny, args.lr_tiny) if name == "tiny" else (args.epochs_warm, args.lr_warm)
    request = FitRequest(
        snapshot_root=str(Path(snapshot.uri).parent),
        snapshot=snapshot.id,
        model=model_config(name, args, folder),
        train=TrainConfig(
            epochs=epochs,
            batch_size=args.batch_size,
            learning_rate=lr,
            warmup_ratio=args.warmup_ratio,
            seed=seed,
            early_stopping_patience=None,
            output_dir=str(out / "runs"),
        ),
        job_name=re.sub(r"[^A-Za-z0-9._-]+", "-", f"{name}-{recipe}-{len(snapshot.receipts)}-{seed}"),
        cache_dir=str(out / "feature-cache"),
    )
    print(
        f"== fine-tune {name} / {recipe} on {snapshot.lock.counts.split('train').receipts} labelled receipts, seed "
        f"{seed}",
        file=sys.stderr,
        flush=True,
    )
    result = run_ours(request)
    print(
        f"   strict F1 {result['f1']:.4f} (last epoch {result['last_f1']:.4f}), {result['train_s']:.0f}s",
        file=sys.stderr,
        flush=True,
    )
    return {
        "model": name,
        "recipe": recipe,
        "seed": seed,
        "labelled": snapshot.lock.counts.split("train").receipts,
        **result,
    }


# ---- figures -------------------------------------------------------------------------------


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def gain(values: list[float], base: list[float]) -> tuple[float, float | None] | None:
    """Mean gain over `base` and its standard error (None with fewer than two values a side)."""
    if not values or not base:
        return None
    difference = statistics.mean(values) - statistics.mean(base)
    if len(values) < 2 or len(base) < 2:
        return difference, None
    return difference, math.sqrt(statistics.variance(values) / len(values) + statistics.variance(base) / len(base))


def gain_text(values: list[float], base: list[float]) -> str:
    found = gain(values, base)
    if found is None:
        return "-"
    return f"{found[0]:+.4f}" + (f" ± {found[1]:.4f}" if found[1] is not None else "")


def f1s(runs: list[dict[str, Any]], **match: Any) -> list[float]:
    return [float(r["f1"]) for r in runs if all(r.get(k) == v for k, v in match.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", type=lambda a: _list(a), default=list(SECTIONS), help="main, scarce, steps")
    parser.add_argument("--models", type=_list, default=["tiny", "warm"], help="main section: tiny, warm")
    parser.add_argument("--curve-models", type=_list, default=["warm"], help="scarce and steps sections: tiny, warm")
    parser.add_argument(
        "--seeds", type=lambda a: _list(a, int), default=[1, 2, 3], help="fine-tuning seeds (at least 3 for a spread)"
    )
    parser.add_argument(
        "--pretrain-steps", type=int, default=2000, help="pretraining steps of the main and scarce sections"
    )
    parser.add_argument(
        "--steps-curve", type=lambda a: _list(a, int), default=[0, 500, 2000], help="steps section: pretraining steps"
    )
    parser.add_argument(
        "--label-curve",
        type=lambda a: _list(a, int),
        default=[50, 100, 200, 800],
        help="scarce section: labelled receipts",
    )
    parser.add_argument(
        "--box-mask",
        type=lambda a: _list(a, float),
        default=[0.0],
        help="main section: box_mask_probability of the pretrained variants (0: boxes kept; e.g. 0,1)",
    )
    parser.add_argument("--generated", type=int, default=800, help="unlabelled generated receipts added to the corpus")
    parser.add_argument("--generated-seed", type=int, default=7)
    parser.add_argument(
        "--label-seed", type=int, default=0, help="order in which train receipts are labelled (scarce section)"
    )
    parser.add_argument("--pretrain-seed", type=int, default=0)
    parser.add_argument("--pretrain-batch-size", type=int, default=16, help="windows per pretraining step (packed)")
    parser.add_argument("--pretrain-lr-tiny", type=float, default=1e-3)
    parser.add_argument("--pretrain-lr-warm", type=float, default=1e-4)
    parser.add_argument(
        "--held-out", type=float, default=0.05, help="share of corpus receipts kept out to measure the masked-LM loss"
    )
    parser.add_argument("--epochs-tiny", type=int, default=20)
    parser.add_argument("--epochs-warm", type=int, default=4)
    parser.add_argument("--lr-tiny", type=float, default=2e-3)
    parser.add_argument("--lr-warm", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=16, help="fine-tuning windows per step")
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--doc-stride", type=int, default=32)
    parser.add_argument("--merge-preset", default="none", choices=sorted(MERGE_PRESETS))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "bench" / "out" / "pretrain",
        help="tables' snapshots, models, runs, results",
    )
    args = parser.parse_args()
    if set(args.sections) - set(SECTIONS) or {*args.models, *args.curve_models} - {"tiny", "warm"}:
        raise SystemExit(f"--sections: {', '.join(SECTIONS)}; --models / --curve-models: tiny, warm")
    if not CORD_JSONL.is_file():
        raise SystemExit(
            f"CORD is not here: {CORD_JSONL} is missing (see ../shared/datasets/cord/README.md); nothing to benchmark"
        )
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    set_threads(args.threads)
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"before: {machine_line()}; device {device}", flush=True)
    started = time.perf_counter()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    snapshots, corpus = build_data(args, args.out / "data")
    n_all = max(snapshots)

    # which pretrained models each section needs: (model, steps, box mask)
    wanted: set[tuple[str, int, float]] = set()
    if "main" in args.sections:
        wanted |= {(m, args.pretrain_steps, b) for m in args.models for b in args.box_mask}
        wanted |= {("tiny", 0, 0.0)} if "tiny" in args.models else set()
    if "scarce" in args.sections:
        wanted |= {(m, args.pretrain_steps, 0.0) for m in args.curve_models}
    if "steps" in args.sections:
        wanted |= {(m, s, 0.0) for m in args.curve_models for s in args.steps_curve if s > 0}
    costs = {key: pretrain_model(*key, corpus, args, args.out) for key in sorted(wanted)}
    folder = {key: Path(cost["folder"]) for key, cost in costs.items()}

    runs: list[dict[str, Any]] = []
    done: dict[tuple[str, str, int, int], dict[str, Any]] = {}

    def run(name: str, recipe: str, seed: int, n: int, key: tuple[str, int, float] | None) -> None:
        if (name, recipe, seed, n) not in done:
            done[(name, recipe, seed, n)] = fine_tune(
                name, recipe, seed, snapshots[n], folder[key] if key else None, args, args.out
            )
            runs.append(done[(name, recipe, seed, n)])

    pretrained = lambda steps, box=0.0: f"pretrained {steps}" + (f", box mask {box:g}" if box else "")  # noqa: E731
    for seed in args.seeds:
        if "main" in args.sections:
            for name in args.models:
                run(name, NONE, seed, n_all, None)
                if name == "tiny":
                    run(name, "corpus vocab, 0 steps", seed, n_all, ("tiny", 0, 0.0))
                for box in args.box_mask:
                    run(name, pretrained(args.pretrain_steps, box), seed, n_all, (name, args.pretrain_steps, box))
        for name in args.curve_models:
            if "scarce" in args.sections:
                for n in sorted(snapshots):
                    if n in args.label_curve or n == n_all:
                        run(name, NONE, seed, n, None)
                        run(name, pretrained(args.pretrain_steps), seed, n, (name, args.pretrain_steps, 0.0))
            if "steps" in args.sections:
                for steps in args.steps_curve:
                    run(
                        name,
                        NONE if steps == 0 else pretrained(steps),
                        seed,
                        n_all,
                        None if steps == 0 else (name, steps, 0.0),
                    )
    total = time.perf_counter() - started
    print(f"after:  {machine_line()}; device {device}")
    seeds = ",".join(map(str, args.seeds))

    cost_rows = [
        [
            c["model"],
            c["steps"],
            f"{c['box_mask']:g}",
            c["mlm_head"],
            c["windows"],
            f"{c['epochs']:.1f}",
            f"{c['minutes']:.2f}",
            f"{c['tokens_per_second']:,.0f}",
            f"{c['tokens_seen']:,}",
            f"{c['mlm_before']['loss']:.3f} -> {c['mlm_after']['loss']:.3f}",
            f"{c['mlm_before']['accuracy']:.3f} -> {c['mlm_after']['accuracy']:.3f}",
        ]
        for c in costs.values()
    ]
    print_table(
        f"Pretraining cost on {device}: corpus {corpus.id} ({corpus.lock.counts.receipts} receipts: CORD train + "
        f"{args.generated} "
        f"generated, CORD test left out), batch {args.pretrain_batch_size} packed windows of {args.max_seq_length}",
        [
            "model",
            "steps",
            "box mask",
            "MLM head",
            "windows",
            "epochs",
            "minutes",
            "tokens/s",
            "tokens",
            "held-out MLM loss",
            "held-out MLM accuracy",
        ],
        cost_rows,
    )

    if "main" in args.sections:
        labelled = snapshots[n_all].lock.counts.split("train").receipts
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for name in args.models:
            recipes = [
                NONE,
                *(["corpus vocab, 0 steps"] if name == "tiny" else []),
                *(pretrained(args.pretrain_steps, b) for b in args.box_mask),
            ]
            for recipe in recipes:
                groups[(name, recipe)] = [
                    r for r in runs if r["model"] == name and r["recipe"] == recipe and r["labelled"] == labelled
                ]
        rows = []
        for (name, recipe), group in groups.items():
            values = [float(r["f1"]) for r in group]
            rows.append(
                [
                    f"{name} / {recipe}",
                    mean_sd(values),
                    gain_text(values, f1s(runs, model=name, recipe=NONE, labelled=labelled)) if recipe != NONE else "-",
                    mean_sd([float(r["f1_lenient"]) for r in group]),
                    mean_sd([float(r["last_f1"]) for r in group]),
                    ", ".join(f"{r['best_epoch']:g}/{r['epochs']:g}" for r in group),
                    f"{statistics.mean(r['train_s'] for r in group):.0f}",
                ]
            )
        print_table(
            f"CORD test split (100 receipts), fine-tuned on all {labelled} labelled: strict F1 at the best epoch, "
            f"seeds {seeds}",
            ["model / recipe", "strict F1", "gain ± SE", "lenient F1", "last-epoch F1", "best/epochs", "fine-tune s"],
            rows,
        )
        first = next(iter(groups.values()))[0]
        print_table(
            f"Strict F1 per label (mean over seeds {seeds}; support in CORD's test split)",
            ["label", "support", *(f"{m} / {r}" for m, r in groups)],
            [
                [
                    label,
                    first["per_label"][label]["support"],
                    *(
                        f"{statistics.mean(run['per_label'][label]['f1'] for run in group):.3f}"
                        for group in groups.values()
                    ),
                ]
                for label in first["per_label"]
            ],
        )

    if "scarce" in args.sections:
        rows = []
        for name in args.curve_models:
            for n in sorted(snapshots):
                labelled = snapshots[n].lock.counts.split("train").receipts
                base = f1s(runs, model=name, recipe=NONE, labelled=labelled)
                ours = f1s(runs, model=name, recipe=pretrained(args.pretrain_steps), labelled=labelled)
                if base and ours:
                    rows.append([name, labelled, mean_sd(base), mean_sd(ours), gain_text(ours, base)])
        print_table(
            f"Label-scarce curve: strict F1 on CORD's test split, without vs after {args.pretrain_steps} pretraining "
            "steps on all "
            f"{corpus.lock.counts.receipts} unlabelled receipts, seeds {seeds}",
            ["model", "labelled receipts", "without pretraining", "pretrained", "gain ± SE"],
            rows,
        )

    if "steps" in args.sections:
        rows = []
        labelled = snapshots[n_all].lock.counts.split("train").receipts
        for name in args.curve_models:
            base = f1s(runs, model=name, recipe=NONE, labelled=labelled)
            for steps in sorted(args.steps_curve):
                values = base if steps == 0 else f1s(runs, model=name, recipe=pretrained(steps), labelled=labelled)
                cost = costs.get((name, steps, 0.0)) if steps else None  # 0: fit's own start, no pretrained folder
                rows.append(
                    [
                        name,
                        steps,
                        mean_sd(values),
                        gain_text(values, base) if steps else "-",
                        f"{cost['minutes']:.2f}" if cost else "0",
                        f"{cost['mlm_after']['loss']:.3f}" if cost else "-",
                    ]
                )
        print_table(
            f"Strict F1 against pretraining steps (all {labelled} labelled receipts), seeds {seeds}",
            ["model", "pretraining steps", "strict F1", "gain ± SE", "pretraining minutes", "held-out MLM loss"],
            rows,
        )

    if "warm" in {*args.models, *args.curve_models}:
        for n, goal in ((n_all, 0.02), (100, 0.05)):
            if n not in snapshots:
                continue
            labelled = snapshots[n].lock.counts.split("train").receipts
            found = gain(
                f1s(runs, model="warm", recipe=pretrained(args.pretrain_steps), labelled=labelled),
                f1s(runs, model="warm", recipe=NONE, labelled=labelled),
            )
            if found is not None:
                verdict = "met" if found[0] >= goal else "not met"
                se = f" ± {found[1]:.4f}" if found[1] is not None else ""
                print(
                    f"goal: warm start +{goal} strict F1 at {labelled} labelled receipts: {found[0]:+.4f}{se} -> "
                    f"{verdict}"
                )
    print(f"total {total / 60:.1f} min")
    record = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "device": device,
        "corpus": {"id": corpus.id, "content_sha256": corpus.content_sha256, "counts": corpus.lock.counts.model_dump()},
        "snapshots": {
            str(n): {"id": s.id, "uri": s.uri, "content_sha256": s.content_sha256} for n, s in snapshots.items()
        },
        "total_s": total,
        "pretraining": [{**c, "key": list(k)} for k, c in costs.items()],
        "runs": runs,
    }
    (args.out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"results: {args.out / 'results.json'}")


if __name__ == "__main__":
    main()

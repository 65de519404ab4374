"""Sweeps side by side at an equal wall-clock budget, tiny model on generated receipts:

- tpe: `trainer sweep`'s default, optuna TPESampler with MedianPruner on val F1 at each evaluation;
- random: optuna RandomSampler, no pruning;
- default: the user's documented config (seeds/002-003: batch 64, lr 6e-5, warm-up 0.2,
  label smoothing 0.1, patience 5), one run per seed.

Every run is a real `trainer sweep` / `trainer fit` run recorded in DynamoDB Local (started here)
through `trainer.sweep.runner.start_sweep`, on one snapshot built as the user builds theirs
(merge preset `amounts`, O:entity ratio 2.0). Each sweep seed gives each sweep the same
`--budget-minutes`; no trial starts after it, and only trials that finished within it count.
Printed per mode and seed: the best val F1 found, the time until a run first reached an
evaluation within 0.01 of that best, trials completed and pruned, and for tpe the time until
it reached random search's best - 0.01 (the goal: at most half of random's time). Seconds
need a quiet machine: run it alone.

    .venv/bin/python bench/bench_sweep.py [--budget-minutes 10] [--seeds 1,2,3] [--receipts 200] [--threads 1]

Val F1 selects the best config and is also what is reported (there is no third split): the
best of many trials is optimistic by about the seed noise, for every mode alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from _local import REPO_ROOT, fresh_table, local_endpoint, print_table
from _recipes import generated_snapshot, machine_line, set_threads

from dataset_builder import BuildConfig
from metrics_store import DynamoRecorder, Queries
from trainer import SweepConfig, fit, start_sweep
from trainer.sweep.plan import SweepPlan, base_request
from trainer.sweep.space import load_space
from trainer.training.options import apply

USER_DEFAULT = {"batch_size": 64, "lr": 6e-5, "warmup_ratio": 0.2, "label_smoothing": 0.1, "early_stopping_patience": 5}
"""The config the user's documents settle on (seeds/002 and 003), as `trainer fit` options."""
MODES = ("tpe", "random", "default")
WITHIN = 0.01


def timeline(queries: Queries, job_id: str, t0: float) -> list[tuple[float, float]]:
    """(seconds since t0, val_f1) of a run's evaluations."""
    return sorted(
        (datetime.fromisoformat(m.timestamp).timestamp() - t0, float(m.value))
        for m in queries.iter_job_metrics(job_id, "val_f1")
    )


def summarize(
    runs: list[list[tuple[float, float]]],
    budget_s: float | None,
    pruned: int = 0,
    failed: int = 0,
    wall: float = 0.0,
    trials: int | None = None,
) -> dict[str, Any]:
    """Best val F1 over the runs that finished within the budget; when a run first reached
    within WITHIN of it; the best-so-far curve (time, best) to compare modes on."""
    finished = [r for r in runs if r and (budget_s is None or r[-1][0] <= budget_s)]
    best = max((f for r in finished for _, f in r), default=None)
    reached = min((t for r in finished for t, f in r if best is not None and f >= best - WITHIN), default=None)
    return {
        "best_f1": best,
        "t_within": reached,
        "complete": len(finished),
        "pruned": pruned,
        "failed": failed,
        "overran": len(runs) - len(finished),
        "trials": trials if trials is not None else len(runs),
        "wall_s": wall,
        "evaluations": sorted((t, f) for r in finished for t, f in r),
    }


def time_to(result: dict[str, Any], target: float | None) -> float | None:
    if target is None:
        return None
    return next((t for t, f in result["evaluations"] if f >= target), None)


def run_sweep(mode: str, seed: int, args: argparse.Namespace, space: Any, base: Any, table: Any) -> dict[str, Any]:
    config = SweepConfig(
        trials=args.max_trials,
        budget_minutes=args.budget_minutes,
        sampler=mode if mode == "random" else "tpe",
        pruner="none" if mode == "random" else "median",
        seed=seed,
        seed_repeats=0,
        startup_trials=args.startup_trials,
        prune_startup_trials=args.prune_startup_trials,
        prune_warmup_epochs=args.prune_warmup_epochs,
    )
    plan = SweepPlan(f"bench-{mode}-s{seed}", space, config, base)
    t0 = time.time()
    result = start_sweep(
        plan,
        partial(DynamoRecorder, table),
        Queries(table),
        echo=lambda line: print(f"   [{mode} s{seed}] {line}", file=sys.stderr, flush=True),
    )
    wall = time.time() - t0
    queries = Queries(table)
    children = [j for j in queries.jobs_by_parent(result.job_id) if j.tags.get("kind") == "sweep_trial"]
    complete = [timeline(queries, j.job_id, t0) for j in children if j.status == "succeeded"]
    return summarize(
        complete,
        config.budget_seconds,
        pruned=result.counts.get("pruned", 0),
        failed=result.counts.get("failed", 0),
        wall=wall,
        trials=len(children),
    )


def run_default(seed: int, args: argparse.Namespace, base: Any, table: Any) -> dict[str, Any]:
    request = apply(base, {**USER_DEFAULT, "seed": seed})
    t0 = time.time()
    result = fit(request, lambda job_id: DynamoRecorder(table, job_id))
    wall = time.time() - t0
    return summarize([timeline(Queries(table), result.job_id, t0)], None, wall=wall)


def quiet_hugging_face() -> None:
    """One line per evaluation is enough: no checkpoint-writing bars (as `trainer sweep` does)."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.disable_progress_bar()


def _mean(values: list[float | None], digits: int) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    text = f"{statistics.mean(known):.{digits}f}" + (
        f" ± {statistics.stdev(known):.{digits}f}" if len(known) > 1 else ""
    )
    return text + (f" ({len(known)} of {len(values)})" if len(known) < len(values) else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--budget-minutes", type=float, default=10.0, help="wall clock each sweep gets (per sweep seed)"
    )
    parser.add_argument(
        "--seeds",
        type=lambda a: [int(x) for x in a.split(",")],
        default=[1, 2, 3],
        help="sweep seeds (and the default's training seeds)",
    )
    parser.add_argument("--modes", type=lambda a: a.split(","), default=list(MODES), help=", ".join(MODES))
    parser.add_argument(
        "--receipts", type=int, default=200, help="generated receipts in the snapshot (20%% validation)"
    )
    parser.add_argument("--space", type=Path, default=REPO_ROOT / "bench" / "sweep_space.yaml")
    parser.add_argument(
        "--epochs", type=int, default=None, help="override the space's fixed epochs (a short smoke run)"
    )
    parser.add_argument(
        "--max-trials", type=int, default=500, help="--trials of each sweep (the budget should end it first)"
    )
    parser.add_argument(
        "--startup-trials", type=int, default=SweepConfig().startup_trials, help="tpe: random trials before TPE"
    )
    parser.add_argument("--prune-startup-trials", type=int, default=SweepConfig().prune_startup_trials)
    parser.add_argument(
        "--prune-warmup-epochs",
        type=float,
        default=2.0,
        help="no pruning before this epoch (the tiny model scores 0 until it starts to learn: epoch 1 says little)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "sweep")
    args = parser.parse_args()
    if set(args.modes) - set(MODES):
        raise SystemExit(f"--modes: choose from {', '.join(MODES)}")
    set_threads(args.threads)
    quiet_hugging_face()
    print(f"before: {machine_line()}")
    args.out.mkdir(parents=True, exist_ok=True)
    root = args.out / "snapshots"
    snapshot = generated_snapshot(
        root,
        receipts=args.receipts,
        seed=11,
        config=BuildConfig(merge_preset="amounts", o_entity_ratio=2.0, val_fraction=0.2, seed=1),
    )
    space = load_space(args.space)
    if args.epochs:
        space = space.with_fixed({"epochs": args.epochs})
    base = base_request(
        space, root=str(root.resolve()), snapshot=snapshot, output_dir=str((args.out / "runs").resolve())
    )

    results: dict[tuple[str, int], dict[str, Any]] = {}
    started = time.perf_counter()
    with local_endpoint() as endpoint, fresh_table(endpoint, "bench-sweep") as (_, table):
        for seed in args.seeds:
            for mode in args.modes:
                print(f"== seed {seed}: {mode}", file=sys.stderr, flush=True)
                results[(mode, seed)] = (
                    run_default(seed, args, base, table)
                    if mode == "default"
                    else run_sweep(mode, seed, args, space, base, table)
                )
                r = results[(mode, seed)]
                print(
                    f"   best val F1 {r['best_f1']}, within {WITHIN} after {r['t_within']} s; {r['complete']} "
                    f"complete, {r['pruned']} pruned",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"after:  {machine_line()}")

    rows = []
    for mode in args.modes:
        group = [results[(mode, s)] for s in args.seeds]
        for seed, r in zip(args.seeds, group, strict=True):
            rows.append(
                [
                    f"{mode} {seed}",
                    _mean([r["best_f1"]], 4),
                    _mean([r["t_within"]], 0),
                    r["complete"],
                    r["pruned"],
                    r["failed"],
                    r["overran"],
                    f"{r['wall_s']:.0f}",
                ]
            )
        rows.append(
            [
                f"{mode} mean",
                _mean([r["best_f1"] for r in group], 4),
                _mean([r["t_within"] for r in group], 0),
                _mean([r["complete"] for r in group], 1),
                _mean([r["pruned"] for r in group], 1),
                "",
                "",
                _mean([r["wall_s"] for r in group], 0),
            ]
        )
    budget = f"{args.budget_minutes:g} min per sweep"
    print_table(
        f"sweeps at an equal budget ({budget}), {args.receipts} generated receipts, tiny model, seeds {args.seeds}",
        ["mode", "best F1", "t best", "done", "pruned", "failed", "over", "wall s"],
        rows,
    )
    print(
        "best F1: the best val F1 of the trials that finished within the budget; t best: seconds from the start "
        "until an\n"
        f"evaluation first came within {WITHIN} of it; done: trials completed; over: trials still running when the "
        "budget ran out\n"
        "(not counted)"
    )
    if {"tpe", "random"} <= set(args.modes):
        goal_rows, ratios = [], []
        for seed in args.seeds:
            tpe, rnd = results[("tpe", seed)], results[("random", seed)]
            target = rnd["best_f1"] - WITHIN if rnd["best_f1"] is not None else None
            t_tpe, t_rnd = time_to(tpe, target), time_to(rnd, target)
            ratio = t_tpe / t_rnd if t_tpe is not None and t_rnd else None
            ratios.append(ratio)
            goal_rows.append(
                [
                    str(seed),
                    _mean([target], 4),
                    _mean([t_rnd], 0),
                    _mean([t_tpe], 0),
                    "-" if ratio is None else f"{ratio:.2f}",
                ]
            )
        print_table(
            f"time to random search's best - {WITHIN} (goal: tpe / random <= 0.5)",
            ["seed", "target F1", "random s", "tpe s", "tpe/random"],
            goal_rows,
        )
    total = time.perf_counter() - started
    print(f"total {total / 60:.1f} min")
    record = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "total_s": total,
        "results": [
            {"mode": m, "seed": s, **{k: v for k, v in r.items() if k != "evaluations"}}
            for (m, s), r in results.items()
        ],
    }
    (args.out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"results: {args.out / 'results.json'}")


if __name__ == "__main__":
    main()

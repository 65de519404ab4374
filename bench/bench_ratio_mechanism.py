"""Which O:entity ratio mechanism trains better: `mask` (O-only lines stay as unsupervised
context) or `drop` (O-only lines removed), against no ratio control, on the same generated
receipts, the same tiny model and seed. Prints strict val F1 side by side.

    .venv/bin/python bench/bench_ratio_mechanism.py [--receipts 150] [--target 1.0] [--epochs 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _local import fresh_table, local_endpoint, print_table

from dataset_builder import (
    BuildConfig,
    LocalBackend,
    create_snapshot,
    generate_receipts,
    write_bundles,
)
from metrics_store import MemoryRecorder
from trainer import FitRequest, ModelConfig, TrainConfig, fit

LABELS = ("MERCHANT_NAME", "PHONE_NUMBER", "ADDRESS_LINE", "DATE", "TIME", "PRODUCT_NAME", "AMOUNT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receipts", type=int, default=150)
    parser.add_argument("--target", type=float, default=1.0, help="O:entity target for the controlled builds")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", default="1,2", help="training seeds; F1 is averaged over them")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    with local_endpoint() as endpoint, fresh_table(endpoint) as (_, table), tempfile.TemporaryDirectory() as tmp:
        write_bundles(table, list(generate_receipts(3, args.receipts)))
        for name, target, mechanism in (
            ("no control", None, "mask"),
            ("mask", args.target, "mask"),
            ("drop", args.target, "drop"),
        ):
            root = f"{tmp}/{name.replace(' ', '_')}"
            build = create_snapshot(
                table=table,
                backend=LocalBackend(root),
                source={},
                record=False,
                config=BuildConfig(
                    merge_preset="amounts",
                    allowed_labels=LABELS,
                    val_fraction=0.2,
                    seed=1,
                    o_entity_ratio=target,
                    ratio_mechanism=mechanism,
                ),
            )
            ratio = build.manifest.lock.o_entity_ratio.model_dump()
            f1s, seconds = [], 0.0
            for seed in seeds:
                start = time.perf_counter()
                result = fit(
                    FitRequest(
                        snapshot_root=root,
                        model=ModelConfig(model="tiny", max_seq_length=256, doc_stride=64),
                        train=TrainConfig(
                            epochs=args.epochs,
                            batch_size=8,
                            learning_rate=1e-3,
                            seed=seed,
                            output_dir=f"{root}/runs{seed}",
                            early_stopping_patience=None,
                        ),
                    ),
                    MemoryRecorder,
                )
                seconds += time.perf_counter() - start
                f1s.append(result.results["best_f1"])
            rows.append(
                [
                    name,
                    f"{ratio['after']['train']:.2f}",
                    f"{ratio['after']['val']:.2f}",
                    " / ".join(f"{f:.3f}" for f in f1s),
                    f"{sum(f1s) / len(f1s):.3f}",
                    f"{seconds / len(seeds):.0f}",
                ]
            )
    print_table(
        f"O:entity ratio mechanism, {args.receipts} generated receipts, tiny LayoutLM, {args.epochs} epochs",
        ["train split", "O:entity train", "O:entity val", "best val F1 per seed", "mean", "s/run"],
        rows,
    )


if __name__ == "__main__":
    main()

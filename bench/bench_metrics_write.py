"""One epoch's worth of metrics (6 scalars + 25 per-label dicts) written to DynamoDB Local:
metrics_store's batched write vs the existing trainer's one PutItem per metric.

    .venv/bin/python bench/bench_metrics_write.py [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _local import fresh_table, local_endpoint, print_table

from metrics_store import JobMetric, Store
from metrics_store.keys import utc_now_iso

SCALARS = ("val_f1", "val_precision", "val_recall", "eval_loss", "train_loss", "learning_rate")


def epoch_metrics(job_id: str, epoch: int) -> list[JobMetric]:
    ts = utc_now_iso()
    rows = [JobMetric(job_id, name, ts, 0.5 + epoch / 100, epoch=epoch, step=epoch * 100) for name in SCALARS]
    rows += [
        JobMetric(
            job_id,
            f"label_LABEL_{i:02d}",
            ts,
            {"f1": 0.5, "precision": 0.6, "recall": 0.4, "support": 40 + i},
            unit="per_label",
            epoch=epoch,
        )
        for i in range(25)
    ]
    return rows


def one_put_per_metric(store: Store, metrics: list[JobMetric]) -> None:
    for metric in metrics:
        store.put(metric.to_item())


def batched(store: Store, metrics: list[JobMetric]) -> None:
    store.add_metrics(metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20, help="epochs to write per approach (median is reported)")
    args = parser.parse_args()
    rows = []
    with local_endpoint() as endpoint, fresh_table(endpoint) as (_, table):
        results = {}
        for name, write in (
            ("one PutItem per metric (existing trainer)", one_put_per_metric),
            ("metrics_store batched", batched),
        ):
            store = Store(table)
            times = []
            for epoch in range(args.epochs):
                metrics = epoch_metrics(f"bench-{name[:3]}", epoch)
                start = time.perf_counter()
                write(store, metrics)
                times.append(time.perf_counter() - start)
            results[name] = (store.requests / args.epochs, statistics.median(times) * 1000)
        base_requests, base_ms = results["one PutItem per metric (existing trainer)"]
        for name, (requests, ms) in results.items():
            rows.append(
                [name, f"{requests:.0f}", f"{ms:.1f}", f"{base_ms / ms:.1f}x", f"{base_requests / requests:.1f}x"]
            )
    print_table(
        f"One epoch of metrics (31 items), DynamoDB Local, median of {args.epochs}",
        ["approach", "requests/epoch", "ms/epoch", "speed-up", "fewer requests"],
        rows,
    )


if __name__ == "__main__":
    main()

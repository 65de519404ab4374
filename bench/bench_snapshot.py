"""Snapshot build speed on N generated receipts in DynamoDB Local, side by side:

- the existing trainer's loader: query the VALID label partition (GSI3), then fetch each
  receipt's words one query at a time;
- a bare parallel scan of the same item types (the read floor: every item read once, no
  processing);
- ours: `dsb snapshot create`'s reader (strategy query, and strategy scan), alone and as the
  whole build (read, rules, Parquet, publish; contracts skipped).

DynamoDB Local on loopback answers in microseconds, so there every approach is bound by CPU
(DynamoDB Local's Java and our Python share 2 cores). Against AWS each request also waits a
network round trip, which is what concurrency hides. `--rtt-ms 0,5` runs the approaches
twice: as is, and with every request delayed by 5 ms (a botocore `before-send` hook that
sleeps, emulating an in-region round trip). The scans are only run without delay: they are
the slowest on DynamoDB Local already.

    .venv/bin/python bench/bench_snapshot.py [--receipts 2000] [--repeat 1] [--rtt-ms 0,5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from _local import fresh_table, local_endpoint, print_table

from dataset_builder import (
    BuildConfig,
    LocalBackend,
    create_snapshot,
    generate_receipts,
    write_bundles,
)
from dataset_builder.sources.dynamo import read_table
from metrics_store import TableRef

ENTITY_TYPES = ("RECEIPT", "RECEIPT_WORD", "RECEIPT_WORD_LABEL")


def _query_all(table: TableRef, **request) -> list[dict]:
    items, request = [], {"TableName": table.name, **request}
    while True:
        page = table.client.query(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sequential_loader(table: TableRef) -> int:
    """What the existing trainer did: the VALID labels, then each receipt's words in turn."""
    labels = _query_all(
        table,
        IndexName="GSI3",
        KeyConditionExpression="GSI3PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "VALIDATION_STATUS#VALID"}},
    )
    receipts = sorted({"#".join(item["GSI3SK"]["S"].split("#")[:4]) for item in labels})
    words = 0
    for key in receipts:
        words += len(
            _query_all(
                table,
                IndexName="GSI3",
                KeyConditionExpression="GSI3PK = :pk AND GSI3SK = :word",
                ExpressionAttributeValues={":pk": {"S": key}, ":word": {"S": "WORD"}},
            )
        )
    return len(labels) + words


def parallel_scan_floor(table: TableRef, segments: int = 16) -> int:
    """Every receipt, word and label item read once by a 16-way parallel scan."""

    def segment(i: int) -> int:
        request = {
            "TableName": table.name,
            "Segment": i,
            "TotalSegments": segments,
            "FilterExpression": "#t IN (:a, :b, :c)",
            "ExpressionAttributeNames": {"#t": "TYPE"},
            "ExpressionAttributeValues": {f":{k}": {"S": t} for k, t in zip("abc", ENTITY_TYPES, strict=True)},
        }
        count = 0
        while True:
            page = table.client.scan(**request)
            count += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                return count
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(segments) as pool:
        return sum(pool.map(segment, range(segments)))


class RoundTrip:
    """A `before-send` hook that delays every request by `ms` milliseconds."""

    def __init__(self, client, ms: float):
        self.seconds = ms / 1000
        client.meta.events.register("before-send.dynamodb", self)

    def __call__(self, **_):
        if self.seconds:
            time.sleep(self.seconds)


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receipts", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per approach; the median is reported")
    parser.add_argument("--rtt-ms", default="0,5", help="emulated round trip per request, ms (comma list)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with local_endpoint() as endpoint, fresh_table(endpoint) as (_, table), tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = write_bundles(table, list(generate_receipts(args.seed, args.receipts)))
        print(
            f"loaded {args.receipts} receipts ({summary.items_written:,} items) in {time.perf_counter() - start:.1f}s"
        )
        config = BuildConfig(merge_preset="amounts", o_entity_ratio=2.0)
        delay = RoundTrip(table.client, 0)
        rows = []
        for rtt in (float(x) for x in args.rtt_ms.split(",")):
            delay.seconds = rtt / 1000
            approaches: list[tuple[str, Callable[[], object]]] = [
                ("existing trainer: VALID partition + one query per receipt", lambda: sequential_loader(table)),
                *([("read floor: bare 16-way parallel scan", lambda: parallel_scan_floor(table))] if rtt == 0 else []),
                ("ours: reader, strategy=query", lambda: read_table(table, ("VALID",), strategy="query")),
                *(
                    [("ours: reader, strategy=scan", lambda: read_table(table, ("VALID",), strategy="scan"))]
                    if rtt == 0
                    else []
                ),
                (
                    "ours: whole build (read+rules+publish)",
                    lambda: create_snapshot(
                        table=table, backend=LocalBackend(f"{tmp}/snapshots"), config=config, source={}, record=False
                    ),
                ),
            ]
            results = {name: timed(fn, args.repeat) for name, fn in approaches}
            baseline = results[approaches[0][0]]
            floor = results.get("read floor: bare 16-way parallel scan")
            for name, seconds in results.items():
                rows.append(
                    [
                        f"{rtt:g}",
                        name,
                        f"{seconds:.2f}",
                        f"{baseline / seconds:.1f}x",
                        f"{seconds / floor:.2f}x" if floor else "-",
                    ]
                )
    print_table(
        f"Snapshot read/build, {args.receipts} generated receipts, DynamoDB Local, median of {args.repeat}",
        ["rtt ms", "approach", "seconds", "vs existing loader", "vs read floor"],
        rows,
    )


if __name__ == "__main__":
    main()

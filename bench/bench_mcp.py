"""Latency of the MCP server's tools (`trainer mcp`) on a table with many recorded runs, against
the same answer got by starting the CLI (`trainer runs ... --json`, `dsb ... --json`), which is
what an agent with a shell does today.

The table gets `--runs` planted runs (10 evaluations of 7 labels each, as `trainer fit` records
them; nothing is trained), one sweep of `--trials` of them with a seed repeat, a review with
queue files, and two snapshots of `--receipts` generated receipts. Each tool is called once to
warm the server up (its first call is reported apart), then `--calls` times through the SDK's
client over stdio: median and p95 of the round trip. The CLI is started `--cli-calls` times per
answer. Goal: every tool under 1 s at p95 on DynamoDB Local.

    .venv/bin/python bench/bench_mcp.py --runs 200 --calls 20 --cli-calls 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local import REPO_ROOT, fresh_table, local_endpoint, print_table  # noqa: E402

GOAL_S = 1.0
LABELS = ("MERCHANT_NAME", "PHONE_NUMBER", "ADDRESS_LINE", "DATE", "TIME", "PRODUCT_NAME", "AMOUNT")


def lineage(snapshot: Any) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "uri": snapshot.uri,
        "content_sha256": snapshot.content_sha256,
        "manifest_sha256": snapshot.manifest_sha256,
        "split_hashes": dict(snapshot.lock.split_hashes),
        "label_list": list(snapshot.label_list),
        "coordinate_convention": dict(snapshot.lock.coordinate_convention),
    }


def plant_run(
    table: Any,
    number: int,
    snapshot: dict[str, Any],
    *,
    lr: float,
    batch: int,
    epochs: int = 10,
    parent: str | None = None,
    tags: dict[str, str] | None = None,
    finished: bool = True,
) -> str:
    """One run as `trainer fit` records it: job, dataset metrics, run_config, one metrics batch per
    evaluation (scalars and 7 labels), statuses, run_summary and results."""
    from metrics_store import DynamoRecorder, Job

    recorder = DynamoRecorder(table, str(uuid.uuid4()))
    request = {
        "snapshot_root": snapshot["uri"].rsplit("/", 1)[0],
        "snapshot": snapshot["id"],
        "model": {"model": "tiny", "max_seq_length": 128},
        "train": {
            "epochs": epochs,
            "batch_size": batch,
            "learning_rate": lr,
            "warmup_ratio": 0.1,
            "early_stopping_patience": 3,
            "checkpoint_metric": "val_f1",
            "seed": 1 + number % 3,
            "output_dir": "/nowhere/runs",
        },
    }
    job = Job(
        job_id=recorder.job_id,
        name=f"bench-{number:04d}",
        created_at=f"2026-03-01T{number // 3600:02d}:{number // 60 % 60:02d}:{number % 60:02d}.000000+00:00",
        job_config={"request": request, "snapshot": snapshot, "seed": request["train"]["seed"]},
        parent_job_id=parent,
        tags={
            "snapshot_id": snapshot["id"],
            "model": "tiny",
            **(tags or {}),
            **({"parent_job_id": parent} if parent else {}),
        },
        storage={"output_dir": f"/nowhere/runs/bench-{number:04d}"},
    )
    recorder.open(job)
    recorder.status("running", message="setting up", progress=0.0)
    recorder.metrics({"num_train_samples": 400, "num_val_samples": 50, "o_entity_ratio_train": 2.0})
    recorder.log({"type": "run_config", "job_id": recorder.job_id, "request": request, "snapshot": snapshot})
    quality = 0.9 - abs(lr - 5e-5) * 2000 - (batch - 8) * 0.002 + (number % 7) * 0.003
    best = (0.0, 0.0)
    for epoch in range(1, (epochs if finished else 3) + 1):
        f1 = round(max(0.05, quality * (1 - 0.6**epoch)), 4)
        best = max(best, (f1, float(epoch)))
        values: dict[str, Any] = {
            "val_f1": f1,
            "val_precision": f1,
            "val_recall": f1,
            "eval_loss": round(1.2 * 0.9**epoch, 4),
            "train_loss": round(1.0 * 0.85**epoch, 4),
            "learning_rate": lr * (1 - epoch / (epochs + 1)),
            "samples_per_second": 30.0,
            "steps_per_second": 2.0,
        }
        for index, label in enumerate(LABELS):
            values[f"label_{label}"] = {
                "f1": round(f1 * (0.8 + 0.03 * index), 4),
                "precision": f1,
                "recall": f1,
                "support": 20 + 10 * index,
            }
        recorder.metrics(values, epoch=float(epoch), step=epoch * 25)
    if finished:
        recorder.log(
            {"type": "run_summary", "best_f1": best[0], "best_epoch": best[1], "epochs_since_best": epochs - best[1]}
        )
        recorder.results({"best_f1": best[0], "best_epoch": best[1], "train_runtime": 60.0})
        recorder.status("succeeded", progress=100.0)
    recorder.close()
    return recorder.job_id


def plant_sweep(table: Any, snapshot: dict[str, Any], trials: int, first: int) -> str:
    """A finished sweep over lr and batch size: `trials` trials and one seed repeat of the best."""
    from metrics_store import DynamoRecorder, Job
    from trainer.sweep.config import SweepConfig
    from trainer.sweep.plan import SweepPlan
    from trainer.sweep.space import SearchSpace
    from trainer.training.request import FitRequest

    space = SearchSpace.from_dict(
        {
            "fixed": {"model": "tiny"},
            "search": {
                "lr": {"type": "categorical", "choices": [2e-5, 5e-5, 1e-4]},
                "batch_size": {"type": "categorical", "choices": [8, 16, 32]},
            },
        }
    )
    plan = SweepPlan(
        "bench-sweep",
        space,
        SweepConfig(trials=trials, seed_repeats=1),
        FitRequest(snapshot_root=snapshot["uri"].rsplit("/", 1)[0]),
    )
    recorder = DynamoRecorder(table, str(uuid.uuid4()), source="sweep")
    recorder.open(
        Job(
            job_id=recorder.job_id,
            name="bench-sweep",
            created_at="2026-02-28T00:00:00.000000+00:00",
            job_config=plan.job_config().to_dict(),
            tags={"kind": "sweep", "snapshot_id": snapshot["id"]},
        )
    )
    ids = []
    for n in range(trials):
        lr, batch = (2e-5, 5e-5, 1e-4)[n % 3], (8, 16, 32)[n // 3 % 3]
        ids.append(
            plant_run(
                table,
                first + n,
                snapshot,
                lr=lr,
                batch=batch,
                parent=recorder.job_id,
                tags={"kind": "sweep_trial", "sweep_trial": str(n)},
            )
        )
    plant_run(
        table,
        first + trials,
        snapshot,
        lr=5e-5,
        batch=8,
        parent=recorder.job_id,
        tags={"kind": "sweep_repeat", "sweep_repeat": "1", "repeat_of": ids[1]},
    )
    recorder.status("succeeded", progress=100.0)
    recorder.close()
    return recorder.job_id


def plant_review(table: Any, snapshot: Any, folder: Path) -> str:
    """A finished review whose three queues are Parquet files of 300 rows."""
    import polars as pl

    from metrics_store import DynamoRecorder, Job

    folder.mkdir(parents=True, exist_ok=True)
    queues = {}
    for name, column in (("suspect_valid", "given_label"), ("triage", "given_label"), ("missing", "model_label")):
        frame = pl.DataFrame(
            {
                "queue": [name] * 300,
                "rank": list(range(1, 301)),
                "score": [i / 300 for i in range(300)],
                "receipt_key": [f"img-{i}#00001" for i in range(300)],
                "line_id": [1] * 300,
                "word_id": list(range(300)),
                "text": ["word"] * 300,
                "line_text": ["a line"] * 300,
                column: [LABELS[i % 7] for i in range(300)],
            }
        )
        frame.write_parquet(folder / f"{name}.parquet")
        queues[name] = {"rows": 300, "parquet": str(folder / f"{name}.parquet")}
    recorder = DynamoRecorder(table, str(uuid.uuid4()), source="review")
    recorder.open(
        Job(
            job_id=recorder.job_id,
            name="bench-review",
            created_at="2026-02-27T00:00:00.000000+00:00",
            job_config={"kind": "review", "request": {}, "snapshot": lineage(snapshot)},
            tags={"kind": "review"},
        )
    )
    recorder.results(
        {"review": {"queues": queues, "snapshot": {"id": snapshot.id}, "folder": str(folder), "thresholds": {}}}
    )
    recorder.status("succeeded", progress=100.0)
    recorder.close()
    return recorder.job_id


def cases(runs: dict[str, str], root: str) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(tool, arguments, the CLI command that gives the same JSON)."""
    best, other = runs["first"], runs["second"]
    return [
        ("dataset_stats", {}, ["dsb", "stats"]),
        ("snapshots_list", {}, ["dsb", "snapshot", "list", "--root", root]),
        ("snapshot_show", {"snapshot": "v1"}, ["dsb", "snapshot", "show", "v1", "--root", root]),
        ("snapshot_diff", {"a": "v1", "b": "v2"}, ["dsb", "snapshot", "diff", "v1", "v2", "--root", root]),
        ("runs_list", {}, ["trainer", "runs", "list"]),
        ("run_show", {"job": best}, ["trainer", "runs", "show", best]),
        ("run_report", {"job": best}, ["trainer", "runs", "report", best]),
        ("run_plots", {"job": best}, ["trainer", "runs", "plot", best, "--out", tempfile.mkdtemp(prefix="bench-mcp-")]),
        ("runs_compare", {"jobs": [best, other]}, ["trainer", "runs", "compare", best, other]),
        ("runs_explain", {"job_a": best, "job_b": other}, ["trainer", "runs", "explain", best, other]),
        ("runs_history", {"group_by": "batch_size"}, ["trainer", "runs", "history", "--group-by", "batch_size"]),
        ("runs_monitor", {}, ["trainer", "runs", "monitor"]),
        ("sweep_report", {"sweep": runs["sweep"]}, ["trainer", "runs", "sweep", runs["sweep"]]),
        ("review_queues", {"review": runs["review"]}, ["trainer", "runs", "queues", runs["review"]]),
        ("what_next", {}, ["trainer", "runs", "next"]),
    ]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="Planted runs (the sweep's trials among them).")
    parser.add_argument("--trials", type=int, default=12, help="Of them, trials of one sweep.")
    parser.add_argument(
        "--receipts", type=int, default=100, help="Generated receipts in the table (two snapshots of them)."
    )
    parser.add_argument("--calls", type=int, default=20, help="Warm calls per tool (median and p95).")
    parser.add_argument("--cli-calls", type=int, default=3, help="CLI starts per answer (median and p95).")
    args = parser.parse_args()

    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from dataset_builder.build import create_snapshot
    from dataset_builder.config import BuildConfig
    from dataset_builder.receipts import generate_receipts, write_bundles
    from dataset_builder.snapshot import open_snapshot
    from dataset_builder.storage import LocalBackend

    work = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    with local_endpoint() as endpoint, fresh_table(endpoint, "bench-mcp") as (config, table):
        started = time.perf_counter()
        write_bundles(table, list(generate_receipts(5, args.receipts)))
        root = work / "snapshots"
        for ratio in (None, 2.0):
            create_snapshot(
                table=table,
                backend=LocalBackend(root),
                source={"table": table.name},
                config=BuildConfig(
                    merge_preset="amounts", allowed_labels=LABELS, val_fraction=0.2, seed=1, o_entity_ratio=ratio
                ),
            )
        v1 = open_snapshot(root, "v1")
        snapshot = lineage(v1)
        runs = {
            "sweep": plant_sweep(table, snapshot, args.trials, 0),
            "review": plant_review(table, v1, work / "review" / "queues"),
        }
        planted = [
            plant_run(table, n, snapshot, lr=(2e-5, 5e-5, 1e-4)[n % 3], batch=(8, 16, 32)[n % 5 % 3])
            for n in range(args.trials + 1, args.runs - 1)
        ]
        plant_run(table, args.runs, snapshot, lr=5e-5, batch=16, finished=False)  # what is training now
        runs["first"], runs["second"] = planted[0], planted[1]
        print(
            f"planted {args.runs} runs ({args.trials} sweep trials, a seed repeat, one running), a review and 2 "
            "snapshots of "
            f"{args.receipts} receipts in {time.perf_counter() - started:.0f} s"
        )

        env = {
            **os.environ,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "RECEIPT_ML_TABLE": config.table,
            "AWS_REGION": "us-east-1",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
        }
        bin_dir = Path(sys.executable).parent
        todo = cases(runs, str(root))

        async def measure() -> dict[str, tuple[float, list[float], int]]:
            params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "trainer.cli", "mcp", "--root", str(root)],
                env=env,
                cwd=str(REPO_ROOT),
            )
            found = {}
            async with Client(
                stdio_client(params, errlog=open(os.devnull, "w")), cache=None, read_timeout_seconds=300
            ) as client:  # noqa: SIM115
                for tool, arguments, _ in todo:
                    first = time.perf_counter()
                    result = await client.call_tool(tool, arguments)
                    cold = time.perf_counter() - first
                    assert not result.is_error, (tool, result.content[0].text)
                    times = []
                    for _ in range(args.calls):
                        began = time.perf_counter()
                        await client.call_tool(tool, arguments)
                        times.append(time.perf_counter() - began)
                    found[tool] = (cold, times, len(json.dumps(result.structured_content)))
            return found

        ours = anyio.run(measure)
        rows = []
        for tool, _, command in todo:
            cli = [str(bin_dir / command[0]), *command[1:], "--json"]
            times = []
            for _ in range(args.cli_calls):
                began = time.perf_counter()
                done = subprocess.run(cli, env=env, capture_output=True, text=True, cwd=REPO_ROOT)
                times.append(time.perf_counter() - began)
                assert done.returncode == 0, (cli, done.stderr[-500:])
            cold, warm, size = ours[tool]
            rows.append(
                [
                    tool,
                    f"{statistics.median(warm) * 1000:.0f}",
                    f"{p95(warm) * 1000:.0f}",
                    f"{cold * 1000:.0f}",
                    f"{statistics.median(times) * 1000:.0f}",
                    f"{p95(times) * 1000:.0f}",
                    f"{size:,}",
                    "yes" if p95(warm) < GOAL_S else "NO",
                ]
            )
    print_table(
        f"MCP tool latency, {args.runs} runs on DynamoDB Local: ours ({args.calls} warm calls; the first apart) vs "
        "starting "
        f"the CLI ({args.cli_calls} starts)",
        [
            "tool",
            "ours median ms",
            "ours p95 ms",
            "ours first ms",
            "CLI median ms",
            "CLI p95 ms",
            "answer bytes",
            "p95 < 1 s",
        ],
        rows,
    )


if __name__ == "__main__":
    main()

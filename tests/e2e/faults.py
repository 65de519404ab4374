"""What the fault-injection tests share: the CLIs as a user runs them, training in a child
process, and reading the state back the way a user would (`trainer runs show --json`,
`dsb snapshot list --json`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from metrics_store import Queries, StoreConfig
from tests.conftest import REPO_ROOT

runner = CliRunner()
TRAINER = [sys.executable, "-m", "trainer.cli"]


def env_for(config: StoreConfig, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL_DYNAMODB": str(config.endpoint_url),
        "RECEIPT_ML_TABLE": config.table,
        "AWS_REGION": "us-east-1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def fit_args(snapshot_root: Path, out: Path, *extra: str, epochs: int = 3) -> list[str]:
    return [
        "fit",
        "--root",
        str(snapshot_root),
        "--model",
        "tiny",
        "--max-seq-length",
        "128",
        "--doc-stride",
        "32",
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--seed",
        "1",
        "--early-stopping-patience",
        "0",
        "--output-dir",
        str(out),
        *extra,
    ]


def trainer(
    config: StoreConfig, *args: str, cwd: Path = REPO_ROOT, timeout: float = 600
) -> subprocess.CompletedProcess:
    """`trainer ...` in a child process, as a user runs it."""
    return subprocess.run(
        [*TRAINER, *args], env=env_for(config), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start_trainer(config: StoreConfig, *args: str, cwd: Path = REPO_ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        [*TRAINER, *args], env=env_for(config), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 240, process: subprocess.Popen | None = None, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {process.stdout.read() if process.stdout else ''}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 120) -> str:
    process.send_signal(signum)
    output, _ = process.communicate(timeout=timeout)
    return output


def runs_show(config: StoreConfig, job: str) -> dict[str, Any]:
    from trainer.cli import app

    result = runner.invoke(app, ["runs", "show", job, "--json"], env=env_for(config))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def runs_cli(config: StoreConfig, *args: str):
    from trainer.cli import app

    return runner.invoke(app, ["runs", *args], env=env_for(config))


def snapshot_list(config: StoreConfig, root: Path) -> list[dict[str, Any]]:
    from dataset_builder.cli import app

    result = runner.invoke(app, ["snapshot", "list", "--root", str(root), "--json"], env=env_for(config))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def dsb(config: StoreConfig, *args: str):
    from dataset_builder.cli import app

    return runner.invoke(app, list(args), env=env_for(config))


def job_named(config: StoreConfig, table: Any, name: str) -> dict[str, Any]:
    jobs = Queries(table).jobs_by_name(name).items
    assert len(jobs) == 1, f"{len(jobs)} jobs named {name}"
    return runs_show(config, jobs[0].job_id)


def statuses(shown: dict[str, Any]) -> list[str]:
    """The job's status changes in order (progress updates of the same status folded)."""
    changes: list[str] = []
    for entry in shown["status_history"]:
        if not changes or changes[-1] != entry["status"]:
            changes.append(entry["status"])
    return changes


def no_metric_twice(table: Any, job_id: str) -> Counter:
    counts = Counter((m.metric_name, m.step) for m in Queries(table).iter_job_metrics(job_id))
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
    return counts


def first_checkpoint(out: Path) -> Callable[[], list[Path]]:
    return lambda: [p for p in out.glob("*/checkpoint-*") if (p / "trainer_state.json").is_file()]

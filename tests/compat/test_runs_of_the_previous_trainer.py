"""Runs written with the user's own client the way their previous trainer (`receipt_layoutlm`)
wrote them work with every `trainer runs` command (compatibility item (c)): a flat job_config
whose `model` is a string, per-epoch metrics with whole 1-based epochs and flat per-label rows,
a `confusion_matrix` and a `label_merge_config` among them, `run_config` nested under `data`,
a flat `run_summary` with `eval_*` rows, logs with no `timestamp` attribute, no JobStatus items,
and a crashed run left `running` forever. (What it wrote is summarised in docs/table_layout.md.)"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from receipt_dynamo.entities import Job, JobLog, JobMetric

from metrics_store import StoreConfig, connect, create_table, delete_table
from tests.e2e.faults import runs_cli

from .client import client_for

LABELS = ("MERCHANT_NAME", "DATE", "AMOUNT")
START = datetime(2026, 2, 1, 12, tzinfo=UTC)


def legacy_config(**overrides) -> dict:
    config = {
        "model": "layoutlm-v1",
        "pretrained_model_name": "microsoft/layoutlm-base-uncased",
        "batch_size": 64,
        "learning_rate": 6e-05,
        "weight_decay": 0.01,
        "warmup_ratio": 0.2,
        "epochs": 6,
        "mixed_precision": True,
        "max_grad_norm": 1.0,
        "gradient_accumulation_steps": 1,
        "label_smoothing": 0.1,
        "early_stopping_patience": 2,
        "output_s3_path": None,
        "model_version": "v1",
        "checkpoint_metric": "f1",
        "dynamo_table_name": "ReceiptsTable-dc5be22",
        "aws_region": "us-east-1",
        "max_seq_length": 512,
        "doc_stride": 128,
        "validation_status": "VALID",
        "allowed_labels": list(LABELS),
        "merge_amounts": True,
        "label_merges": {},
        "resulting_label_set": list(LABELS),
        "metrics_comparable": True,
        "comparability_reason": "frozen val keys",
        "val_split_source": "frozen_val_keys_s3",
    }
    return {**config, **overrides}


def write_previous_trainer_run(
    client, name: str, f1s: list[float], *, config: dict, finished: bool = True, start: datetime = START
) -> str:
    """One run as `receipt_layoutlm.trainer` recorded it, through the client's own add/update calls."""
    job_id = str(uuid.uuid4())
    at = lambda minutes: (start + timedelta(minutes=minutes)).isoformat()  # noqa: E731
    job = Job(
        job_id, name, "LayoutLM receipt token classification", at(0), "system", "pending", "medium", config, tags={}
    )
    client.add_job(job)
    job.status = "running"
    client.update_job(job)
    client.add_job_log(
        JobLog(
            job_id,
            at(1),
            "INFO",
            json.dumps(
                {
                    "type": "run_config",
                    "data": {
                        "job_name": name,
                        "training_config": {k: config[k] for k in ("batch_size", "learning_rate", "epochs")},
                        "label_list": ["O", *(f"{p}-{label}" for label in LABELS for p in "BI")],
                        "num_labels": 7,
                        "dataset_counts": {"train": {"num_lines": 900}, "validation": {"num_lines": 100}},
                        "epoch_metrics": [],
                    },
                }
            ),
            "receipt_layoutlm.trainer",
        )
    )
    for name_, value in (
        ("num_train_samples", 800),
        ("num_val_samples", 90),
        ("o_entity_ratio_train", 2.0),
        ("random_seed", 42),
    ):
        client.add_job_metric(JobMetric(job_id, name_, at(1), value, unit="count"))
    client.add_job_metric(
        JobMetric(job_id, "label_merge_config", at(1), {"AMOUNT": ["LINE_TOTAL", "TAX"]}, unit="config")
    )
    rows = []
    for epoch, f1 in enumerate(f1s, start=1):
        ts, step = at(10 * epoch), 13 * epoch
        values = {
            "val_f1": f1,
            "val_precision": f1 + 0.05,
            "val_recall": f1 - 0.05,
            "eval_loss": 1.5 - f1,
            "train_loss": 1.2 - f1 / 2,
            "learning_rate": 6e-05 * (1 - epoch / (len(f1s) + 1)),
        }
        for metric, value in values.items():
            client.add_job_metric(JobMetric(job_id, metric, ts, float(value), unit="ratio", step=step, epoch=epoch))
        for i, label in enumerate(LABELS):
            for field, value in (
                ("f1", f1 - 0.1 * i),
                ("precision", f1),
                ("recall", f1 - 0.2 * i),
                ("support", 40.0 + i),
            ):
                client.add_job_metric(
                    JobMetric(job_id, f"label_{label}_{field}", ts, float(value), step=step, epoch=epoch)
                )
        client.add_job_metric(
            JobMetric(
                job_id,
                "confusion_matrix",
                ts,
                {"labels": ["O", "B-DATE"], "matrix": [[90, 2], [3, 40]]},
                unit="matrix",
                step=step,
                epoch=epoch,
            )
        )
        rows.append(
            {
                "epoch": float(epoch),
                "global_step": step,
                "eval_f1": f1,
                "eval_loss": 1.5 - f1,
                "train_loss": 1.2 - f1 / 2,
                **{f"eval_label_{label}_f1": f1 - 0.1 * i for i, label in enumerate(LABELS)},
            }
        )
    if finished:
        best = max(range(len(f1s)), key=lambda i: f1s[i])
        client.add_job_log(
            JobLog(
                job_id,
                at(90),
                "INFO",
                json.dumps(
                    {
                        "type": "run_summary",
                        "epoch_metrics": rows,
                        "checkpoint_metric": "eval_f1",
                        "best_epoch": float(best + 1),
                        "best_f1": f1s[best],
                        "early_stopping_triggered": best + 1 < len(f1s),
                        "epochs_since_best": len(f1s) - best - 1,
                    }
                ),
                "receipt_layoutlm.trainer",
            )
        )
        job.status = "succeeded"
        job.results = {
            "best_f1": f1s[best],
            "best_epoch": best + 1,
            "early_stopping_triggered": best + 1 < len(f1s),
            "checkpoint_metric": "eval_f1",
            "label_list": ["O", "B-DATE", "I-DATE"],
            "num_labels": 7,
            "best_checkpoint_s3_path": f"s3://layoutlm-models/runs/{name}/best/",
        }
        client.update_job(job)
    return job_id


@pytest.fixture(scope="module")
def legacy_runs(dynamodb_endpoint):
    config = StoreConfig(table=f"legacy-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    table = connect(config)
    create_table(table, stream=False)
    client = client_for(table)
    runs = {
        "nov": write_previous_trainer_run(
            client, "layoutlm-nov", [0.41, 0.55, 0.63, 0.70, 0.69, 0.68], config=legacy_config()
        ),
        "sept": write_previous_trainer_run(
            client,
            "layoutlm-sept",
            [0.20, 0.28, 0.32, 0.31],
            start=START - timedelta(days=60),
            config=legacy_config(batch_size=128, model="layoutlm", epochs=4),
        ),
        "crashed": write_previous_trainer_run(
            client,
            "layoutlm-crash",
            [0.3, 0.4],
            finished=False,
            start=START - timedelta(days=3),
            config=legacy_config(),
        ),
    }
    yield config, runs
    delete_table(table)


def cli_json(config, *args: str) -> dict:
    result = runs_cli(config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_shows_their_model_best_f1_and_the_crashed_run_as_stale(legacy_runs):
    config, runs = legacy_runs
    rows = {r["job_id"]: r for r in cli_json(config, "list")["runs"]}
    assert rows[runs["nov"]]["model"] == "microsoft/layoutlm-base-uncased"
    assert rows[runs["nov"]]["best_f1"] == pytest.approx(0.70) and rows[runs["nov"]]["best_epoch"] == 4
    assert rows[runs["crashed"]]["status"] == "running" and rows[runs["crashed"]]["lease"]["stale"] is True


def test_show_reads_epochs_flat_per_label_rows_logs_without_a_timestamp_and_their_config(legacy_runs):
    config, runs = legacy_runs
    shown = cli_json(config, "show", runs["nov"])
    assert [e["epoch"] for e in shown["epochs"]] == [1, 2, 3, 4, 5, 6]
    assert shown["best"]["best_f1"] == pytest.approx(0.70) and shown["best"]["epoch"] == 4
    assert (
        shown["config"]["train"]["learning_rate"] == 6e-05
        and shown["config"]["model"]["model"] == "microsoft/layoutlm-base-uncased"
    )
    best_labels = {row["label"]: row for row in shown["selected"]["labels"]}  # from their flat label_<L>_<field> rows
    assert (
        set(best_labels) == set(LABELS)
        and best_labels["DATE"]["f1"] == pytest.approx(0.60)
        and best_labels["DATE"]["support"] == 41
    )
    assert shown["job"]["created_by"] == "system"
    assert shown["results"]["best_f1"] == pytest.approx(0.70)


def test_compare_and_explain_name_their_config_change(legacy_runs):
    config, runs = legacy_runs
    compared = cli_json(config, "compare", runs["sept"], runs["nov"])
    changed = {d["key"] for d in compared["config_differences"]}
    assert {"train.batch_size", "train.epochs"} <= changed
    explained = cli_json(config, "explain", runs["sept"], runs["nov"])
    assert explained["f1_change"] == pytest.approx(0.70 - 0.32)
    assert "batch_size" in json.dumps(explained["config_changes"])


def test_report_history_plot_and_monitor_work_on_their_runs(legacy_runs, tmp_path):
    config, runs = legacy_runs
    report = cli_json(config, "report", runs["nov"], "--out", str(tmp_path / "report"))
    stopping = next(d for d in report["diagnoses"] if d["name"] == "early_stopping")
    assert stopping["evidence"]["triggered"] is True and stopping["evidence"]["best_epoch"] == 4
    history = cli_json(config, "history")
    assert [r["job_id"] for r in history["runs"]][:1] == [runs["nov"]]
    plotted = runs_cli(config, "plot", runs["nov"], "--out", str(tmp_path / "plots"))
    assert plotted.exit_code == 0, plotted.output
    monitored = runs_cli(config, "monitor", "--once")
    assert monitored.exit_code == 0, monitored.output


def test_their_crashed_run_can_be_marked_interrupted(legacy_runs):
    config, runs = legacy_runs
    marked = runs_cli(config, "mark-interrupted", runs["crashed"])
    assert marked.exit_code == 0, marked.output
    assert cli_json(config, "show", runs["crashed"])["job"]["status"] == "interrupted"

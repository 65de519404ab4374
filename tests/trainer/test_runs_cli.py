"""`trainer runs ...` through typer's CliRunner against DynamoDB Local: every command's
`--json` follows its schema, the tables render, errors exit 2."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from metrics_store import DynamoRecorder, StoreConfig, connect, create_table, delete_table
from trainer.cli import app

from .test_runs_builders import (
    healthy,
    overfitting,
    record_run,
    request,
    snapshot_lineage,
    validate,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_env(dynamodb_endpoint):
    """A table with a healthy run, an overfitting run (other lr), a run on other data, and a
    running job; plus the environment the CLI reads its table from."""
    config = StoreConfig(table=f"test-cli-{uuid.uuid4().hex[:10]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    ref = connect(config)
    create_table(ref, stream=False)
    ids = {
        "healthy": record_run(
            DynamoRecorder(ref, str(uuid.uuid4())),
            healthy(),
            name="healthy",
            created_at="2026-01-01T00:00:00.000000+00:00",
        ),
        "overfit": record_run(
            DynamoRecorder(ref, str(uuid.uuid4())),
            overfitting(),
            name="overfit",
            request_config=request(learning_rate=1e-4),
            created_at="2026-01-02T00:00:00.000000+00:00",
        ),
        "other_data": record_run(
            DynamoRecorder(ref, str(uuid.uuid4())),
            healthy(),
            name="other-data",
            snapshot=snapshot_lineage("v2", content="beef" * 16),
            created_at="2026-01-03T00:00:00.000000+00:00",
        ),
    }
    partial = healthy()
    partial.train_loss, partial.eval_loss, partial.f1, partial.lr = (
        partial.train_loss[:3],
        partial.eval_loss[:3],
        partial.f1[:3],
        partial.lr[:3],
    )
    partial.label_f1 = {k: v[:3] for k, v in partial.label_f1.items()}
    ids["running"] = record_run(
        DynamoRecorder(ref, str(uuid.uuid4())),
        partial,
        name="running",
        finished=False,
        request_config=request(),
        created_at="2026-01-04T00:00:00.000000+00:00",
    )
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "RECEIPT_ML_TABLE": config.table,
        "AWS_REGION": "us-east-1",
        "COLUMNS": "200",
    }
    yield env, ids
    delete_table(ref)


def invoke(env, *args: str):
    result = runner.invoke(app, ["runs", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def as_json(env, *args: str, schema: str) -> dict:
    payload = json.loads(invoke(env, *args, "--json").stdout)
    validate(payload, schema)
    return payload


def test_list_sorts_by_the_best_f1_over_epochs_and_filters(cli_env):
    env, ids = cli_env
    listed = as_json(env, "list", schema="runs_list")
    assert [r["name"] for r in listed["runs"]] == ["healthy", "other-data", "overfit", "running"]
    overfit = next(r for r in listed["runs"] if r["name"] == "overfit")
    assert overfit["best_f1"] == 0.84 and overfit["last_f1"] == 0.78 and overfit["best_epoch"] == 4
    assert [
        r["name"] for r in as_json(env, "list", "--min-f1", "0.85", "--status", "succeeded", schema="runs_list")["runs"]
    ] == ["healthy", "other-data"]
    assert [r["name"] for r in as_json(env, "list", "--snapshot", "v2", schema="runs_list")["runs"]] == ["other-data"]
    assert [r["name"] for r in as_json(env, "list", "--name", "RUN", schema="runs_list")["runs"]] == ["running"]
    assert "overfit" in invoke(env, "list", "--sort", "created", "--limit", "3").stdout


def test_tables_show_short_ids_and_never_wrap_a_status_in_an_80_column_pipe(cli_env):
    env, ids = cli_env
    narrow = {**env, "COLUMNS": "80"}
    for command in (["list"], ["history"]):
        result = runner.invoke(app, ["runs", *command], env=narrow, terminal_width=80)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80 and "…" not in result.stdout
        for job_id in ids.values():  # 8 characters, as git shows commits; the full id is in --json
            row = next(line for line in lines if job_id[:8] in line)
            assert job_id not in result.stdout and any(
                status in row for status in ("succeeded", "failed", "interrupted", "running")
            ), row
    prefix = next(iter(ids.values()))[:8]
    assert invoke(env, "show", prefix).exit_code == 0  # the short id shown resolves


def test_show_gives_config_lineage_epochs_and_labels(cli_env):
    env, ids = cli_env
    shown = as_json(env, "show", ids["overfit"][:8], schema="run_show")
    assert shown["job"]["name"] == "overfit" and shown["config"]["train"]["learning_rate"] == 1e-4
    assert len(shown["epochs"]) == 10 and shown["best"]["epoch"] == 4
    assert shown["selected"]["is_best"] and shown["selected"]["labels"][0]["label"] == "DATE"
    assert shown["snapshot"]["id"] == "v1" and shown["snapshot"]["reachable"] is False
    at_ten = as_json(env, "show", "healthy", "--epoch", "10", schema="run_show")["selected"]
    assert at_ten["epoch"] == 10 and at_ten["metrics"]["learning_rate"] == pytest.approx(0.0, abs=1e-12)
    text = invoke(env, "show", "overfit").stdout
    assert "per evaluation" in text and "per label at epoch 4" in text and "training config" in text


def test_compare_reports_config_differences_and_comparability(cli_env):
    env, ids = cli_env
    compared = as_json(env, "compare", "healthy", "overfit", "other-data", schema="runs_compare")
    assert compared["baseline"] == ids["healthy"]
    assert {"key": "train.learning_rate", "values": [5e-5, 1e-4, 5e-5]} in compared["config_differences"]
    checks = {c["job_id"]: c for c in compared["comparability"]}
    assert checks[ids["overfit"]]["comparable"] and checks[ids["overfit"]]["basis"] == "content_sha256"
    assert checks[ids["other_data"]]["same_val_split"] is False and compared["comparable"] is False
    date = next(row for row in compared["labels"] if row["label"] == "DATE")
    assert date["f1"] == [pytest.approx(0.75)] * 3 and date["support"] == [20, 20, 20]
    assert "NOT comparable" in invoke(env, "compare", "healthy", "other-data").stdout


def test_explain_puts_confounders_first_and_names_a_config_cause(cli_env):
    env, ids = cli_env
    config_change = as_json(env, "explain", "healthy", "overfit", schema="runs_explain")
    assert config_change["cause"]["kind"] == "config" and config_change["confounders"] == []
    assert config_change["config_changes"] == [{"key": "train.learning_rate", "a": 5e-5, "b": 1e-4}]
    other = as_json(env, "explain", "healthy", "other-data", schema="runs_explain")
    assert other["cause"]["kind"] == "not_comparable" and other["explanation"][1].startswith("Not comparable")
    assert other["snapshot_changes"]["available"] is False
    assert "cause: config" in invoke(env, "explain", "healthy", "overfit").stdout


def test_monitor_shows_the_running_job_with_an_eta(cli_env):
    env, ids = cli_env
    frame = as_json(env, "monitor", schema="run_monitor")
    assert frame["job"]["job_id"] == ids["running"] and frame["finished"] is False
    assert frame["epoch"] == 3 and frame["max_steps"] == 100 and frame["eta_seconds"] is not None
    assert frame["recent_logs"][-1]["type"] == "run_config"
    assert "ETA" in invoke(env, "monitor", "--once").stdout
    done = as_json(env, "monitor", "--job", "healthy", schema="run_monitor")
    assert done["finished"] is True
    assert "healthy" in invoke(env, "monitor", "--job", "healthy", "--interval", "0").stdout  # ends by itself


def test_history_lists_every_run_best_first_and_groups_by_a_config_key(cli_env, tmp_path):
    env, ids = cli_env
    out = tmp_path / "history.json"
    history = as_json(env, "history", "--group-by", "learning_rate", "--out", str(out), schema="runs_history")
    assert history["total_runs"] == 4 and json.loads(out.read_text()) == history
    f1s = [r["best_f1"] for r in history["runs"]]
    assert f1s == sorted(f1s, reverse=True)
    groups = {g["value"]: g for g in history["groups"]}
    assert groups[1e-4]["runs"] == 1 and groups[5e-5]["runs"] == 3
    assert "best F1 by learning_rate" in invoke(env, "history", "--group-by", "learning_rate").stdout


def test_report_and_plot_write_files(cli_env, tmp_path):
    env, ids = cli_env
    report = as_json(env, "report", "overfit", schema="run_report")
    assert any(f.startswith("Overfitting from epoch 4") for f in report["findings"])
    invoke(env, "report", "overfit", "--out", str(tmp_path / "report"))
    written = json.loads((tmp_path / "report" / "run_report.json").read_text())
    validate(written, "run_report")
    assert (tmp_path / "report" / "learning_curves.png").read_bytes().startswith(b"\x89PNG")
    plotted = as_json(env, "plot", "healthy", "--out", str(tmp_path / "plots"), schema="run_plot")
    assert sorted(f["path"].rsplit("/", 1)[-1] for f in plotted["files"]) == ["learning_curves.png", "per_label_f1.png"]
    assert "diagnoses" in invoke(env, "report", "healthy").stdout


def test_unknown_jobs_and_bad_options_exit_2_with_one_line(cli_env):
    env, _ = cli_env
    for args in (["show", "no-such-job"], ["compare", "healthy"], ["list", "--sort", "speed"]):
        result = runner.invoke(app, ["runs", *args], env=env)
        assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output

"""`trainer runs compare/explain` report the batching choice: a run recorded before
`batching` existed (`group_by_length`) reads in today's key, so it compares with new runs."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from metrics_store import DynamoRecorder, Queries, StoreConfig, connect, create_table, delete_table
from trainer.analysis.commands import compare_jobs, explain_jobs
from trainer.cli import app

from .test_runs_builders import healthy, record_run, request, validate


@pytest.fixture(scope="module")
def batching_runs(dynamodb_endpoint):
    """Three runs on one snapshot: an old one (group_by_length=True), a new one with
    batching=length and one with batching=packed."""
    config = StoreConfig(
        table=f"test-batching-{uuid.uuid4().hex[:10]}", region="us-east-1", endpoint_url=dynamodb_endpoint
    )
    ref = connect(config)
    create_table(ref, stream=False)
    ids = {}
    for name, train in (
        ("old", {"group_by_length": True, "length_jitter": 0.6}),
        ("length", {"batching": "length", "length_jitter": 0.6}),
        ("packed", {"batching": "packed", "length_jitter": 0.6}),
    ):
        ids[name] = record_run(
            DynamoRecorder(ref, str(uuid.uuid4())), healthy(), name=f"run-{name}", request_config=request(**train)
        )
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "RECEIPT_ML_TABLE": config.table,
        "AWS_REGION": "us-east-1",
        "COLUMNS": "200",
    }
    yield Queries(ref), ids, env
    delete_table(ref)


def test_compare_shows_the_batching_and_reads_the_old_spelling_as_it(batching_runs):
    queries, ids, env = batching_runs
    compared = compare_jobs(queries, [ids["old"], ids["length"], ids["packed"]])
    validate(compared, "runs_compare")
    assert compared["config_differences"] == [{"key": "train.batching", "values": ["length", "length", "packed"]}]
    result = CliRunner().invoke(app, ["runs", "compare", ids["length"], ids["packed"], "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert {"key": "train.batching", "values": ["length", "packed"]} in json.loads(result.stdout)["config_differences"]


def test_explain_names_the_batching_change(batching_runs):
    queries, ids, _ = batching_runs
    explained = explain_jobs(queries, ids["old"], ids["packed"])
    validate(explained, "runs_explain")
    assert explained["config_changes"] == [{"key": "train.batching", "a": "length", "b": "packed"}]
    assert "Config changed: train.batching 'length' -> 'packed'." in explained["explanation"]
    assert (
        explain_jobs(queries, ids["old"], ids["length"])["config_changes"] == []
    )  # the same batching, spelled two ways

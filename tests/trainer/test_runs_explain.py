"""`explain` and `compare` on runs trained on real snapshots: two runs that differ only by
snapshot (some DATE labels invalidated between v1 and v2) name the snapshot change as the
cause; a snapshot with another val split is a confounder that comes first."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from dataset_builder.build import create_snapshot
from dataset_builder.config import BuildConfig
from dataset_builder.storage import LocalBackend
from metrics_store import (
    DynamoRecorder,
    Queries,
    ReceiptWordLabel,
    Store,
    StoreConfig,
    connect,
    create_table,
    delete_table,
)
from tests.dataset_builder.receipts_fixture import image_id, simple_receipt, write_receipts
from trainer.analysis.commands import compare_jobs, explain_jobs, report_run, show_run
from trainer.cli import app

from .test_runs_builders import by_name, healthy, record_run, request, validate


def lineage(result) -> dict:
    manifest = result.manifest
    return {"id": result.snapshot_id, "uri": result.uri, "content_sha256": manifest.content_sha256,
            "manifest_sha256": result.manifest_sha256, "label_list": manifest.label_list,
            "coordinate_convention": manifest.lock.coordinate_convention}


@pytest.fixture(scope="module")
def snapshot_table(dynamodb_endpoint):
    config = StoreConfig(table=f"test-explain-{uuid.uuid4().hex[:10]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    ref = connect(config)
    create_table(ref, stream=False)
    yield config, ref
    delete_table(ref)


@pytest.fixture(scope="module")
def runs_on_snapshots(snapshot_table, tmp_path_factory):
    """v1; v2 = v1 with the DATE label of ten receipts invalidated; v3 = v2 split with another
    seed; v4 = v2 built with `--unvalidated o`. Runs A (v1) and B (v2) share one request; C
    trained on v3, D on v4. Built once per module."""
    _, table = snapshot_table
    write_receipts(table, [simple_receipt(n) for n in range(1, 21)])
    root = tmp_path_factory.mktemp("runs") / "snapshots"
    build = lambda **config: create_snapshot(table=table, backend=LocalBackend(root), config=BuildConfig(val_fraction=0.25, **config), source={})  # noqa: E731
    v1 = build()
    Store(table).put_records([ReceiptWordLabel(image_id(n), 1, 2, 2, "DATE", "INVALID", "2026-02-01T00:00:00+00:00") for n in range(1, 11)])
    v2 = build()
    v3 = build(seed=3)
    v4 = build(unvalidated="o")  # v2's data, its unknown DATE words trained and scored as O
    config = {**request(), "snapshot_root": str(root)}
    runs = {}
    for name, snapshot, date_f1 in (("A", v1, 0.80), ("B", v2, 0.40), ("C", v3, 0.60), ("D", v4, 0.30)):
        curves = healthy()
        curves.label_f1 = {label: [f * (date_f1 / 0.75 if label == "DATE" else 1.0) for f in f1s] for label, f1s in curves.label_f1.items()}
        curves.label_f1 = {label: curves.label_f1[label] for label in lineage(snapshot)["label_list"] if label in curves.label_f1}
        runs[name] = record_run(DynamoRecorder(table, str(uuid.uuid4())), curves, name=f"run-{name}",
                                snapshot=lineage(snapshot), request_config=config)
    return Queries(table), runs


def test_a_snapshot_change_is_named_as_the_cause_when_the_config_is_the_same(runs_on_snapshots):
    queries, runs = runs_on_snapshots
    explained = explain_jobs(queries, runs["A"], runs["B"])
    validate(explained, "runs_explain")
    assert explained["comparable"]["basis"] == "split_hash" and explained["comparable"]["comparable"] is True
    assert explained["confounders"] == [] and explained["config_changes"] == []
    assert explained["cause"]["kind"] == "snapshot"
    assert "snapshot change (v1 -> v2)" in explained["cause"]["sentence"]
    changes = explained["snapshot_changes"]
    assert changes["available"] and changes["content_changed"] and changes["relabelled_words"] == 10
    assert changes["relabelled_by_change"] == [{"from": "DATE", "to": "(unknown)", "words": 10}]  # INVALID only: unknown
    assert changes["label_count_changes"]["DATE"]["change"] == -10
    assert explained["label_changes"][0]["label"] == "DATE" and explained["label_changes"][0]["change"] < 0
    assert any(s.startswith("The data changed (v1 -> v2)") for s in explained["explanation"])


def test_a_different_val_split_is_a_confounder_reported_first(runs_on_snapshots):
    queries, runs = runs_on_snapshots
    explained = explain_jobs(queries, runs["B"], runs["C"])
    validate(explained, "runs_explain")
    assert explained["cause"]["kind"] == "not_comparable"
    assert explained["confounders"] == ["Not comparable: different val split (their split hashes differ)."]
    assert explained["explanation"][1] == explained["confounders"][0]
    compared = compare_jobs(queries, [runs["A"], runs["B"], runs["C"]])
    validate(compared, "runs_compare")
    assert [c["comparable"] for c in compared["comparability"]] == [True, False]


def test_snapshots_built_with_another_unvalidated_are_not_comparable_on_f1(runs_on_snapshots):
    queries, runs = runs_on_snapshots
    explained = explain_jobs(queries, runs["B"], runs["D"])
    validate(explained, "runs_explain")
    check = explained["comparable"]
    assert check["same_val_split"] is True and check["same_label_set"] is True
    assert (check["unvalidated_a"], check["unvalidated_b"], check["same_unvalidated"], check["comparable"]) == ("ignore", "o", False, False)
    assert explained["cause"]["kind"] == "not_comparable"
    assert explained["confounders"][0].startswith("Not comparable on F1: A's snapshot was built with --unvalidated ignore, B's with o")
    assert explained["snapshot_changes"]["build_config_changes"] == {"unvalidated": {"from": "ignore", "to": "o"}}
    compared = compare_jobs(queries, [runs["A"], runs["B"], runs["D"]])
    validate(compared, "runs_compare")
    assert [(c["same_unvalidated"], c["comparable"]) for c in compared["comparability"]] == [(True, True), (False, False)]


def test_reports_use_train_support_from_reachable_snapshots(runs_on_snapshots):
    queries, runs = runs_on_snapshots
    report = report_run(queries, runs["B"])
    validate(report, "run_report")
    assert report["snapshot"]["reachable"] and report["support_source"] == "train_entity_words"
    needs = by_name(report["diagnoses"])["data_needs"]
    # v1 and v2 hold the same receipts (relabelled, not grown): no nested snapshot measures a curve, so none is guessed
    assert needs["verdict"] is None and needs["evidence"]["method"] == "none"
    assert needs["evidence"]["reason"].startswith("no run trained on a snapshot nested with v2")
    assert "trainer data-curve --snapshot v2" in needs["evidence"]["reason"]


def test_show_gives_the_snapshot_lineage(runs_on_snapshots):
    queries, runs = runs_on_snapshots
    shown = show_run(queries, runs["B"])
    validate(shown, "run_show")
    assert shown["snapshot"]["id"] == "v2" and shown["snapshot"]["parent_id"] == "v1" and shown["snapshot"]["reachable"]
    assert shown["snapshot"]["split_hashes"]["val"] and shown["snapshot"]["contracts"] == "unchecked"


def test_explain_on_the_command_line(runs_on_snapshots, snapshot_table):
    store_config, _ = snapshot_table
    env = {"AWS_ENDPOINT_URL_DYNAMODB": store_config.endpoint_url, "RECEIPT_ML_TABLE": store_config.table, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["runs", "explain", "run-A", "run-B"], env=env)
    assert result.exit_code == 0, result.output
    assert "cause: snapshot" in result.stdout and "DATE" in result.stdout

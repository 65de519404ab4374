"""run_report.json from runs recorded in DynamoDB Local: each diagnosis is found on the run
that shows it and not on a healthy one; the data-needs ranking learns from every run on
record; the plots are real PNGs; the report follows its schema."""

from __future__ import annotations

import json
import uuid

import pytest

from metrics_store import (
    DynamoRecorder,
    Job,
    Queries,
    StoreConfig,
    connect,
    create_table,
    delete_table,
)
from trainer.analysis import load_run, write_run_report, write_run_report_from_recorder
from trainer.analysis.commands import report_run

from .test_runs_builders import (
    by_name,
    early_stopped,
    healthy,
    overfitting,
    plateau,
    record_run,
    request,
    validate,
    weak_label,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCENARIOS = {
    "healthy": lambda: (healthy(), {}),
    "overfitting": lambda: (overfitting(), {}),
    "plateau": lambda: (plateau(), {}),
    "early_stopped": lambda: (early_stopped(), {"early_stopping_triggered": True, "request_config": request(epochs=20)}),
    "weak_label": lambda: (weak_label(), {}),
}


@pytest.fixture(scope="module")
def recorded(dynamodb_endpoint):
    """One table holding one run of each shape (built once for the module)."""
    ref = connect(StoreConfig(table=f"test-runs-{uuid.uuid4().hex[:10]}", region="us-east-1", endpoint_url=dynamodb_endpoint))
    create_table(ref, stream=False)
    ids = {}
    for index, (name, build) in enumerate(SCENARIOS.items()):
        curves, options = build()
        ids[name] = record_run(DynamoRecorder(ref, str(uuid.uuid4())), curves, name=name,
                               created_at=f"2026-01-0{index + 1}T00:00:00.000000+00:00", **options)
    yield Queries(ref), ids
    delete_table(ref)


EXPECTED = {  # scenario -> (diagnosis, verdict) it must show
    "overfitting": ("overfitting", True),
    "plateau": ("plateau", True),
    "early_stopped": ("early_stopping", True),
    "weak_label": ("weak_labels", True),
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_diagnosis_is_found_on_its_run_and_not_on_the_healthy_one(recorded, scenario):
    queries, ids = recorded
    name, verdict = EXPECTED[scenario]
    report = report_run(queries, ids[scenario])
    validate(report, "run_report")
    found = by_name(report["diagnoses"])[name]
    assert found["verdict"] == verdict, found["explanation"]
    assert found["explanation"] in report["findings"]
    healthy_report = report_run(queries, ids["healthy"])
    assert by_name(healthy_report["diagnoses"])[name]["verdict"] is False


def test_the_healthy_run_reports_no_findings_and_a_linear_warmup_schedule(recorded):
    queries, ids = recorded
    report = report_run(queries, "healthy")  # by name
    assert report["findings"] == []
    schedule = by_name(report["diagnoses"])["learning_rate_schedule"]
    assert schedule["verdict"] == "linear" and schedule["evidence"]["warmup"] is True
    assert schedule["evidence"]["warmup_steps"] == pytest.approx(15, abs=0.5)
    assert report["best"]["epoch"] == 10 and report["throughput"]["samples_per_second"] == 32.0
    assert report["support_source"] == "val_support" and report["snapshot"]["reachable"] is False


def test_early_stopping_evidence_names_the_best_epoch(recorded):
    queries, ids = recorded
    found = by_name(report_run(queries, ids["early_stopped"])["diagnoses"])["early_stopping"]
    assert found["evidence"]["best_epoch"] == 5 and found["evidence"]["epochs_since_best"] == 3
    assert found["evidence"]["patience"] == 3 and found["evidence"]["configured_epochs"] == 20


def test_write_run_report_writes_the_report_and_png_plots_beside_it(recorded, tmp_path):
    queries, ids = recorded
    path = tmp_path / "out" / "run_report.json"
    report = write_run_report(load_run(queries, ids["weak_label"]), path, queries=queries)
    on_disk = json.loads(path.read_text())
    validate(on_disk, "run_report")
    assert on_disk == json.loads(json.dumps(report))
    assert sorted(report["plots"]) == ["learning_curves.png", "per_label_f1.png"]
    for name in report["plots"]:
        data = (path.parent / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    needs = by_name(report["diagnoses"])["data_needs"]  # five runs of one label mix measure no learning curve: not guessed
    assert needs["verdict"] is None and needs["evidence"]["method"] == "none" and needs["evidence"]["ranking"] == []
    assert "cannot be opened here" in needs["evidence"]["reason"] and needs["explanation"].startswith("Not measured")


def test_the_trainer_writes_the_report_of_a_recorded_job(recorded, tmp_path):
    queries, ids = recorded
    report = write_run_report_from_recorder(DynamoRecorder(queries.table, ids["plateau"]), tmp_path, plots=False)
    validate(json.loads((tmp_path / "run_report.json").read_text()), "run_report")
    assert by_name(report["diagnoses"])["plateau"]["verdict"] is True


def test_legacy_rows_flat_label_metrics_and_a_summary_only_run_are_read(recorded):
    queries, _ = recorded
    recorder = DynamoRecorder(queries.table, str(uuid.uuid4()))
    recorder.open(Job(job_id=recorder.job_id, name="legacy", created_at="2025-09-01T00:00:00+00:00",
                      job_config={"learning_rate": 6e-5, "batch_size": 128}))
    recorder.metrics({"val_f1": 0.3, "label_DATE_f1": 0.1, "label_DATE_support": 9}, epoch=1, step=5)
    recorder.metrics({"val_f1": 0.32, "label_DATE_f1": 0.15, "label_DATE_support": 9}, epoch=2, step=10)
    recorder.close()
    run = load_run(queries, recorder.job_id)
    assert [e.per_label["DATE"]["f1"] for e in run.evaluations] == [0.1, 0.15] and run.best_f1 == 0.32
    assert run.train_config["batch_size"] == 128

    summary_only = DynamoRecorder(queries.table, str(uuid.uuid4()))
    summary_only.open(Job(job_id=summary_only.job_id, name="summary-only", created_at="2025-11-13T00:00:00+00:00"))
    summary_only.log({"type": "run_summary", "best_f1": 0.7021, "best_epoch": 3.0, "epoch_metrics": [
        {"epoch": e, "global_step": 145 * e, "eval_f1": f, "eval_loss": 0.8 - 0.05 * e,
         "per_label_metrics": {"B-AMOUNT": {"f1": f, "precision": f, "recall": f, "support": 232}}}
        for e, f in ((1.0, 0.6808), (2.0, 0.69), (3.0, 0.7021))]})
    summary_only.close()
    old = report_run(queries, "summary-only")
    validate(old, "run_report")
    assert old["best"]["epoch"] == 3 and old["best"]["labels"][0]["label"] == "AMOUNT"

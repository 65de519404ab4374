"""The recording interface the trainer uses: one behaviour, two implementations."""

import json
import uuid

import pytest

from metrics_store import DynamoRecorder, MemoryRecorder, NullRecorder, Queries, RunRecorder

from .helpers import job


@pytest.fixture(params=["dynamo", "memory"])
def recorder_and_reader(request, table):
    j = job()
    if request.param == "dynamo":
        rec = DynamoRecorder(table, j.job_id)
        q = Queries(table)
        return (
            j,
            rec,
            (lambda: q.get_job(j.job_id)),
            (lambda: list(q.iter_job_metrics(j.job_id))),
            (lambda: list(q.iter_job_logs(j.job_id))),
        )
    rec = MemoryRecorder(j.job_id)
    return j, rec, (lambda: rec.job), (lambda: rec.metric_records), (lambda: rec.logs)


def test_recorders_share_one_behaviour(recorder_and_reader):
    j, rec, get_job, get_metrics, get_logs = recorder_and_reader
    assert isinstance(rec, RunRecorder)
    opened, created = rec.open(j)
    assert created and opened == j
    rec.status("running", message="start")
    assert rec.metrics({"num_train_samples": 90, "o_entity_ratio_train": 2.0}) == 2
    assert (
        rec.metrics(
            {"val_f1": 0.5, "label_AMOUNT": {"f1": 0.5, "support": 4}}, epoch=1, step=10, units={"val_f1": "ratio"}
        )
        == 2
    )
    # A resumed run replays the same evaluation: nothing is recorded twice.
    assert rec.metrics({"val_f1": 0.5}, epoch=1, step=10) == 0
    assert rec.metrics({"val_f1": 0.6}, epoch=2, step=20) == 1
    rec.log({"type": "run_config", "seed": 7})
    rec.results({"best_f1": 0.6, "best_epoch": 2})
    rec.status("succeeded")
    assert rec.flush(timeout=30)  # records are written in the background, in order

    job_now = get_job()
    assert job_now.status == "succeeded" and job_now.results == {"best_f1": 0.6, "best_epoch": 2}
    metrics = get_metrics()
    assert sorted((m.metric_name, m.epoch) for m in metrics) == [
        ("label_AMOUNT", 1),
        ("num_train_samples", None),
        ("o_entity_ratio_train", None),
        ("val_f1", 1),
        ("val_f1", 2),
    ]
    assert {m.metric_name: m.unit for m in metrics if m.epoch == 1}["val_f1"] == "ratio"
    assert json.loads(get_logs()[0].message) == {"type": "run_config", "seed": 7}

    # What the trainer reads back through the same interface (a resume, the run report).
    assert sorted(m.metric_name for m in rec.recorded_metrics()) == sorted(m.metric_name for m in metrics)
    back = rec.read_back()
    assert back.job.status == "succeeded" and len(back.metrics) == 5 and len(back.logs) == 1
    assert [s.status for s in back.statuses] == ["pending", "running", "succeeded"]
    assert (rec.queries is None) == isinstance(rec, MemoryRecorder)


def test_the_null_recorder_keeps_nothing():
    j = job()
    rec = NullRecorder(j.job_id)
    assert isinstance(rec, RunRecorder)
    assert rec.open(j) == (j, True)
    assert rec.metrics({"val_f1": 0.5}, epoch=1, step=1) == 0
    rec.status("running")
    rec.log("hello")
    assert rec.recorded_metrics() == [] and rec.read_back() is None and rec.queries is None


def test_reopening_a_job_resumes_it_and_skips_recorded_metrics(table):
    j = job()
    first = DynamoRecorder(table, j.job_id)
    first.open(j)
    first.metrics({"val_f1": 0.4}, epoch=1, step=5)
    first.close()
    again = DynamoRecorder(table, j.job_id)  # a new process after a restart
    opened, created = again.open(j)
    assert not created and opened.job_id == j.job_id
    assert again.metrics({"val_f1": 0.4, "eval_loss": 0.9}, epoch=1, step=5) == 1
    assert again.flush()
    assert len(list(Queries(table).iter_job_metrics(j.job_id))) == 2


def test_recorder_refuses_another_job(table):
    with pytest.raises(ValueError, match="recorder is for job"):
        DynamoRecorder(table, str(uuid.uuid4())).open(job())

"""Reads: pagination, ordering, and every query the trainer and the agent use."""

import uuid

import pytest

from metrics_store import JobCheckpoint, JobMetric, JobNotFound, Queries, Receipt, Store

from .helpers import job

NO_WAIT = {"sleep": lambda _s: None}


@pytest.fixture
def filled(table):
    """Seven succeeded jobs (one per day), two running; metrics for the first two."""
    store = Store(table, **NO_WAIT)
    done = [job(name=f"run-{d}", created_at=f"2026-01-0{d}T00:00:00.000000+00:00") for d in range(1, 8)]
    running = [job(name="live", created_at=f"2026-02-0{d}T00:00:00.000000+00:00") for d in (1, 2)]
    for j in done + running:
        store.jobs.create_job(j)
    for j in done:
        store.jobs.set_job_status(j.job_id, "succeeded")
    for j in running:
        store.jobs.set_job_status(j.job_id, "running")
    for n, j in enumerate(done[:2]):
        store.add_metrics(
            [
                JobMetric(
                    j.job_id, "val_f1", f"2026-01-0{n + 1}T0{e}:00:00.000000+00:00", 0.1 * e + n, epoch=e, step=10 * e
                )
                for e in range(1, 4)
            ]
            + [
                JobMetric(j.job_id, "eval_loss", f"2026-01-0{n + 1}T0{e}:00:00.000000+00:00", 1.0 / e, epoch=e)
                for e in range(1, 4)
            ]
        )
    return table, done, running


def test_jobs_by_status_newest_first_and_paginated(filled):
    table, done, _ = filled
    q = Queries(table)
    first = q.jobs_by_status("succeeded", limit=3)
    assert [j.name for j in first.items] == ["run-7", "run-6", "run-5"]
    assert first.next_token
    second = q.jobs_by_status("succeeded", limit=3, token=first.next_token)
    assert [j.name for j in second.items] == ["run-4", "run-3", "run-2"]
    rest = q.jobs_by_status("succeeded", limit=3, token=second.next_token)
    assert [j.name for j in rest.items] == ["run-1"]
    assert [j.job_id for j in q.iter_jobs_by_status("succeeded")] == [j.job_id for j in reversed(done)]
    # JobStatus entries share the STATUS# partitions; they must not show up as jobs.
    assert all(j.name for j in q.iter_jobs_by_status("running"))
    assert len(list(q.iter_jobs_by_status("running"))) == 2


def test_job_by_name_and_find_job(filled):
    table, done, running = filled
    q = Queries(table)
    assert [j.job_id for j in q.jobs_by_name("live").items] == [running[1].job_id, running[0].job_id]
    assert q.find_job("run-3").job_id == done[2].job_id
    assert q.find_job(done[4].job_id).name == "run-5"
    assert q.find_job(done[4].job_id[:13]).name == "run-5"
    with pytest.raises(JobNotFound):
        q.find_job("no-such-run")


def test_metrics_of_a_job_and_across_jobs(filled):
    table, done, _ = filled
    q = Queries(table)
    assert len(q.job_metrics(done[0].job_id).items) == 6
    f1 = q.job_metrics(done[0].job_id, "val_f1").items
    assert [m.epoch for m in f1] == [1, 2, 3] and [m.step for m in f1] == [10, 20, 30]
    page = q.job_metrics(done[0].job_id, limit=4)
    assert len(page.items) == 4 and page.next_token
    assert len(list(q.iter_job_metrics(done[0].job_id))) == 6

    over_time = q.metric_over_time("val_f1", limit=None).items
    assert [m.timestamp for m in over_time] == sorted((m.timestamp for m in over_time), reverse=True)
    assert len(over_time) == 6
    by_job = q.metric_by_job("val_f1", limit=None).items
    job_order = [m.job_id for m in by_job]
    assert job_order == sorted(job_order)  # grouped by job
    assert {m.job_id for m in q.metric_by_job("val_f1", job_id=done[1].job_id).items} == {done[1].job_id}


def test_checkpoints_best_and_receipt_counts(table):
    store, q = Store(table, **NO_WAIT), Queries(table)
    j = job()
    store.jobs.create_job(j)
    for step, best in ((10, True), (20, False), (30, True), (40, False)):
        store.add_checkpoint(
            JobCheckpoint(
                j.job_id,
                f"2026-01-01T00:00:{step}.000000+00:00",
                "",
                f"/runs/x/checkpoint-{step}",
                100,
                step,
                step / 10,
                is_best=best,
            )
        )
    assert len(q.checkpoints(j.job_id)) == 4
    assert q.best_checkpoint(j.job_id).step == 30
    image = str(uuid.uuid4())
    store.put_records([Receipt(image, rid, 100, 200, "2026-01-01T00:00:00") for rid in (1, 2, 3)])
    assert q.count_receipts() == 3


def test_bad_page_token_is_a_clear_error(table):
    with pytest.raises(ValueError, match="invalid page token"):
        Queries(table).jobs_by_status("running", token="not-base64!")


def test_jobs_by_parent_lists_the_children_of_a_job_in_any_status(table):
    store = Store(table, **NO_WAIT)
    parent = job(name="sweep")
    children = [
        job(
            name=f"sweep-t{n}",
            created_at=f"2026-01-0{n}T00:00:00.000000+00:00",
            parent_job_id=parent.job_id,
            tags={"parent_job_id": parent.job_id},
        )
        for n in (3, 1, 2)
    ]
    for j in [parent, *children, job(name="unrelated")]:
        store.jobs.create_job(j)
    store.jobs.set_job_status(children[0].job_id, "cancelled")
    store.jobs.set_job_status(children[1].job_id, "running")
    q = Queries(table)
    found = q.jobs_by_parent(parent.job_id)
    assert [j.name for j in found] == ["sweep-t1", "sweep-t2", "sweep-t3"]  # oldest first, whatever their status
    assert {j.parent_job_id for j in found} == {parent.job_id} and q.get_job(parent.job_id).parent_job_id is None
    assert q.jobs_by_parent(str(uuid.uuid4())) == []

"""A running job's lease (one process trains a job; a dead one goes stale) and writes that
ride out a short outage without recording anything twice."""

from __future__ import annotations

import time

import pytest

from metrics_store import (
    DynamoRecorder,
    EndpointUnreachable,
    InvalidStatusTransition,
    JobLeased,
    LeaseLost,
    Queries,
    Store,
    is_stale,
)
from metrics_store.writer import BackgroundWriter

from .helpers import job


def test_a_live_job_cannot_be_taken_and_a_stale_one_can(table):
    j = job()
    first = DynamoRecorder(table, j.job_id, stale_after_s=1.0)
    first.open(j)
    first.acquire(message="training")
    queries = Queries(table)
    running = queries.get_job(j.job_id)
    assert running.status == "running" and running.lease_owner == first.owner and running.heartbeat_at

    second = DynamoRecorder(table, j.job_id, stale_after_s=1.0)
    with pytest.raises(JobLeased, match="is running"):
        second.acquire()
    with pytest.raises(JobLeased):
        Store(table).jobs.mark_stale_interrupted(j.job_id, message="checked", stale_after_s=1.0)
    Store(table).jobs.heartbeat(j.job_id, first.owner)  # the owner renews its lease
    with pytest.raises(LeaseLost):
        Store(table).jobs.heartbeat(j.job_id, "someone-else")

    time.sleep(1.2)  # no heartbeat: the lease goes stale
    assert is_stale(queries.get_job(j.job_id), stale_after_s=1.0)
    second.acquire(message="resumed")  # a stale running job can be taken over
    assert queries.get_job(j.job_id).lease_owner == second.owner
    with pytest.raises(LeaseLost):
        Store(table).jobs.heartbeat(j.job_id, first.owner)  # the old owner must stop
    with pytest.raises(LeaseLost):
        Store(table).jobs.set_job_status(j.job_id, "succeeded", owner=first.owner)
    for recorder in (first, second):
        recorder.close()


def test_stale_jobs_are_marked_interrupted_failed_ones_resume_finished_ones_never(table):
    store = Store(table)
    j = job()
    store.jobs.create_job(j)
    store.jobs.acquire_lease(j.job_id, "host:1:a")
    time.sleep(0.3)
    store.jobs.mark_stale_interrupted(j.job_id, message="process gone", stale_after_s=0.1)
    assert Queries(table).get_job(j.job_id).status == "interrupted"
    with pytest.raises(InvalidStatusTransition, match="not running"):
        store.jobs.mark_stale_interrupted(j.job_id, message="again", stale_after_s=0.1)

    store.jobs.acquire_lease(j.job_id, "host:2:b")
    store.jobs.set_job_status(j.job_id, "failed", owner="host:2:b")
    store.jobs.acquire_lease(j.job_id, "host:3:c")  # a failed job can be resumed
    store.jobs.set_job_status(j.job_id, "succeeded", owner="host:3:c")
    with pytest.raises(InvalidStatusTransition, match="succeeded"):
        store.jobs.acquire_lease(j.job_id, "host:4:d")
    assert [s.status for s in Queries(table).status_history(j.job_id)] == [
        "pending", "running", "interrupted", "running", "failed", "running", "succeeded"]


def test_the_lease_is_renewed_in_the_background(table):
    j = job()
    rec = DynamoRecorder(table, j.job_id, heartbeat_s=0.2)
    rec.open(j)
    rec.acquire()
    first = Queries(table).get_job(j.job_id).heartbeat_at
    time.sleep(0.8)
    assert Queries(table).get_job(j.job_id).heartbeat_at > first
    rec.close()


def test_writes_wait_out_an_outage_in_order_and_once():
    done: list[int] = []
    failures = {"left": 3}

    def write(n: int):
        def run():
            if n == 1 and failures["left"]:
                failures["left"] -= 1
                raise EndpointUnreachable("http://127.0.0.1:1")
            done.append(n)
        return run

    writer = BackgroundWriter(outage_budget_s=30, base_delay=0.01)
    for n in range(4):
        writer.submit(write(n), f"write {n}")
    assert writer.flush(timeout=10) and writer.failure is None
    assert done == [0, 1, 2, 3]
    writer.close()


def test_an_outage_longer_than_the_budget_stops_the_writer_keeping_the_rest():
    def down():
        raise EndpointUnreachable("http://127.0.0.1:1")

    writer = BackgroundWriter(outage_budget_s=0.3, base_delay=0.05, max_delay=0.1)
    writer.submit(down, "metrics")
    writer.submit(lambda: None, "later")
    assert not writer.flush(timeout=10)
    assert "unreachable for over 0 s" in str(writer.failure) and "2 record(s) not written" in str(writer.failure)
    writer.close(timeout=0.1)


def test_a_bad_value_fails_in_the_callers_thread(table):
    j = job()
    rec = DynamoRecorder(table, j.job_id)
    rec.open(j)
    with pytest.raises(ValueError, match="non-finite"):
        rec.metrics({"train_loss": float("nan")}, step=3, epoch=0.5)
    with pytest.raises(ValueError, match="non-finite"):
        rec.results({"best_f1": float("inf")})
    assert rec.flush() and rec.health() is None
    rec.close()

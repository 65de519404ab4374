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
    OutageTooLong,
    Queries,
    Store,
    is_stale,
)
from metrics_store.writer import BackgroundWriter, PendingWrite, read_spool, spool

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
        "pending",
        "running",
        "interrupted",
        "running",
        "failed",
        "running",
        "succeeded",
    ]


def test_the_lease_is_renewed_in_the_background(table):
    j = job()
    rec = DynamoRecorder(table, j.job_id, heartbeat_s=0.2)
    rec.open(j)
    rec.acquire()
    first = Queries(table).get_job(j.job_id).heartbeat_at
    time.sleep(0.8)
    assert Queries(table).get_job(j.job_id).heartbeat_at > first
    rec.close()


def _write(n: int) -> PendingWrite:
    return PendingWrite(f"write {n}", "5d1c9e2a-0000-4000-8000-000000000001", update={"n": n})


def test_writes_wait_out_an_outage_in_order_and_once():
    done: list[int] = []
    failures = {"left": 3}

    def apply(write: PendingWrite):
        if write.update["n"] == 1 and failures["left"]:
            failures["left"] -= 1
            raise EndpointUnreachable("http://127.0.0.1:1")
        done.append(write.update["n"])

    writer = BackgroundWriter(apply, outage_budget_s=30, base_delay=0.01)
    for n in range(4):
        writer.submit(_write(n))
    assert writer.flush(timeout=10) and writer.failure is None
    assert done == [0, 1, 2, 3]
    writer.close()


def test_an_outage_longer_than_the_budget_stops_the_writer_keeping_every_record_for_the_spool(tmp_path):
    down = {"on": True}
    done: list[int] = []

    def apply(write: PendingWrite):
        if down["on"]:
            raise EndpointUnreachable("http://127.0.0.1:1")
        done.append(write.update["n"])

    writer = BackgroundWriter(apply, outage_budget_s=0.3, base_delay=0.05, max_delay=0.1)
    writer.submit(_write(0))
    writer.submit(_write(1))
    assert not writer.flush(timeout=10)
    assert isinstance(writer.failure, OutageTooLong) and "2 record(s) not written" in str(writer.failure)
    assert [w.update["n"] for w in writer.unwritten()] == [0, 1]
    assert spool(tmp_path / "pending.jsonl", writer.unwritten()) == 2
    assert [w.update["n"] for w in read_spool(tmp_path / "pending.jsonl")] == [0, 1]
    down["on"] = False  # the table answers again: the end of a run gives it one more budget
    assert writer.retry() and writer.flush(timeout=10) and done == [0, 1]
    writer.close(timeout=0.1)


def test_the_heartbeat_goes_out_on_schedule_while_writes_never_stop():
    beats: list[float] = []
    writer = BackgroundWriter(
        lambda write: time.sleep(0.02), tick=lambda: beats.append(time.monotonic()), tick_seconds=0.2
    )
    started = time.monotonic()
    while time.monotonic() - started < 1.5:  # a write every 10 ms: the queue is never idle
        writer.submit(_write(0))
        time.sleep(0.01)
    writer.close(timeout=10)
    assert len(beats) >= 5, f"{len(beats)} heartbeats in 1.5 s of constant writing"


def test_a_write_after_a_long_silence_checks_the_lease_first():
    checked, done = [], []

    def fence():
        checked.append(True)
        raise LeaseLost("5d1c9e2a-0000-4000-8000-000000000001", "me", "running", "someone-else")

    writer = BackgroundWriter(lambda write: done.append(write), fence=fence, fence_after_s=0.2)
    writer.submit(_write(0))
    assert writer.flush(timeout=5) and done  # renewed recently: written
    time.sleep(0.3)  # paused longer than the fence: the lease may be gone
    writer.submit(_write(1))
    assert not writer.flush(timeout=5) and checked and len(done) == 1
    assert isinstance(writer.failure, LeaseLost)
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

"""Writes: batching, retries under throttling, idempotency, size limits, job lifecycle."""

import json
import uuid

import pytest

from metrics_store import (
    InvalidStatusTransition,
    ItemTooLarge,
    JobLog,
    JobMetric,
    JobNotFound,
    Queries,
    RetryPolicy,
    Store,
    StoreConfig,
    WriteFailed,
    connect,
)
from metrics_store.keys import utc_now_iso

from .helpers import DropSome, Throttle, job, label, word

NO_WAIT = {"sleep": lambda _s: None}
J1 = "5d1c9e2a-0000-4000-8000-00000000000a"


def _count(table, pk_prefix="IMAGE#"):
    items, start = 0, None
    while True:
        kw = {"TableName": table.name, "Select": "COUNT"}
        if start:
            kw["ExclusiveStartKey"] = start
        page = table.client.scan(**kw)
        items += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def _words(n):
    image = str(uuid.uuid4())
    return [word(image, 1, 1 + i // 50, 1 + i % 50, f"w{i}") for i in range(n)]


def test_batch_put_writes_hundreds_of_items_in_batches_of_25(table):
    store = Store(table, **NO_WAIT)
    records = _words(610)
    assert store.put_records(records) == 610
    assert _count(table) == 610
    assert store.requests == 25  # ceil(610 / 25)


def test_duplicate_keys_in_one_call_are_folded(table):
    store = Store(table, **NO_WAIT)
    image = str(uuid.uuid4())
    assert store.put_records([word(image, text="a"), word(image, text="b")]) == 1
    assert _count(table) == 1


def test_unprocessed_items_are_retried_and_written_exactly_once(table):
    dropper = DropSome(table.client, per_call=7, times=5)
    store = Store(table, concurrency=1, **NO_WAIT)
    records = _words(100)
    store.put_records(records)
    assert dropper.calls > 4  # 4 chunks, plus the retries of what was left unprocessed
    assert _count(table) == 100
    keys = {(r.line_id, r.word_id) for r in records}
    assert len(keys) == 100


def test_throttled_batch_is_retried_by_the_sdk_and_writes_each_item_once(table):
    throttle = Throttle(table.client, "BatchWriteItem", times=3)
    Store(table, concurrency=1, **NO_WAIT).put_records(_words(30))
    assert throttle.fired == 3
    assert _count(table) == 30


def test_throttling_that_outlasts_the_sdk_retries_is_backed_off_by_the_store(store_config, table):
    no_sdk_retries = connect(StoreConfig(**{**store_config.__dict__, "max_attempts": 1}))
    throttle = Throttle(no_sdk_retries.client, "PutItem", times=4)
    delays = []
    store = Store(no_sdk_retries, retry=RetryPolicy(max_attempts=6, base_delay=0.01), sleep=delays.append, seed=1)
    store.put(word(str(uuid.uuid4())).to_item())
    assert throttle.fired == 4 and len(delays) == 4
    assert all(0 <= d <= 0.01 * 2**i for i, d in enumerate(delays))  # full jitter, exponential cap
    assert _count(table) == 1


def test_unprocessed_items_that_never_clear_raise_and_name_the_items(table):
    DropSome(table.client, per_call=1, times=100)
    store = Store(table, retry=RetryPolicy(max_attempts=3), concurrency=1, **NO_WAIT)
    with pytest.raises(WriteFailed, match="1 item\\(s\\) not written"):
        store.put_records(_words(5))


def test_oversize_log_is_split_and_read_back_whole(table):
    j = job()
    store = Store(table, **NO_WAIT)
    store.jobs.create_job(j)
    summary = {
        "type": "run_summary",
        "epoch_metrics": [
            {"epoch": e, "per_label": {f"L{i}": {"f1": 0.123456789 * i} for i in range(60)}} for e in range(400)
        ],
        "note": "é" * 150_000,  # multi-byte characters across the cuts
    }
    message = json.dumps(summary, ensure_ascii=False)
    assert len(message.encode()) > 800_000
    store.add_logs([JobLog(j.job_id, utc_now_iso(), message)])
    logs = Queries(table).job_logs(j.job_id).items
    assert len(logs) == 1 and logs[0].message == message
    assert Queries(table).structured_logs(j.job_id, "run_summary") == [summary]


def test_oversize_item_that_cannot_be_split_is_refused_before_sending(table):
    store = Store(table, **NO_WAIT)
    j = job()
    store.jobs.create_job(j)
    with pytest.raises(ItemTooLarge, match=f"JOB#{j.job_id}/JOB is .* over DynamoDB's 409,600-byte"):
        store.jobs.update_job(j.job_id, results={"blob": "x" * 500_000})
    assert store.requests == 2  # the create's put and status, nothing more


def test_create_job_is_idempotent(table):
    store = Store(table, **NO_WAIT)
    j = job()
    assert store.jobs.create_job(j) is True
    assert store.jobs.create_job(j) is False
    q = Queries(table)
    assert q.get_job(j.job_id) == j
    assert len(q.status_history(j.job_id)) == 1


def test_status_change_moves_the_job_between_status_partitions(table):
    store, q = Store(table, **NO_WAIT), Queries(table)
    j = job()
    store.jobs.create_job(j)
    store.jobs.set_job_status(j.job_id, "running", message="epoch 0", progress=0)
    assert [x.job_id for x in q.jobs_by_status("running").items] == [j.job_id]
    assert q.jobs_by_status("pending").items == []
    store.jobs.set_job_status(j.job_id, "succeeded", progress=100)
    assert q.jobs_by_status("running").items == []
    assert q.get_job(j.job_id).status == "succeeded"
    assert [s.status for s in q.status_history(j.job_id)] == ["pending", "running", "succeeded"]
    assert q.latest_status(j.job_id).status == "succeeded"


def test_a_finished_job_cannot_be_restarted(table):
    store = Store(table, **NO_WAIT)
    j = job()
    store.jobs.create_job(j)
    store.jobs.set_job_status(j.job_id, "succeeded")
    with pytest.raises(InvalidStatusTransition, match="is succeeded; it cannot become running"):
        store.jobs.set_job_status(j.job_id, "running")
    with pytest.raises(JobNotFound):
        store.jobs.set_job_status(str(uuid.uuid4()), "running")


def test_interrupted_job_can_resume(table):
    store = Store(table, **NO_WAIT)
    j = job()
    store.jobs.create_job(j)
    for status in ("running", "interrupted", "running", "succeeded"):
        store.jobs.set_job_status(j.job_id, status)
    assert Queries(table).get_job(j.job_id).status == "succeeded"


def test_update_job_sets_results_and_refuses_keys(table):
    store = Store(table, **NO_WAIT)
    j = job()
    store.jobs.create_job(j)
    store.jobs.update_job(
        j.job_id, results={"best_f1": 0.71, "early_stopping_triggered": False}, tags={"active_model": "true"}
    )
    got = Queries(table).get_job(j.job_id)
    assert got.results == {"best_f1": 0.71, "early_stopping_triggered": False}
    assert got.tags == {"active_model": "true"}
    with pytest.raises(ValueError, match="set_job_status"):
        store.jobs.update_job(j.job_id, status="running")
    with pytest.raises(JobNotFound):
        store.jobs.update_job("missing", results={})


def test_one_epoch_of_metrics_is_two_requests(table):
    store = Store(table, **NO_WAIT)
    ts = utc_now_iso()
    metrics = [
        JobMetric(J1, n, ts, 0.5, epoch=1, step=10)
        for n in ("val_f1", "val_precision", "val_recall", "eval_loss", "train_loss", "learning_rate")
    ]
    metrics += [JobMetric(J1, f"label_L{i}", ts, {"f1": 0.5, "support": 3}, epoch=1) for i in range(25)]
    store.add_metrics(metrics)
    assert store.requests == 2
    assert len(Queries(table).job_metrics(J1).items) == 31


def test_labels_with_every_status_count(table):
    image = str(uuid.uuid4())
    Store(table, **NO_WAIT).put_records(
        [
            label(image, 1, 1, 1, "DATE", "VALID"),
            label(image, 1, 1, 2, "DATE", "INVALID"),
            label(image, 1, 1, 3, "DATE", "VALID"),
            label(image, 1, 2, 1, "TAX", "NEEDS_REVIEW"),
        ]
    )
    counts = Queries(table).label_counts()
    assert counts.by_label["DATE"]["VALID"] == 2 and counts.by_label["DATE"]["INVALID"] == 1
    assert counts.by_label["TAX"]["NEEDS_REVIEW"] == 1
    assert counts.total("VALID") == 2
    assert Queries(table).label_counts(["DATE", "TIP"]).by_label["TIP"]["VALID"] == 0

"""Fault injection: DynamoDB goes away in the middle of a run. A short outage is waited out
(records buffered, written once when it answers again); a long one stops the run cleanly,
keeping its checkpoint, and the job resumes later; so does a job whose machine went away,
from its checkpoints in S3."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from dataset_builder import (
    BuildConfig,
    LocalBackend,
    create_snapshot,
    generate_receipts,
    write_bundles,
)
from metrics_store import DynamoRecorder, Queries, StoreConfig, connect, create_table, read_spool
from metrics_store.local import DynamoDBLocal, LocalDynamoConfig, free_port
from tests.conftest import REPO_ROOT
from trainer import FitRequest, ModelConfig, TrainConfig, fit

from .conftest import CLEAN_MIX, USER_LABELS
from .faults import (
    first_checkpoint,
    fit_args,
    no_metric_twice,
    runs_show,
    start_trainer,
    trainer,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def restartable(tmp_path):
    """A DynamoDB Local on disk at a fixed port, which a test can stop and start again, with
    a table of generated receipts and a snapshot of them."""
    local = DynamoDBLocal(
        LocalDynamoConfig(REPO_ROOT / ".local" / "dynamodb", data_dir=tmp_path / "ddb", port=free_port())
    )
    local.start()
    config = StoreConfig(table=f"outage-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=local.endpoint_url)
    table = connect(config)
    create_table(table, stream=False)
    write_bundles(table, list(generate_receipts(11, 30, CLEAN_MIX)))  # enough to train; on-disk writes are slow
    root = tmp_path / "snapshots"
    create_snapshot(
        table=table,
        backend=LocalBackend(root),
        source={"table": config.table},
        config=BuildConfig(merge_preset="amounts", allowed_labels=USER_LABELS, val_fraction=0.2, seed=1),
    )
    yield local, config, table, root
    local.stop()


def test_a_short_outage_is_waited_out_and_nothing_is_recorded_twice(restartable, tmp_path):
    local, config, table, root = restartable
    out = tmp_path / "runs"
    process = start_trainer(config, *fit_args(root, out, "--job-name", "outage", "--eval-steps", "4", epochs=5))
    wait_for(first_checkpoint(out), process=process, what="the first checkpoint")
    local.stop()
    time.sleep(15)  # the table is gone for 15 s while the run goes on
    local.start()
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    job = Queries(table).jobs_by_name("outage").items[0]
    shown = runs_show(config, job.job_id)
    assert shown["job"]["status"] == "succeeded"
    counts = no_metric_twice(table, job.job_id)
    evaluated = sorted(step for name, step in counts if name == "val_f1")
    assert evaluated == list(range(4, evaluated[-1] + 1, 4)) or evaluated[-1] == shown["epochs"][-1]["step"]


def test_a_long_outage_stops_the_run_as_interrupted_and_it_resumes(restartable, tmp_path):
    local, config, table, root = restartable
    request = FitRequest(
        snapshot_root=str(root),
        model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
        job_name="long-outage",
        train=TrainConfig(
            epochs=20,
            batch_size=8,
            learning_rate=1e-3,
            output_dir=str(tmp_path / "runs"),
            seed=1,
            early_stopping_patience=None,
            eval_steps=2,
        ),
    )

    class TableGoesAway(DynamoRecorder):
        def checkpoint(self, checkpoint):
            if local.process is not None:
                local.stop()  # at the first checkpoint, with most of the run still to go
            super().checkpoint(checkpoint)

    recorders = []

    def recorder_for(job_id: str) -> DynamoRecorder:  # an outage budget of 3 s instead of 5 minutes
        recorders.append(TableGoesAway(table, job_id, outage_budget_s=3.0))
        return recorders[-1]

    result = fit(request, recorder_for)
    assert result.status == "interrupted" and "unreachable" in (result.stopped_by or "")
    assert result.recorded is False and result.pending  # the records the table did not take wait in the run folder
    folder = Path(result.output_dir)
    assert list(folder.glob("checkpoint-*")), "the checkpoint is kept"
    waiting = read_spool(Path(result.pending))
    spooled_f1 = [i for w in waiting for i in w.items if i["SK"]["S"].startswith("METRIC#val_f1#")]
    assert spooled_f1 and any(w.status and w.status["status"] == "interrupted" for w in waiting)

    local.start()
    assert (
        Queries(table).get_job(result.job_id).status == "running"
    )  # as far as the table knows, until the records are written
    shown = runs_show(config, result.job_id)  # a command that opens the job writes what waits on this machine
    assert shown["job"]["status"] == "interrupted" and not Path(result.pending).exists()
    steps = sorted(m.step for m in Queries(table).iter_job_metrics(result.job_id) if m.metric_name == "val_f1")
    last_checkpoint = max(int(p.name.rsplit("-", 1)[1]) for p in folder.glob("checkpoint-*"))
    assert steps == list(range(2, last_checkpoint + 1, 2)), "every evaluation, once, up to where the run stopped"
    resumed = trainer(config, "fit", "--resume", result.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert runs_show(config, result.job_id)["job"]["status"] == "succeeded"
    no_metric_twice(table, result.job_id)


def test_a_resume_on_another_machine_downloads_the_last_checkpoint_from_s3(
    e2e_table, e2e_snapshot, tmp_path, s3_bucket, s3_endpoint, monkeypatch
):
    """With --upload-uri, checkpoints go to S3 as they are saved: a job whose machine is gone
    resumes elsewhere from the last recorded one."""
    import shutil

    from trainer import request_for_resume

    _, bucket = s3_bucket
    config, table = e2e_table
    for name, value in {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)

    class CrashOnSecondCheckpoint(DynamoRecorder):
        saved = 0

        def checkpoint(self, checkpoint):
            type(self).saved += 1
            if self.saved == 2:
                raise RuntimeError("the spot instance is gone (injected)")
            super().checkpoint(checkpoint)

    request = FitRequest(
        snapshot_root=str(e2e_snapshot),
        model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
        job_name="moves-machines",
        upload_uri=f"s3://{bucket}/runs",
        train=TrainConfig(
            epochs=3,
            batch_size=8,
            learning_rate=1e-3,
            output_dir=str(tmp_path / "machine-a"),
            seed=1,
            early_stopping_patience=None,
        ),
    )
    with pytest.raises(RuntimeError, match="injected"):
        fit(request, lambda job_id: CrashOnSecondCheckpoint(table, job_id))
    job = Queries(table).jobs_by_name("moves-machines").items[0]
    recorded = Queries(table).checkpoints(job.job_id)
    assert len(recorded) == 1 and recorded[0].s3_bucket == bucket
    shutil.rmtree(tmp_path / "machine-a")  # the first machine and its disk are gone

    result = fit(
        request_for_resume(Queries(table).get_job(job.job_id)),
        lambda job_id: DynamoRecorder(table, job_id),
        resume_job_id=job.job_id,
    )
    assert result.status == "succeeded"
    resumed_from = Queries(table).structured_logs(job.job_id, "resume")[0]["from_checkpoint"]
    assert resumed_from.endswith(f"checkpoint-{recorded[0].step}")
    assert runs_show(config, job.job_id)["results"]["best_checkpoint_s3_path"].startswith(f"s3://{bucket}/runs/")


def test_a_run_that_ends_during_an_outage_keeps_its_records_and_checkpoints_until_they_are_written(
    restartable, tmp_path
):
    """The table goes away just before the end: the command does not say `succeeded` and exit 0;
    it says where the final records wait, keeps the checkpoints, and `trainer runs sync` writes
    them when the table answers (then the checkpoints go)."""
    local, config, table, root = restartable
    request = FitRequest(
        snapshot_root=str(root),
        model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
        job_name="ends-in-outage",
        train=TrainConfig(
            epochs=3,
            batch_size=8,
            learning_rate=1e-3,
            output_dir=str(tmp_path / "runs"),
            seed=1,
            early_stopping_patience=None,
        ),
    )

    class GoneAtTheEnd(DynamoRecorder):
        def results(self, results):
            local.stop()  # the run has finished training; its last records meet an outage
            super().results(results)

    result = fit(request, lambda job_id: GoneAtTheEnd(table, job_id, outage_budget_s=3.0))
    assert result.status == "succeeded" and result.recorded is False and result.pending
    folder = Path(result.output_dir)
    assert (folder / "best" / "config.json").is_file() and list(folder.glob("checkpoint-*")), (
        "checkpoints kept until the end is recorded"
    )
    local.start()
    assert Queries(table).get_job(result.job_id).status == "running"
    synced = trainer(config, "runs", "sync", result.job_id, "--json")
    assert synced.returncode == 0, synced.stderr[-3000:]
    report = json.loads(synced.stdout)
    assert report["written"] > 0 and report["status"] == "succeeded" and report["checkpoints_removed"]
    shown = runs_show(config, result.job_id)
    assert shown["job"]["status"] == "succeeded" and shown["results"]["best_f1"] is not None
    assert len(shown["epochs"]) == 3 and not list(folder.glob("checkpoint-*")) and not Path(result.pending).exists()
    no_metric_twice(table, result.job_id)


def test_s3_down_during_checkpoint_uploads_is_waited_out_and_then_uploaded_later(
    e2e_table, e2e_snapshot, tmp_path, monkeypatch
):
    """A brief S3 failure is retried; S3 down for longer does not stop training: the checkpoints
    are uploaded once it answers, with a warning meanwhile."""
    import threading

    import boto3
    from moto.server import ThreadedMotoServer
    from transformers import TrainerCallback

    from metrics_store.local import free_port

    config, table = e2e_table
    port = free_port()
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)]
    servers[0].start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket="flaky")

    def restart_s3():
        servers.append(ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False))
        servers[-1].start()

    class S3Outages(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:  # just before the save at step 4: back 2 s later, within the retries
                servers[-1].stop()
                threading.Timer(2.0, restart_s3).start()
            if state.global_step == 9:  # before the saves at 10, 12...: back only when training is over
                servers[-1].stop()

        def on_train_end(self, args, state, control, **kwargs):
            restart_s3()

    request = FitRequest(
        snapshot_root=str(e2e_snapshot),
        model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
        job_name="flaky-s3",
        upload_uri="s3://flaky/runs",
        train=TrainConfig(
            epochs=2,
            batch_size=8,
            learning_rate=1e-3,
            output_dir=str(tmp_path / "runs"),
            seed=1,
            early_stopping_patience=None,
            eval_steps=2,
        ),
    )
    try:
        result = fit(request, lambda job_id: DynamoRecorder(table, job_id), callbacks=[S3Outages()])
    finally:
        servers[-1].stop()
    assert result.status == "succeeded" and result.recorded
    shown = runs_show(config, result.job_id)
    uploaded = {c["step"] for c in shown["checkpoints"] if c["uri"].startswith("s3://flaky/")}
    assert 4 in uploaded, "the upload during the brief failure was retried"
    warnings = [
        json.loads(log.message)["warning"]
        for log in Queries(table).iter_job_logs(result.job_id)
        if '"warning"' in log.message
    ]
    assert any("not uploaded yet" in w for w in warnings), "S3 down for longer is said, not fatal"
    assert shown["results"]["best_checkpoint_s3_path"].startswith("s3://flaky/runs/")

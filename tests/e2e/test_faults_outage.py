"""Fault injection: DynamoDB goes away in the middle of a run. A short outage is waited out
(records buffered, written once when it answers again); a long one stops the run cleanly,
keeping its checkpoint, and the job resumes later; so does a job whose machine went away,
from its checkpoints in S3."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from dataset_builder.build import create_snapshot
from dataset_builder.config import BuildConfig
from dataset_builder.receipts import generate_receipts, write_bundles
from dataset_builder.storage import LocalBackend
from metrics_store import DynamoRecorder, Queries, StoreConfig, connect, create_table
from metrics_store.local import DynamoDBLocal, LocalDynamoConfig, free_port
from tests.conftest import REPO_ROOT
from trainer.config import ModelConfig, TrainConfig
from trainer.fit import FitRequest, fit

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
    local = DynamoDBLocal(LocalDynamoConfig(REPO_ROOT / ".local" / "dynamodb", data_dir=tmp_path / "ddb", port=free_port()))
    local.start()
    config = StoreConfig(table=f"outage-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=local.endpoint_url)
    table = connect(config)
    create_table(table, stream=False)
    write_bundles(table, list(generate_receipts(11, 30, CLEAN_MIX)))  # enough to train; on-disk writes are slow
    root = tmp_path / "snapshots"
    create_snapshot(table=table, backend=LocalBackend(root), source={"table": config.table},
                    config=BuildConfig(merge_preset="amounts", allowed_labels=USER_LABELS, val_fraction=0.2, seed=1))
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
    request = FitRequest(snapshot_root=str(root), model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32), job_name="long-outage",
                         train=TrainConfig(epochs=20, batch_size=8, learning_rate=1e-3, output_dir=str(tmp_path / "runs"), seed=1,
                                           early_stopping_patience=None, eval_steps=2))

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
    assert result.recorded is False  # the end could not be written: the lease will go stale
    folder = Path(result.output_dir)
    assert list(folder.glob("checkpoint-*")), "the checkpoint is kept"

    local.start()
    shown = runs_show(config, result.job_id)
    assert shown["job"]["status"] == "running"  # as far as the table knows; its lease ages
    from datetime import UTC, datetime, timedelta

    from metrics_store import Store

    Store(table).jobs.heartbeat(result.job_id, recorders[0].owner, now=(datetime.now(UTC) - timedelta(minutes=11)).isoformat())
    resumed = trainer(config, "fit", "--resume", result.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert runs_show(config, result.job_id)["job"]["status"] == "succeeded"
    no_metric_twice(table, result.job_id)


def test_a_resume_on_another_machine_downloads_the_last_checkpoint_from_s3(e2e_table, e2e_snapshot, tmp_path, s3_bucket, s3_endpoint, monkeypatch):
    """With --upload-uri, checkpoints go to S3 as they are saved: a job whose machine is gone
    resumes elsewhere from the last recorded one."""
    import shutil

    from trainer.request import request_for_resume

    _, bucket = s3_bucket
    config, table = e2e_table
    for name, value in {"AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)

    class CrashOnSecondCheckpoint(DynamoRecorder):
        saved = 0

        def checkpoint(self, checkpoint):
            type(self).saved += 1
            if self.saved == 2:
                raise RuntimeError("the spot instance is gone (injected)")
            super().checkpoint(checkpoint)

    request = FitRequest(snapshot_root=str(e2e_snapshot), model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
                         job_name="moves-machines", upload_uri=f"s3://{bucket}/runs",
                         train=TrainConfig(epochs=3, batch_size=8, learning_rate=1e-3, output_dir=str(tmp_path / "machine-a"), seed=1,
                                           early_stopping_patience=None))
    with pytest.raises(RuntimeError, match="injected"):
        fit(request, lambda job_id: CrashOnSecondCheckpoint(table, job_id))
    job = Queries(table).jobs_by_name("moves-machines").items[0]
    recorded = Queries(table).checkpoints(job.job_id)
    assert len(recorded) == 1 and recorded[0].s3_bucket == bucket
    shutil.rmtree(tmp_path / "machine-a")  # the first machine and its disk are gone

    result = fit(request_for_resume(Queries(table).get_job(job.job_id)), lambda job_id: DynamoRecorder(table, job_id),
                 resume_job_id=job.job_id)
    assert result.status == "succeeded"
    resumed_from = Queries(table).structured_logs(job.job_id, "resume")[0]["from_checkpoint"]
    assert resumed_from.endswith(f"checkpoint-{recorded[0].step}")
    assert runs_show(config, job.job_id)["results"]["best_checkpoint_s3_path"].startswith(f"s3://{bucket}/runs/")

"""Runs recorded by this product, read back with every `get_*`/`list_*` call of the user's own
client (compatibility item (b)): a `trainer fit` started where $USER is unset (containers, CI,
SageMaker), evaluated mid-epoch, uploading its checkpoints; one that keeps them on the machine;
a sweep with its trials; a review with its folds; a log too large for one item. Nothing the
client reads raises, and it reads the values `trainer runs show --json` reports."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from metrics_store import DynamoRecorder, InvalidValue, JobResource, Queries
from tests.e2e.conftest import e2e_snapshot, e2e_table  # noqa: F401 - module fixtures shared with the e2e tests
from tests.e2e.faults import fit_args, runs_show
from tests.e2e.test_sweep import SPACE, space_file, sweep_args

from .client import client_for, read_job, read_table_wide

pytestmark = pytest.mark.slow
LONG_LOG_BYTES = 450 * 1024


def _run(config, *args, env=None):
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT
    from tests.e2e.faults import env_for

    done = subprocess.run(
        [sys.executable, "-m", "trainer.cli", *args, "--json"],
        env=env or env_for(config),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def our_runs(e2e_table, e2e_snapshot, tmp_path_factory, s3_endpoint):  # noqa: F811
    import boto3

    from tests.e2e.faults import env_for

    config, table = e2e_table
    out = tmp_path_factory.mktemp("runs")
    bucket = f"compat-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3", region_name="us-east-1", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=bucket)
    no_user = {
        k: v
        for k, v in env_for(
            config, AWS_ENDPOINT_URL_S3=s3_endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test"
        ).items()
        if k not in ("USER", "LOGNAME")
    }
    uploaded = _run(
        config,
        *fit_args(
            e2e_snapshot,
            out,
            "--job-name",
            "compat-upload",
            "--eval-steps",
            "7",
            "--upload-uri",
            f"s3://{bucket}/runs",
            epochs=2,
        ),
        env=no_user,
    )
    local = _run(config, *fit_args(e2e_snapshot, out, "--job-name", "compat-local", epochs=2))
    sweep = _run(
        config,
        *sweep_args(
            e2e_snapshot,
            space_file(out, SPACE.replace("epochs: 4", "epochs: 1")),
            out,
            "compat-sweep",
            "--trials",
            "2",
            "--pruner",
            "none",
            "--seed-repeats",
            "0",
        ),
    )
    review = _run(
        config,
        "review",
        "--root",
        str(e2e_snapshot),
        "--output-dir",
        str(out),
        "--job-name",
        "compat-review",
        "--folds",
        "2",
        "--model",
        "tiny",
        "--epochs",
        "1",
        "--max-seq-length",
        "128",
        "--doc-stride",
        "32",
    )
    recorder = DynamoRecorder(table, uploaded["job_id"])
    recorder.log(
        {"type": "run_summary_copy", "note": "longer than one item", "rows": ["x" * 1000] * (LONG_LOG_BYTES // 1000)}
    )
    assert recorder.close(30)
    queries = Queries(table)
    children = [j.job_id for parent in (sweep["job_id"], review["job_id"]) for j in queries.jobs_by_parent(parent)]
    assert len(children) == 4
    return (
        config,
        table,
        {
            "uploaded": uploaded["job_id"],
            "local": local["job_id"],
            "sweep": sweep["job_id"],
            "review": review["job_id"],
            "children": children,
        },
    )


def test_every_client_read_of_every_job_we_wrote_works(our_runs):
    _, table, jobs = our_runs
    client = client_for(table)
    job_ids = [jobs["uploaded"], jobs["local"], jobs["sweep"], jobs["review"], *jobs["children"]]
    views = {job_id: read_job(client, job_id) for job_id in job_ids}  # raises on any item the client cannot read
    table_wide = read_table_wide(
        client, ["val_f1", "step_train_loss", "step_learning_rate", "label_AMOUNT", "num_train_samples"]
    )
    listed = {j.job_id for j in table_wide["jobs"]}
    assert set(job_ids) <= listed
    assert all(views[j].job.created_by for j in job_ids)
    assert {c.job_id for c in table_wide["checkpoints"]} == {
        jobs["uploaded"]
    }  # only uploaded checkpoints are JobCheckpoints
    assert {r.job_id for r in table_wide["resources"]["cpu"]} >= {jobs["uploaded"], jobs["local"], *jobs["children"]}


def test_the_client_reads_what_runs_show_reports(our_runs):
    config, table, jobs = our_runs
    client = client_for(table)
    for job_id in (jobs["uploaded"], jobs["local"], *jobs["children"]):
        view, shown = read_job(client, job_id), runs_show(config, job_id)
        assert (view.job.name, view.job.status, view.job.created_by) == (
            shown["job"]["name"],
            shown["job"]["status"],
            shown["job"]["created_by"],
        )
        assert view.job.results["best_f1"] == pytest.approx(shown["best"]["best_f1"])
        f1_rows = sorted(view.metrics_by_name["val_f1"], key=lambda m: m.step)
        assert [m.value for m in f1_rows] == pytest.approx([e["val_f1"] for e in shown["epochs"]])
        assert [m.step for m in f1_rows] == [e["step"] for e in shown["epochs"]]
        # the client's whole epoch is the floor of ours, which it never sees (epoch_exact)
        assert [m.epoch for m in f1_rows] == [int(e["epoch"]) for e in shown["epochs"]]
        assert [s.status for s in sorted(view.statuses, key=lambda s: s.updated_at)] == [
            s["status"] for s in shown["status_history"]
        ]
        assert [s.status for s in view.with_status[1]] == [s.status for s in view.statuses]
        assert view.latest_status.status == shown["job"]["status"]
        assert [r.status for r in view.resources] == ["released"] and view.resources[0].resource_type == "cpu"
        assert view.resource_by_id[view.resources[0].resource_id][0].job_id == job_id

    uploaded = read_job(client, jobs["uploaded"])
    shown = runs_show(config, jobs["uploaded"])
    assert [c.s3_bucket for c in uploaded.checkpoints] and all(
        c.s3_bucket.startswith("compat-") for c in uploaded.checkpoints
    )
    assert sorted(f"s3://{c.s3_bucket}/{c.s3_key}" for c in uploaded.checkpoints) == sorted(
        c["uri"] for c in shown["checkpoints"]
    )
    assert uploaded.best_checkpoint is not None and uploaded.best_checkpoint.is_best
    assert any(e["epoch"] != int(e["epoch"]) for e in shown["epochs"]), (
        "evaluated mid-epoch: some epochs are fractional"
    )
    local = read_job(client, jobs["local"])
    assert local.checkpoints == [] and local.best_checkpoint is None  # kept on the machine: our LocalCheckpoint items
    assert runs_show(config, jobs["local"])["checkpoints"], "we still read the local checkpoints back"


def test_a_log_too_large_for_one_item_reads_whole_for_us_and_valid_for_the_client(our_runs):
    _, table, jobs = our_runs
    view = read_job(client_for(table), jobs["uploaded"])
    stand_in = next(json.loads(log.message) for log in view.logs if '"run_summary_copy"' in log.message)
    assert stand_in["type"] == "run_summary_copy" and stand_in["omitted"] == ["rows"] and stand_in["message_parts"] == 2
    assert all(head.message == log.message for head, log in zip(view.log_heads, view.logs, strict=True))
    ours = [
        json.loads(log.message)
        for log in Queries(table).iter_job_logs(jobs["uploaded"])
        if '"run_summary_copy"' in log.message
    ]
    assert len(ours) == 1 and len(ours[0]["rows"]) == LONG_LOG_BYTES // 1000


def test_the_sweep_and_review_jobs_read_as_the_client_reads_any_job(our_runs):
    config, table, jobs = our_runs
    client = client_for(table)
    for job_id in (jobs["sweep"], jobs["review"]):
        view, shown = read_job(client, job_id), runs_show(config, job_id)
        assert view.job.status == shown["job"]["status"] == "succeeded"
        assert view.job.job_config["kind"] in ("sweep", "review") and view.job.job_config["schema_version"] == 2
        assert view.job.created_by


def test_resource_ids_the_client_cannot_read_are_refused_before_writing():
    with pytest.raises(InvalidValue, match="resource_id 'gpu-0' is not a UUID"):
        JobResource(str(uuid.uuid4()), "gpu-0", "host", "g5.xlarge", "gpu", "2026-01-01T00:00:00+00:00").to_item()


def test_an_empty_created_by_is_refused_and_the_cli_names_a_user_without_user(monkeypatch):
    from cli_edge import current_user
    from metrics_store import Job

    with pytest.raises(InvalidValue, match="created_by"):
        Job(str(uuid.uuid4()), "run", "2026-01-01T00:00:00+00:00", created_by="").to_item()
    monkeypatch.delenv("USER", raising=False)
    assert current_user()  # the login name of this process's user, else receipt-ml
    assert os.environ.get("USER") is None

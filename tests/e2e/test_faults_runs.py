"""Fault injection on training runs (issue: a run is never lost, stuck, silently overwritten
or restarted). Each test breaks something on purpose against DynamoDB Local and checks the
state afterwards through `trainer runs show --json`, as a user or an agent would read it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from metrics_store import DynamoRecorder, Queries, Store
from tests.conftest import REPO_ROOT
from trainer import FitRequest, ModelConfig, TrainConfig, fit

from .faults import (
    env_for,
    first_checkpoint,
    fit_args,
    job_named,
    no_metric_twice,
    runs_cli,
    runs_show,
    start_trainer,
    statuses,
    stop,
    trainer,
    wait_for,
)

pytestmark = pytest.mark.slow
TINY = ModelConfig(model="tiny", max_seq_length=128, doc_stride=32)


def request_for(snapshot_root: Path, out: Path, name: str, **train) -> FitRequest:
    values = dict(epochs=2, batch_size=8, learning_rate=1e-3, output_dir=str(out), seed=1, early_stopping_patience=None)
    return FitRequest(
        snapshot_root=str(snapshot_root), model=TINY, train=TrainConfig(**{**values, **train}), job_name=name
    )


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_live_job_is_refused_a_stopped_one_resumes_from_elsewhere_and_names_never_collide(
    e2e_table, e2e_snapshot, tmp_path
):
    config, table = e2e_table
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir(), elsewhere.mkdir()
    first = start_trainer(
        config, *fit_args(e2e_snapshot, Path("runs"), "--job-name", "shared", "--eval-steps", "4", epochs=30), cwd=here
    )
    wait_for(first_checkpoint(here / "runs"), process=first, what="the first checkpoint")
    job_id = Queries(table).jobs_by_name("shared").items[0].job_id

    # 3. A job that is still running cannot be resumed by a second process.
    live = trainer(config, "fit", "--resume", job_id, cwd=elsewhere)
    assert live.returncode == 2 and "is running" in live.stderr and "heartbeat" in live.stderr, live.stderr
    shown = runs_show(config, job_id)
    assert shown["job"]["status"] == "running" and shown["lease"]["stale"] is False

    # 15. A stopped run says how to resume it, in one line.
    output = stop(first)
    assert first.returncode == 130, output
    assert f"resume with: trainer fit --resume {job_id}" in output and len(output) < 4000
    assert runs_show(config, job_id)["job"]["status"] == "interrupted"

    # 2. Resumed from another working directory: it continues where the job says its folder is.
    resumed = trainer(config, "fit", "--resume", job_id, "--json", cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    shown = runs_show(config, job_id)
    assert shown["job"]["status"] == "succeeded" and statuses(shown)[-3:] == ["interrupted", "running", "succeeded"]
    assert Path(shown["job"]["storage"]["output_dir"]).is_relative_to(here)
    assert not (elsewhere / "runs").exists()
    resume_log = Queries(table).structured_logs(job_id, "resume")[0]
    assert resume_log["from_checkpoint"] and "checkpoint-" in resume_log["from_checkpoint"]
    counts = no_metric_twice(table, job_id)
    assert sorted(step for name, step in counts if name == "val_f1")[-1] == shown["epochs"][-1]["step"]

    # 1. The same job name again is a new folder; the first job's model is untouched.
    best = Path(shown["results"]["best_checkpoint_s3_path"])
    before = tree_hash(best)
    again = trainer(config, *fit_args(e2e_snapshot, here / "runs", "--job-name", "shared", "--json", epochs=1))
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads(again.stdout)
    assert second["job_id"] != job_id and second["output_dir"] != shown["job"]["storage"]["output_dir"]
    assert tree_hash(best) == before and runs_show(config, job_id)["results"]["best_checkpoint_s3_path"] == str(best)
    for bad in ("../../x", "/tmp/elsewhere", "a/b"):
        refused = trainer(config, *fit_args(e2e_snapshot, here / "runs", "--job-name", bad))
        assert refused.returncode == 2 and "--job-name" in refused.stderr, refused.stderr
    assert not (tmp_path / "x").exists()


def test_a_resume_without_a_checkpoint_fails_in_one_line_unless_asked_to_restart(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    out = tmp_path / "runs"
    process = start_trainer(
        config, *fit_args(e2e_snapshot, out, "--job-name", "lost-checkpoints", "--eval-steps", "4", epochs=6)
    )
    checkpoints = wait_for(first_checkpoint(out), process=process, what="the first checkpoint")
    stop(process)
    job_id = Queries(table).jobs_by_name("lost-checkpoints").items[0].job_id
    for folder in checkpoints[0].parent.glob("checkpoint-*"):
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()

    refused = trainer(config, "fit", "--resume", job_id)
    assert refused.returncode == 2 and "--restart" in refused.stderr and "Traceback" not in refused.stderr, (
        refused.stderr
    )
    assert len(refused.stderr.strip().splitlines()) == 1
    shown = runs_show(config, job_id)
    assert shown["job"]["status"] == "interrupted" and "resume refused" in shown["status_history"][-1]["message"]

    restarted = trainer(config, "fit", "--resume", job_id, "--restart")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    shown = runs_show(config, job_id)
    assert shown["job"]["status"] == "succeeded"
    assert Queries(table).structured_logs(job_id, "restart"), "a restart says so"
    steps = [e["step"] for e in shown["epochs"]]
    assert steps == sorted(set(steps))  # the earlier attempt's evaluations are not mixed in


def test_sigterm_during_setup_or_export_leaves_a_resumable_job(e2e_table, e2e_snapshot, tmp_path, monkeypatch):
    config, table = e2e_table

    class SignalledAfterStart(DynamoRecorder):
        def acquire(self, **kw):
            super().acquire(**kw)
            os.kill(os.getpid(), signal.SIGTERM)  # the job exists; setup has not finished

    stopped = fit(
        request_for(e2e_snapshot, tmp_path / "a", "sigterm-setup"), lambda job_id: SignalledAfterStart(table, job_id)
    )
    job = Queries(table).jobs_by_name("sigterm-setup").items[0]
    assert stopped.job_id == job.job_id and stopped.status == "interrupted" and "during set-up" in stopped.stopped_by
    assert runs_show(config, job.job_id)["job"]["status"] == "interrupted"

    import trainer.training.fit as artifacts  # fit calls export_best by this name

    real_export = artifacts.export_best

    def export_then_signal(model, tokenizer, output_dir, **kw):
        (output_dir / ".best.partial-1").mkdir()  # as a half-written export would leave
        os.kill(os.getpid(), signal.SIGTERM)
        return real_export(model, tokenizer, output_dir, **kw)

    monkeypatch.setattr(artifacts, "export_best", export_then_signal)
    stopped = fit(
        request_for(e2e_snapshot, tmp_path / "b", "sigterm-export"), lambda job_id: DynamoRecorder(table, job_id)
    )
    assert stopped.status == "interrupted" and "during the export" in stopped.stopped_by
    monkeypatch.setattr(artifacts, "export_best", real_export)
    job = Queries(table).jobs_by_name("sigterm-export").items[0]
    shown = runs_show(config, job.job_id)
    assert (
        shown["job"]["status"] == "interrupted" and not (Path(shown["job"]["storage"]["output_dir"]) / "best").exists()
    )
    resumed = trainer(config, "fit", "--resume", job.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    shown = runs_show(config, job.job_id)
    folder = Path(shown["job"]["storage"]["output_dir"])
    assert shown["job"]["status"] == "succeeded" and (folder / "best" / "config.json").is_file()
    assert not list(folder.glob(".best.*"))


def test_a_killed_process_goes_stale_is_marked_interrupted_and_resumes(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    out = tmp_path / "runs"
    process = start_trainer(config, *fit_args(e2e_snapshot, out, "--job-name", "killed", "--eval-steps", "4", epochs=6))
    wait_for(first_checkpoint(out), process=process, what="the first checkpoint")
    stop(process, signal.SIGKILL)
    job = Queries(table).jobs_by_name("killed").items[0]
    assert runs_show(config, job.job_id)["job"]["status"] == "running"  # nobody could say otherwise
    fresh = runs_cli(config, "mark-interrupted", job.job_id)
    assert fresh.exit_code == 2 and "heartbeat" in fresh.output

    ten_minutes_ago = (datetime.now(UTC) - timedelta(minutes=11)).isoformat(timespec="microseconds")
    Store(table).jobs.heartbeat(job.job_id, job.lease_owner, now=ten_minutes_ago)  # as if the clock had moved on
    shown = runs_show(config, job.job_id)
    assert shown["lease"]["stale"] is True and shown["lease"]["heartbeat_age_seconds"] > 600
    monitored = runs_cli(config, "monitor", "--job", job.job_id, "--once", "--json")
    assert json.loads(monitored.stdout)["finished"] is True  # a dead job is not followed forever
    listed = json.loads(runs_cli(config, "list", "--json").stdout)["runs"]
    assert next(r for r in listed if r["job_id"] == job.job_id)["lease"]["stale"] is True

    marked = runs_cli(config, "mark-interrupted", job.job_id, "--json")
    assert marked.exit_code == 0 and json.loads(marked.stdout)["status"] == "interrupted"
    resumed = trainer(config, "fit", "--resume", job.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert runs_show(config, job.job_id)["job"]["status"] == "succeeded"
    no_metric_twice(table, job.job_id)


def test_divergence_is_reported_as_divergence_and_bad_numbers_never_start_a_job(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    diverged = trainer(
        config,
        *fit_args(e2e_snapshot, tmp_path / "runs", "--job-name", "diverges", "--lr", "1000", "--warmup-ratio", "0"),
    )
    assert diverged.returncode == 1 and "training diverged at step" in diverged.stderr, diverged.stderr[-2000:]
    assert "cannot be stored" not in diverged.stderr
    shown = job_named(config, table, "diverges")
    assert shown["job"]["status"] == "failed" and "diverged at step" in shown["status_history"][-1]["message"]
    assert shown["results"]["diverged"]["step"] >= 1
    for bad in (["--lr", "nan"], ["--weight-decay", "inf"], ["--warmup-ratio", "nan"]):
        refused = trainer(config, *fit_args(e2e_snapshot, tmp_path / "runs", "--job-name", "never", *bad))
        assert refused.returncode == 2 and "finite" in refused.stderr, refused.stderr
    assert not Queries(table).jobs_by_name("never").items


def test_a_failed_job_resumes_from_its_last_checkpoint(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table

    class CrashOnSecondCheckpoint(DynamoRecorder):
        saved = 0

        def checkpoint(self, checkpoint):
            type(self).saved += 1
            if self.saved == 2:
                raise RuntimeError("disk full (injected)")
            super().checkpoint(checkpoint)

    with pytest.raises(RuntimeError, match="injected"):
        fit(
            request_for(e2e_snapshot, tmp_path / "runs", "crashes", epochs=3),
            lambda job_id: CrashOnSecondCheckpoint(table, job_id),
        )
    job = Queries(table).jobs_by_name("crashes").items[0]
    assert runs_show(config, job.job_id)["job"]["status"] == "failed"
    resumed = trainer(config, "fit", "--resume", job.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    shown = runs_show(config, job.job_id)
    assert statuses(shown)[-3:] == ["failed", "running", "succeeded"]
    assert Queries(table).structured_logs(job.job_id, "resume")[0]["from_checkpoint"]


def test_warm_up_is_observed_and_an_identical_rerun_reproduces(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    ids = [
        fit(
            request_for(e2e_snapshot, tmp_path / "runs", f"same-{n}", epochs=3, warmup_ratio=0.1),
            lambda job_id: DynamoRecorder(table, job_id),
        ).job_id
        for n in (1, 2)
    ]
    report = json.loads(runs_cli(config, "report", ids[0], "--json").stdout)
    schedule = next(d for d in report["diagnoses"] if d["name"] == "learning_rate_schedule")
    assert schedule["evidence"]["warmup"] is True and schedule["evidence"]["sampled_at"] == "logging_steps"
    first_eval = runs_show(config, ids[0])["epochs"][0]["step"]
    assert schedule["evidence"]["warmup_steps"] < first_eval  # ended before the first evaluation, and still seen
    explained = json.loads(runs_cli(config, "explain", *ids, "--json").stdout)
    assert explained["cause"]["kind"] == "reproduced" and "reproduced exactly" in explained["cause"]["sentence"]
    steps = Queries(table).iter_job_metrics(ids[0], "step_train_loss")
    assert 10 <= len(list(steps)) <= 102  # every logging step, about 100 per run at most


def test_an_upload_destination_that_cannot_be_written_is_refused_before_the_job(
    e2e_table, e2e_snapshot, tmp_path, s3_endpoint
):
    config, table = e2e_table
    env = env_for(config, AWS_ENDPOINT_URL_S3=s3_endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.cli",
            *fit_args(
                e2e_snapshot, tmp_path / "runs", "--job-name", "no-bucket", "--upload-uri", "s3://no-such-bucket/runs"
            ),
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "--upload-uri s3://no-such-bucket/runs" in done.stderr, done.stderr
    assert not Queries(table).jobs_by_name("no-bucket").items

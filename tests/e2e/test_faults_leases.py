"""Fault injection: a live run never looks dead, a dead run always resumes. The lease is renewed
on schedule however busy the writer is; a process whose job was taken over writes nothing more
to the job or its folder; a checkpoint cut off mid-save is never resumed from; SIGHUP (a closed
SSH session) stops a run as SIGTERM does; a signal during set-up says how to resume, and the
resumed run records its start; a signal after the run succeeded changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from transformers import TrainerCallback

from metrics_store import DynamoRecorder, JobLeased, Queries, Store
from trainer import FitRequest, ModelConfig, TrainConfig, fit

from .faults import (
    first_checkpoint,
    fit_args,
    no_metric_twice,
    runs_cli,
    runs_show,
    start_trainer,
    stop,
    trainer,
    wait_for,
)

pytestmark = pytest.mark.slow
TINY = ModelConfig(model="tiny", max_seq_length=128, doc_stride=32)


def request_for(snapshot_root: Path, out: Path, name: str, **train) -> FitRequest:
    values = dict(epochs=3, batch_size=8, learning_rate=1e-3, output_dir=str(out), seed=1, early_stopping_patience=None)
    return FitRequest(
        snapshot_root=str(snapshot_root), model=TINY, job_name=name, train=TrainConfig(**{**values, **train})
    )


class Probe(TrainerCallback):
    """Runs `check(state)` at every step end (a test's eye inside the training loop)."""

    def __init__(self, check):
        self.check = check

    def on_step_end(self, args, state, control, **kwargs):
        self.check(state)


def test_a_busy_run_renews_its_lease_on_schedule_and_cannot_be_declared_dead(e2e_table, e2e_snapshot, tmp_path):
    """Metrics every step, evaluations rare: the heartbeat still goes out every second (here),
    so the job never looks stale and mark-interrupted is refused all along."""
    config, table = e2e_table
    ages = []

    def check(state):
        job = Queries(table).get_job(job_ids[0])
        if job.heartbeat_at:
            ages.append((datetime.now(UTC) - datetime.fromisoformat(job.heartbeat_at)).total_seconds())
        if state.global_step % 10 == 0:
            with pytest.raises(JobLeased):
                Store(table).jobs.mark_stale_interrupted(job_ids[0], message="is it dead?", stale_after_s=4.0)
        time.sleep(0.15)  # a slower step: the run lasts several heartbeats

    job_ids = []

    def recorder_for(job_id):
        job_ids.append(job_id)
        return DynamoRecorder(table, job_id, heartbeat_s=1.0, stale_after_s=4.0)

    result = fit(
        request_for(e2e_snapshot, tmp_path / "runs", "busy-lease", epochs=4), recorder_for, callbacks=[Probe(check)]
    )
    assert result.status == "succeeded"
    assert len(ages) > 40 and max(ages) < 4.0, f"the heartbeat aged to {max(ages):.1f} s"


def test_a_process_whose_job_was_taken_over_stops_and_touches_nothing(e2e_table, e2e_snapshot, tmp_path):
    """Another process takes the job after this one looked stale (paused: here it renews its
    lease only every 10 s, and pauses 2.5 s, past the 2 s after which it must check before
    writing): at its next write or checkpoint it finds out, stops without a checkpoint, exports
    nothing, prunes nothing and records nothing more; the taker owns the job and its folder."""
    config, table = e2e_table
    taken = {}

    def take_over(state):
        if state.global_step == 6 and not taken:
            time.sleep(2.5)  # the pause
            job_id = job_ids[0]
            aged = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
            Store(table).jobs.heartbeat(
                job_id, recorders[0].owner, now=aged
            )  # as if this process had been paused for 30 s
            Store(table).jobs.acquire_lease(job_id, "the-other-machine:1:abcd", stale_after_s=4.0)
            taken["step"] = state.global_step

    job_ids, recorders = [], []

    def recorder_for(job_id):
        job_ids.append(job_id)
        recorders.append(DynamoRecorder(table, job_id, heartbeat_s=10.0, stale_after_s=4.0))
        return recorders[-1]

    result = fit(
        request_for(e2e_snapshot, tmp_path / "runs", "taken-over", epochs=4), recorder_for, callbacks=[Probe(take_over)]
    )
    assert (
        result.lease_lost and result.status == "interrupted" and "no longer this process's" in (result.stopped_by or "")
    )
    folder = Path(result.output_dir)
    assert not (folder / "best").exists() and not list(folder.glob("checkpoint-*")), (
        "nothing written after the takeover"
    )
    shown = runs_show(config, job_ids[0])
    assert shown["job"]["status"] == "running" and shown["lease"]["owner"] == "the-other-machine:1:abcd"
    # records already queued when the job was taken may still land (the writer is behind under load);
    # nothing of a later step does: at most the step in flight when it found out
    later = [m for m in Queries(table).iter_job_metrics(job_ids[0]) if (m.step or 0) > taken["step"] + 1]
    assert later == [], f"{len(later)} records of steps after the takeover were written"


def test_a_checkpoint_cut_off_while_saving_is_skipped_and_named_on_resume(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    out = tmp_path / "runs"
    process = start_trainer(
        config, *fit_args(e2e_snapshot, out, "--job-name", "half-saved", "--eval-steps", "5", epochs=4)
    )
    wait_for(first_checkpoint(out), process=process, what="the first checkpoint")
    stop(process)  # SIGTERM: a clean, resumable stop with its checkpoint
    job = Queries(table).jobs_by_name("half-saved").items[0]
    folder = Path(runs_show(config, job.job_id)["job"]["storage"]["output_dir"])
    complete = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    assert complete and all((p / "receipt-ml-complete.json").is_file() for p in complete)
    cut = folder / f"checkpoint-{int(complete[-1].name.rsplit('-', 1)[1]) + 5}"  # as a kill during its save leaves it
    cut.mkdir()
    shutil.copy(complete[-1] / "config.json", cut / "config.json")
    resumed = trainer(config, "fit", "--resume", job.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (
        f"{cut.name} was cut off while being saved" in resumed.stderr
        and f"resuming from {complete[-1].name}" in resumed.stderr
    )
    shown = runs_show(config, job.job_id)
    assert shown["job"]["status"] == "succeeded" and (folder / f".incomplete-{cut.name}").is_dir()
    no_metric_twice(table, job.job_id)


def test_sighup_stops_a_run_with_a_checkpoint_and_it_resumes(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    out = tmp_path / "runs"
    process = start_trainer(
        config, *fit_args(e2e_snapshot, out, "--job-name", "hung-up", "--eval-steps", "5", epochs=6)
    )
    wait_for(first_checkpoint(out), process=process, what="the first checkpoint")
    output = stop(process, signal.SIGHUP)
    assert process.returncode == 130, output[-3000:]
    assert "resume with: trainer fit --resume" in output and "Traceback" not in output
    job = Queries(table).jobs_by_name("hung-up").items[0]
    assert runs_show(config, job.job_id)["job"]["status"] == "interrupted"
    assert list(Path(runs_show(config, job.job_id)["job"]["storage"]["output_dir"]).glob("checkpoint-*"))
    resumed = trainer(config, "fit", "--resume", job.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert runs_show(config, job.job_id)["job"]["status"] == "succeeded"


def test_a_signal_during_set_up_names_the_job_and_its_resume_records_the_start(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    process = start_trainer(config, *fit_args(e2e_snapshot, tmp_path / "runs", "--job-name", "setup-signal"))

    def created():
        jobs = Queries(table).jobs_by_name("setup-signal").items
        return jobs[0] if jobs and jobs[0].status == "running" else None

    job = wait_for(created, process=process, what="the job", timeout=120)
    output = stop(process)
    assert process.returncode == 130, output[-3000:]
    assert f"job {job.job_id}: interrupted" in output and f"trainer fit --resume {job.job_id}" in output
    assert "during set-up" in output and "Traceback" not in output
    shown = runs_show(config, job.job_id)
    assert shown["job"]["status"] == "interrupted" and shown["dataset"] == {}
    resumed = trainer(config, "fit", "--resume", job.job_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    shown = runs_show(config, job.job_id)
    assert shown["job"]["status"] == "succeeded" and shown["dataset"]["num_train_samples"] > 0
    configs = Queries(table).structured_logs(job.job_id, "run_config")
    assert len(configs) == 1


def test_a_signal_after_the_run_succeeded_changes_nothing(e2e_table, e2e_snapshot, tmp_path, monkeypatch):
    config, table = e2e_table
    import trainer.training.fit as fit_module

    real_report = fit_module.write_report

    def report_then_signal(recorder, output_dir):
        os.kill(os.getpid(), signal.SIGTERM)  # the final status is recorded, the report is being written
        real_report(recorder, output_dir)

    monkeypatch.setattr(fit_module, "write_report", report_then_signal)
    result = fit(
        request_for(e2e_snapshot, tmp_path / "runs", "late-signal", epochs=1),
        lambda job_id: DynamoRecorder(table, job_id),
    )
    assert result.status == "succeeded"
    shown = runs_show(config, result.job_id)
    assert shown["job"]["status"] == "succeeded"
    logs = [
        json.loads(log.message).get("type")
        for log in Queries(table).iter_job_logs(result.job_id)
        if log.message.startswith("{")
    ]
    assert "interrupted" not in logs
    assert runs_cli(config, "show", result.job_id, "--json").exit_code == 0

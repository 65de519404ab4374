"""The one job lifecycle (trainer.jobs.lifecycle) and the jobs that start jobs, run against
`metrics_store.MemoryJobs` instead of a table: how a job ends and says how to resume it, a
sweep's leader and helper workers sharing its trials, and a review's fold jobs trained once
and found again on resume. The same code runs on DynamoDB in tests/e2e."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from metrics_store import Job, JobLeased, MemoryJobs
from metrics_store.keys import utc_now_iso
from tests.conftest import REPO_ROOT
from trainer import FitError, JobExists, SweepConfig, resume_sweep
from trainer.jobs.children import ChildJob
from trainer.jobs.lifecycle import JobSession, resume_command
from trainer.sweep.plan import SweepPlan, base_request, prepare
from trainer.sweep.space import parse_space

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "snapshots_v1"


def proposed(job_id: str, name: str = "a-job") -> Job:
    return Job(job_id=job_id, name=name, created_at=utc_now_iso(), created_by="tests", job_config={"kind": "fit"})


JOB_ID = "0b0a4a1e-3c55-4f06-8a7c-6b1b5e0f9a01"


def test_a_session_ends_every_way_with_the_command_that_resumes_it():
    jobs = MemoryJobs()
    session, job, created = JobSession.open(jobs.recorder_for(JOB_ID), proposed(JOB_ID), "sweep", resuming=False)
    assert created and job.status == "pending" and session.resume_command == f"trainer sweep --resume {JOB_ID}"
    session.acquire("setting up")
    with pytest.raises(JobLeased):  # a second worker finds the job live and leaves it alone
        JobSession(jobs.recorder_for(JOB_ID), "sweep").acquire("resumed")
    session.interrupted("signal 15")
    assert jobs.get_job(JOB_ID).status == "interrupted"
    assert jobs.latest_status(JOB_ID).message == f"stopped by signal 15; resume with `trainer sweep --resume {JOB_ID}`"
    assert session.close().recorded

    again = JobSession(jobs.recorder_for(JOB_ID), "sweep")
    again.acquire("resumed")
    try:
        raise RuntimeError("disk full")
    except RuntimeError as exc:
        again.failed(exc)
    last = list(jobs.iter_job_logs(JOB_ID))[-1]
    assert (
        jobs.get_job(JOB_ID).status == "failed"
        and last.log_level == "ERROR"
        and "RuntimeError: disk full" in (last.exception or "")
    )
    assert json.loads(last.message)["resume"] == resume_command("sweep", JOB_ID)


def test_opening_refuses_a_missing_job_to_resume_and_a_child_another_process_claimed():
    jobs = MemoryJobs()
    with pytest.raises(FitError, match="no review job"):
        JobSession.open(jobs.recorder_for(JOB_ID), proposed(JOB_ID), "review", resuming=True)
    child = ChildJob.of(JOB_ID, "trial-0000")
    JobSession.open(jobs.recorder_for(child.job_id), proposed(JOB_ID), "fit", resuming=False, child=child)
    assert jobs.jobs_by_parent(JOB_ID)[0].job_id == child.job_id
    with pytest.raises(JobExists):
        JobSession.open(jobs.recorder_for(child.job_id), proposed(JOB_ID), "fit", resuming=False, child=child)


def sweep_plan(tmp_path, trials: int) -> SweepPlan:
    snapshots = tmp_path / "snapshots"
    shutil.copytree(FIXTURE, snapshots)
    space = parse_space(
        {
            "fixed": {
                "model": "tiny",
                "max_seq_length": 64,
                "doc_stride": 16,
                "epochs": 1,
                "batch_size": 8,
                "early_stopping_patience": 0,
            },
            "search": {"lr": {"type": "log_uniform", "low": 1e-4, "high": 1e-3}},
        },
        "space.yaml",
    )
    base = base_request(
        space, root=str(snapshots), snapshot="v1", output_dir=str(tmp_path / "runs"), created_by="tests"
    )
    return SweepPlan(
        "mem-sweep", space, SweepConfig(trials=trials, sampler="random", pruner="none", seed_repeats=1), base
    )


@pytest.mark.slow
def test_a_helper_runs_the_trials_of_a_live_sweep_and_its_leader_finishes_it_without_running_them_again(tmp_path):
    jobs, lines = MemoryJobs(), []
    plan, _ = prepare(sweep_plan(tmp_path, trials=3))
    sweep_id = str(uuid.uuid4())
    plan = plan.in_folder(str(tmp_path / "runs" / "mem-sweep"))
    leader = jobs.recorder_for(sweep_id, source="sweep")  # a leader alive in another process: it holds the lease
    leader.open(
        Job(
            job_id=sweep_id,
            name=plan.name,
            created_at=utc_now_iso(),
            created_by="tests",
            job_config=plan.job_config().to_dict(),
            storage={"output_dir": plan.base.train.output_dir},
            tags={"kind": "sweep"},
        )
    )
    leader.acquire(message="searching")

    helper = resume_sweep(sweep_id, jobs, jobs, echo=lines.append)
    assert helper.status == "joined" and any("joining it as a helper" in line for line in lines)
    trials = jobs.jobs_by_parent(sweep_id)
    assert sorted(j.tags["sweep_trial"] for j in trials) == ["0", "1", "2"] and {j.status for j in trials} == {
        "succeeded"
    }
    assert [s.status for s in leader.statuses] == ["pending", "running"]  # the helper recorded nothing on the sweep job

    leader.status("interrupted", message="its process was killed")
    leader.close()
    finished = resume_sweep(sweep_id, jobs, jobs, echo=lines.append)  # this worker leads now
    assert finished.status == "succeeded" and finished.counts["trials"] == 3 and finished.counts["seed_repeats"] == 1
    children = jobs.jobs_by_parent(sweep_id)
    assert len(children) == 4 and {j.job_id for j in trials} < {j.job_id for j in children}
    for child in children:  # every trial trained once: one run_config per child job
        started = [
            log for log in jobs.iter_job_logs(child.job_id) if json.loads(log.message).get("type") == "run_config"
        ]
        assert len(started) == 1, child.name
    assert jobs.get_job(sweep_id).status == "succeeded" and jobs.get_job(sweep_id).outcome.get("sweep")["complete"] == 3

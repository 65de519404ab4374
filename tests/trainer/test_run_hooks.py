"""The extension points of `fit()` that jobs started by other jobs use (trainer.training.hooks):
a child job's parent and deterministic id (creating it twice is refused before anything is
touched), extra Trainer callbacks, and a callback that ends the run on purpose."""

from __future__ import annotations

import shutil

import pytest
from transformers import TrainerCallback

from metrics_store import MemoryRecorder
from tests.conftest import REPO_ROOT
from trainer import ConfigError, FitRequest, JobExists, ModelConfig, TrainConfig, fit
from trainer.jobs.children import ChildJob, child_job_id
from trainer.training.hooks import RunEnding

pytestmark = pytest.mark.slow
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "snapshots_v1"


class EndAtFirstEvaluation(TrainerCallback):
    def __init__(self) -> None:
        self.ending: RunEnding | None = None
        self.seen: list[float] = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.seen.append(metrics["eval_f1"])
        self.ending = RunEnding(
            "cancelled", "ended by the test", {"trial": {"state": "pruned", "value": metrics["eval_f1"]}}
        )
        control.should_training_stop = True


def test_a_child_run_records_its_parent_and_a_callback_can_end_it(tmp_path):
    snapshots = tmp_path / "snapshots"
    shutil.copytree(FIXTURE, snapshots)
    recorders: dict[str, MemoryRecorder] = {}
    recorder_for = lambda job_id: recorders.setdefault(job_id, MemoryRecorder(job_id))  # noqa: E731
    request = FitRequest(
        snapshot_root=str(snapshots),
        snapshot="v1",
        model=ModelConfig(model="tiny", max_seq_length=64, doc_stride=16),
        train=TrainConfig(
            epochs=3,
            batch_size=4,
            learning_rate=1e-3,
            output_dir=str(tmp_path / "runs"),
            seed=1,
            early_stopping_patience=None,
        ),
        job_name="fold-1",
    )
    child = ChildJob.of("parent-job", "fold-1", kind="review_fold")
    ender = EndAtFirstEvaluation()
    result = fit(request, recorder_for, child=child, callbacks=[ender])

    assert result.job_id == child.job_id == child_job_id("parent-job", "fold-1") and result.status == "cancelled"
    job = recorders[child.job_id].job
    assert (
        job.parent_job_id == "parent-job"
        and job.tags["parent_job_id"] == "parent-job"
        and job.tags["kind"] == "review_fold"
    )
    assert job.status == "cancelled" and recorders[child.job_id].statuses[-1].message == "ended by the test"
    assert len(ender.seen) == 1 and job.results["trial"] == {"state": "pruned", "value": ender.seen[0]}
    assert "best_f1" in job.results and result.best_dir is None  # its summary is recorded; no model is exported
    assert not list((tmp_path / "runs").glob("fold-1-*/checkpoint-*"))

    with pytest.raises(JobExists):  # the same child again: another process got there first
        fit(request, recorder_for, child=child)
    assert recorders[child.job_id].job.status == "cancelled" and len(recorders) == 1
    with pytest.raises(ConfigError, match="can only be ended as"):
        RunEnding("failed", "no")

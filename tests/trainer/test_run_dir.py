"""Run folders: unique per job, owned by their job, and found again on resume."""

from __future__ import annotations

import pytest

from metrics_store import JobCheckpoint
from trainer import ConfigError, FitError, FitRequest, TrainConfig
from trainer.jobs.folders import (
    check_job_name,
    claim,
    locate_checkpoint,
    mark_complete,
    owns,
    run_folder,
)


@pytest.mark.parametrize("name", ["v1-tiny-2026-12-01T154725", "receipts_2026.11=b+1", "a"])
def test_good_job_names_pass(name):
    assert check_job_name(name) == name


@pytest.mark.parametrize(
    "name", ["../x", "/abs/path", "a/b", "..", "a..b", "", "-leading-dash", "x" * 121, "sp ace", "semi;colon"]
)
def test_names_that_are_not_one_safe_path_segment_are_refused(name):
    with pytest.raises(ConfigError, match="--job-name"):
        check_job_name(name)
    with pytest.raises(ConfigError, match="--job-name"):
        FitRequest(snapshot_root="snapshots", job_name=name)


def test_the_run_folder_includes_the_job_id_and_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = run_folder("runs", "same-name", "0123456789abcdef")
    assert folder == (tmp_path / "runs" / "same-name-01234567") and folder.is_absolute()
    assert run_folder("runs", "same-name", "fedcba98") != folder


def test_a_folder_belongs_to_one_job(tmp_path):
    folder = tmp_path / "run-a"
    claim(folder, "job-a")
    assert owns(folder, "job-a") and not owns(folder, "job-b")
    claim(folder, "job-a")  # its own again: fine
    with pytest.raises(FitError, match="belongs to job job-a"):
        claim(folder, "job-b")
    stranger = tmp_path / "unmarked"
    stranger.mkdir()
    (stranger / "weights.bin").write_bytes(b"someone else's")
    with pytest.raises(FitError, match="never overwritten"):
        claim(stranger, "job-c")
    claim(stranger, "job-c", recorded=True)  # the job's own recorded folder, from before markers
    assert owns(stranger, "job-c") and (stranger / "weights.bin").read_bytes() == b"someone else's"


def _checkpoint(step: int, key: str, bucket: str = "") -> JobCheckpoint:
    return JobCheckpoint("job", f"2026-01-01T00:00:{step:02d}+00:00", bucket, key, 1, step, 1.0)


def test_a_resume_finds_the_newest_checkpoint_or_says_why_it_cannot(tmp_path):
    assert locate_checkpoint(tmp_path, [], job_id="job").checkpoint is None  # never saved one: start at step 0
    for step in (4, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
        mark_complete(tmp_path / f"checkpoint-{step}", step)
    assert (
        locate_checkpoint(tmp_path, [_checkpoint(8, "/elsewhere/checkpoint-8")], job_id="job").checkpoint.name
        == "checkpoint-8"
    )
    with pytest.raises(FitError, match=r"step 12.*--restart"):
        locate_checkpoint(tmp_path, [_checkpoint(12, "/gone/checkpoint-12")], job_id="job")


def test_a_checkpoint_cut_off_mid_save_is_moved_aside_and_named(tmp_path):
    for step in (4, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    mark_complete(tmp_path / "checkpoint-4", 4)  # checkpoint-8 never got its marker
    point = locate_checkpoint(tmp_path, [], job_id="job")
    assert point.checkpoint.name == "checkpoint-4" and point.skipped == ("checkpoint-8",)
    assert (tmp_path / ".incomplete-checkpoint-8").is_dir() and not (tmp_path / "checkpoint-8").exists()


def test_checkpoints_from_before_the_marker_count_by_the_trainers_last_file(tmp_path):
    for step in (4, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")
    assert locate_checkpoint(tmp_path, [], job_id="job").checkpoint.name == "checkpoint-4"


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate", float("nan")),
        ("learning_rate", float("inf")),
        ("weight_decay", float("nan")),
        ("warmup_ratio", float("nan")),
        ("label_smoothing", float("inf")),
        ("max_grad_norm", float("nan")),
        ("length_jitter", float("nan")),
    ],
)
def test_non_finite_hyperparameters_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"{field} must be a finite number"):
        TrainConfig(**{field: value})

"""Config validation, model source rules, precision choice and the recorded form."""

from __future__ import annotations

import json

import pytest

from trainer.config import DEFAULT_MODEL, ModelConfig, TrainConfig


def test_model_source(tmp_path):
    assert ModelConfig().source == "hub"
    assert ModelConfig(model="tiny").source == "tiny"
    assert ModelConfig(model=str(tmp_path)).source == "local"
    assert ModelConfig(model="./not-there").source == "local"
    assert ModelConfig(warm_start_text_encoder=str(tmp_path)).source == "warm_start"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"doc_stride": 510},
        {"doc_stride": -1},
        {"max_seq_length": 2},
        {"model": "tiny", "warm_start_text_encoder": "/some/bert"},
    ],
)
def test_model_config_rejects(kwargs):
    with pytest.raises(ValueError):
        ModelConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"warmup_ratio": 1.0},
        {"label_smoothing": -0.1},
        {"class_weight_clip": (2.0, 1.0)},
        {"fp16": True, "bf16": True},
        {"early_stopping_patience": 0},
        {"batch_size": 0},
    ],
)
def test_train_config_rejects(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


@pytest.mark.parametrize(
    ("fp16", "bf16", "cuda", "bf16_ok", "expected"),
    [
        (None, None, False, False, "fp32"),
        (None, None, True, True, "bf16"),
        (None, None, True, False, "fp16"),
        (None, False, True, True, "fp16"),
        (False, None, True, False, "fp32"),
        (True, None, False, False, "fp16"),
    ],
)
def test_precision_auto(fp16, bf16, cuda, bf16_ok, expected):
    assert TrainConfig(fp16=fp16, bf16=bf16).precision(cuda, bf16_ok) == expected


def test_to_dict_is_plain_json():
    recorded = {"model": ModelConfig().to_dict(), "train": TrainConfig(seed=7).to_dict()}
    again = json.loads(json.dumps(recorded))
    assert again == recorded
    assert recorded["model"]["model"] == DEFAULT_MODEL and recorded["model"]["tiny"]["hidden_size"] == 64
    assert recorded["train"]["class_weight_clip"] == [0.1, 10.0] and recorded["train"]["seed"] == 7
    assert TrainConfig(checkpoint_metric="eval_loss").greater_is_better is False


def test_batching_is_validated_and_recorded():
    assert TrainConfig().batching in ("packed", "length", "random")
    assert TrainConfig(batching="packed").to_dict()["batching"] == "packed"
    assert "group_by_length" not in TrainConfig().to_dict()
    with pytest.raises(ValueError, match="batching must be one of packed, length, random, got 'sorted'"):
        TrainConfig(batching="sorted")


@pytest.mark.parametrize(
    ("group_by_length", "batching", "strategy"), [(True, "length", "group_by_length"), (False, "random", "random")]
)
def test_a_job_recorded_before_batching_resumes_as_it_ran(group_by_length, batching, strategy, tmp_path):
    """Old jobs recorded `group_by_length` (and no `batching`): their request rebuilds with
    the batching they trained with, and the Trainer gets the same sampler as before."""
    from metrics_store import Job
    from trainer import request_for_resume
    from trainer.training.arguments import training_arguments

    train = {key: value for key, value in TrainConfig(seed=3).to_dict().items() if key != "batching"}
    train["group_by_length"] = group_by_length
    recorded = {
        "snapshot_root": str(tmp_path),
        "snapshot": "latest",
        "model": ModelConfig(model="tiny").to_dict(),
        "train": train,
    }
    job = Job(
        job_id="j1",
        name="old-job",
        created_at="2026-01-01T00:00:00+00:00",
        job_config={"request": json.loads(json.dumps(recorded)), "snapshot": {"id": "v3"}, "seed": 3},
    )
    request = request_for_resume(job)
    assert request.train.batching == batching and request.train.length_jitter == 0.6 and request.snapshot == "v3"
    assert training_arguments(request, tmp_path / "out").train_sampling_strategy == strategy


def test_fit_cli_takes_batching_and_maps_the_old_flags():
    from typer.testing import CliRunner

    from trainer.cli import app
    from trainer.cli.fit import legacy_batching

    assert legacy_batching(None, None) == TrainConfig().batching
    assert legacy_batching(None, False) == "random" and legacy_batching(None, True) == "length"
    assert legacy_batching("length", None) == "length" and legacy_batching("random", False) == "random"

    runner = CliRunner()
    shown = runner.invoke(app, ["fit", "--help"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0 and "--batching" in shown.stdout and "packed|length|random" in shown.stdout
    assert f"(default: {TrainConfig().batching})" in " ".join(shown.stdout.split())
    assert "--random-batches" not in shown.stdout  # the old spelling still works, but is not advertised
    clash = runner.invoke(app, ["fit", "--batching", "packed", "--random-batches"])
    assert clash.exit_code == 2 and "--random-batches means --batching random" in clash.output
    bad = runner.invoke(app, ["fit", "--batching", "sorted"])
    assert bad.exit_code == 2 and "sorted" in bad.output

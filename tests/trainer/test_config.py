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
    assert (
        recorded["model"]["model"] == DEFAULT_MODEL
        and recorded["model"]["tiny"]["hidden_size"] == 64
    )
    assert recorded["train"]["class_weight_clip"] == [0.1, 10.0] and recorded["train"]["seed"] == 7
    assert TrainConfig(checkpoint_metric="eval_loss").greater_is_better is False

"""Weighted, smoothed token loss against hand computation; class weights; the Trainer hook."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import LayoutLMConfig, LayoutLMForTokenClassification, TrainingArguments

from trainer.training.loss import (
    WeightedLossTrainer,
    class_weights_from_counts,
    resolve_class_weights,
    weighted_token_cross_entropy,
)

TAGS = ["O", "B-AMOUNT", "I-AMOUNT"]


def log_softmax(row: list[float]) -> list[float]:
    top = max(row)
    norm = top + math.log(sum(math.exp(value - top) for value in row))
    return [value - norm for value in row]


def test_weighted_smoothed_loss_matches_hand_computation():
    logits = [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -2.0, 0.0], [9.0, 9.0, 9.0]]
    labels = [0, 2, 1, -100]
    weights = [0.5, 2.0, 4.0]
    eps, classes = 0.1, 3

    numerator = denominator = 0.0
    for row, label in zip(logits[:3], labels[:3], strict=True):
        logp = log_softmax(row)
        numerator += (1 - eps) * weights[label] * -logp[label]
        numerator += eps / classes * sum(w * -lp for w, lp in zip(weights, logp, strict=True))
        denominator += weights[label]
    expected = numerator / denominator

    actual = weighted_token_cross_entropy(
        torch.tensor([logits]), torch.tensor([labels]), torch.tensor(weights), label_smoothing=eps
    )
    assert actual.item() == pytest.approx(expected, rel=1e-6)
    # smoothing really is applied: without it the value differs
    unsmoothed = weighted_token_cross_entropy(torch.tensor([logits]), torch.tensor([labels]), torch.tensor(weights))
    assert unsmoothed.item() != pytest.approx(expected, rel=1e-3)


def test_ignored_tokens_do_not_move_the_loss():
    labels = torch.tensor([[1, -100, 0]])
    logits = torch.randn(1, 3, 3)
    changed = logits.clone()
    changed[0, 1] = torch.tensor([50.0, -50.0, 3.0])
    weights = torch.tensor([1.0, 3.0, 1.0])
    assert weighted_token_cross_entropy(logits, labels, weights, 0.1) == pytest.approx(
        weighted_token_cross_entropy(changed, labels, weights, 0.1).item()
    )


def test_all_ignored_gives_zero_with_gradient():
    logits = torch.randn(2, 4, 3, requires_grad=True)
    loss = weighted_token_cross_entropy(logits, torch.full((2, 4), -100), torch.ones(3), 0.1)
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None and not torch.isnan(logits.grad).any()


def test_class_weights_inverse_frequency_mean_one_then_clipped():
    # inverse counts 1/100, 1/25, 1/25 -> scaled to mean 1 over three tags: 1/3, 4/3, 4/3
    weights = class_weights_from_counts({"O": 100, "B-AMOUNT": 25, "I-AMOUNT": 25}, TAGS, clip=(0.1, 10.0))
    assert weights == pytest.approx([1 / 3, 4 / 3, 4 / 3])
    clipped = class_weights_from_counts({"O": 100, "B-AMOUNT": 25, "I-AMOUNT": 25}, TAGS, clip=(0.5, 1.2))
    assert clipped == pytest.approx([0.5, 1.2, 1.2])
    # an unseen tag is neutral and does not take part in the normalisation
    assert class_weights_from_counts({"O": 30, "B-AMOUNT": 10}, TAGS, (0.1, 10.0)) == pytest.approx([0.5, 1.5, 1.0])
    with pytest.raises(ValueError):
        class_weights_from_counts({}, TAGS)


def test_resolve_class_weights(tmp_path):
    counts = {"O": 100, "B-AMOUNT": 25, "I-AMOUNT": 25}
    assert resolve_class_weights("none", TAGS, counts, (0.1, 10.0)) is None
    assert resolve_class_weights("auto", TAGS, counts, (0.1, 10.0)) == pytest.approx([1 / 3, 4 / 3, 4 / 3])
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"O": 0.2, "B-AMOUNT": 3, "I-AMOUNT": 2}))
    assert resolve_class_weights(str(path), TAGS, counts, (0.1, 10.0)) == [0.2, 3.0, 2.0]
    path.write_text(json.dumps({"O": 0.2}))
    with pytest.raises(ValueError, match="lacks tags"):
        resolve_class_weights(str(path), TAGS, counts, (0.1, 10.0))
    with pytest.raises(FileNotFoundError):
        resolve_class_weights(str(tmp_path / "nope.json"), TAGS, counts, (0.1, 10.0))


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    config = LayoutLMConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=3,
    )  # fmt: skip
    return LayoutLMForTokenClassification(config).eval()


def test_trainer_uses_weighted_smoothed_loss(small_model, tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = WeightedLossTrainer(model=small_model, args=args, class_weights=[0.5, 2.0, 4.0], label_smoothing=0.1)
    batch = {
        "input_ids": torch.tensor([[2, 5, 6, 3]]),
        "bbox": torch.tensor([[[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8], [1000] * 4]]),
        "attention_mask": torch.ones(1, 4, dtype=torch.long),
        "labels": torch.tensor([[-100, 1, 0, -100]]),
    }
    loss, outputs = trainer.compute_loss(small_model, batch, return_outputs=True, num_items_in_batch=2)
    expected = weighted_token_cross_entropy(outputs.logits, batch["labels"], torch.tensor([0.5, 2.0, 4.0]), 0.1)
    assert loss.item() == pytest.approx(expected.item())
    assert "labels" in batch  # the caller's batch is left intact
    assert WeightedLossTrainer.loss_is_scaled_for_ga is False

    smoothing_args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, label_smoothing_factor=0.1)
    with pytest.raises(ValueError, match="label_smoothing"):
        WeightedLossTrainer(model=small_model, args=smoothing_args)


def test_trainer_batches_by_length_bucket_sampler(small_model, tmp_path):
    from trainer.training.sampler import LengthBucketSampler

    windows = [{"input_ids": [2] + [5] * n + [3], "labels": [-100] + [0] * n + [-100]} for n in range(1, 41)]

    def sampler(strategy: str, jitter: float = 0.0):
        args = TrainingArguments(
            output_dir=str(tmp_path),
            use_cpu=True,
            report_to="none",
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            train_sampling_strategy=strategy,
        )
        return WeightedLossTrainer(
            model=small_model, args=args, train_dataset=windows, length_jitter=jitter
        ).train_sampler()

    grouped = sampler("group_by_length", 0.3)
    assert isinstance(grouped, LengthBucketSampler)
    assert grouped.batch_size == 8 and grouped.jitter == 0.3  # one optimiser step: 4 windows x 2 accumulation steps
    assert not isinstance(sampler("random"), LengthBucketSampler)

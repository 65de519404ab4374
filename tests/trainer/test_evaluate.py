"""Word-level merge of overlapping windows, seqeval strict vs lenient, and the Trainer hook-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import TrainingArguments

from trainer import ModelConfig
from trainer.model.build import build_tokenizer_and_model
from trainer.model.evaluate import (
    entity_labels,
    evaluate_windows,
    make_compute_metrics,
    merge_window_logits,
    word_metrics,
)
from trainer.model.features import FeatureCollator, ReceiptExample, build_features
from trainer.training.loss import WeightedLossTrainer

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]


def receipt(tags: list[str], supervised: list[bool] | None = None) -> ReceiptExample:
    return ReceiptExample(
        receipt_key="r",
        words=["w"] * len(tags),
        boxes=[[0, 0, 0, 0]] * len(tags),
        tag_ids=[TAGS.index(tag) for tag in tags],
        supervised=supervised or [True] * len(tags),
    )


def test_merge_averages_first_subtokens_over_overlapping_windows():
    # receipt 0 has 3 words; window A holds words 0,1 (word 1 has two sub-tokens), window B words 1,2.
    features = [
        {"example_index": 0, "word_ids": [-1, 0, 1, 1, -1]},
        {"example_index": 0, "word_ids": [-1, 1, 1, 2, -1]},
        {"example_index": 1, "word_ids": [-1, 0, -1]},
    ]
    logits = np.full((3, 6, 2), -100.0)  # Trainer pads rows past a feature's length with -100
    logits[0, :5] = [[9, 9], [1, 2], [3, 4], [50, 50], [9, 9]]
    logits[1, :5] = [[9, 9], [5, 8], [70, 70], [6, 1], [9, 9]]
    logits[2, :3] = [[9, 9], [0, 7], [9, 9]]
    merged = merge_window_logits(logits, features, [3, 1])
    # word 1: the mean of [3, 4] and [5, 8]
    np.testing.assert_allclose(merged[0], [[1, 2], [4, 6], [6, 1]])
    np.testing.assert_allclose(merged[1], [[0, 7]])


def test_merge_refuses_a_word_in_no_window():
    features = [{"example_index": 0, "word_ids": [-1, 0, -1]}]
    with pytest.raises(ValueError, match=r"words \[1\] are in no window"):
        merge_window_logits(np.zeros((1, 3, 2)), features, [2])


def test_every_word_scored_once_across_many_windows():
    tokenizer = build_tokenizer_and_model(ModelConfig(model="tiny"), TAGS, ["12.99", "milk"]).tokenizer
    words = ["12.99" if index % 4 == 0 else "milk" for index in range(300)]
    tags = ["B-AMOUNT" if index % 4 == 0 else "O" for index in range(300)]
    example = ReceiptExample("r", words, [[0, 0, 0, 0]] * 300, [TAGS.index(t) for t in tags], [True] * 300)
    features = build_features([example], tokenizer, max_seq_length=32, doc_stride=8)
    assert len(features) > 10

    # Each window votes for the gold tag only if its index is even: merged scores stay exact
    # averages, so every word is still right iff its windows' votes were averaged, not summed twice.
    logits = []
    for index, feature in enumerate(features):
        rows = np.zeros((len(feature["word_ids"]), len(TAGS)))
        for position, word in enumerate(feature["word_ids"]):
            if word >= 0:
                rows[position, example.tag_ids[word]] = 2.0 if index % 2 == 0 else 1.0
        logits.append(rows)
    merged = merge_window_logits(logits, features, [300])
    assert merged[0].shape == (300, len(TAGS))
    counts = np.zeros(300)
    for feature in features:
        counts[sorted(set(feature["word_ids"]) - {-1})] += 1
    assert counts.max() == 2  # overlaps exist
    metrics = evaluate_windows(logits, features, [example], TAGS)
    assert metrics["num_words"] == 300 and metrics["f1"] == 1.0 and metrics["accuracy"] == 1.0
    assert metrics["per_label"]["AMOUNT"]["support"] == 75


def test_strict_and_lenient_differ_on_invalid_sequences():
    gold = [receipt(["B-AMOUNT", "I-AMOUNT", "O", "B-DATE"])]
    predicted = [[TAGS.index(t) for t in ["I-AMOUNT", "I-AMOUNT", "O", "B-DATE"]]]
    metrics = word_metrics(predicted, gold, TAGS)
    # strict IOB2: an entity may not start with I-, so AMOUNT is missed; lenient accepts it
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["precision"] == 1.0 and metrics["recall"] == 0.5
    assert metrics["f1_lenient"] == 1.0
    assert metrics["per_label"]["AMOUNT"] == {
        "f1": 0.0,
        "precision": 0.0,
        "recall": 0.0,
        "support": 1,
    }
    assert metrics["per_label"]["DATE"] == {
        "f1": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "support": 1,
    }
    assert metrics["accuracy"] == 0.75


def test_per_label_keys_are_stable_and_accuracy_counts_supervised_words():
    gold = [receipt(["O", "B-AMOUNT", "O"], supervised=[False, True, True])]
    predicted = [[TAGS.index("B-AMOUNT"), TAGS.index("B-AMOUNT"), TAGS.index("B-AMOUNT")]]
    metrics = word_metrics(predicted, gold, TAGS)
    assert set(metrics["per_label"]) == {"AMOUNT", "DATE"}
    assert metrics["per_label"]["DATE"]["support"] == 0
    assert metrics["accuracy"] == 0.5 and metrics["num_supervised_words"] == 2
    # unsupervised words still count for entities: 3 predicted AMOUNTs, 1 right
    assert metrics["precision"] == pytest.approx(1 / 3) and metrics["recall"] == 1.0
    assert entity_labels(TAGS) == ["AMOUNT", "DATE"]


@pytest.mark.parametrize("sampling", ["random", "group_by_length"])
def test_trainer_evaluate_matches_a_plain_loop(tmp_path, sampling):
    """Also with length-grouped batches: transformers 5.x groups evaluation batches by length
    too, which would pair prediction rows with the wrong windows."""
    torch.manual_seed(0)
    built = build_tokenizer_and_model(
        ModelConfig(model="tiny", max_seq_length=32, doc_stride=8), TAGS, ["12.99", "milk"]
    )
    receipts = [
        ReceiptExample(
            str(size), ["12.99", "milk"] * size, [[1, 2, 3, 4]] * (2 * size),
            [1, 0] * size, [True, False] * size,
        )
        for size in (2, 9, 23)
    ]  # fmt: skip
    features = build_features(receipts, built.tokenizer, 32, 8)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to="none",
        per_device_eval_batch_size=3,
        disable_tqdm=True,
        train_sampling_strategy=sampling,
    )
    trainer = WeightedLossTrainer(
        model=built.model,
        args=args,
        data_collator=FeatureCollator(built.tokenizer.pad_token_id),
        compute_metrics=make_compute_metrics(features, receipts, TAGS),
    )
    metrics = trainer.evaluate(eval_dataset=features)
    predictions = trainer.predict(features).predictions  # padded across batches with -100

    built.model.eval()
    collate = FeatureCollator(built.tokenizer.pad_token_id, pad_to_multiple_of=None)
    with torch.no_grad():
        logits = [built.model(**collate([feature])).logits[0].numpy() for feature in features]
    word_counts = [len(r.words) for r in receipts]
    for ours, plain in zip(
        merge_window_logits(predictions, features, word_counts),
        merge_window_logits(logits, features, word_counts),
        strict=True,
    ):
        np.testing.assert_allclose(ours, plain, atol=1e-5)
    expected = evaluate_windows(logits, features, receipts, TAGS)
    assert metrics["eval_num_words"] == 68 and metrics["eval_num_supervised_words"] == 34
    assert {key: metrics[f"eval_{key}"] for key in expected} == expected

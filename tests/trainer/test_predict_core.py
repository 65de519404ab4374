"""The pure parts of trainer.inference.predict: entities read as seqeval's strict IOB2 reads them, and a
receipt's output record (tags, confidences, top-k, entities) from its merged logits."""

from __future__ import annotations

import random

import numpy as np
import pytest
from seqeval.scheme import IOB2, Entities

from trainer.inference.options import ExportOptions, PredictOptions
from trainer.inference.predict import receipt_prediction, softmax, strict_entities
from trainer.model.features import ReceiptExample

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]


def test_entities_are_seqevals_strict_iob2_entities():
    rng = random.Random(7)
    for _ in range(2000):
        sequence = [rng.choice(TAGS) for _ in range(rng.randint(0, 12))]
        expected = (
            [(e.start, e.end, e.tag) for e in Entities([sequence], IOB2, suffix=False).entities[0]] if sequence else []
        )
        assert strict_entities(sequence) == expected, sequence
    assert strict_entities(["I-AMOUNT", "B-AMOUNT", "I-AMOUNT", "I-DATE", "B-DATE"]) == [
        (1, 3, "AMOUNT"),
        (4, 5, "DATE"),
    ]


def test_a_receipt_record_has_one_tag_per_word_and_its_entities():
    words = ["Nasi", "Goreng", "12.000", "TOTAL"]
    example = ReceiptExample("img#00001", words, [[1, 2, 3, 4]] * 4, [0] * 4, [False] * 4)
    keys = [{"key": f"img#00001#00001#{i:05d}", "position": i} for i in range(4)]
    scores = np.array([[0, 5, 0, 0, 0], [0, 0, 4, 0, 0], [0, 3, 0, 0, 0.0], [2, 0, 0, 0, 1]], dtype=float)
    record = receipt_prediction(example, keys, scores, TAGS, top_k=2)
    assert [w["tag"] for w in record["words"]] == ["B-AMOUNT", "I-AMOUNT", "B-AMOUNT", "O"]
    assert [w["label"] for w in record["words"]] == ["AMOUNT", "AMOUNT", "AMOUNT", "O"]
    probabilities = softmax(scores)
    first = record["words"][0]
    assert first["confidence"] == pytest.approx(probabilities[0, 1]) and [t["tag"] for t in first["top"]] == [
        "B-AMOUNT",
        "O",
    ]
    assert [(e["text"], e["word_keys"]) for e in record["entities"]] == [
        ("Nasi Goreng", ["img#00001#00001#00000", "img#00001#00001#00001"]),
        ("12.000", ["img#00001#00001#00002"]),
    ]
    entity = record["entities"][0]
    assert entity["confidence_min"] == pytest.approx(min(probabilities[0, 1], probabilities[1, 2]))
    assert entity["confidence_mean"] == pytest.approx((probabilities[0, 1] + probabilities[1, 2]) / 2)
    empty = receipt_prediction(ReceiptExample("e#00001", [], [], [], []), [], np.zeros((0, 5)), TAGS)
    assert empty == {"receipt_key": "e#00001", "words": [], "entities": []}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (lambda: PredictOptions(runtime="tf"), "--runtime must be one of torch, onnx, onnx-int8"),
        (lambda: PredictOptions(split="test"), "--split must be one of val, train, all"),
        (lambda: PredictOptions(batch_size=0), "--batch-size must be >= 1"),
        (lambda: ExportOptions(format="coreml"), "--format must be one of onnx"),
        (lambda: ExportOptions(quantize="int4"), "--quantize must be one of int8"),
    ],
)
def test_options_are_checked_once_and_named(options, message):
    with pytest.raises(ValueError, match=message):
        options()

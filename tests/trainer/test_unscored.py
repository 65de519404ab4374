"""Scoring with unknown words, on hand-made sequences: a prediction on an unknown word is never
a false positive, an unknown word never makes a missed entity, entities that touch one are left
out on both sides (docs/runs.md), strict IOB2 stays the headline; and the `scored` flags that
`examples_from_frame` derives from a snapshot."""

from __future__ import annotations

import polars as pl
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from trainer.model.evaluate import word_metrics
from trainer.model.features import ReceiptExample, examples_from_frame
from trainer.model.unscored import entity_spans, mask_unscored

TAGS = ["O", "B-ADDRESS_LINE", "I-ADDRESS_LINE", "B-MERCHANT_NAME", "I-MERCHANT_NAME"]
A, IA, M, IM, O = "B-ADDRESS_LINE", "I-ADDRESS_LINE", "B-MERCHANT_NAME", "I-MERCHANT_NAME", "O"  # noqa: E741 - the tag O
U = False  # an unscored (unknown) word
K = True  # a known word


def score(
    gold: list[str], predicted: list[str], scored: list[bool] | None = None, supervised: list[bool] | None = None
) -> dict:
    receipt = ReceiptExample(
        "r",
        ["w"] * len(gold),
        [[0, 0, 0, 0]] * len(gold),
        [TAGS.index(t) for t in gold],
        supervised or [True] * len(gold),
        scored,
    )
    return word_metrics([[TAGS.index(t) for t in predicted]], [receipt], TAGS)


def prf(metrics: dict, suffix: str = "") -> tuple[float, float, float]:
    return (metrics[f"precision{suffix}"], metrics[f"recall{suffix}"], metrics[f"f1{suffix}"])


def test_a_prediction_on_an_unknown_word_is_never_a_false_positive():
    gold, predicted = [M, O, O], [M, A, O]
    assert prf(score(gold, predicted)) == (0.5, 1.0, pytest.approx(2 / 3))  # scored as O: a false positive
    metrics = score(gold, predicted, [K, U, K])
    assert prf(metrics) == (1.0, 1.0, 1.0)
    assert (metrics["num_unscored_words"], metrics["num_unscored_predictions"], metrics["num_unscored_entities"]) == (
        1,
        1,
        0,
    )
    assert metrics["per_label"]["ADDRESS_LINE"]["support"] == 0


def test_an_unknown_word_never_makes_a_missed_entity():
    # a true entity that contains an unscored word (not possible in a snapshot, where unknown
    # words are O, but the rule is symmetric) is not counted: no false negative
    metrics = score([M, A, IA], [M, O, O], [K, K, U])
    assert prf(metrics) == (1.0, 1.0, 1.0) and metrics["per_label"]["ADDRESS_LINE"]["support"] == 0
    assert metrics["num_unscored_entities"] == 1


def test_a_prediction_running_into_an_unknown_word_leaves_the_true_entity_it_overlaps_unscored():
    gold, predicted = [M, O, A, IA, O], [M, O, A, IA, IA]
    assert prf(score(gold, predicted)) == (0.5, 0.5, 0.5)  # as O: one false positive and one miss
    metrics = score(gold, predicted, [K, K, K, K, U])
    assert prf(metrics) == (1.0, 1.0, 1.0)  # MERCHANT_NAME right; the address cannot be judged
    assert (metrics["num_unscored_predictions"], metrics["num_unscored_entities"]) == (1, 1)
    assert metrics["per_label"]["ADDRESS_LINE"]["support"] == 0 and metrics["per_label"]["MERCHANT_NAME"]["f1"] == 1.0


def test_a_prediction_that_stops_before_an_unknown_word_is_scored_as_usual():
    assert prf(score([A, IA, O], [A, IA, O], [K, K, U])) == (1.0, 1.0, 1.0)
    wrong = score([A, IA, O, O], [A, O, O, O], [K, K, U, K])  # wrong span, nothing unknown inside it
    assert prf(wrong) == (0.0, 0.0, 0.0) and wrong["per_label"]["ADDRESS_LINE"]["support"] == 1
    other = score([O, O, O], [A, O, O], [K, U, K])  # a false positive on known words stays one
    assert other["precision"] == 0.0 and other["num_unscored_predictions"] == 0


def test_a_wrong_type_over_an_unknown_word_takes_the_overlapped_true_entity_out():
    metrics = score([A, O, M], [M, IM, M], [K, U, K])
    # predicted MERCHANT_NAME over words 0-1 touches the unknown word: it and the address under it are out
    assert prf(metrics) == (1.0, 1.0, 1.0) and metrics["per_label"]["ADDRESS_LINE"]["support"] == 0


def test_strict_and_lenient_find_entities_differently_then_apply_the_same_rule():
    gold, predicted = [M, O, A], [M, IA, IA]
    metrics = score(gold, predicted, [K, U, K])
    # strict IOB2: I- after B-MERCHANT_NAME starts nothing, so no prediction touches the unknown word
    # and the address is missed; lenient: I-ADDRESS_LINE I-ADDRESS_LINE is one entity over the unknown
    # word, left out with the true address it overlaps
    assert prf(metrics) == (1.0, 0.5, pytest.approx(2 / 3))
    assert prf(metrics, "_lenient") == (1.0, 1.0, 1.0)
    assert entity_spans(predicted, strict=True) == [(0, 1)] and entity_spans(predicted, strict=False) == [
        (0, 1),
        (1, 3),
    ]


def test_without_unknown_words_the_figures_are_seqevals():
    gold = [[M, IM, O, A, IA, IA, O], [O, A, O]]
    predicted = [[M, IM, O, A, IA, O, O], [IA, IA, O]]
    receipts = [
        ReceiptExample(str(i), ["w"] * len(g), [[0] * 4] * len(g), [TAGS.index(t) for t in g], [True] * len(g))
        for i, g in enumerate(gold)
    ]
    metrics = word_metrics([[TAGS.index(t) for t in p] for p in predicted], receipts, TAGS)
    strict = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    assert metrics["f1"] == f1_score(gold, predicted, **strict)
    assert metrics["precision"] == precision_score(gold, predicted, **strict)
    assert metrics["recall"] == recall_score(gold, predicted, **strict)
    assert metrics["f1_lenient"] == f1_score(gold, predicted, zero_division=0)
    assert metrics["num_unscored_words"] == metrics["num_unscored_entities"] == 0
    masked = mask_unscored(gold, predicted, [[True] * len(g) for g in gold], strict=True)
    assert (masked.y_true, masked.y_pred) == (gold, predicted)


def test_token_accuracy_stays_over_supervised_words():
    metrics = score([M, O, O], [M, A, O], [K, U, K], supervised=[True, False, True])
    assert metrics["accuracy"] == 1.0 and metrics["num_supervised_words"] == 2


def snapshot_words(states: list[str], supervised: list[bool]) -> pl.DataFrame:
    n = len(states)
    return pl.DataFrame(
        {
            "receipt_key": ["r"] * n,
            "position": list(range(n)),
            "text": ["w"] * n,
            "x0": [0] * n,
            "y0": [0] * n,
            "x1": [1] * n,
            "y1": [1] * n,
            "tag": ["O"] * n,
            "supervised": supervised,
            "label_state": states,
            "split": ["val"] * n,
        },
        schema_overrides={"position": pl.Int32},
    )


def test_examples_leave_out_of_scoring_only_unknown_words_the_build_left_out_of_training():
    states = ["labelled", "unknown", "unlabelled", "unknown"]
    ignore = examples_from_frame(snapshot_words(states, [True, False, True, False]), TAGS)[0]
    assert ignore.scored == [True, False, True, False]
    old = examples_from_frame(snapshot_words(states, [True] * 4), TAGS)[0]  # --unvalidated o: trained and scored as O
    assert old.scored == [True] * 4
    before = examples_from_frame(snapshot_words(states, [True] * 4).drop("label_state"), TAGS)[0]  # no label_state yet
    assert before.scored == [True] * 4


def test_a_true_entity_tagged_across_an_unknown_word_is_one_entity_left_out():
    # the snapshot tags `1` (VALID) `Main` (NEEDS_REVIEW) `St` (VALID) as B, O, I: one address with an unknown middle
    gold = [M, O, A, O, IA]
    assert prf(score(gold, [M, O, A, IA, IA], [K, K, K, U, K])) == (1.0, 1.0, 1.0)  # the whole line: cannot be judged
    fragments = score(gold, [M, O, A, O, A], [K, K, K, U, K])
    assert prf(fragments) == (1.0, 1.0, 1.0)  # nor can two fragments: both overlap the address
    assert (fragments["num_unscored_entities"], fragments["num_unscored_predictions"]) == (1, 2)
    assert fragments["per_label"]["ADDRESS_LINE"]["support"] == 0

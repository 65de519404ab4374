"""Window logits -> one prediction per word -> seqeval entity metrics.

The predecessor scored windows, so words in overlaps counted twice. Here a word's score is
the mean of its first-sub-token logits over every window that holds it, and metrics are
computed once per word of each receipt.

Entity metrics run over every word of the split (unsupervised words included: they are real
words with real tags, kept out of training only by the O:entity ratio control), except that
entities touching an unscored word (an unknown word, `ReceiptExample.scored`) are not counted
(trainer.model.unscored, docs/runs.md); token accuracy is over supervised words only. The
headline F1 is seqeval's strict IOB2 mode, in which a predicted I-X that does not continue a
B-X/I-X starts no entity; `f1_lenient` is seqeval's default mode, which counts such an I-X as
a new entity, as the old runs did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from trainer.model.unscored import mask_unscored


class LabelledReceipt(Protocol):
    """What metrics need of a receipt (features.ReceiptExample has it)."""

    @property
    def tag_ids(self) -> list[int]: ...

    @property
    def supervised(self) -> list[bool]: ...


def merge_window_logits(
    logits: np.ndarray | Sequence[np.ndarray],
    features: Sequence[Mapping[str, Any]],
    word_counts: Sequence[int],
) -> list[np.ndarray]:
    """Average each word's first-sub-token logits over the windows that contain it.

    `logits[f]` belongs to `features[f]` (shape [tokens, classes]; Trainer's padding past the
    feature's own length is ignored). Returns one [words, classes] array per receipt. A word
    that no window holds is a bug upstream and raises.
    """
    if len(logits) != len(features):
        raise ValueError(f"{len(logits)} logit rows for {len(features)} features")
    num_classes = np.asarray(logits[0]).shape[-1]
    sums = [np.zeros((count, num_classes), dtype=np.float64) for count in word_counts]
    seen = [np.zeros(count, dtype=np.int64) for count in word_counts]
    for feature_logits, feature in zip(logits, features, strict=True):
        word_ids = np.asarray(feature["word_ids"], dtype=np.int64)
        previous = np.concatenate(([-1], word_ids[:-1]))
        first = (word_ids >= 0) & (word_ids != previous)
        words = word_ids[first]
        example = feature["example_index"]
        np.add.at(sums[example], words, np.asarray(feature_logits)[: len(word_ids)][first])
        np.add.at(seen[example], words, 1)
    for example, counts in enumerate(seen):
        missing = np.flatnonzero(counts == 0)
        if missing.size:
            raise ValueError(f"receipt {example}: words {missing[:10].tolist()} are in no window")
    return [total / counts[:, None] for total, counts in zip(sums, seen, strict=True)]


def word_metrics(
    predicted_tag_ids: Sequence[Sequence[int]],
    receipts: Sequence[LabelledReceipt],
    tags: Sequence[str],
) -> dict[str, Any]:
    """Strict and lenient entity precision/recall/F1, per-label figures and token accuracy.

    Per-label keys are entity names without B-/I- ("AMOUNT"), one for every entity label in
    `tags`, present in the data or not, so records keep the same shape from run to run.
    A receipt's `scored` flags (None or absent: every word) leave the entities that touch an
    unscored word out of every entity figure (`trainer.model.unscored`).
    """
    if len(predicted_tag_ids) != len(receipts):
        raise ValueError(f"{len(predicted_tag_ids)} predictions for {len(receipts)} receipts")
    y_true = [[tags[index] for index in receipt.tag_ids] for receipt in receipts]
    y_pred = [[tags[int(index)] for index in predicted] for predicted in predicted_tag_ids]
    for truth, prediction in zip(y_true, y_pred, strict=True):
        if len(truth) != len(prediction):
            raise ValueError("a receipt's prediction and truth differ in length")

    correct = total = 0
    for receipt, predicted in zip(receipts, predicted_tag_ids, strict=True):
        for gold, guess, supervised in zip(receipt.tag_ids, predicted, receipt.supervised, strict=True):
            if supervised:
                total += 1
                correct += int(gold == int(guess))

    scored = [
        getattr(receipt, "scored", None) or [True] * len(truth) for receipt, truth in zip(receipts, y_true, strict=True)
    ]
    masked = mask_unscored(y_true, y_pred, scored, strict=True)
    lenient = mask_unscored(y_true, y_pred, scored, strict=False)
    y_true, y_pred = masked.y_true, masked.y_pred
    strict: dict[str, Any] = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    report = classification_report(y_true, y_pred, output_dict=True, **strict)
    assert isinstance(report, dict), "output_dict=True gives a dict"
    per_label = {}
    for label in entity_labels(tags):
        row = report.get(label, {})
        per_label[label] = {
            "f1": float(row.get("f1-score", 0.0)),
            "precision": float(row.get("precision", 0.0)),
            "recall": float(row.get("recall", 0.0)),
            "support": int(row.get("support", 0)),
        }
    return {
        "f1": _score(f1_score, y_true, y_pred, **strict),
        "precision": _score(precision_score, y_true, y_pred, **strict),
        "recall": _score(recall_score, y_true, y_pred, **strict),
        "f1_lenient": _score(f1_score, lenient.y_true, lenient.y_pred, zero_division=0),
        "precision_lenient": _score(precision_score, lenient.y_true, lenient.y_pred, zero_division=0),
        "recall_lenient": _score(recall_score, lenient.y_true, lenient.y_pred, zero_division=0),
        "accuracy": correct / total if total else 0.0,
        "num_words": sum(len(truth) for truth in y_true),
        "num_supervised_words": total,
        "num_unscored_words": sum(flags.count(False) for flags in map(list, scored)),
        "num_unscored_entities": masked.true_removed,
        "num_unscored_predictions": masked.predicted_removed,
        "per_label": per_label,
    }


def _score(metric: Callable[..., Any], y_true: list[list[str]], y_pred: list[list[str]], **options: Any) -> float:
    """One seqeval score: a number (seqeval returns a list only with `average=None`)."""
    value = metric(y_true, y_pred, **options)
    assert not isinstance(value, list), "an averaged seqeval score is one number"
    return float(value)


def entity_labels(tags: Sequence[str]) -> list[str]:
    """["O", "B-AMOUNT", "I-AMOUNT", "B-DATE"] -> ["AMOUNT", "DATE"] (first-seen order)."""
    labels: dict[str, None] = {}
    for tag in tags:
        if tag != "O":
            labels[tag.split("-", 1)[1]] = None
    return list(labels)


def evaluate_windows(
    logits: np.ndarray | Sequence[np.ndarray],
    features: Sequence[Mapping[str, Any]],
    receipts: Sequence[LabelledReceipt],
    tags: Sequence[str],
) -> dict[str, Any]:
    """Merge overlapping windows to words, take the arg-max tag, and score."""
    merged = merge_window_logits(logits, features, [len(receipt.tag_ids) for receipt in receipts])
    return word_metrics([scores.argmax(axis=-1).tolist() for scores in merged], receipts, tags)


def make_compute_metrics(
    features: Sequence[Mapping[str, Any]], receipts: Sequence[LabelledReceipt], tags: Sequence[str]
) -> Callable[[Any], dict[str, Any]]:
    """`compute_metrics` for a HF Trainer evaluating `features` in order (the Trainer's
    evaluation sampler is sequential, so prediction row f is features[f])."""

    def compute_metrics(eval_prediction: Any) -> dict[str, Any]:
        predictions = eval_prediction.predictions
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        return evaluate_windows(predictions, features, receipts, tags)

    return compute_metrics

"""`trainer predict`, as functions: receipts -> the evaluation's windows -> logits -> one
prediction per word -> entities.

The path is evaluation's own: `data.build_features` cuts the same windows with the same
stride, `evaluate.merge_window_logits` averages each word's first-sub-token logits over the
windows that hold it, and labelled input (a snapshot split) is scored by
`evaluate.word_metrics` on the same `ReceiptExample`s, so predicting a run's val split gives
the F1 its best evaluation recorded. Only the batching differs: windows are grouped by length
(less padding), which changes no logit beyond float rounding.

A word's confidence is the softmax probability of its tag under those averaged logits.
Entities follow strict IOB2 (seqeval's strict mode, the headline F1's): B-X starts one, I-X
continues it, an I-X with no B-X before it starts none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.inference.runtime import Runner
from trainer.model.evaluate import merge_window_logits, word_metrics
from trainer.model.features import FeatureCollator, ReceiptExample, build_features
from trainer.model.package import ModelPackage

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PredictInput:
    """Receipts to predict on, as ReceiptExamples (reading order, boxes in the convention),
    with each word's keys (`words[r][i]`: key, line_id, word_id, position, source_index...).
    `tags` is the tag list the examples' tag_ids index (the model's tags first), `labelled`
    says whether those tags are real (a snapshot) or placeholders (O)."""

    examples: list[ReceiptExample]
    words: list[list[dict[str, Any]]]
    tags: list[str]
    labelled: bool
    source: dict[str, Any]
    source_ids: dict[str, str] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Predictions:
    receipts: list[dict[str, Any]]
    scores: list[np.ndarray]
    """Per receipt, [words, classes] averaged logits (model tag order)."""
    windows: int
    seconds: float
    metrics: dict[str, Any] | None


def window_logits(
    runner: Runner,
    features: Sequence[dict[str, Any]],
    *,
    pad_token_id: int,
    batch_size: int,
    max_length: int | None = None,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """Logits of every window ([tokens, classes], in feature order), run in batches of windows
    of similar length, each padded to its longest (rounded up to 8) by FeatureCollator."""
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    collate = FeatureCollator(pad_token_id, pad_to_multiple_of=8, max_length=max_length)
    out: list[np.ndarray] = [np.empty(0)] * len(features)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        batch = collate([features[i] for i in chosen])
        batch.pop("labels", None)
        logits = runner(batch)
        for row, index in enumerate(chosen):
            out[index] = logits[row, : len(features[index]["input_ids"])]
        if progress:
            progress(min(start + batch_size, len(order)), len(order))
    return out


def word_scores(
    runner: Runner,
    tokenizer: Any,
    examples: Sequence[ReceiptExample],
    package: ModelPackage,
    *,
    batch_size: int,
    max_length: int | None = None,
    progress: Progress | None = None,
) -> tuple[list[np.ndarray], int]:
    """One [words, classes] array of merged logits per receipt (receipts without words get an
    empty one), and the number of windows run."""
    kept = [i for i, example in enumerate(examples) if example.words]
    chosen = [examples[i] for i in kept]
    features = build_features(chosen, tokenizer, package.max_seq_length, package.doc_stride)
    scores = [np.zeros((0, len(package.tags)), dtype=np.float64) for _ in examples]
    if features:
        logits = window_logits(
            runner,
            features,
            pad_token_id=tokenizer.pad_token_id,
            batch_size=batch_size,
            max_length=max_length,
            progress=progress,
        )
        for index, merged in zip(
            kept, merge_window_logits(logits, features, [len(e.words) for e in chosen]), strict=True
        ):
            scores[index] = merged
    return scores, len(features)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def strict_entities(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, label) of every strict IOB2 entity in a tag sequence: B-X then I-X*, as
    seqeval's strict mode reads them (an I-X that continues nothing is no entity)."""
    found: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for index, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        if prefix == "I" and start >= 0 and name == label:
            continue
        if start >= 0:
            found.append((start, index, label))
        start, label = (index, name) if prefix == "B" else (-1, "")
    return found


def receipt_prediction(
    example: ReceiptExample,
    words: list[dict[str, Any]],
    scores: np.ndarray,
    tags: Sequence[str],
    *,
    top_k: int = 3,
    gold_tags: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The output record of one receipt: every word with its tag, confidence and top-k, and
    the entities (label, text joined in reading order, word keys, mean and min confidence)."""
    probabilities = softmax(scores) if len(scores) else scores
    best = np.argsort(-scores, axis=-1, kind="stable")[:, :top_k]  # best[:, 0] is scores.argmax(-1), as scored
    top_p = np.take_along_axis(probabilities, best, axis=-1).tolist()
    labels = [tag.split("-", 1)[1] if tag != "O" else "O" for tag in tags]
    word_rows = []
    for i, (text, box, chosen, p) in enumerate(zip(example.words, example.boxes, best.tolist(), top_p, strict=True)):
        row = {
            **words[i],
            "text": text,
            "box": list(box),
            "tag": tags[chosen[0]],
            "label": labels[chosen[0]],
            "confidence": p[0],
            "top": [{"tag": tags[j], "p": q} for j, q in zip(chosen, p, strict=True)],
        }
        if gold_tags is not None:
            row["gold_tag"] = gold_tags[i]
        word_rows.append(row)
    entities = []
    for start, end, label in strict_entities([w["tag"] for w in word_rows]):
        span = word_rows[start:end]
        confidences = [w["confidence"] for w in span]
        entities.append(
            {
                "label": label,
                "text": " ".join(w["text"] for w in span),
                "word_keys": [w["key"] for w in span],
                "positions": [w["position"] for w in span],
                "confidence_mean": sum(confidences) / len(confidences),
                "confidence_min": min(confidences),
            }
        )
    return {"receipt_key": example.receipt_key, "words": word_rows, "entities": entities}


def predict(
    runner: Runner,
    tokenizer: Any,
    package: ModelPackage,
    data: PredictInput,
    *,
    batch_size: int = 16,
    top_k: int = 3,
    max_length: int | None = None,
    progress: Progress | None = None,
) -> Predictions:
    """Predict every receipt of `data`; score it when it is labelled."""
    started = time.perf_counter()
    scores, windows = word_scores(
        runner, tokenizer, data.examples, package, batch_size=batch_size, max_length=max_length, progress=progress
    )
    seconds = time.perf_counter() - started
    model_tags = package.tags
    receipts = []
    for example, words, receipt_scores in zip(data.examples, data.words, scores, strict=True):
        gold = [data.tags[t] for t in example.tag_ids] if data.labelled else None
        record = receipt_prediction(example, words, receipt_scores, model_tags, top_k=top_k, gold_tags=gold)
        if example.receipt_key in data.source_ids:
            record = {"receipt_key": example.receipt_key, "source_id": data.source_ids[example.receipt_key], **record}
        receipts.append(record)
    metrics = None
    if data.labelled:
        metrics = word_metrics([s.argmax(axis=-1).tolist() for s in scores], data.examples, data.tags)
    return Predictions(receipts, scores, windows, seconds, metrics)


def summary(
    predictions: Predictions, data: PredictInput, *, model: str, package: ModelPackage, runtime: str, out: str | None
) -> dict[str, Any]:
    """The `--json` summary of a prediction (docs/schemas/predict_summary.json)."""
    receipts = predictions.receipts
    count = len(receipts)
    return {
        "schema": "predict_summary",
        "schema_version": 1,
        "model": model,
        "job_id": package.job_id,
        "runtime": runtime,
        "input": data.source,
        "receipts": count,
        "empty_receipts": sum(1 for r in receipts if not r["words"]),
        "words": sum(len(r["words"]) for r in receipts),
        "windows": predictions.windows,
        "entities": sum(len(r["entities"]) for r in receipts),
        "seconds": round(predictions.seconds, 4),
        "receipts_per_s": round(count / predictions.seconds, 3) if predictions.seconds > 0 else None,
        "metrics": predictions.metrics,
        "recorded_val_f1": package.best.val_f1,
        "out": out,
        "problems": data.problems,
    }

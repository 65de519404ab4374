"""The review queues as pure functions of out-of-sample probabilities (trainer.review.queues),
and the suggestions made from them (trainer.review.output)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dataset_builder import BuildConfig
from metrics_store import ReceiptWordLabel
from trainer import ConfigError
from trainer.review.config import QueueConfig, ReviewRequest
from trainer.review.output import build_suggestions, classify
from trainer.review.queues import build_queues, label_probabilities

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-MERCHANT_NAME", "I-MERCHANT_NAME", "B-PRODUCT_NAME", "I-PRODUCT_NAME"]
SPEC = BuildConfig(merge_preset="amounts", allowed_labels=("AMOUNT", "MERCHANT_NAME", "PRODUCT_NAME"))
LABEL_OF = {"MERCHANT_NAME": "MERCHANT_NAME", "PRODUCT_NAME": "PRODUCT_NAME", "GRAND_TOTAL": "AMOUNT", "WEBSITE": None}
TAG_OF = {"O": 0, "AMOUNT": 1, "MERCHANT_NAME": 3, "PRODUCT_NAME": 5}


def _probabilities(label: str, confidence: float) -> np.ndarray:
    p = np.full(len(TAGS), (1 - confidence) / (len(TAGS) - 1))
    p[TAG_OF[label]] = confidence
    return p


def _data():
    """40 receipts x 6 words. Truth: merchant, product, amount, three O. Planted: receipt 0 and
    1 carry a VALID MERCHANT_NAME on their product; receipts 2 and 3 lost the amount's label;
    receipt 4's product awaits review (right), receipt 5's under MERCHANT_NAME (wrong)."""
    truth = ["MERCHANT_NAME", "PRODUCT_NAME", "AMOUNT", "O", "O", "O"]
    rows, probs, items = [], [], []
    for r in range(40):
        key = f"img{r}#00001"
        for pos, true in enumerate(truth):
            given, state, item = true, "labelled" if true != "O" else "unlabelled", None
            if true != "O":
                item = ("GRAND_TOTAL" if true == "AMOUNT" else true, "VALID")
            if r in (0, 1) and pos == 1:
                given, item = "MERCHANT_NAME", ("MERCHANT_NAME", "VALID")
            if r in (2, 3) and pos == 2:
                given, state, item = "O", "unlabelled", None
            if r == 4 and pos == 1:
                given, state, item = "O", "unknown", ("PRODUCT_NAME", "NEEDS_REVIEW")
            if r == 5 and pos == 1:
                given, state, item = "O", "unknown", ("MERCHANT_NAME", "PENDING")
            if r == 6 and pos == 3:  # a VALID label outside the snapshot's labels: O to the model
                given, state, item = "O", "labelled", ("WEBSITE", "VALID")
            rows.append(
                {
                    "receipt_key": key,
                    "image_id": f"img{r}",
                    "receipt_id": 1,
                    "line_id": 1 + pos // 3,
                    "word_id": 1 + pos % 3,
                    "position": pos,
                    "text": f"w{pos}",
                    "label": given,
                    "label_state": state,
                    "fold": 1 + r % 2,
                    "snapshot_split": "train",
                }
            )
            probs.append(_probabilities(true, 0.9 if (r, pos) != (7, 0) else 0.55))
            if item:
                items.append(
                    {
                        "receipt_key": key,
                        "line_id": 1 + pos // 3,
                        "word_id": 1 + pos % 3,
                        "label": item[0],
                        "validation_status": item[1],
                    }
                )
    items.append(
        {"receipt_key": "img5#00001", "line_id": 1, "word_id": 2, "label": "WEBSITE", "validation_status": "NONE"}
    )  # not scorable
    items.append(
        {
            "receipt_key": "img8#00001",
            "line_id": 1,
            "word_id": 2,
            "label": "MERCHANT_NAME",
            "validation_status": "INVALID",
        }
    )
    schema = {c: pl.Int32 for c in ("receipt_id", "line_id", "word_id", "position", "fold")}
    return (
        pl.DataFrame(rows, schema_overrides=schema),
        np.array(probs),
        pl.DataFrame(items, schema_overrides={"line_id": pl.Int32, "word_id": pl.Int32}),
    )


def test_label_probabilities_add_the_b_and_i_tags_of_a_label():
    tags = ["O", "B-A", "I-A", "B-B", "I-B"]
    classes, p = label_probabilities(np.array([[0.1, 0.3, 0.2, 0.25, 0.15]]), tags)
    assert classes == ["O", "A", "B"] and p[0].tolist() == pytest.approx([0.1, 0.5, 0.4])


def test_queues_find_the_planted_errors_and_nothing_else():
    words, probs, items = _data()
    queues = build_queues(words, probs, TAGS, items, LABEL_OF, QueueConfig())
    suspects = queues.suspect_valid
    assert suspects["receipt_key"].to_list() == ["img0#00001", "img1#00001"] and suspects["rank"].to_list() == [1, 2]
    assert set(suspects["given_label"]) == {"MERCHANT_NAME"} and set(suspects["model_label"]) == {"PRODUCT_NAME"}
    by_confidence = build_queues(
        words, probs, TAGS, items, LABEL_OF, QueueConfig(suspect_score="self_confidence")
    ).suspect_valid
    assert (
        by_confidence["receipt_key"].to_list() == suspects["receipt_key"].to_list()
    )  # the same words, scored another way
    assert by_confidence["label_quality"].to_list() == pytest.approx(
        [0.1 / 6 * 2, 0.1 / 6 * 2]
    )  # p(B-M) + p(I-M): the given label's
    assert all(0 < q < 0.5 for q in suspects["label_quality"])  # confidence-weighted entropy, the default
    assert (suspects["score"] == suspects["label_quality"]).all() and set(suspects["items"]) == {"MERCHANT_NAME:VALID"}

    missing = queues.missing
    assert sorted(missing["receipt_key"]) == ["img2#00001", "img3#00001"] and set(missing["model_label"]) == {"AMOUNT"}
    assert missing["line_text"].to_list() == ["w0 w1 w2"] * 2

    triage = queues.triage
    by_word = {(row["receipt_key"], row["proposed_name"]): row for row in triage.iter_rows(named=True)}
    assert set(by_word) == {
        ("img4#00001", "PRODUCT_NAME"),
        ("img5#00001", "MERCHANT_NAME"),
        ("img5#00001", "WEBSITE"),
    }  # INVALID: decided
    assert by_word[("img4#00001", "PRODUCT_NAME")]["bucket"] == "likely_valid"
    assert by_word[("img4#00001", "PRODUCT_NAME")]["proposed_probability"] == pytest.approx(0.9 + 0.1 / 6)
    assert by_word[("img5#00001", "MERCHANT_NAME")]["bucket"] == "likely_invalid"
    assert (
        by_word[("img5#00001", "WEBSITE")]["bucket"] == "not_scorable"
        and by_word[("img5#00001", "WEBSITE")]["score"] is None
    )
    assert triage["bucket"].to_list() == ["likely_valid", "likely_invalid", "not_scorable"]

    rows = {r["label"]: r for r in queues.labels}
    assert rows["MERCHANT_NAME"]["suspect_valid"] == 2 and rows["MERCHANT_NAME"]["likely_invalid"] == 1
    assert (
        rows["PRODUCT_NAME"]["likely_valid"] == 1
        and rows["AMOUNT"]["missing"] == 2
        and rows["(not scorable)"]["triage"] == 1
    )
    assert rows["AMOUNT"]["valid_words"] == 38 and rows["O"]["valid_words"] == 1
    assert queues.scored == {
        "receipts": 40,
        "words": 240,
        "labelled_words": 40 * 3 - 4 + 1,
        "unlabelled_words": 40 * 3 - 1 + 2,
        "unknown_words": 2,
    }


def test_thresholds_move_words_between_buckets_and_out_of_the_missing_queue():
    words, probs, items = _data()
    strict = build_queues(
        words, probs, TAGS, items, LABEL_OF, QueueConfig(valid_above=0.95, invalid_below=0.001, missing_above=0.95)
    )
    assert strict.missing.height == 0
    assert set(strict.triage["bucket"]) == {"uncertain", "not_scorable"}


def test_suggestions_are_the_models_labels_where_it_disagrees_under_their_table_names():
    words, probs, items = _data()
    frames = build_queues(words, probs, TAGS, items, LABEL_OF, QueueConfig()).frames()
    made = build_suggestions(frames, SPEC, QueueConfig(), job_id="job-1", timestamp="2026-01-01T00:00:00+00:00")
    labels = {(s.image_id, s.word_id): s for s in made.labels}
    assert set(labels) == {
        ("img0", 2),
        ("img1", 2),
        ("img5", 2),
    }  # the suspects' PRODUCT_NAME; the wrong proposal's PRODUCT_NAME
    assert all(
        s.label == "PRODUCT_NAME" and s.validation_status == "PENDING" and s.label_proposed_by == "model:job-1"
        for s in made.labels
    )
    assert (
        labels[("img0", 2)].reasoning.startswith("confidence 0.9167")
        and "suspect_valid" in labels[("img0", 2)].reasoning
    )
    assert made.not_writable == {"AMOUNT": 2}  # AMOUNT merges four table labels: the model chose none of them
    assert made.by_queue == {"suspect_valid": 2, "triage": 1}
    existing = {
        ("IMAGE#img0", labels[("img0", 2)].item_keys()["SK"]): ReceiptWordLabel(
            "img0", 1, 1, 2, "PRODUCT_NAME", "VALID", "t"
        ),
        ("IMAGE#img1", labels[("img1", 2)].item_keys()["SK"]): labels[("img1", 2)],
    }
    assert classify(made.labels, existing, "job-1") == {"new": 1, "rewrite": 1, "validated": 1, "other": 0}
    assert classify(made.labels, existing, "job-2") == {"new": 1, "rewrite": 0, "validated": 1, "other": 1}


def test_bad_review_options_are_one_clear_error():
    with pytest.raises(ConfigError, match="--invalid-below"):
        QueueConfig(valid_above=0.5, invalid_below=0.6)
    with pytest.raises(ConfigError, match="--missing-above"):
        QueueConfig(missing_above=1.5)
    with pytest.raises(ConfigError, match="--folds"):
        ReviewRequest(snapshot_root="s", folds=1)
    request = ReviewRequest(snapshot_root="s", folds=3, queues=QueueConfig(missing_above=0.6))
    assert ReviewRequest.from_dict(request.to_dict()) == request

"""Out-of-sample probabilities -> three ranked review queues and a summary per label. Pure:
frames and arrays in, frames out (cleanlab does the confident learning).

Probabilities are per label, not per tag: a word's probability of label X is that of `B-X`
plus that of `I-X` (which prefix a word takes is not what a label review asks), and the
model's label is the most probable one. The queues (docs/runs.md, "Label review"):

1. `suspect_valid`: words with a VALID label of the snapshot's (`label_state` labelled; a VALID
   name outside the allowed labels is O to the model, not its to judge) that cleanlab's
   confident learning flags
   (`cleanlab.token_classification.filter.find_label_issues` over every word whose label is
   known: labelled, and unlabelled as O), ranked by cleanlab's label quality score
   (`rank.get_label_quality_scores`), lowest first; `QueueConfig.suspect_score` picks cleanlab's
   token score: confidence-weighted entropy (the default), self-confidence (the probability of
   the given label) or normalized margin.
2. `triage`: every label item in NEEDS_REVIEW, PENDING or NONE (TRIAGE_STATUSES), with the
   probability of the label it proposes (mapped to the snapshot's labels as the build maps
   them), `likely_valid` at or above `valid_above`, `likely_invalid` at or below
   `invalid_below`, `uncertain` between; items whose label the snapshot does not have are
   `not_scorable`.
3. `missing`: unlabelled words (no label item at all) whose most probable label is an entity
   with at least `missing_above`, most confident first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from dataset_builder.rules import LABELLED, UNKNOWN, UNLABELLED
from trainer.model.evaluate import entity_labels
from trainer.review.config import TRIAGE_STATUSES, QueueConfig, require_cleanlab

WORD = ["receipt_key", "line_id", "word_id"]
QUEUES = ("suspect_valid", "triage", "missing")
BUCKETS = ("likely_valid", "likely_invalid", "uncertain", "not_scorable")
CONTEXT = [
    "receipt_key",
    "image_id",
    "receipt_id",
    "line_id",
    "word_id",
    "position",
    "text",
    "line_text",
    "label_state",
    "items",
    "fold",
    "snapshot_split",
]


@dataclass(frozen=True)
class Queues:
    suspect_valid: pl.DataFrame
    triage: pl.DataFrame
    missing: pl.DataFrame
    labels: list[dict[str, Any]]
    """The summary per label (`summary_rows`)."""
    scored: dict[str, int]

    def frames(self) -> dict[str, pl.DataFrame]:
        return {"suspect_valid": self.suspect_valid, "triage": self.triage, "missing": self.missing}


def label_probabilities(tag_probabilities: np.ndarray, tags: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """[words, tags] -> (classes, [words, classes]): O, then each entity label (B- + I-)."""
    classes = ["O", *entity_labels(tags)]
    index = {label: i for i, label in enumerate(classes)}
    out = np.zeros((tag_probabilities.shape[0], len(classes)), dtype=np.float64)
    for t, tag in enumerate(tags):
        out[:, index["O" if tag == "O" else tag.split("-", 1)[1]]] += tag_probabilities[:, t]
    return classes, out


def _line_text(words: pl.DataFrame) -> pl.DataFrame:
    return (
        words.sort("receipt_key", "position")
        .group_by("receipt_key", "line_id", maintain_order=True)
        .agg(pl.col("text").fill_null("").str.join(" ").alias("line_text"))
    )


def _item_summary(items: pl.DataFrame) -> pl.DataFrame:
    return (
        items.sort(*WORD, "label")
        .group_by(WORD, maintain_order=True)
        .agg(pl.format("{}:{}", "label", "validation_status").str.join(", ").alias("items"))
    )


def base_frame(
    words: pl.DataFrame, probabilities: np.ndarray, classes: Sequence[str], items: pl.DataFrame
) -> pl.DataFrame:
    """One row per scored word: its context, given label, the model's label and confidence,
    and the probability of the given label. `words` rows align with `probabilities` rows."""
    if words.height != probabilities.shape[0]:
        raise ValueError(f"{words.height} words but {probabilities.shape[0]} rows of probabilities")
    index = {label: i for i, label in enumerate(classes)}
    given = np.array([index.get(label, 0) for label in words["label"].to_list()], dtype=np.int64)
    best = probabilities.argmax(axis=1)
    rows = np.arange(len(given))
    frame = words.with_columns(
        pl.Series("_row", rows, dtype=pl.Int64),
        pl.Series("given_index", given, dtype=pl.Int64),
        pl.Series("model_label", [classes[i] for i in best], dtype=pl.Utf8),
        pl.Series("model_confidence", probabilities[rows, best], dtype=pl.Float64),
        pl.Series("given_probability", probabilities[rows, given], dtype=pl.Float64),
    )
    frame = frame.join(_line_text(words), on=["receipt_key", "line_id"], how="left")
    return frame.join(_item_summary(items), on=WORD, how="left").with_columns(pl.col("items").fill_null(""))


def suspect_ranking(base: pl.DataFrame, probabilities: np.ndarray, method: str = "self_confidence") -> pl.DataFrame:
    """Every word with a VALID entity label, with cleanlab's label quality score (`label_quality`) and whether its
    issue filter flags it (`issue`), flagged first, then by quality (lowest first). The filter
    and the class thresholds are fitted on every word whose label is known (labelled and
    unlabelled), by receipt."""

    require_cleanlab()
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    known = base.filter(pl.col("label_state").is_in([LABELLED, UNLABELLED])).sort("receipt_key", "position")
    if known.is_empty():
        return known.with_columns(pl.lit(None, pl.Float64).alias("label_quality"), pl.lit(False).alias("issue"))
    groups = known.group_by("receipt_key", maintain_order=True).agg("_row", "given_index")
    rows = [np.asarray(r, dtype=np.int64) for r in groups["_row"].to_list()]
    labels = [list(map(int, g)) for g in groups["given_index"].to_list()]
    probs = [probabilities[r] for r in rows]
    issues = set(find_label_issues(labels, probs, n_jobs=1))
    _, token_scores = get_label_quality_scores(labels, probs, token_score_method=method)
    flat_rows = np.concatenate(rows)
    quality = np.concatenate([np.asarray(s, dtype=np.float64) for s in token_scores])
    flagged = np.zeros(len(flat_rows), dtype=bool)
    offsets = np.cumsum([0, *map(len, rows)])
    for sentence, token in issues:
        flagged[offsets[sentence] + token] = True
    scores = pl.DataFrame({"_row": flat_rows, "label_quality": quality, "issue": flagged})
    ranked = known.join(scores, on="_row").filter((pl.col("label_state") == LABELLED) & (pl.col("label") != "O"))
    return ranked.sort([pl.col("issue").not_(), "label_quality", "receipt_key", "position"])


def _ranked(frame: pl.DataFrame, queue: str, score: str, columns: Sequence[str | pl.Expr]) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(queue).alias("queue"), pl.int_range(1, pl.len() + 1).alias("rank"), pl.col(score).alias("score")
    ).select("queue", "rank", "score", *columns)


def suspect_valid_queue(ranking: pl.DataFrame, selected: Sequence[str] = ("VALID",)) -> pl.DataFrame:
    flagged = ranking.filter(pl.col("issue"))
    return _ranked(
        flagged.with_columns(pl.lit("/".join(selected)).alias("given_status")),
        "suspect_valid",
        "label_quality",
        [
            *CONTEXT,
            pl.col("label").alias("given_label"),
            "given_status",
            "given_probability",
            "model_label",
            "model_confidence",
            "label_quality",
        ],
    )


def triage_queue(
    base: pl.DataFrame,
    probabilities: np.ndarray,
    classes: Sequence[str],
    items: pl.DataFrame,
    label_of: Mapping[str, str | None],
    config: QueueConfig,
) -> pl.DataFrame:
    """Every label item awaiting a decision, with the probability of the label it proposes."""
    index = {label: i for i, label in enumerate(classes)}
    pending = items.filter(pl.col("validation_status").is_in(list(TRIAGE_STATUSES))).select(
        *WORD, pl.col("label").alias("proposed_name"), pl.col("validation_status").alias("given_status")
    )
    joined = pending.join(base, on=WORD, how="inner")
    proposed = [label_of.get(name) for name in joined["proposed_name"].to_list()]
    rows = joined["_row"].to_numpy()
    p = [float(probabilities[r, index[lab]]) if lab in index else None for r, lab in zip(rows, proposed, strict=True)]
    bucket = [
        "not_scorable"
        if x is None
        else "likely_valid"
        if x >= config.valid_above
        else "likely_invalid"
        if x <= config.invalid_below
        else "uncertain"
        for x in p
    ]
    joined = joined.with_columns(
        pl.Series("given_label", proposed, dtype=pl.Utf8),
        pl.Series("proposed_probability", p, dtype=pl.Float64),
        pl.Series("bucket", bucket, dtype=pl.Utf8),
    )
    order = pl.col("bucket").replace_strict({b: i for i, b in enumerate(BUCKETS)}, return_dtype=pl.Int32)
    joined = joined.sort(
        [order, pl.col("proposed_probability").neg(), "receipt_key", "position", "proposed_name"], nulls_last=True
    )
    return _ranked(
        joined,
        "triage",
        "proposed_probability",
        [
            *CONTEXT,
            "proposed_name",
            "given_label",
            "given_status",
            "proposed_probability",
            "bucket",
            "model_label",
            "model_confidence",
        ],
    )


def missing_queue(base: pl.DataFrame, config: QueueConfig) -> pl.DataFrame:
    chosen = base.filter(
        (pl.col("label_state") == UNLABELLED)
        & (pl.col("model_label") != "O")
        & (pl.col("model_confidence") >= config.missing_above)
    )
    chosen = chosen.sort([pl.col("model_confidence").neg(), "receipt_key", "position"])
    return _ranked(chosen, "missing", "model_confidence", [*CONTEXT, "model_label", "model_confidence"])


def summary_rows(
    base: pl.DataFrame, queues: Mapping[str, pl.DataFrame], classes: Sequence[str]
) -> list[dict[str, Any]]:
    """Per label: VALID words scored and flagged, triage items by bucket, missing labels."""

    def counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
        return dict(frame.group_by(column).len().iter_rows()) if frame.height else {}

    labelled = base.filter(pl.col("label_state") == LABELLED)
    valid, suspect = counts(labelled, "label"), counts(queues["suspect_valid"], "given_label")
    triage = queues["triage"]
    triaged = {b: counts(triage.filter(pl.col("bucket") == b), "given_label") for b in BUCKETS}
    missing = counts(queues["missing"], "model_label")
    rows = []
    for label in classes:
        row = {
            "label": label,
            "valid_words": valid.get(label, 0),
            "suspect_valid": suspect.get(label, 0),
            "triage": sum(triaged[b].get(label, 0) for b in BUCKETS[:3]),
            **{b: triaged[b].get(label, 0) for b in BUCKETS[:3]},
            "missing": missing.get(label, 0),
        }
        rows.append(row)
    rows.append(
        {
            "label": "(not scorable)",
            "valid_words": 0,
            "suspect_valid": 0,
            "triage": sum(triaged["not_scorable"].values()),
            "likely_valid": 0,
            "likely_invalid": 0,
            "uncertain": 0,
            "missing": 0,
        }
    )
    return rows


def build_queues(
    words: pl.DataFrame,
    tag_probabilities: np.ndarray,
    tags: Sequence[str],
    items: pl.DataFrame,
    label_of: Mapping[str, str | None],
    config: QueueConfig,
    *,
    selected: Sequence[str] = ("VALID",),
) -> Queues:
    """The three queues and the per-label summary of the scored `words` (columns: CONTEXT
    minus line_text and items, plus `label`; rows aligned with `tag_probabilities`).
    `selected`: the statuses that made a word labelled (the snapshot's `--status`)."""
    classes, probabilities = label_probabilities(tag_probabilities, tags)
    base = base_frame(words, probabilities, classes, items)
    frames = {
        "suspect_valid": suspect_valid_queue(suspect_ranking(base, probabilities, config.suspect_score), selected),
        "triage": triage_queue(base, probabilities, classes, items, label_of, config),
        "missing": missing_queue(base, config),
    }
    states = dict(base.group_by("label_state").len().iter_rows())
    scored = {
        "receipts": base["receipt_key"].n_unique(),
        "words": base.height,
        **{f"{s}_words": states.get(s, 0) for s in (LABELLED, UNLABELLED, UNKNOWN)},
    }
    return Queues(**frames, labels=summary_rows(base, frames, classes), scored=scored)

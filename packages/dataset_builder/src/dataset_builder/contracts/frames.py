"""The frames the contracts check: the snapshot's own frames plus columns and one-row summaries
derived with polars, so that promises Great Expectations has no expectation for (BIO validity,
supervision backed by a label item, disjoint splits, support per label) become plain column
checks in a suite file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from .. import rules
from ..config import BuildConfig
from ..corpus import RECEIPT_COLUMNS as CORPUS_RECEIPT_COLUMNS
from ..dataset import LABEL_COLUMNS, RECEIPT_COLUMNS, WORD_COLUMNS
from ..labels import LEGACY_ALIASES, VALIDATION_STATUSES
from ..layout import LAYOUT_COLUMNS
from ..manifest import DataQuality

WORD_KEYS = ["receipt_key", "image_id", "receipt_id", "line_id", "word_id"]
RECEIPT_KEYS = ["receipt_key", "image_id", "receipt_id"]
DRIFT_METRICS = ("label_share", "status_mix", "words_per_receipt", "merchant_share")
SUMMARY_COLUMNS = [
    "receipts",
    "train_receipts",
    "val_receipts",
    "val_share",
    "train_entity_words",
    "val_entity_words",
    "train_o_entity_ratio",
    "target_o_entity_ratio",
    "train_ratio_to_target",
]

FRAME_COLUMNS: dict[str, list[str]] = {
    "labels": LABEL_COLUMNS,
    "words": [
        *WORD_COLUMNS,
        "previous_tag",
        "bio_valid",
        "tag_matches_label",
        "supervision_valid",
        "val_unmasked",
        "expected_label_state",
        "label_state_valid",
        "unknown_unsupervised",
    ],
    "receipts": RECEIPT_COLUMNS,
    "receipt_splits": [*RECEIPT_KEYS, "n_splits", "splits"],
    "label_support": [
        "label",
        "train_entities",
        "val_entities",
        "train_entity_words",
        "val_entity_words",
        "train_unknown_words",
        "val_unknown_words",
        "train_unknown_share",
        "val_unknown_share",
    ],
    "summary": SUMMARY_COLUMNS,
    "drift": ["parent_id", *(f"{m}_psi" for m in DRIFT_METRICS)],
    "data_quality": ["kind", "key", "detail"],
    "corpus_words": [*LAYOUT_COLUMNS, "expected_position", "position_in_range", "reading_order_valid", "receipt_known"],
    "corpus_receipts": [*CORPUS_RECEIPT_COLUMNS, "words_found", "n_words_valid", "val_excluded"],
}
"""Every frame a suite entry may name, with its columns (checked when a suite is loaded)."""

CORPUS_FRAMES = ("corpus_words", "corpus_receipts")
"""The frames of a corpus (`dataset_builder.corpus`); a suite checks either these or a snapshot's."""

FRAME_KEYS: dict[str, list[str]] = {
    "labels": [*WORD_KEYS, "label"],
    "words": WORD_KEYS,
    "receipts": RECEIPT_KEYS,
    "receipt_splits": RECEIPT_KEYS,
    "label_support": ["label"],
    "summary": [],
    "drift": ["parent_id"],
    "data_quality": ["kind", "key"],
    "corpus_words": WORD_KEYS,
    "corpus_receipts": RECEIPT_KEYS,
}
"""The columns that identify a failing row in a report."""

CONTEXT: dict[str, list[str]] = {
    "bio_valid": ["position", "previous_tag", "tag"],
    "tag_matches_label": ["tag", "label"],
    "supervision_valid": ["split", "supervised", "source_label", "label"],
    "val_unmasked": ["split", "supervised", "label_state"],
    "label_state_valid": ["label_state", "expected_label_state"],
    "unknown_unsupervised": ["label_state", "supervised"],
    "train_unknown_share": ["train_unknown_words", "train_entity_words"],
    "val_unknown_share": ["val_unknown_words", "val_entity_words"],
    "n_splits": ["splits"],
    "train_ratio_to_target": ["train_o_entity_ratio", "target_o_entity_ratio"],
    "val_share": ["receipts", "val_receipts"],
    "position_in_range": ["position"],
    "reading_order_valid": ["position", "expected_position", "text"],
    "n_words_valid": ["n_words", "words_found"],
}
"""Columns shown next to a failing derived column, so the row explains itself."""


@dataclass(frozen=True)
class ContractInputs:
    """What the contracts read: a snapshot's three frames, its spec and its label list."""

    words: pl.DataFrame
    receipts: pl.DataFrame
    labels: pl.DataFrame
    spec: BuildConfig
    label_list: list[str]
    quality: DataQuality | None = None
    """What the build noticed (manifest `data_quality`); None for a snapshot from before it."""

    @property
    def statuses(self) -> list[str]:
        return list(self.spec.statuses)

    @property
    def vocabulary(self) -> list[str]:
        return list(self.spec.vocabulary)


def contract_parameters(inputs: ContractInputs) -> dict[str, Any]:
    """The values behind `$name` in the suite files, from the snapshot's manifest."""
    labels = list(inputs.label_list)
    return {
        "labels": labels,
        "labels_with_o": ["O", *labels],
        "tags": rules.tag_list(labels),
        "statuses": inputs.statuses,
        "validation_statuses": list(VALIDATION_STATUSES),
        "known_label_names": sorted({*inputs.vocabulary, *LEGACY_ALIASES}),
        "target_ratio": inputs.spec.o_entity_ratio,
        "val_fraction": inputs.spec.val_fraction,
        "label_states": list(rules.LABEL_STATES),
    }


def _int_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Word keys as Int64, so a join never fails on a dtype the contracts are there to report."""
    return frame.with_columns(pl.col(c).cast(pl.Int64, strict=False) for c in ("receipt_id", "line_id", "word_id"))


def words_frame(inputs: ContractInputs) -> pl.DataFrame:
    """words.parquet with the derived columns the snapshot_words suite checks. A snapshot from
    before `label_state` gets it derived (`rules.with_label_state`); there is nothing to check
    it against, so `label_state_valid` holds."""
    aliased, _ = rules.alias_labels(inputs.labels, inputs.vocabulary)
    backing = (
        _int_keys(aliased.filter(pl.col("validation_status").is_in(inputs.statuses)))
        .select(*rules.WORD_KEY, pl.col("label").alias("source_label"))
        .unique()
        .with_columns(pl.lit(True).alias("_backed"))
    )
    recorded = "label_state" in inputs.words.columns
    expected = _int_keys(rules.label_states(inputs.labels, inputs.statuses)).rename(
        {"label_state": "expected_label_state"}
    )
    words = rules.with_label_state(inputs.words).with_row_index("_row")
    unknown = pl.col("label_state") == rules.UNKNOWN
    # `--unvalidated ignore` tags across unknown words (rules.bio_tags): they are not the previous word;
    # words.parquet keeps no entity id, so val_unmasked allows every B- right after an unknown word
    ignore = pl.lit(inputs.spec.unvalidated == "ignore")
    skipped = unknown & ignore
    previous = (
        pl.when(~skipped)
        .then(pl.col("tag"))
        .otherwise(None)
        .shift(1)
        .forward_fill()
        .over("receipt_key", order_by="position")
    )
    derived = (
        _int_keys(
            words.select(
                "_row",
                *rules.WORD_KEY,
                "receipt_key",
                "position",
                "tag",
                "label",
                "source_label",
                "supervised",
                "split",
                "label_state",
            )
        )
        .join(backing, on=[*rules.WORD_KEY, "source_label"], how="left")
        .join(expected, on=rules.WORD_KEY, how="left")
        .with_columns(previous.alias("previous_tag"), pl.col("expected_label_state").fill_null(rules.UNLABELLED))
        .with_columns(
            (
                ~pl.col("tag").str.starts_with("I-")
                | (
                    pl.col("previous_tag").str.contains("^[BI]-")
                    & (pl.col("previous_tag").str.slice(2) == pl.col("tag").str.slice(2))
                )
            )
            .fill_null(False)
            .alias("bio_valid"),
            (
                ((pl.col("label") == "O") & (pl.col("tag") == "O"))
                | (pl.col("tag") == pl.format("B-{}", "label"))
                | (pl.col("tag") == pl.format("I-{}", "label"))
            )
            .fill_null(False)
            .alias("tag_matches_label"),
            (~(pl.col("supervised") & (pl.col("label") != "O")) | pl.col("_backed").fill_null(False))
            .fill_null(False)
            .alias("supervision_valid"),
            (
                (pl.col("split") != "val")
                | pl.col("supervised")
                | unknown
                | (rules.starts_after_unknown(by_entity_id=False) & ignore)
            )
            .fill_null(False)
            .alias("val_unmasked"),
            (pl.lit(not recorded) | (pl.col("label_state") == pl.col("expected_label_state")))
            .fill_null(False)
            .alias("label_state_valid"),
            (~unknown | ~pl.col("supervised") | pl.lit(inputs.spec.unvalidated == "o"))
            .fill_null(False)
            .alias("unknown_unsupervised"),
        )
        .select(
            "_row",
            "previous_tag",
            "bio_valid",
            "tag_matches_label",
            "supervision_valid",
            "val_unmasked",
            "label_state_valid",
            "unknown_unsupervised",
            "expected_label_state",
        )
    )
    return words.join(derived, on="_row", how="left").sort("_row").drop("_row")


def receipt_splits_frame(inputs: ContractInputs) -> pl.DataFrame:
    """One row per receipt with the splits its words and its receipt row put it in."""
    both = pl.concat(
        [inputs.words.select(*RECEIPT_KEYS, "split"), inputs.receipts.select(*RECEIPT_KEYS, "split")],
        how="vertical_relaxed",
    )
    return (
        both.group_by("receipt_key", maintain_order=True)
        .agg(
            pl.col("image_id").first(),
            pl.col("receipt_id").first(),
            pl.col("split").n_unique().alias("n_splits"),
            pl.col("split").unique().sort().cast(pl.Utf8).str.join(",").alias("splits"),
        )
        .sort("receipt_key")
    )


AWAITING_REVIEW = ("NEEDS_REVIEW", "PENDING", "NONE")
"""Statuses of a proposal nobody has judged yet: an unknown word proposed as X under one of
them may be an X. (An INVALID X says the word is not an X: it counts in the manifest's
`unknown_words_by_label`, not in the share below.)"""


def label_support_frame(inputs: ContractInputs) -> pl.DataFrame:
    """One row per label of the manifest: entities (B- tags) and entity words per split, and
    the unknown words proposed as the label and awaiting review, with their share of the
    label's words (unknown / (unknown + supervised entity words); null when both are 0)."""
    supervised = inputs.words.filter(pl.col("supervised") & (pl.col("label") != "O"))
    counts = supervised.group_by("label").agg(
        *(
            ((pl.col("split") == s) & pl.col("tag").str.starts_with("B-")).sum().alias(f"{s}_entities")
            for s in ("train", "val")
        ),
        *((pl.col("split") == s).sum().alias(f"{s}_entity_words") for s in ("train", "val")),
    )
    aliased, _ = rules.alias_labels(inputs.labels, inputs.vocabulary)
    words = _int_keys(rules.with_label_state(inputs.words))
    proposed = rules.unknown_word_labels(_int_keys(aliased), words, inputs.spec.merge_map).filter(
        pl.col("validation_status").is_in(list(AWAITING_REVIEW))
    )
    unknown = (
        proposed.unique([*rules.WORD_KEY, "label"])
        .group_by("label")
        .agg(*((pl.col("split") == s).sum().alias(f"{s}_unknown_words") for s in ("train", "val")))
    )
    labels = pl.DataFrame({"label": list(inputs.label_list)}, schema={"label": pl.Utf8})
    support = (
        labels.join(counts, on="label", how="left")
        .join(unknown, on="label", how="left")
        .with_columns(pl.exclude("label").fill_null(0).cast(pl.Int64))
    )
    share = lambda s: pl.col(f"{s}_unknown_words") / (pl.col(f"{s}_unknown_words") + pl.col(f"{s}_entity_words"))  # noqa: E731
    return support.with_columns(
        *(
            pl.when(pl.col(f"{s}_unknown_words") + pl.col(f"{s}_entity_words") > 0)
            .then(share(s))
            .otherwise(None)
            .cast(pl.Float64)
            .alias(f"{s}_unknown_share")
            for s in ("train", "val")
        )
    )


def summary_frame(inputs: ContractInputs) -> pl.DataFrame:
    """One row of facts about the whole snapshot."""
    receipts = inputs.receipts.height
    split_receipts = {s: inputs.receipts.filter(pl.col("split") == s).height for s in ("train", "val")}
    entity_words = {
        s: inputs.words.filter((pl.col("split") == s) & pl.col("supervised") & (pl.col("label") != "O")).height
        for s in ("train", "val")
    }
    ratio = rules.o_entity_ratio(inputs.words.filter(pl.col("split") == "train"))
    target = inputs.spec.o_entity_ratio
    row = {
        "receipts": receipts,
        "train_receipts": split_receipts["train"],
        "val_receipts": split_receipts["val"],
        "val_share": split_receipts["val"] / receipts if receipts else None,
        "train_entity_words": entity_words["train"],
        "val_entity_words": entity_words["val"],
        "train_o_entity_ratio": ratio,
        "target_o_entity_ratio": target,
        "train_ratio_to_target": ratio / target if ratio is not None and target else None,
    }
    schema = {
        c: pl.Float64
        if c in ("val_share", "train_o_entity_ratio", "target_o_entity_ratio", "train_ratio_to_target")
        else pl.Int64
        for c in SUMMARY_COLUMNS
    }
    return pl.DataFrame([row], schema=schema)


def data_quality_frame(inputs: ContractInputs) -> pl.DataFrame:
    """One row per item the build noticed (refused label items, empty-text words, clipped
    boxes), as the manifest names them."""
    items = inputs.quality.items if inputs.quality is not None else []
    return pl.DataFrame([i.model_dump() for i in items], schema={c: pl.Utf8 for c in FRAME_COLUMNS["data_quality"]})


def contract_frames(inputs: ContractInputs) -> dict[str, pl.DataFrame]:
    """Every frame but `drift`, which needs the parent (see `drift.drift_frame`)."""
    return {
        "data_quality": data_quality_frame(inputs),
        "labels": inputs.labels,
        "words": words_frame(inputs),
        "receipts": inputs.receipts,
        "receipt_splits": receipt_splits_frame(inputs),
        "label_support": label_support_frame(inputs),
        "summary": summary_frame(inputs),
    }


# --- corpora ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusInputs:
    """What the corpus contracts read: its two frames and the receipt keys it must not hold."""

    words: pl.DataFrame
    receipts: pl.DataFrame
    excluded_keys: frozenset[str] = frozenset()


def corpus_words_frame(inputs: CorpusInputs) -> pl.DataFrame:
    """words.parquet of a corpus, plus: `expected_position` (the reading order the snapshot
    rule gives these boxes and lines, `rules.reading_order`), `position_in_range` (0 <=
    position < the receipt's word count), `reading_order_valid` (position == expected_position)
    and `receipt_known` (the word's receipt is in receipts.parquet)."""
    words = inputs.words.with_row_index("_row")
    expected = rules.reading_order(
        words.select("_row", "receipt_key", "line_id", "word_id", "x0", "y0", "x1", "y1")
    ).select("_row", pl.col("position").alias("expected_position"))
    known = inputs.receipts["receipt_key"].implode()
    return (
        words.join(expected, on="_row", how="left")
        .with_columns(
            (pl.col("position").is_between(0, pl.len().over("receipt_key") - 1))
            .fill_null(False)
            .alias("position_in_range"),
            (pl.col("position") == pl.col("expected_position")).fill_null(False).alias("reading_order_valid"),
            pl.col("receipt_key").is_in(known).fill_null(False).alias("receipt_known"),
        )
        .sort("_row")
        .drop("_row")
    )


def corpus_receipts_frame(inputs: CorpusInputs) -> pl.DataFrame:
    """receipts.parquet of a corpus, plus `words_found` (its rows in words.parquet),
    `n_words_valid` (n_words says so) and `val_excluded` (not a receipt the corpus was built to
    leave out: a val receipt of the snapshot it was built for)."""
    found = inputs.words.group_by("receipt_key").agg(pl.len().cast(pl.Int64).alias("words_found"))
    return (
        inputs.receipts.join(found, on="receipt_key", how="left")
        .with_columns(pl.col("words_found").fill_null(0))
        .with_columns(
            (pl.col("n_words").cast(pl.Int64) == pl.col("words_found")).fill_null(False).alias("n_words_valid"),
            (~pl.col("receipt_key").is_in(sorted(inputs.excluded_keys))).fill_null(False).alias("val_excluded"),
        )
    )


def corpus_contract_frames(inputs: CorpusInputs) -> dict[str, pl.DataFrame]:
    return {"corpus_words": corpus_words_frame(inputs), "corpus_receipts": corpus_receipts_frame(inputs)}

"""From what was read to what is published: the labelling rules applied in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from . import rules
from .config import BuildConfig, ConfigError
from .errors import DatasetBuilderError

WORD_COLUMNS = [
    "receipt_key",
    "image_id",
    "receipt_id",
    "line_id",
    "word_id",
    "position",
    "text",
    "x0",
    "y0",
    "x1",
    "y1",
    "source_label",
    "label",
    "tag",
    "supervised",
    "label_state",
    "split",
]
RECEIPT_COLUMNS = [
    "receipt_key",
    "image_id",
    "receipt_id",
    "width",
    "height",
    "merchant",
    "merchant_source",
    "split",
    "n_words",
    "n_entity_words",
]
LABEL_COLUMNS = [
    "receipt_key",
    "image_id",
    "receipt_id",
    "line_id",
    "word_id",
    "label",
    "validation_status",
    "timestamp_added",
]


@dataclass(frozen=True)
class RawRead:
    """What one read of the table returned (see `sources.dynamo`)."""

    receipts: pl.DataFrame
    words: pl.DataFrame
    labels: pl.DataFrame
    started_at: str = ""
    finished_at: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    refused_labels: pl.DataFrame | None = None
    """Label items whose key could not be parsed (pk, sk, reason): never used, always reported."""


@dataclass(frozen=True)
class Dataset:
    words: pl.DataFrame
    receipts: pl.DataFrame
    labels: pl.DataFrame
    label_list: list[str]
    summary: dict[str, Any]


class EmptyDataset(DatasetBuilderError, ValueError):
    pass


def _by_label_and_status(rows: pl.DataFrame) -> dict[str, dict[str, int]]:
    """{label: {status: n}} from (label, validation_status, n) rows."""
    out: dict[str, dict[str, int]] = {}
    for label, status, n in rows.sort(["label", "validation_status"]).iter_rows():
        out.setdefault(label, {})[status] = n
    return out


def _counts(
    words: pl.DataFrame, receipts: pl.DataFrame, labels: pl.DataFrame, unknown_labels: pl.DataFrame
) -> dict[str, Any]:
    per_split: dict[str, Any] = {}
    for split in ("train", "val"):
        w = words.filter(pl.col("split") == split)
        sup = w.filter(pl.col("supervised"))
        entity_words = sup.filter(pl.col("label") != "O").group_by("label").len().sort("label")
        entities = w.filter(pl.col("tag").str.starts_with("B-")).group_by("label").len().sort("label")
        states = dict(w.group_by("label_state").len().iter_rows())
        unknown = unknown_labels.filter(pl.col("split") == split).group_by("label", "validation_status").len()
        per_split[split] = {
            "receipts": receipts.filter(pl.col("split") == split).height,
            "words": w.height,
            "supervised_words": sup.height,
            "entity_words": dict(zip(entity_words["label"], entity_words["len"], strict=True)),
            "entities": dict(zip(entities["label"], entities["len"], strict=True)),
            **{f"{state}_words": states.get(state, 0) for state in rules.LABEL_STATES},
            "unknown_words_by_label": _by_label_and_status(unknown),
        }
    statuses = _by_label_and_status(labels.group_by(["label", "validation_status"]).len())
    return {"splits": per_split, "labels_by_status": statuses, "label_items": labels.height}


QUALITY_EXAMPLES = 50
"""Items of each data-quality kind named in the manifest (and so in the contract report)."""


def _word_key(row: dict[str, Any]) -> str:
    return f"{row['receipt_key']}#LINE#{row['line_id']:05d}#WORD#{row['word_id']:05d}"


def data_quality(words: pl.DataFrame, refused: pl.DataFrame | None) -> dict[str, Any]:
    """Counts (and the first few keys) of what the table holds that a model cannot learn from
    as it is: label items refused (unparseable keys), words with empty text (those labelled as
    entities are trained as entities all the same), boxes off the page (clipped to it)."""
    empty = words.filter(pl.col("text").fill_null("").str.strip_chars() == "")
    clipped = words.filter(pl.col("_off_page"))
    items = [
        {"kind": "refused_label_item", "key": f"{pk}/{sk}", "detail": why}
        for pk, sk, why in (refused.head(QUALITY_EXAMPLES).iter_rows() if refused is not None else ())
    ]
    items += [
        {"kind": "empty_text_word", "key": _word_key(r), "detail": f"label {r['label']}"}
        for r in empty.head(QUALITY_EXAMPLES).iter_rows(named=True)
    ]
    items += [
        {
            "kind": "clipped_box",
            "key": _word_key(r),
            "detail": f"box {r['x0']},{r['y0']},{r['x1']},{r['y1']} after clipping",
        }
        for r in clipped.head(QUALITY_EXAMPLES).iter_rows(named=True)
    ]
    return {
        "refused_label_items": refused.height if refused is not None else 0,
        "empty_text_words": empty.height,
        "empty_text_entity_words": empty.filter(pl.col("label") != "O").height,
        "clipped_boxes": clipped.height,
        "zero_size_boxes": clipped.filter((pl.col("x0") == pl.col("x1")) | (pl.col("y0") == pl.col("y1"))).height,
        "items": items,
    }


def merchant_counts(receipts: pl.DataFrame) -> dict[str, int]:
    sources = dict(receipts.group_by("merchant_source").len().iter_rows())
    distinct = receipts.filter(pl.col("merchant").is_not_null()).select(rules.merchant_key())["merchant"].n_unique()
    return {**{s: int(sources.get(s, 0)) for s in rules.MERCHANT_SOURCES}, "distinct": distinct}


def build_dataset(raw: RawRead, config: BuildConfig) -> Dataset:
    """Apply every rule, in order: select receipts, alias, status filter and merge, allowed
    list, label state, boxes, reading order, BIO tags, split, supervision (`unvalidated`),
    O:entity ratio."""
    labels = rules.with_receipt_key(raw.labels)
    selected = labels.filter(pl.col("validation_status").is_in(list(config.statuses)))["receipt_key"].unique()
    if selected.len() == 0:
        raise EmptyDataset(f"no receipt has a label with status {', '.join(config.statuses)}: nothing to build")
    labels = labels.filter(pl.col("receipt_key").is_in(selected.implode()))
    receipts = rules.with_receipt_key(raw.receipts).filter(pl.col("receipt_key").is_in(selected.implode()))
    words = rules.with_receipt_key(raw.words).filter(pl.col("receipt_key").is_in(selected.implode()))

    aliased, dropped_labels = rules.alias_labels(labels, config.vocabulary)
    receipts = rules.resolve_merchants(receipts, words, aliased)
    problem = rules.merchant_option_problem(
        receipts, split_by=config.split_by, holdout_merchants=config.holdout_merchants
    )
    if problem:
        raise ConfigError(problem)
    word_labels, conflicts = rules.resolve_word_labels(aliased, config.statuses, config.merge_map)
    word_labels = rules.apply_allowed(word_labels, config.allowed_labels)
    words = (
        words.join(word_labels, on=rules.WORD_KEY, how="left")
        .join(rules.label_states(labels, config.statuses), on=rules.WORD_KEY, how="left")
        .with_columns(
            pl.col("label").fill_null("O"),
            pl.col("label_state").fill_null(rules.UNLABELLED),
            rules.off_page().alias("_off_page"),
        )
    )
    words = rules.bio_tags(rules.reading_order(rules.layout_boxes(words)), skip_unknown=config.unvalidated == "ignore")
    quality = data_quality(words, raw.refused_labels)

    receipts, missing_val_keys = rules.assign_splits(
        receipts,
        val_fraction=config.val_fraction,
        seed=config.seed,
        split_by=config.split_by,
        val_keys=config.val_keys,
        holdout_merchants=config.holdout_merchants,
    )
    words = words.join(receipts.select("receipt_key", "split"), on="receipt_key").with_columns(
        rules.initial_supervision(config.unvalidated).alias("supervised")
    )
    by_split = lambda frame, s: frame.filter(pl.col("split") == s)  # noqa: E731
    unknown = lambda frame, s: by_split(frame, s).filter(pl.col("label_state") == rules.UNKNOWN).height  # noqa: E731
    ratio_before = {s: rules.o_entity_ratio(by_split(words, s)) for s in ("train", "val")}
    unknown_before = {s: unknown(words, s) for s in ("train", "val")}
    words = rules.control_o_entity_ratio(
        words, target=config.o_entity_ratio, mechanism=config.ratio_mechanism, seed=config.seed
    )
    ratio_after = {s: rules.o_entity_ratio(by_split(words, s)) for s in ("train", "val")}
    unknown_after = {s: unknown(words, s) for s in ("train", "val")}

    words = words.select(WORD_COLUMNS).sort(["split", "receipt_key", "position"])
    per_receipt = words.group_by("receipt_key").agg(
        pl.len().alias("n_words"), (pl.col("label") != "O").sum().alias("n_entity_words")
    )
    receipts = (
        receipts.join(per_receipt, on="receipt_key", how="left")
        .with_columns(
            pl.col("n_words").fill_null(0).cast(pl.Int32), pl.col("n_entity_words").fill_null(0).cast(pl.Int32)
        )
        .select(RECEIPT_COLUMNS)
        .sort(["split", "receipt_key"])
    )
    present = set(words.filter(pl.col("supervised") & (pl.col("label") != "O"))["label"].unique())
    label_list = sorted(config.allowed_labels) if config.allowed_labels is not None else sorted(present)
    unknown_labels = rules.unknown_word_labels(aliased, words, config.merge_map)
    labels = labels.select(LABEL_COLUMNS).sort(["receipt_key", "line_id", "word_id", "label"])
    summary = {
        "counts": _counts(words, receipts, labels, unknown_labels),
        "o_entity_ratio": {
            "target": config.o_entity_ratio,
            "mechanism": config.ratio_mechanism,
            "before": ratio_before,
            "after": ratio_after,
            "unknown_before": unknown_before,
            "unknown_after": unknown_after,
        },
        "multi_label_conflicts": conflicts,
        "dropped_label_names": dropped_labels,
        "missing_val_keys": missing_val_keys,
        "merchants": merchant_counts(receipts),
        "data_quality": quality,
    }
    return Dataset(words, receipts, labels, label_list, summary)

"""A corpus's receipts -> windows of sub-tokens, exactly as `trainer.model.features` cuts a snapshot's.

The corpus words (`dataset_builder.corpus`: words, boxes, reading order as a snapshot has
them) go through the very functions fit uses (`data.examples_from_frame`,
`data.build_features`: same checks, same `[CLS]`/`[SEP]` boxes, same windows of
`max_seq_length` sub-tokens overlapping by up to `doc_stride`), with no label: every word is
unsupervised, and the `labels` key is dropped (masking makes the targets). Each window gets
`window_index`, its index in the list, which seeds its masks (`masking`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from trainer.model.features import Feature, ReceiptExample, build_features, examples_from_frame
from trainer.training.feature_cache import feature_cache_key_parts, load_or_build_features

CORPUS_TAGS = ("O",)
"""The one tag corpus words carry on their way through `examples_from_frame` (never a target)."""


def corpus_examples(words: pl.DataFrame) -> list[ReceiptExample]:
    """One example per receipt of a corpus's words frame (`Corpus.words`), in reading order,
    checked as a snapshot's are (boxes in 0..1000 and not inverted, positions unique)."""
    frame = words.with_columns(
        pl.lit("O").alias("tag"), pl.lit(False).alias("supervised"), pl.lit("corpus").alias("split")
    )
    return examples_from_frame(frame, CORPUS_TAGS)


def corpus_windows(
    examples: Sequence[ReceiptExample],
    tokenizer: Any,
    max_seq_length: int,
    doc_stride: int,
    *,
    cache_dir: str | Path | None = None,
    corpus_sha256: str | None = None,
) -> list[Feature]:
    """The windows pretraining reads: `input_ids`, `attention_mask`, `token_type_ids`, `bbox`
    (per sub-token), `word_ids` (word index in its receipt, -1 for [CLS]/[SEP]),
    `example_index` (its receipt in `examples`) and `window_index`. With `cache_dir` and the
    corpus's content hash, built windows are kept on disk (`trainer.training.feature_cache`, keyed by
    the corpus, the tokenizer and the window sizes)."""

    def build() -> list[Feature]:
        return build_features(examples, tokenizer, max_seq_length, doc_stride)

    if cache_dir is not None and corpus_sha256 is not None:
        key = {
            **feature_cache_key_parts(corpus_sha256, tokenizer, max_seq_length, doc_stride, CORPUS_TAGS),
            "kind": "corpus",
        }
        features = load_or_build_features(cache_dir, key, build).features
    else:
        features = build()
    return [
        {**{k: v for k, v in feature.items() if k != "labels"}, "window_index": index}
        for index, feature in enumerate(features)
    ]


def _draw(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hold_out(
    windows: Sequence[Feature], examples: Sequence[ReceiptExample], fraction: float, seed: int = 0
) -> tuple[list[Feature], list[Feature]]:
    """(train, held out) windows, split by receipt: a receipt's windows all go one way, chosen
    by a hash of the seed and its key (so adding receipts to a corpus moves none), as
    `dataset_builder.rules.assign_splits` splits snapshots. The held-out windows measure the
    masked-LM loss on receipts pretraining never read."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {fraction}")
    held = {index for index, example in enumerate(examples) if _draw(seed, example.receipt_key) < fraction}
    return ([w for w in windows if w["example_index"] not in held], [w for w in windows if w["example_index"] in held])

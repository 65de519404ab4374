"""Snapshot words -> per-receipt examples -> overlapping windows of sub-tokens -> padded batches.

The predecessor truncated receipts at 512 sub-tokens; here every word lands in at least one
window, and each window token remembers its word (`word_ids`) so that evaluate.py can merge
predictions of overlapping windows back to exactly one score per word.

Batch order lives in `sampler.py`; the on-disk cache of built features in `feature_cache.py`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import torch

from dataset_builder.rules import UNKNOWN
from trainer.config import MAX_BOX_COORDINATE
from trainer.errors import DataError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of tokens that carry no training target
SPECIAL_WORD_ID = -1  # word_ids entry of [CLS] and [SEP]
CLS_BOX = [0, 0, 0, 0]
SEP_BOX = [MAX_BOX_COORDINATE] * 4
PAD_BOX = [0, 0, 0, 0]

WORD_COLUMNS = (
    "receipt_key",
    "position",
    "text",
    "x0",
    "y0",
    "x1",
    "y1",
    "tag",
    "supervised",
    "split",
)
_TOKENIZE_CHUNK = 256  # receipts per tokenizer call

Feature = dict[str, Any]


@dataclass(frozen=True)
class ReceiptExample:
    """One receipt in reading order; the unit that windows are cut from and metrics are merged to."""

    receipt_key: str
    words: list[str]
    boxes: list[list[int]]  # [x0, y0, x1, y1], 0..1000, top-left origin
    tag_ids: list[int]  # index into the snapshot's tag list
    supervised: list[bool]
    scored: list[bool] | None = None  # per word: counted by evaluate.word_metrics; None: every word


def examples_from_frame(words: pl.DataFrame, tags: Sequence[str], split: str | None = None) -> list[ReceiptExample]:
    """Group the snapshot's words frame into receipts ordered by `position`.

    `scored` is False only for an unknown word the build left out of training
    (`label_state` unknown and not supervised: `--unvalidated ignore`); under `--unvalidated o`
    unknown words are trained and scored as O (validation words are never masked). Snapshots
    without `label_state` (built before it) have no unknown words.

    Fails loudly on what would otherwise corrupt training: unknown tags, boxes outside
    0..1000 or inverted, duplicate positions within a receipt.
    """
    missing = [column for column in WORD_COLUMNS if column not in words.columns]
    if missing:
        raise DataError(f"words frame lacks columns {missing}")
    frame = words if split is None else words.filter(pl.col("split") == split)

    unknown = sorted(set(frame["tag"].unique().to_list()) - set(tags))
    if unknown:
        raise DataError(f"tags {unknown} are not in the label list {list(tags)}")
    bad_boxes = frame.filter(
        (pl.min_horizontal("x0", "y0", "x1", "y1") < 0)
        | (pl.max_horizontal("x0", "y0", "x1", "y1") > MAX_BOX_COORDINATE)
        | (pl.col("x0") > pl.col("x1"))
        | (pl.col("y0") > pl.col("y1"))
    )
    if bad_boxes.height:
        first = bad_boxes.row(0, named=True)
        raise DataError(
            f"{bad_boxes.height} word boxes are outside 0..{MAX_BOX_COORDINATE} or inverted, "
            f"e.g. {first['receipt_key']} position {first['position']}"
        )
    duplicates = frame.group_by("receipt_key", "position").len().filter(pl.col("len") > 1)
    if duplicates.height:
        raise DataError(f"duplicate positions in receipts {duplicates['receipt_key'].head(5).to_list()}")

    tag_index = {tag: index for index, tag in enumerate(tags)}
    unscored = (
        (pl.col("label_state") == UNKNOWN) & ~pl.col("supervised") if "label_state" in frame.columns else pl.lit(False)
    )
    grouped = (
        frame.with_columns((~unscored).alias("_scored"))
        .sort("receipt_key", "position")
        .group_by("receipt_key", maintain_order=True)
        .agg(
            pl.col("text").fill_null(""),
            pl.concat_list("x0", "y0", "x1", "y1").alias("box"),
            pl.col("tag"),
            pl.col("supervised"),
            pl.col("_scored"),
        )
    )
    return [
        ReceiptExample(
            receipt_key=row["receipt_key"],
            words=row["text"],
            boxes=row["box"],
            tag_ids=[tag_index[tag] for tag in row["tag"]],
            supervised=row["supervised"],
            scored=row["_scored"],
        )
        for row in grouped.iter_rows(named=True)
    ]


def supervised_tag_counts(words: pl.DataFrame, split: str = "train") -> dict[str, int]:
    """How often each tag is a training target in `split` (input to class weights)."""
    counts = words.filter((pl.col("split") == split) & pl.col("supervised")).group_by("tag").len()
    return dict(zip(counts["tag"].to_list(), counts["len"].to_list(), strict=True))


def plan_windows(word_lengths: Sequence[int], max_tokens: int, stride: int) -> list[tuple[int, int]]:
    """Cut words into [start, end) windows of at most `max_tokens` sub-tokens.

    Each next window starts with the last words of the previous one, at most `stride`
    sub-tokens of them (fewer when the next new word is long), always moves forward, and
    always takes at least one new word: no word is skipped and the loop ends.
    """
    if any(length < 1 or length > max_tokens for length in word_lengths):
        raise ValueError(f"every word needs 1..{max_tokens} sub-tokens before windowing")
    count = len(word_lengths)
    windows: list[tuple[int, int]] = []
    start = 0
    while start < count:
        end, total = start, 0
        while end < count and total + word_lengths[end] <= max_tokens:
            total += word_lengths[end]
            end += 1
        windows.append((start, end))
        if end == count:
            break
        budget = min(stride, max_tokens - word_lengths[end])
        next_start, overlap = end, 0
        while next_start - 1 > start and overlap + word_lengths[next_start - 1] <= budget:
            next_start -= 1
            overlap += word_lengths[next_start]
        start = next_start
    return windows


def word_piece_ids(tokenizer: Any, examples: Sequence[ReceiptExample], max_tokens: int) -> list[list[list[int]]]:
    """Sub-token ids of every word: a word that yields none (empty OCR text) becomes [UNK],
    a word longer than a window keeps its first `max_tokens` sub-tokens."""
    unk = _required_token_id(tokenizer, "unk")
    result: list[list[list[int]]] = []
    truncated = 0
    for first in range(0, len(examples), _TOKENIZE_CHUNK):
        chunk = examples[first : first + _TOKENIZE_CHUNK]
        encoded = tokenizer(
            [example.words for example in chunk],
            is_split_into_words=True,
            add_special_tokens=False,
            truncation=False,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        for row, example in enumerate(chunk):
            pieces: list[list[int]] = [[] for _ in example.words]
            for token_id, word in zip(encoded["input_ids"][row], encoded.word_ids(row), strict=True):
                if word is not None:
                    pieces[word].append(token_id)
            for index, ids in enumerate(pieces):
                if not ids:
                    pieces[index] = [unk]
                elif len(ids) > max_tokens:
                    pieces[index] = ids[:max_tokens]
                    truncated += 1
            result.append(pieces)
    if truncated:
        log.warning(
            "%d words longer than %d sub-tokens were cut to their first %d",
            truncated,
            max_tokens,
            max_tokens,
        )
    return result


def build_features(
    examples: Sequence[ReceiptExample], tokenizer: Any, max_seq_length: int, doc_stride: int
) -> list[Feature]:
    """Tokenize receipts into model-ready windows.

    Labels sit on each supervised word's first sub-token only (the rest and unsupervised
    words get -100); boxes repeat per sub-token; [CLS] has box 0s and [SEP] box 1000s.
    Every feature keeps `example_index` and `word_ids` (-1 for [CLS]/[SEP]) for merging.
    """
    max_tokens = max_seq_length - 2
    cls_id = _required_token_id(tokenizer, "cls")
    sep_id = _required_token_id(tokenizer, "sep")
    features: list[Feature] = []
    for example_index, (example, pieces) in enumerate(
        zip(examples, word_piece_ids(tokenizer, examples, max_tokens), strict=True)
    ):
        lengths = [len(ids) for ids in pieces]
        for start, end in plan_windows(lengths, max_tokens, doc_stride):
            input_ids, bbox, labels, word_ids = (
                [cls_id],
                [CLS_BOX],
                [IGNORE_INDEX],
                [SPECIAL_WORD_ID],
            )
            for word in range(start, end):
                ids = pieces[word]
                target = example.tag_ids[word] if example.supervised[word] else IGNORE_INDEX
                input_ids += ids
                bbox += [list(example.boxes[word])] * len(ids)
                labels += [target] + [IGNORE_INDEX] * (len(ids) - 1)
                word_ids += [word] * len(ids)
            input_ids.append(sep_id)
            bbox.append(SEP_BOX)
            labels.append(IGNORE_INDEX)
            word_ids.append(SPECIAL_WORD_ID)
            features.append(
                {
                    "input_ids": input_ids,
                    "attention_mask": [1] * len(input_ids),
                    "token_type_ids": [0] * len(input_ids),
                    "bbox": bbox,
                    "labels": labels,
                    "example_index": example_index,
                    "word_ids": word_ids,
                }
            )
    return features


def _required_token_id(tokenizer: Any, name: str) -> int:
    token_id = getattr(tokenizer, f"{name}_token_id", None)
    if token_id is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no {name} token")
    return int(token_id)


@dataclass(frozen=True)
class FeatureCollator:
    """Pads a batch to its longest window (rounded up to `pad_to_multiple_of`, capped at
    `max_length`). Keys other than the model inputs (example_index, word_ids) are dropped:
    Trainer's `remove_unused_columns` strips them anyway, and merging reads them from the
    feature list, not from batches."""

    pad_token_id: int
    pad_to_multiple_of: int | None = 8
    max_length: int | None = None

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(feature["input_ids"]) for feature in features)
        length = longest
        if self.pad_to_multiple_of:
            length = math.ceil(longest / self.pad_to_multiple_of) * self.pad_to_multiple_of
        if self.max_length is not None:
            length = max(longest, min(length, self.max_length))
        padding = {
            "input_ids": self.pad_token_id,
            "attention_mask": 0,
            "token_type_ids": 0,
            "bbox": PAD_BOX,
            "labels": IGNORE_INDEX,
        }
        batch: dict[str, torch.Tensor] = {}
        for key, pad in padding.items():
            if key not in features[0]:
                continue
            rows = [list(feature[key]) + [pad] * (length - len(feature[key])) for feature in features]
            batch[key] = torch.tensor(rows, dtype=torch.long)
        return batch

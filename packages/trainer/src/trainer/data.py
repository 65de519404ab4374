"""Snapshot words -> per-receipt examples -> overlapping windows of sub-tokens -> padded batches.

The predecessor truncated receipts at 512 sub-tokens; here every word lands in at least one
window, and each window token remembers its word (`word_ids`) so that evaluate.py can merge
predictions of overlapping windows back to exactly one score per word.

Length grouping (`LengthBucketSampler`, used by loss.WeightedLossTrainer) replaces Hugging
Face's `LengthGroupedSampler`: both batch windows of similar length, but HF's sorts small
megabatches exactly and yields their batches longest first, which measured more padding
and lower F1 than random batches on CORD (bench/RESULTS.md). Ours sorts larger buckets by jittered
length and shuffles the batches themselves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import torch

from trainer.config import MAX_BOX_COORDINATE

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of tokens that carry no training target
SPECIAL_WORD_ID = -1  # word_ids entry of [CLS] and [SEP]
CLS_BOX = [0, 0, 0, 0]
SEP_BOX = [MAX_BOX_COORDINATE] * 4
PAD_BOX = [0, 0, 0, 0]
# Bump when the layout of a feature changes, so old caches stop matching.
FEATURE_FORMAT_VERSION = 1

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


def examples_from_frame(
    words: pl.DataFrame, tags: Sequence[str], split: str | None = None
) -> list[ReceiptExample]:
    """Group the snapshot's words frame into receipts ordered by `position`.

    Fails loudly on what would otherwise corrupt training: unknown tags, boxes outside
    0..1000 or inverted, duplicate positions within a receipt.
    """
    missing = [column for column in WORD_COLUMNS if column not in words.columns]
    if missing:
        raise ValueError(f"words frame lacks columns {missing}")
    frame = words if split is None else words.filter(pl.col("split") == split)

    unknown = sorted(set(frame["tag"].unique().to_list()) - set(tags))
    if unknown:
        raise ValueError(f"tags {unknown} are not in the label list {list(tags)}")
    bad_boxes = frame.filter(
        (pl.min_horizontal("x0", "y0", "x1", "y1") < 0)
        | (pl.max_horizontal("x0", "y0", "x1", "y1") > MAX_BOX_COORDINATE)
        | (pl.col("x0") > pl.col("x1"))
        | (pl.col("y0") > pl.col("y1"))
    )
    if bad_boxes.height:
        first = bad_boxes.row(0, named=True)
        raise ValueError(
            f"{bad_boxes.height} word boxes are outside 0..{MAX_BOX_COORDINATE} or inverted, "
            f"e.g. {first['receipt_key']} position {first['position']}"
        )
    duplicates = frame.group_by("receipt_key", "position").len().filter(pl.col("len") > 1)
    if duplicates.height:
        raise ValueError(
            f"duplicate positions in receipts {duplicates['receipt_key'].head(5).to_list()}"
        )

    tag_index = {tag: index for index, tag in enumerate(tags)}
    grouped = (
        frame.sort("receipt_key", "position")
        .group_by("receipt_key", maintain_order=True)
        .agg(
            pl.col("text").fill_null(""),
            pl.concat_list("x0", "y0", "x1", "y1").alias("box"),
            pl.col("tag"),
            pl.col("supervised"),
        )
    )
    return [
        ReceiptExample(
            receipt_key=row["receipt_key"],
            words=row["text"],
            boxes=row["box"],
            tag_ids=[tag_index[tag] for tag in row["tag"]],
            supervised=row["supervised"],
        )
        for row in grouped.iter_rows(named=True)
    ]


def supervised_tag_counts(words: pl.DataFrame, split: str = "train") -> dict[str, int]:
    """How often each tag is a training target in `split` (input to class weights)."""
    counts = words.filter((pl.col("split") == split) & pl.col("supervised")).group_by("tag").len()
    return dict(zip(counts["tag"].to_list(), counts["len"].to_list(), strict=True))


def plan_windows(
    word_lengths: Sequence[int], max_tokens: int, stride: int
) -> list[tuple[int, int]]:
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


def word_piece_ids(
    tokenizer: Any, examples: Sequence[ReceiptExample], max_tokens: int
) -> list[list[list[int]]]:
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
            for token_id, word in zip(
                encoded["input_ids"][row], encoded.word_ids(row), strict=True
            ):
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
            rows = [
                list(feature[key]) + [pad] * (length - len(feature[key])) for feature in features
            ]
            batch[key] = torch.tensor(rows, dtype=torch.long)
        return batch


class LengthBucketSampler(torch.utils.data.Sampler[int]):
    """Indices such that every `batch_size` consecutive ones form a batch of similar lengths,
    with the batches in random order.

    Each epoch: shuffle all windows, cut them into buckets of `bucket_batches` batches, sort
    each bucket by length times a random factor in [1 - jitter, 1 + jitter], cut it into
    batches, shuffle the batches.

    - Sorting cuts padding; the jitter lets windows of rather different lengths share a batch.
      On CORD (tiny model, 3 seeds) an exact sort scored ~0.006 strict F1 below random batches
      and a length factor of 1 +- 0.6 scored level with them, keeping most of the speed-up;
      these gaps are about one seed's spread (bench/RESULTS.md), so the default leans towards
      random batches' F1 and `jitter=0` is the fast choice.
    - Shuffling the batches keeps consecutive steps from seeing a run of long (or short)
      receipts, as HF's LengthGroupedSampler does by yielding each megabatch longest first.
    - Only the last batch can be short, and it stays last so the DataLoader's slicing lines
      up with the batches.

    Randomness comes from torch's global generator (seeded by the Trainer, saved and restored
    with checkpoints) unless a generator is given.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, bucket_batches: int = 64, jitter: float = 0.0,
                 generator: torch.Generator | None = None) -> None:
        if batch_size < 1 or bucket_batches < 1:
            raise ValueError("batch_size and bucket_batches must be >= 1")
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter must be in [0, 1)")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.bucket_batches = bucket_batches
        self.jitter = jitter
        self.generator = generator

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self) -> list[list[int]]:
        """One epoch's batches, in the order they are trained on."""
        count = len(self.lengths)
        order = torch.randperm(count, generator=self.generator).tolist()
        factors = (1.0 + self.jitter * (2.0 * torch.rand(count, generator=self.generator) - 1.0)).tolist()
        keys = [length * factor for length, factor in zip(self.lengths, factors, strict=True)]
        bucket_size = self.batch_size * self.bucket_batches
        batches: list[list[int]] = []
        for start in range(0, count, bucket_size):
            bucket = sorted(order[start:start + bucket_size], key=keys.__getitem__)
            batches += [bucket[i:i + self.batch_size] for i in range(0, len(bucket), self.batch_size)]
        short = [batches.pop()] if batches and len(batches[-1]) < self.batch_size else []
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        return shuffled + short

    def __iter__(self):
        return iter([index for batch in self.batches() for index in batch])


# ---- feature cache -------------------------------------------------------------------------


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the full fast-tokenizer definition (vocab, normalizer, pre-tokenizer, specials)."""
    return hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8")).hexdigest()


def feature_cache_key_parts(
    snapshot_sha256: str, tokenizer: Any, max_seq_length: int, doc_stride: int, tags: Sequence[str]
) -> dict[str, Any]:
    """Everything the features depend on; the cache key is a hash of this."""
    return {
        "snapshot_sha256": snapshot_sha256,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "max_seq_length": max_seq_length,
        "doc_stride": doc_stride,
        "tags": list(tags),
    }


@dataclass(frozen=True)
class CachedFeatures:
    features: list[Feature]
    path: Path
    hit: bool


_CACHE_SCHEMA = {
    "input_ids": pl.List(pl.Int32),
    "attention_mask": pl.List(pl.Int8),
    "token_type_ids": pl.List(pl.Int8),
    "bbox": pl.List(pl.List(pl.Int16)),
    "labels": pl.List(pl.Int32),
    "example_index": pl.Int32,
    "word_ids": pl.List(pl.Int32),
}
_CACHE_METADATA_KEY = "receipt_ml_feature_key"


def feature_cache_path(cache_dir: Path | str, key_parts: Mapping[str, Any]) -> Path:
    canonical = json.dumps(
        {"format_version": FEATURE_FORMAT_VERSION, **key_parts},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return Path(cache_dir) / f"features-{digest[:32]}.parquet"


def load_or_build_features(
    cache_dir: Path | str, key_parts: Mapping[str, Any], build_fn: Callable[[], list[Feature]]
) -> CachedFeatures:
    """Return cached features for `key_parts`, or build, store (atomically) and return them.

    The file is written under a temporary name and renamed, so a crash never leaves a
    half-written cache that a later run would trust.
    """
    path = feature_cache_path(cache_dir, key_parts)
    key_json = json.dumps(dict(key_parts), sort_keys=True)
    if path.exists():
        stored = pl.read_parquet_metadata(path).get(_CACHE_METADATA_KEY)
        if stored != key_json:
            raise ValueError(
                f"feature cache {path} was written for other inputs; delete it to rebuild"
            )
        frame = pl.read_parquet(path)
        return CachedFeatures(features=frame.to_dicts(), path=path, hit=True)

    features = build_fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(
        {column: [feature[column] for feature in features] for column in _CACHE_SCHEMA},
        schema=_CACHE_SCHEMA,
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        frame.write_parquet(temporary, metadata={_CACHE_METADATA_KEY: key_json})
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return CachedFeatures(features=features, path=path, hit=False)

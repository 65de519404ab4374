"""Packed training batches: several windows in one sequence, each attending only to itself.

Length-bucketed batches still pad (35-39% of the tokens at max_seq_length 512 with jitter 0.6,
bench/RESULTS.md), and a compute-bound model pays for every padded token. Packing puts the
windows of one batch end to end in rows of at most `max_seq_length` sub-tokens:

- every window keeps its own [CLS] ... [SEP], boxes, labels and token types, and gets its own
  position ids, 0, 1, 2, ... as if it were alone;
- the attention mask is block-diagonal, [rows, L, L]: a token sees the tokens of its own
  window only (padding sees padding only, so no softmax row is empty, which would be NaN in
  half precision);
- the loss (loss.weighted_token_cross_entropy) is a mean over the batch's labelled tokens,
  which packing does not change.

So, in exact arithmetic, a packed batch gives each window the logits, loss and gradients it
gets unpacked (tests/trainer/test_packing.py checks the logits to float tolerance, eager and
SDPA); only the tensor layout changes. Which windows share a batch is drawn at random each
epoch (the Trainer's random sampler), as with `batching="random"`; `plan_rows` only decides
how one batch's windows are laid into rows.

transformers 5.x's LayoutLMModel turns `attention_mask` into an additive mask with
`mask[:, None, None, :]`, which fits a 2-D padding mask only (4.x's `get_extended_attention_mask`
also took a 3-D one): a [B, L, L] mask becomes [B, 1, 1, L, L], which SDPA rejects and eager
attention broadcasts wrongly. `enable_block_attention` adds a forward pre-hook to the encoder
that squeezes it to [B, 1, L, L], the shape both attention implementations take. 2-D masks
(evaluation, the other batchings) pass through untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trainer.model.features import IGNORE_INDEX, PAD_BOX
from trainer.training.loss import WeightedLossTrainer

_PACKED_KEYS = ("input_ids", "token_type_ids", "bbox", "labels")


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices of `lengths` in rows whose lengths sum to at most `capacity`: longest first,
    each into the first row it fits. Within a row, indices keep their batch order."""
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        length = lengths[index]
        if length > capacity:
            raise ValueError(f"window {index} has {length} sub-tokens, more than the row length {capacity}")
        for row, free in enumerate(room):
            if length <= free:
                rows[row].append(index)
                room[row] -= length
                break
        else:
            rows.append([index])
            room.append(capacity - length)
    return [sorted(row) for row in rows]


def row_width(
    lengths: Sequence[int], rows: Sequence[Sequence[int]], max_length: int, pad_to_multiple_of: int | None
) -> int:
    """Sub-tokens per row of the batch tensor: the fullest row, rounded up to the multiple
    (never past `max_length`)."""
    fullest = max(sum(lengths[i] for i in row) for row in rows)
    rounded = math.ceil(fullest / pad_to_multiple_of) * pad_to_multiple_of if pad_to_multiple_of else fullest
    return min(rounded, max_length)


def plan_rows(lengths: Sequence[int], max_length: int, pad_to_multiple_of: int | None = 8) -> list[list[int]]:
    """How one batch's windows (their sub-token counts) are laid into rows: a list of rows,
    each the indices of the windows it holds.

    Every row length from the longest window (rounded up to `pad_to_multiple_of`) to
    `max_length` is tried with first-fit decreasing, and the packing with the fewest tokens
    in the batch tensor (rows x longest row, rounded up) is kept; ties go to shorter rows,
    which cost less attention. A fixed row length of `max_length` would leave the last row of
    each batch about half empty (87% real tokens on generated receipts at 512, batch 16, vs
    91-93% this way).
    """
    if not lengths:
        raise ValueError("no windows to pack")
    if max(lengths) > max_length:
        raise ValueError(f"a window of {max(lengths)} sub-tokens does not fit in rows of {max_length}")
    step = pad_to_multiple_of or 1
    first = row_width([max(lengths)], [[0]], max_length, pad_to_multiple_of)
    capacities = sorted({*range(first, max_length + 1, step), max_length})
    total = sum(lengths)
    best: tuple[int, int] | None = None
    best_rows: list[list[int]] = []
    for capacity in capacities:
        if best is not None and math.ceil(total / capacity) * capacity > best[0]:
            continue  # even perfectly full rows of this length cannot do better
        rows = first_fit_decreasing(lengths, capacity)
        width = row_width(lengths, rows, max_length, pad_to_multiple_of)
        cost = (len(rows) * width, width)
        if best is None or cost < best:
            best, best_rows = cost, rows
    return best_rows


@dataclass(frozen=True)
class PackingCollator:
    """Packs a batch of windows into rows of at most `max_length` sub-tokens (`plan_rows`).

    Returns input_ids, token_type_ids, bbox and labels packed alike, position_ids restarting
    at 0 in every window, and a block-diagonal bool attention_mask [rows, L, L]. Keys other
    than the model inputs (example_index, word_ids) are ignored, as FeatureCollator does; the
    model must have `enable_block_attention` applied (PackedWindowsTrainer does it)."""

    pad_token_id: int
    max_length: int
    pad_to_multiple_of: int | None = 8

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = [len(feature["input_ids"]) for feature in features]
        rows = plan_rows(lengths, self.max_length, self.pad_to_multiple_of)
        width = row_width(lengths, rows, self.max_length, self.pad_to_multiple_of)
        padding = {"input_ids": self.pad_token_id, "token_type_ids": 0, "bbox": PAD_BOX, "labels": IGNORE_INDEX}
        columns: dict[str, list[list[Any]]] = {key: [] for key in (*_PACKED_KEYS, "position_ids", "segments")}
        for row in rows:
            packed: dict[str, list[Any]] = {key: [] for key in columns}
            for segment, index in enumerate(row):
                feature, length = features[index], lengths[index]
                for key in _PACKED_KEYS:
                    packed[key] += list(feature[key]) if key in feature else [padding[key]] * length
                packed["position_ids"] += range(length)
                packed["segments"] += [segment] * length
            missing = width - len(packed["input_ids"])
            for key in _PACKED_KEYS:
                packed[key] += [padding[key]] * missing
            packed["position_ids"] += [0] * missing
            packed["segments"] += [-1] * missing
            for key, values in packed.items():
                columns[key].append(values)
        batch = {key: torch.tensor(columns[key], dtype=torch.long) for key in (*_PACKED_KEYS, "position_ids")}
        segments = torch.tensor(columns["segments"], dtype=torch.long)
        batch["attention_mask"] = segments[:, :, None] == segments[:, None, :]
        return batch


def _squeeze_block_mask(
    module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """Encoder pre-hook: the additive mask LayoutLMModel made of a [B, L, L] attention_mask is
    [B, 1, 1, L, L]; attention wants [B, 1, L, L]."""
    in_args = len(args) > 1
    mask = args[1] if in_args else kwargs.get("attention_mask")
    if mask is None or mask.dim() != 5:
        return None
    if mask.shape[1] != 1 or mask.shape[2] != 1:
        raise ValueError(f"unexpected attention mask shape {tuple(mask.shape)} for block attention")
    mask = mask.squeeze(2)
    if in_args:
        return (args[0], mask, *args[2:]), kwargs
    return args, {**kwargs, "attention_mask": mask}


def enable_block_attention(model: torch.nn.Module) -> torch.nn.Module:
    """Let `model` (a LayoutLM) take a 3-D [B, L, L] attention mask; idempotent. Returns it."""
    base = getattr(model, "base_model", model)
    encoder = getattr(base, "encoder", None)
    if encoder is None:
        raise ValueError(f"{type(model).__name__} has no encoder to give block attention to")
    if not getattr(encoder, "block_attention", False):
        encoder.register_forward_pre_hook(_squeeze_block_mask, with_kwargs=True)
        encoder.block_attention = True
    return model


class PackedWindowsTrainer(WeightedLossTrainer):
    """WeightedLossTrainer whose training batches go through `train_collator` (a
    PackingCollator), while evaluation keeps `data_collator`: one window per sequence, so
    prediction row f is still feature f (evaluate.make_compute_metrics)."""

    def __init__(self, *args: Any, train_collator: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.args.train_sampling_strategy == "group_by_length":
            raise ValueError("packed batches draw their windows at random; use train_sampling_strategy='random'")
        self.train_collator = train_collator
        assert self.model is not None, "the Trainer was given a model"
        enable_block_attention(self.model)

    def get_train_dataloader(self) -> Any:
        evaluation_collator, self.data_collator = self.data_collator, self.train_collator
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = evaluation_collator

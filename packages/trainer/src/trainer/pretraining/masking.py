"""Whole-word masking for the masked visual-language model (LayoutLM's pretraining task).

For each window, about `mlm_probability` (15%) of its word pieces are chosen, whole words at a
time (all the pieces of a word together), as BERT's whole-word masking does: words are drawn
in a random order and taken while they fit under round(15% of the window's pieces), at least
one piece. Each chosen word then, as in BERT, becomes [MASK] (80%), random tokens (10%) or
stays as it is (10%), decided per word so its pieces stay together. Every piece of a chosen
word is a target (`labels` = its original id); everything else, [CLS] and [SEP] included, is
-100. Boxes are kept: the model reads where the hidden word is, which is what lets layout
help. With `box_mask_probability` > 0, that share of the chosen words also lose their box:
every piece gets `masked_box`, a box no word has (1001 lies outside the 0..1000 grid but
inside LayoutLM's 1024-row 2-D embedding tables), so the model must infer the word from its
neighbours alone (off by default until measured: bench/bench_pretrain.py).

Masks are a pure function of (seed, epoch, window_index): the same run masks the same way,
a resumed one too, and each epoch draws new masks for the same window (dynamic masking).
Token and box draws use separate numbers, so a window's token masks are the same with box
masking on or off (an ablation changes one thing).

`WholeWordMaskingCollator` masks, then hands the windows to an existing collator:
`trainer.training.packing.PackingCollator` (packed rows, as fit trains) or `trainer.model.features.FeatureCollator`
(one padded window per row); both pad `labels` with -100 and boxes with [0, 0, 0, 0].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.errors import ConfigError
from trainer.model.features import IGNORE_INDEX
from trainer.pretraining.config import MaskingConfig


@dataclass(frozen=True)
class WholeWordMasker:
    """Masks one window at a time (`mask`); built for a tokenizer by `for_tokenizer`."""

    mask_token_id: int
    random_token_ids: tuple[int, ...]
    """Ids a "random token" is drawn from: the vocabulary without its special tokens."""
    config: MaskingConfig = field(default_factory=MaskingConfig)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, config: MaskingConfig | None = None) -> WholeWordMasker:
        if tokenizer.mask_token_id is None:
            raise ConfigError(
                f"tokenizer {type(tokenizer).__name__} has no [MASK] token: it cannot be pretrained with masking"
            )
        special = set(tokenizer.all_special_ids)
        ordinary = tuple(i for i in range(len(tokenizer)) if i not in special)
        if not ordinary:
            raise ConfigError("the tokenizer has no ordinary token to draw random replacements from")
        return cls(int(tokenizer.mask_token_id), ordinary, config or MaskingConfig())

    def mask(self, feature: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """A copy of `feature` (it needs `input_ids`, `bbox`, `word_ids`) with masked
        `input_ids`, `labels` and, for box-masked words, `bbox`."""
        config = self.config
        ids = np.asarray(feature["input_ids"], dtype=np.int64).copy()
        word_ids = np.asarray(feature["word_ids"], dtype=np.int64)
        labels = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)
        bbox = [list(box) for box in feature["bbox"]]
        positions = np.flatnonzero(word_ids >= 0)
        if positions.size == 0:
            return {**feature, "labels": labels.tolist()}
        _, starts, counts = np.unique(word_ids[positions], return_index=True, return_counts=True)
        target = max(1, math.floor(config.mlm_probability * positions.size + 0.5))
        chosen, covered = [], 0
        for word in rng.permutation(len(starts)):
            if covered >= target:
                break
            if covered + counts[word] > target:
                continue
            chosen.append(int(word))
            covered += int(counts[word])
        chosen.sort()
        token_draws, box_draws = rng.random(len(chosen)), rng.random(len(chosen))
        for word, token_draw, box_draw in zip(chosen, token_draws, box_draws, strict=True):
            span = positions[starts[word] : starts[word] + counts[word]]
            labels[span] = ids[span]
            if token_draw < config.mask_token_share:
                ids[span] = self.mask_token_id
            elif token_draw < config.mask_token_share + config.random_token_share:
                ids[span] = rng.choice(self.random_token_ids, size=span.size)
            if box_draw < config.box_mask_probability:
                for position in span:
                    bbox[position] = list(config.masked_box)
        return {**feature, "input_ids": ids.tolist(), "labels": labels.tolist(), "bbox": bbox}


def window_rng(seed: int, epoch: int, window_index: int) -> np.random.Generator:
    """The generator of one window's masks in one epoch."""
    return np.random.default_rng([seed, epoch, window_index])


@dataclass
class WholeWordMaskingCollator:
    """Masks each window (`WholeWordMasker`, seeded by seed, epoch and the window's
    `window_index`), then lays the batch out with `inner` (`PackingCollator` or
    `FeatureCollator`). `set_epoch` is called at every epoch start
    (`loop.MaskEpochCallback`); masks depend on nothing else, not on which windows share a
    batch, nor on how many batches were drawn before."""

    inner: Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]]
    masker: WholeWordMasker
    seed: int = 0
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def mask(self, features: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        masked = []
        for feature in features:
            if "window_index" not in feature:
                raise ValueError(
                    "a window to mask needs its `window_index` (pretraining.windows.corpus_windows adds it)"
                )
            masked.append(self.masker.mask(feature, window_rng(self.seed, self.epoch, int(feature["window_index"]))))
        return masked

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self.inner(self.mask(features))

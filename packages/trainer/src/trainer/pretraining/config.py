"""What pretraining is asked to do, as frozen, recordable dataclasses: the masking
(`MaskingConfig`) and the schedule, optimisation and batches (`PretrainConfig`).

Nothing here imports torch, so a `trainer pretrain` command line is checked (and a recorded
job read back) before anything heavy loads; `masking` and `loop` use these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from trainer.config import MAX_BOX_COORDINATE, MAX_SEED
from trainer.errors import ConfigError

MASKED_BOX: tuple[int, int, int, int] = (
    MAX_BOX_COORDINATE + 1,
    MAX_BOX_COORDINATE + 1,
    MAX_BOX_COORDINATE + 1,
    MAX_BOX_COORDINATE + 1,
)
"""The box of a word whose position is masked: outside the 0..1000 grid every real word and
[CLS]/[SEP]/padding use, inside the 2-D embedding tables (1024 rows in every LayoutLM here)."""


@dataclass(frozen=True)
class MaskingConfig:
    mlm_probability: float = 0.15
    """Share of a window's word pieces chosen as targets (whole words)."""
    mask_token_share: float = 0.8
    """Of the chosen words, those whose pieces become [MASK]."""
    random_token_share: float = 0.1
    """Of the chosen words, those whose pieces become random tokens (the rest stay unchanged)."""
    box_mask_probability: float = 0.0
    """Of the chosen words, those whose box becomes `masked_box` too (2-D position masking)."""
    masked_box: tuple[int, int, int, int] = MASKED_BOX

    def __post_init__(self) -> None:
        for name in ("mlm_probability", "mask_token_share", "random_token_share", "box_mask_probability"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ConfigError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if self.mask_token_share + self.random_token_share > 1.0:
            raise ConfigError("mask_token_share + random_token_share must be at most 1")
        if len(self.masked_box) != 4 or any(not isinstance(v, int) or v < 0 for v in self.masked_box):
            raise ConfigError(f"masked_box must be four non-negative integers, got {self.masked_box}")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["masked_box"] = list(self.masked_box)
        return values


PretrainBatching = Literal["packed", "random"]


@dataclass(frozen=True)
class PretrainConfig:
    """How to pretrain: schedule, optimisation, batches and masking; recordable (`to_dict`)."""

    max_steps: int | None = None
    """Optimiser steps; None: `epochs` passes over the windows."""
    epochs: float = 1.0
    batch_size: int = 16
    """Windows per device step (packed into rows of up to max_seq_length with "packed")."""
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    seed: int = 42
    """Seeds the weights the Trainer initialises, dropout, the batch order and the masks."""
    batching: PretrainBatching = "packed"
    """"packed": windows end to end in rows, block-diagonal attention (as fit's default);
    "random": one window per row, padded to the batch's longest."""
    pad_to_multiple_of: int | None = 8
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    logging_steps: float = 0.01
    """Every this many optimiser steps, or this share of them when below 1 (as fit: 1%)."""
    save_steps: float | None = 0.1
    """Checkpoint every this many steps (a share of them when below 1); None: no checkpoints."""
    save_total_limit: int | None = 2
    fp16: bool | None = None
    """None: decided from the hardware, as TrainConfig.precision decides (bf16, else fp16, on a GPU)."""
    bf16: bool | None = None
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.max_steps}")
        if not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"epochs must be > 0, got {self.epochs}")
        for name in ("batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError("warmup_ratio must be in [0, 1)")
        if self.batching not in ("packed", "random"):
            raise ConfigError(f"batching must be packed or random, got {self.batching!r}")
        if not self.logging_steps > 0 or (self.save_steps is not None and not self.save_steps > 0):
            raise ConfigError("logging_steps and save_steps must be > 0")
        if self.fp16 and self.bf16:
            raise ConfigError("choose fp16 or bf16, not both")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be within 0..{MAX_SEED} (numpy's range), got {self.seed}")

    def precision(self) -> str:
        import torch  # only where a run is set up: reading or recording a config needs no torch

        if self.bf16 or self.fp16:
            return "bf16" if self.bf16 else "fp16"
        if not torch.cuda.is_available():
            return "fp32"
        if self.bf16 is None and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp16" if self.fp16 is None else "fp32"

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["masking"] = self.masking.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PretrainConfig:
        """The config `to_dict` recorded (a resume rebuilds it from the job)."""
        values = dict(values)
        masking = dict(values.pop("masking", None) or {})
        if "masked_box" in masking:
            masking["masked_box"] = tuple(masking["masked_box"])
        return cls(masking=MaskingConfig(**masking), **values)

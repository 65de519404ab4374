"""What a training run was asked to do: model choice and hyperparameters, frozen and recordable.

Nothing here reads the environment or touches the disk, so a config can be built in a test,
recorded as the run's `job_config` with `to_dict()`, and compared between runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainer.errors import ConfigError

DEFAULT_MODEL = "microsoft/layoutlm-base-uncased"
TINY_MODEL = "tiny"
RUNTIMES = ("torch", "onnx", "onnx-int8")
"""What can run a model package: its weights in torch, its ONNX graph, or the int8 one."""

# LayoutLM box coordinates are 0..1000; its 2-D embedding tables must hold 0..1000 inclusive.
MAX_BOX_COORDINATE = 1000

Precision = Literal["fp32", "fp16", "bf16"]
Batching = Literal["packed", "length", "random"]
BATCHINGS: tuple[Batching, ...] = ("packed", "length", "random")
CHECKPOINT_METRICS = ("val_f1", "val_precision", "val_recall", "val_f1_lenient", "val_accuracy", "eval_loss")
"""What an evaluation records, so what can pick the best checkpoint (callbacks.SCALAR_METRICS)."""
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class TinySizes:
    """Sizes of the in-code LayoutLM used by `--model tiny` (tests, smoke runs, CPU-only machines)."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 128
    vocab_size: int = 2000  # upper bound: the tokenizer is built from the snapshot's train words
    max_2d_position_embeddings: int = 1024

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError("tiny hidden_size must be a multiple of num_attention_heads")
        if self.max_2d_position_embeddings <= MAX_BOX_COORDINATE:
            raise ConfigError(f"max_2d_position_embeddings must exceed {MAX_BOX_COORDINATE}")
        if self.vocab_size < 16:
            raise ConfigError("tiny vocab_size must be at least 16")


@dataclass(frozen=True)
class ModelConfig:
    """Which network and tokenizer to build, and how receipts are cut into windows.

    `model` is a Hugging Face hub id (cached, or downloaded unless HF_HUB_OFFLINE=1), a local directory
    written by `save_pretrained`, or "tiny". `warm_start_text_encoder` is a local BERT
    (uncased) directory whose encoder, 1-D embeddings and tokenizer seed a fresh LayoutLM;
    it replaces `model`, so it may only be combined with the default `model`.
    """

    model: str = DEFAULT_MODEL
    warm_start_text_encoder: str | None = None
    max_seq_length: int = 512  # sub-tokens per window, [CLS] and [SEP] included
    doc_stride: int = 128  # sub-tokens shared by consecutive windows of one receipt (at most)
    tiny: TinySizes = field(default_factory=TinySizes)

    def __post_init__(self) -> None:
        if self.max_seq_length < 3:
            raise ConfigError("max_seq_length must leave room for [CLS], one token and [SEP]")
        if not 0 <= self.doc_stride < self.max_seq_length - 2:
            raise ConfigError(
                f"doc_stride must be in [0, max_seq_length - 2) = [0, {self.max_seq_length - 2}), got {self.doc_stride}"
            )
        if self.warm_start_text_encoder is not None and self.model != DEFAULT_MODEL:
            raise ConfigError(
                "pass either a model or warm_start_text_encoder: the warm start decides the "
                f"architecture and tokenizer itself (got model={self.model!r})"
            )

    @property
    def source(self) -> Literal["tiny", "warm_start", "local", "hub"]:
        """Where the weights come from (an existing directory counts as local even without "./")."""
        if self.warm_start_text_encoder is not None:
            return "warm_start"
        if self.model == TINY_MODEL:
            return "tiny"
        if looks_like_path(self.model):
            return "local"
        return "hub"

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def looks_like_path(model: str) -> bool:
    """A model string that names a directory rather than a hub id ("org/name")."""
    return model.startswith(("/", "./", "../", "~")) or model in (".", "..") or Path(model).expanduser().is_dir()


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping hyperparameters; units are in the comments."""

    epochs: int = 20
    batch_size: int = 16  # windows per device step
    eval_batch_size: int | None = None  # None: same as batch_size
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1  # fraction of all optimiser steps spent warming up, in [0, 1)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    label_smoothing: float = 0.0  # epsilon, applied together with class weights (see loss.py)
    gradient_accumulation_steps: int = 1
    early_stopping_patience: int | None = 5  # evaluations without improvement; None: never stop
    checkpoint_metric: str = "val_f1"  # higher is better unless the name ends in "loss"
    class_weights: str = "none"  # "none", "auto" (inverse train frequency) or a JSON file path
    class_weight_clip: tuple[float, float] = (0.1, 10.0)
    seed: int = 42
    fp16: bool | None = None  # None: decided by `precision()` from the hardware
    bf16: bool | None = None
    num_workers: int = 0  # DataLoader worker processes
    eval_steps: int | None = None  # None: evaluate once per epoch
    # how training windows become batches: packed | length | random (trainer.training.batching, bench/RESULTS.md)
    batching: Batching = "packed"
    # batching "length" only: randomness of the grouping, in [0, 1): 0 sorts exactly (sampler.LengthBucketSampler)
    length_jitter: float = 0.6
    pad_to_multiple_of: int | None = 8  # tensor-core friendly padding; None: pad to longest
    output_dir: str = "runs"

    def __post_init__(self) -> None:
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        floats = {
            "learning_rate": self.learning_rate,
            "warmup_ratio": self.warmup_ratio,
            "weight_decay": self.weight_decay,
            "max_grad_norm": self.max_grad_norm,
            "label_smoothing": self.label_smoothing,
            "length_jitter": self.length_jitter,
        }
        for name, value in floats.items():
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be within 0..{MAX_SEED} (numpy's range), got {self.seed}")
        if self.checkpoint_metric not in CHECKPOINT_METRICS:
            raise ConfigError(
                f"checkpoint_metric must be one of {', '.join(CHECKPOINT_METRICS)}, got {self.checkpoint_metric!r}"
            )
        if self.max_grad_norm <= 0:
            raise ConfigError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ConfigError("eval_batch_size must be >= 1")
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate must be > 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError("warmup_ratio must be in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("label_smoothing must be in [0, 1)")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay must be >= 0")
        low, high = self.class_weight_clip
        if not 0 < low <= high:
            raise ConfigError("class_weight_clip must be (low, high) with 0 < low <= high")
        if not self.class_weights:
            raise ConfigError('class_weights must be "none", "auto" or a file path')
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ConfigError("early_stopping_patience must be >= 1 or None")
        if self.eval_steps is not None and self.eval_steps < 1:
            raise ConfigError("eval_steps must be >= 1 or None")
        if self.fp16 and self.bf16:
            raise ConfigError("choose fp16 or bf16, not both")
        if self.num_workers < 0:
            raise ConfigError("num_workers must be >= 0")
        if not 0.0 <= self.length_jitter < 1.0:
            raise ConfigError("length_jitter must be in [0, 1)")
        if self.batching not in BATCHINGS:
            raise ConfigError(f"batching must be one of {', '.join(BATCHINGS)}, got {self.batching!r}")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise ConfigError("pad_to_multiple_of must be >= 1 or None")

    @property
    def greater_is_better(self) -> bool:
        return not self.checkpoint_metric.endswith("loss")

    def precision(self, cuda_available: bool, bf16_supported: bool) -> Precision:
        """Resolve fp16/bf16: explicit choices win; None means bf16 if supported, else fp16, on GPU only."""
        if self.bf16:
            return "bf16"
        if self.fp16:
            return "fp16"
        if not cuda_available:
            return "fp32"
        if self.bf16 is None and bf16_supported:
            return "bf16"
        if self.fp16 is None:
            return "fp16"
        return "fp32"

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def upgrade_train_dict(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded `TrainConfig.to_dict()` in today's fields. Runs recorded before `batching`
    existed carry `group_by_length` (True: length-bucketed batches, False: random ones), which
    becomes `batching` "length" / "random", so they rebuild and resume as they ran."""
    train = dict(recorded)
    if "group_by_length" in train:
        grouped = train.pop("group_by_length")
        train.setdefault("batching", "length" if grouped else "random")
    return train


def _plain(value: Any) -> Any:
    """JSON- and DynamoDB-friendly copy: tuples become lists, paths become strings."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value

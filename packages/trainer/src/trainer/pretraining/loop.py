"""The pretraining loop: masked visual-language modelling on corpus windows, with the Hugging
Face Trainer as fit uses it.

Why the HF Trainer and not a short plain loop: everything the `trainer pretrain` job must do
the way fit does already works through it. Checkpoints and exact resume
(`resume_from_checkpoint`: optimizer, scheduler, RNG and the data order, skipping the batches
already trained), the callbacks fit's job machinery is made of (`SignalGuard`, `StoreHealth`,
the recording of each logging step, checkpoint marking), fp16/bf16, gradient accumulation and
torchrun/DDP all come with it; a plain loop would re-implement each and drift from fit. What
is ours: the loss (the MLM head on masked positions only, `model.LayoutLMForMaskedLM`), the
divergence check of `loss.WeightedLossTrainer` (a non-finite loss stops the run as
`TrainingDiverged`), the batches (`masking.WholeWordMaskingCollator` around fit's
`PackingCollator` or `FeatureCollator`), masks re-drawn each epoch (`MaskEpochCallback`), and
a throughput count (real tokens, not padding).

`pretrain()` returns the trained model; checkpoints go to `output_dir` (`save_steps`).
`masked_lm_score()` measures the masked-LM loss and accuracy on held-out windows with fixed masks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, TrainerCallback

from trainer.errors import ConfigError
from trainer.model.features import Feature, FeatureCollator
from trainer.pretraining.config import MaskingConfig, PretrainConfig
from trainer.pretraining.masking import WholeWordMasker, WholeWordMaskingCollator
from trainer.training.loss import WeightedLossTrainer
from trainer.training.packing import PackingCollator, enable_block_attention


@dataclass(frozen=True)
class PretrainLog:
    """One logging step, as the `on_log` callback gets it."""

    step: int
    epoch: float
    loss: float
    """Mean MLM loss over the optimiser steps since the previous logging step."""
    learning_rate: float
    grad_norm: float | None
    tokens_per_second: float
    """Real (not padding) tokens read per second since the previous logging step, all processes."""
    tokens_seen: int
    masked_tokens_seen: int
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PretrainOutcome:
    model: PreTrainedModel
    global_step: int
    epochs: float
    train_runtime_s: float
    tokens_seen: int
    """Real tokens read by this attempt (a resumed run counts from its resume)."""
    tokens_per_second: float
    history: list[PretrainLog]

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.global_step,
            "epochs": self.epochs,
            "train_runtime_s": self.train_runtime_s,
            "tokens_seen": self.tokens_seen,
            "tokens_per_second": self.tokens_per_second,
            "final_loss": self.history[-1].loss if self.history else None,
        }


class _Tokens:
    """Real and masked tokens seen by this process (tensors on the device: no sync per step)."""

    def __init__(self) -> None:
        self.real: torch.Tensor | int = 0
        self.masked: torch.Tensor | int = 0

    def add(self, inputs: dict[str, Any], pad_token_id: int) -> None:
        self.real = self.real + (inputs["input_ids"] != pad_token_id).sum()
        self.masked = self.masked + (inputs["labels"] != -100).sum()

    def read(self) -> tuple[int, int]:
        return int(self.real), int(self.masked)


class MaskedLMTrainer(WeightedLossTrainer):
    """The Trainer of `pretrain`: the loss is the model's own masked-LM loss (the head on
    masked positions only), averaged per micro-batch (divided by the accumulation steps, as
    fit's loss is); training steps keep the divergence check of WeightedLossTrainer."""

    def __init__(self, *args: Any, tokens: _Tokens, pad_token_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens, self.pad_token_id = tokens, pad_token_id

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        if model.training:
            self.tokens.add(inputs, self.pad_token_id)
        outputs = model(**inputs)
        return (outputs.loss, outputs) if return_outputs else outputs.loss


class MaskEpochCallback(TrainerCallback):
    """Tells the collator which epoch starts, so each epoch masks each window anew and a resumed
    run masks as the uninterrupted one would: the epoch is global_step // optimiser steps per
    epoch, the Trainer's own arithmetic for where a resume starts."""

    def __init__(self, collator: WholeWordMaskingCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        batches = len(train_dataloader) if train_dataloader is not None else 1
        accumulation = args.gradient_accumulation_steps
        per_epoch = max(batches // accumulation + int(batches % accumulation > 0), 1)
        self.collator.set_epoch(state.global_step // per_epoch)


class LogCallback(TrainerCallback):
    """Each logging step as a `PretrainLog`, to `on_log` and the outcome's history."""

    def __init__(self, tokens: _Tokens, on_log: Callable[[PretrainLog], None] | None, world_size: int):
        self.tokens, self.sink, self.world_size = tokens, on_log, world_size
        self.history: list[PretrainLog] = []
        self._start = self._last = time.perf_counter()
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = self._last = time.perf_counter()
        self._last_tokens = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        now = time.perf_counter()
        real, masked = self.tokens.read()
        rate = (real - self._last_tokens) * self.world_size / max(now - self._last, 1e-9)
        self._last, self._last_tokens = now, real
        grad = logs.get("grad_norm")
        entry = PretrainLog(
            step=state.global_step,
            epoch=round(float(state.epoch or 0.0), 4),
            loss=float(logs["loss"]),
            learning_rate=float(logs.get("learning_rate", 0.0)),
            grad_norm=None if grad is None else float(grad),
            tokens_per_second=rate,
            tokens_seen=real * self.world_size,
            masked_tokens_seen=masked * self.world_size,
            elapsed_s=now - self._start,
        )
        self.history.append(entry)
        if self.sink is not None:
            self.sink(entry)


def make_collator(
    tokenizer: Any, config: PretrainConfig, max_seq_length: int, max_positions: int
) -> WholeWordMaskingCollator:
    """Masking around fit's collators: packed rows of up to `max_seq_length` sub-tokens, or
    one padded window per row."""
    pad = tokenizer.pad_token_id
    inner = (
        PackingCollator(pad, max_length=max_seq_length, pad_to_multiple_of=config.pad_to_multiple_of)
        if config.batching == "packed"
        else FeatureCollator(pad, pad_to_multiple_of=config.pad_to_multiple_of, max_length=max_positions)
    )
    return WholeWordMaskingCollator(inner, WholeWordMasker.for_tokenizer(tokenizer, config.masking), seed=config.seed)


def _check(model: PreTrainedModel, windows: Sequence[Feature], config: PretrainConfig, max_seq_length: int) -> None:
    if not windows:
        raise ConfigError("no windows to pretrain on: the corpus is empty")
    longest = max(len(w["input_ids"]) for w in windows)
    if longest > max_seq_length:
        raise ConfigError(f"a window has {longest} sub-tokens, more than max_seq_length {max_seq_length}")
    if (
        config.masking.box_mask_probability > 0
        and max(config.masking.masked_box) >= model.config.max_2d_position_embeddings
    ):
        raise ConfigError(
            f"masked_box {config.masking.masked_box} does not fit the model's "
            f"{model.config.max_2d_position_embeddings} "
            "2-D position embeddings"
        )


def training_arguments(config: PretrainConfig, output_dir: Path) -> Any:
    from transformers import TrainingArguments

    precision = config.precision()
    saves: dict[str, Any] = (
        {"save_strategy": "steps", "save_steps": config.save_steps, "save_total_limit": config.save_total_limit}
        if config.save_steps is not None
        else {"save_strategy": "no"}
    )
    return TrainingArguments(
        output_dir=str(output_dir),
        max_steps=config.max_steps if config.max_steps is not None else -1,
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        eval_strategy="no",
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        **saves,
        seed=config.seed,
        data_seed=config.seed,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        dataloader_num_workers=config.num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="random",
        remove_unused_columns=False,  # the collator needs word_ids and window_index
        report_to="none",
        disable_tqdm=True,
    )


def pretrain(
    model: PreTrainedModel,
    tokenizer: Any,
    windows: Sequence[Feature],
    config: PretrainConfig,
    *,
    output_dir: str | Path,
    max_seq_length: int,
    on_log: Callable[[PretrainLog], None] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    resume_from_checkpoint: str | Path | None = None,
) -> PretrainOutcome:
    """Masked visual-language modelling of `model` (a `LayoutLMForMaskedLM`,
    `model.build_masked_lm`) on `windows` (`windows.corpus_windows`) for `config.max_steps`
    optimiser steps (or `config.epochs`). `on_log` gets every logging step; `callbacks` (HF
    TrainerCallbacks: a SignalGuard, recording...) run with the Trainer's own; checkpoints go to
    `output_dir/checkpoint-N`, and `resume_from_checkpoint` continues one. Returns the model
    (trained in place) with the run's figures."""
    from transformers import PreTrainedModel, PrinterCallback

    _check(model, windows, config, max_seq_length)
    output_dir = Path(output_dir)
    args = training_arguments(config, output_dir)
    collator = make_collator(tokenizer, config, max_seq_length, model.config.max_position_embeddings)
    if config.batching == "packed":
        enable_block_attention(model)
    tokens = _Tokens()
    logger = LogCallback(tokens, on_log, args.world_size)
    trainer = MaskedLMTrainer(
        model=model,
        args=args,
        train_dataset=list(windows),
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[MaskEpochCallback(collator), logger, *callbacks],
        tokens=tokens,
        pad_token_id=int(tokenizer.pad_token_id),
    )
    trainer.remove_callback(PrinterCallback)
    output = trainer.train(resume_from_checkpoint=str(resume_from_checkpoint) if resume_from_checkpoint else None)
    runtime = float(output.metrics.get("train_runtime") or 0.0)
    real, _ = tokens.read()
    seen = real * args.world_size
    assert isinstance(trainer.model, PreTrainedModel), "pretraining trains a transformers model"
    return PretrainOutcome(
        trainer.model,
        trainer.state.global_step,
        float(trainer.state.epoch or 0.0),
        runtime,
        seen,
        seen / runtime if runtime else 0.0,
        logger.history,
    )


@dataclass(frozen=True)
class MaskedLMScore:
    loss: float
    """Mean cross-entropy over the masked tokens (nats; exp(loss) is the perplexity)."""
    accuracy: float
    """Share of masked tokens whose original id is the model's top prediction."""
    masked_tokens: int
    windows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def masked_lm_score(
    model: PreTrainedModel,
    tokenizer: Any,
    windows: Sequence[Feature],
    masking: MaskingConfig | None = None,
    *,
    seed: int = 0,
    batch_size: int = 32,
) -> MaskedLMScore:
    """The masked-LM loss and accuracy of `model` on `windows` (held-out receipts), each masked
    once with fixed masks (`seed`, epoch 0): two models scored with the same seed are scored on
    the very same masked tokens. Dropout off; the model's mode is restored after."""
    collator = WholeWordMaskingCollator(
        FeatureCollator(tokenizer.pad_token_id, max_length=model.config.max_position_embeddings),
        WholeWordMasker.for_tokenizer(tokenizer, masking or MaskingConfig()),
        seed=seed,
    )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, correct, count = 0.0, 0, 0
    try:
        for start in range(0, len(windows), batch_size):
            batch = {k: v.to(device) for k, v in collator(windows[start : start + batch_size]).items()}
            labels = batch["labels"]
            outputs = model(**batch)
            targets = labels[labels != -100]
            logits = outputs.logits if outputs.logits.dim() == 2 else outputs.logits[labels != -100]
            total += float(torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum"))
            correct += int((logits.argmax(-1) == targets).sum())
            count += int(targets.numel())
    finally:
        model.train(was_training)
    return MaskedLMScore(
        total / count if count else float("nan"), correct / count if count else float("nan"), count, len(windows)
    )

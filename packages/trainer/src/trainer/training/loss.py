"""Class-weighted, label-smoothed token loss, and the Trainer that uses it.

The predecessor accepted `--label-smoothing` and never applied it. Here one function applies
both: `torch.nn.functional.cross_entropy(weight=w, label_smoothing=eps)` computes, over the
tokens i whose label is not -100, with C classes and p = softmax(logits),

    loss = sum_i [ (1 - eps) * w[y_i] * -log p_i[y_i] + eps / C * sum_c w[c] * -log p_i[c] ]
           / sum_i w[y_i]

(tests/trainer/test_loss.py checks this against a hand computation).

What the installed transformers 5.x Trainer does (read from transformers/trainer.py and
training_args.py, version 5.23):
- `Trainer.compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None)`.
  `Trainer(compute_loss_func=f)` also exists, called as `f(outputs, labels,
  num_items_in_batch=...)`, but the Trainer then assumes the loss is already normalised over
  the whole accumulated batch and does not divide it by gradient_accumulation_steps; a
  weighted mean is not a per-token sum, so the subclass below is used instead, with the
  class attribute `loss_is_scaled_for_ga = False` (new in 5.x) so the Trainer divides by the
  accumulation steps as for any per-batch mean. Evaluation calls the same `compute_loss`, so
  eval_loss and train_loss are the same quantity.
- `TrainingArguments`: `eval_strategy` (the 4.x `evaluation_strategy` is gone), `warmup_steps`
  takes an int or a float in [0, 1) meaning a ratio (`warmup_ratio` is gone),
  `train_sampling_strategy="group_by_length"` replaces `group_by_length=True`, `use_cpu`
  replaces `no_cuda`, `report_to` defaults to "none"; also gone: `overwrite_output_dir`,
  `logging_dir`, `save_safetensors`, `per_gpu_*`, `include_inputs_for_metrics`. `Trainer`
  takes `processing_class=` (no `tokenizer=`). Keep `label_smoothing_factor=0`: smoothing
  lives here.
- `remove_unused_columns=True` (default) keeps only the model's forward arguments; `bbox` is one
  for LayoutLM, so it survives, while `example_index` and `word_ids` are dropped before the
  collator (evaluate.py reads them from the feature list instead).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Trainer

from trainer.errors import ConfigError, TrainingDiverged
from trainer.training.sampler import LengthBucketSampler

IGNORE_INDEX = -100


def weighted_token_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean token loss over labels != -100; zero (still differentiable) when there are none.

    A window can hold only unsupervised words; PyTorch's mean would then be 0/0 = NaN and
    poison the weights.
    """
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_labels = labels.reshape(-1)
    if not bool((flat_labels != IGNORE_INDEX).any()):
        return flat_logits.sum() * 0.0
    weight = None if class_weights is None else class_weights.to(flat_logits.device, torch.float32)
    return F.cross_entropy(
        flat_logits.float(),
        flat_labels,
        weight=weight,
        ignore_index=IGNORE_INDEX,
        label_smoothing=label_smoothing,
    )


def class_weights_from_counts(
    tag_counts: Mapping[str, int], tags: Sequence[str], clip: tuple[float, float] = (0.1, 10.0)
) -> list[float]:
    """Inverse-frequency weight per tag (O included), scaled to mean 1 over the tags seen,
    then clipped to `clip`. A tag never seen in training gets 1.0: it has no targets, and a
    large weight would only pull smoothed probability towards it."""
    low, high = clip
    seen = [tag for tag in tags if tag_counts.get(tag, 0) > 0]
    if not seen:
        raise ValueError("no tag has a positive count")
    inverse = {tag: 1.0 / tag_counts[tag] for tag in seen}
    scale = len(seen) / sum(inverse.values())
    return [min(max(inverse[tag] * scale, low), high) if tag in inverse else 1.0 for tag in tags]


def resolve_class_weights(
    setting: str,
    tags: Sequence[str],
    tag_counts: Mapping[str, int],
    clip: tuple[float, float],
) -> list[float] | None:
    """TrainConfig.class_weights -> one weight per tag: "none" -> None, "auto" -> from the
    train counts, anything else -> a JSON file {tag: weight} that must name every tag."""
    if setting == "none":
        return None
    if setting == "auto":
        return class_weights_from_counts(tag_counts, tags, clip)
    path = Path(setting)
    if not path.is_file():
        raise FileNotFoundError(f'class weights file {path} not found (or use "auto" / "none")')
    given = json.loads(path.read_text())
    missing = [tag for tag in tags if tag not in given]
    if missing:
        raise ConfigError(f"class weights file {path} lacks tags {missing}")
    weights = [float(given[tag]) for tag in tags]
    if any(weight <= 0 for weight in weights):
        raise ConfigError(f"class weights in {path} must be positive")
    return weights


class WeightedLossTrainer(Trainer):
    """Hugging Face Trainer whose loss is `weighted_token_cross_entropy` (train and eval)."""

    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        length_jitter: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.args.label_smoothing_factor:
            raise ValueError(
                "set label smoothing through WeightedLossTrainer(label_smoothing=...), "
                "not TrainingArguments.label_smoothing_factor"
            )
        self.class_weights = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
        self.label_smoothing = label_smoothing
        self.length_jitter = length_jitter
        self.last_finite_loss: tuple[int, float] | None = None  # (optimiser step, loss)

    def training_step(
        self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        """One step, then a check: a non-finite loss stops the run as diverged (naming the
        step and the last finite values), instead of training on NaN weights until a record
        cannot be stored."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        value = float(loss.detach().float())
        step = self.state.global_step + 1
        if not math.isfinite(value):
            raise TrainingDiverged(step, value, self.last_finite_loss, self._get_learning_rate())
        self.last_finite_loss = (step, value)
        return loss

    def train_sampler(self) -> Any:
        """The sampler that orders the training windows (Hugging Face keeps its choice private:
        `_get_train_sampler`, which this class overrides)."""
        return self._get_train_sampler()

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """`group_by_length` uses sampler.LengthBucketSampler instead of HF's LengthGroupedSampler
        (jittered lengths, shuffled batches; see its docstring). Batches are grouped per
        optimiser step, as HF does: batch_size x gradient_accumulation_steps windows."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or dataset is None or not hasattr(dataset, "__len__"):
            return super()._get_train_sampler(train_dataset)

        return LengthBucketSampler(
            [len(feature["input_ids"]) for feature in dataset],
            self.args.train_batch_size * self.args.gradient_accumulation_steps,
            jitter=self.length_jitter,
        )

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        """Evaluate windows in dataset order: `compute_metrics` maps prediction row f to
        feature f. (transformers 5.x applies `group_by_length` to evaluation batches too,
        which silently pairs predictions with the wrong windows.) Distributed runs return None,
        and accelerate shards a sequential sampler, which keeps the order after gathering."""
        from torch.utils.data import SequentialSampler

        if eval_dataset is None or not hasattr(eval_dataset, "__len__"):
            return None
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = weighted_token_cross_entropy(outputs.logits, labels, self.class_weights, self.label_smoothing)
        return (loss, outputs) if return_outputs else loss

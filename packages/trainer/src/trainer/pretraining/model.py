"""The masked visual-language model to pretrain, built as fit builds its model (`trainer.model.build`),
never downloading unless transformers would:

- "tiny": the in-code LayoutLM (`ModelConfig.tiny` sizes) with a WordPiece vocabulary built
  from the corpus's words (`model.train_tiny_tokenizer`, as fit builds it from a snapshot's
  train words), MLM head fresh;
- "warm_start": a local BERT folder: encoder, 1-D embeddings and tokenizer copied exactly as
  `model.warm_start_from_bert` copies them for token classification (2-D embeddings fresh),
  and BERT's MLM head (`cls.predictions.*`) when the checkpoint has one (a BertForMaskedLM;
  MiniLM-L6, a sentence encoder, has none: the head starts fresh);
- "local" / "hub": a LayoutLM folder or hub id (our own pretrained output, a fine-tuned
  `best/`, `microsoft/layoutlm-base-uncased`): its encoder, and its MLM head when it has one.

Seed torch first (`transformers.set_seed`): fresh weights come from torch's RNG.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoTokenizer, BertForMaskedLM, PreTrainedTokenizerBase
from transformers import LayoutLMForMaskedLM as HFLayoutLMForMaskedLM
from transformers.modeling_outputs import MaskedLMOutput

from trainer.config import ModelConfig
from trainer.errors import ModelError, ModelNotCachedError
from trainer.model.build import (
    WarmStartReport,
    tiny_layoutlm_config,
    train_tiny_tokenizer,
    warm_start_from_bert,
)
from trainer.model.features import IGNORE_INDEX
from trainer.model.hub import hub_offline, not_cached_message, require_available

NO_LABELS = {0: "O"}
"""The label map written into a pretrained config; fine-tuning replaces it with the snapshot's tags."""
HEAD_KEY = "cls.predictions.transform.dense.weight"
"""A tensor only a checkpoint with an MLM head holds (the decoder is tied to the word embeddings)."""


class LayoutLMForMaskedLM(HFLayoutLMForMaskedLM):
    """transformers' LayoutLMForMaskedLM, whose loss runs the MLM head on the masked positions
    only: with `labels`, `logits` are [masked tokens, vocab] (in row-major order of the
    positions whose label is not -100), not [batch, length, vocab]. The full head over every
    token costs a [batch x length x vocab] tensor (1 GB at 16 x 512 x 30522 in fp32) and about
    a fifth of MiniLM's step time for the 85% of positions the loss ignores. Same weights, same
    class name in config.json: the saved folder is a plain LayoutLMForMaskedLM."""

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        bbox: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """`MaskedLMOutput`; with labels, the head runs on the masked positions only."""
        if labels is None:
            return super().forward(
                input_ids=input_ids,
                bbox=bbox,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                position_ids=position_ids,
                inputs_embeds=inputs_embeds,
                **kwargs,
            )
        hidden = self.layoutlm(
            input_ids,
            bbox,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )[0]
        chosen = labels != IGNORE_INDEX
        logits = self.cls(hidden[chosen])
        targets = labels[chosen]
        loss = F.cross_entropy(logits.float(), targets) if targets.numel() else hidden.sum() * 0.0
        return MaskedLMOutput(loss=loss, logits=logits)


Head = Literal["checkpoint", "fresh"]
"""Where the MLM head came from: the checkpoint's own, or fresh (random)."""


@dataclass
class BuiltMaskedLM:
    tokenizer: PreTrainedTokenizerBase
    model: LayoutLMForMaskedLM
    source: Literal["tiny", "warm_start", "local", "hub"]
    head: Head
    """Whether the MLM head came from the checkpoint or starts from scratch."""
    warm_start: WarmStartReport | None = None

    def describe(self, model_config: ModelConfig) -> dict[str, Any]:
        """What the pretraining started from (the lineage's `source`)."""
        return {
            "source": self.source,
            "model": model_config.model if self.source in ("local", "hub", "tiny") else None,
            "warm_start_text_encoder": model_config.warm_start_text_encoder,
            "mlm_head": self.head,
            "tiny": model_config.tiny.__dict__ if self.source == "tiny" else None,
            "warm_start": self.warm_start.to_dict() if self.warm_start else None,
        }


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """transformers lists every fresh or unused tensor when loading a checkpoint into another
    head; the build reports what it did itself (`head`, `WarmStartReport`)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def build_masked_lm(model_config: ModelConfig, corpus_words: Iterable[str] | None = None) -> BuiltMaskedLM:
    """Tokenizer and `LayoutLMForMaskedLM` for `model_config` (the same `ModelConfig` fit
    takes: `model` "tiny", a folder or a hub id, or `warm_start_text_encoder`; its
    `max_seq_length` must fit the model). `corpus_words` (the corpus's texts) is required for
    "tiny" only: its vocabulary is built from them."""
    source = model_config.source
    warm_start = None
    if source == "tiny":
        if corpus_words is None:
            raise ModelError('model "tiny" needs the corpus words to build its vocabulary')
        tokenizer = train_tiny_tokenizer(corpus_words, model_config.tiny.vocab_size)
        model = LayoutLMForMaskedLM(
            tiny_layoutlm_config(model_config.tiny, len(tokenizer), NO_LABELS, model_config.max_seq_length)
        )
        head: Head = "fresh"
    elif source == "warm_start":
        assert model_config.warm_start_text_encoder is not None
        model, tokenizer, warm_start, head = warm_start_masked_lm(model_config.warm_start_text_encoder)
    else:
        model, tokenizer, head = load_masked_lm(model_config.model, from_hub=source == "hub")
    if model_config.max_seq_length > model.config.max_position_embeddings:
        raise ModelError(
            f"max_seq_length {model_config.max_seq_length} exceeds the model's max_position_embeddings "
            f"{model.config.max_position_embeddings}"
        )
    if len(tokenizer) > model.config.vocab_size:
        raise ModelError(f"tokenizer has {len(tokenizer)} tokens, the model only {model.config.vocab_size}")
    tokenizer.model_max_length = model_config.max_seq_length
    return BuiltMaskedLM(tokenizer, model, source, head, warm_start)


def warm_start_masked_lm(
    bert_dir: str | Path,
) -> tuple[LayoutLMForMaskedLM, PreTrainedTokenizerBase, WarmStartReport, Head]:
    """`model.warm_start_from_bert` (encoder, 1-D embeddings, tokenizer; 2-D embeddings fresh)
    under an MLM head: BERT's own when its checkpoint has one, else fresh."""
    with _quiet_loading():
        classifier, tokenizer, report = warm_start_from_bert(bert_dir, NO_LABELS)
        model = LayoutLMForMaskedLM(classifier.config)
        model.layoutlm.load_state_dict(classifier.layoutlm.state_dict())
        loaded: Any = BertForMaskedLM.from_pretrained(
            Path(bert_dir).expanduser(), local_files_only=True, output_loading_info=True
        )
        bert, info = loaded  # with output_loading_info: (model, what was missing or unexpected)
    head: Head = "fresh"
    if HEAD_KEY not in set(info["missing_keys"]):
        theirs = {k: v for k, v in bert.cls.state_dict().items() if not k.startswith("predictions.decoder.weight")}
        model.cls.load_state_dict(theirs, strict=False)
        head = "checkpoint"
    return model, tokenizer, report, head


def load_masked_lm(name: str, *, from_hub: bool) -> tuple[LayoutLMForMaskedLM, PreTrainedTokenizerBase, Head]:
    """A LayoutLM folder or hub id as an MLM: its encoder and tokenizer, its MLM head when it
    has one (a pretrained folder; a token-classification one has none)."""
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
            hint = " (a BERT checkpoint? pass it as the warm start)" if config.model_type == "bert" else ""
            raise ModelError(f"model {name} is a {config.model_type!r} model, not LayoutLM{hint}")
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
        with _quiet_loading():
            loaded: Any = LayoutLMForMaskedLM.from_pretrained(
                name, local_files_only=local_only, output_loading_info=True
            )
            model, info = loaded  # (model, what was missing or unexpected)
    except OSError as error:
        if from_hub and hub_offline():
            raise ModelNotCachedError(not_cached_message(name)) from error
        raise
    return model, tokenizer, "fresh" if HEAD_KEY in set(info["missing_keys"]) else "checkpoint"

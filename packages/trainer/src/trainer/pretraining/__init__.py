"""Layout pretraining: a masked visual-language model (LayoutLM's own pretraining task) on a
corpus of every receipt in the table (`dataset_builder.corpus`), before fine-tuning.

The core the `trainer pretrain` job is built on, in the order it calls it:

    corpus   = dataset_builder.corpus.open_corpus(root, "c3")
    set_seed(config.seed)
    # tiny | warm start | LayoutLM folder/hub id
    built    = build_masked_lm(model_config, corpus.words["text"].to_list())
    examples = corpus_examples(corpus.words)
    windows  = corpus_windows(examples, built.tokenizer, model_config.max_seq_length, model_config.doc_stride,
                              cache_dir=..., corpus_sha256=corpus.content_sha256)
    train, held_out = hold_out(windows, examples, 0.05, seed)
    before   = masked_lm_score(built.model, built.tokenizer, held_out, config.masking)
    outcome  = pretrain(built.model, built.tokenizer, train, config, output_dir=run_dir, max_seq_length=...,
                        on_log=record_step, callbacks=[guard, ...], resume_from_checkpoint=...)
    after    = masked_lm_score(outcome.model, built.tokenizer, held_out, config.masking)
    save_pretrained_model(outcome.model, built.tokenizer, run_dir / "pretrained", PretrainLineage(...))

and `trainer fit --model run_dir/pretrained` fine-tunes it (`read_lineage` names its corpus).

The job around it, `trainer pretrain` (`job.run_pretrain`: a `PretrainRequest` recorded as a
job, under a lease, stopped cleanly by a signal, resumable from its checkpoint): docs/pretraining.md.
Names load on first use, so the command line reads `config` and `request` without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "trainer.pretraining.config": ("MASKED_BOX", "MaskingConfig", "PretrainConfig"),
    "trainer.pretraining.loop": (
        "MaskEpochCallback",
        "MaskedLMScore",
        "MaskedLMTrainer",
        "PretrainLog",
        "PretrainOutcome",
        "make_collator",
        "masked_lm_score",
        "pretrain",
    ),
    "trainer.pretraining.masking": ("WholeWordMasker", "WholeWordMaskingCollator", "window_rng"),
    "trainer.pretraining.model": ("BuiltMaskedLM", "LayoutLMForMaskedLM", "build_masked_lm"),
    "trainer.pretraining.output": (
        "PRETRAINING_FILE",
        "CorpusRef",
        "PretrainLineage",
        "corpus_ref",
        "read_lineage",
        "save_pretrained_model",
    ),
    "trainer.pretraining.windows": ("corpus_examples", "corpus_windows", "hold_out"),
    "trainer.pretraining.request": ("PretrainRequest", "PretrainResult", "request_for_resume"),
    "trainer.pretraining.job": ("run_pretrain",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [
    "BuiltMaskedLM",
    "CorpusRef",
    "LayoutLMForMaskedLM",
    "MASKED_BOX",
    "MaskEpochCallback",
    "MaskedLMScore",
    "MaskedLMTrainer",
    "MaskingConfig",
    "PRETRAINING_FILE",
    "PretrainConfig",
    "PretrainLineage",
    "PretrainLog",
    "PretrainOutcome",
    "PretrainRequest",
    "PretrainResult",
    "WholeWordMasker",
    "WholeWordMaskingCollator",
    "build_masked_lm",
    "corpus_examples",
    "corpus_ref",
    "corpus_windows",
    "hold_out",
    "make_collator",
    "masked_lm_score",
    "pretrain",
    "read_lineage",
    "request_for_resume",
    "run_pretrain",
    "save_pretrained_model",
    "window_rng",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'trainer.pretraining' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from trainer.pretraining.config import MASKED_BOX, MaskingConfig, PretrainConfig
    from trainer.pretraining.job import run_pretrain
    from trainer.pretraining.loop import (
        MaskedLMScore,
        MaskedLMTrainer,
        MaskEpochCallback,
        PretrainLog,
        PretrainOutcome,
        make_collator,
        masked_lm_score,
        pretrain,
    )
    from trainer.pretraining.masking import WholeWordMasker, WholeWordMaskingCollator, window_rng
    from trainer.pretraining.model import BuiltMaskedLM, LayoutLMForMaskedLM, build_masked_lm
    from trainer.pretraining.output import (
        PRETRAINING_FILE,
        CorpusRef,
        PretrainLineage,
        corpus_ref,
        read_lineage,
        save_pretrained_model,
    )
    from trainer.pretraining.request import PretrainRequest, PretrainResult, request_for_resume
    from trainer.pretraining.windows import corpus_examples, corpus_windows, hold_out

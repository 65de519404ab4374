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
"""

from trainer.pretraining.loop import (
    MaskedLMScore,
    MaskedLMTrainer,
    MaskEpochCallback,
    PretrainConfig,
    PretrainLog,
    PretrainOutcome,
    make_collator,
    masked_lm_score,
    pretrain,
)
from trainer.pretraining.masking import (
    MASKED_BOX,
    MaskingConfig,
    WholeWordMasker,
    WholeWordMaskingCollator,
    window_rng,
)
from trainer.pretraining.model import BuiltMaskedLM, LayoutLMForMaskedLM, build_masked_lm
from trainer.pretraining.output import (
    PRETRAINING_FILE,
    CorpusRef,
    PretrainLineage,
    corpus_ref,
    read_lineage,
    save_pretrained_model,
)
from trainer.pretraining.windows import corpus_examples, corpus_windows, hold_out

__all__ = [
    "MASKED_BOX",
    "PRETRAINING_FILE",
    "BuiltMaskedLM",
    "CorpusRef",
    "LayoutLMForMaskedLM",
    "MaskEpochCallback",
    "MaskedLMScore",
    "MaskedLMTrainer",
    "MaskingConfig",
    "PretrainConfig",
    "PretrainLineage",
    "PretrainLog",
    "PretrainOutcome",
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
    "save_pretrained_model",
    "window_rng",
]

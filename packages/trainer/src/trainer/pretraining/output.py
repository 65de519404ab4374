"""The pretrained model as a folder `trainer fit --model DIR` takes unchanged: a
LayoutLMForMaskedLM (`config.json`, `model.safetensors`) with its tokenizer, whose encoder
`LayoutLMForTokenClassification.from_pretrained(DIR)` loads under a fresh classifier, plus
`pretraining.json`: its lineage (`PretrainLineage`: the corpus id and hashes, the val split it
left out, what it started from, steps, tokens, masking), for the model package and for run
analysis to name what a fine-tune was pretrained on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trainer.errors import ModelError

PRETRAINING_FILE = "pretraining.json"
SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CorpusRef(_Model):
    id: str
    content_sha256: str
    manifest_sha256: str | None = None
    receipts: int | None = None
    words: int | None = None
    excluded_val_of: str | None = None
    """The snapshot whose val receipts the corpus left out (None: none were)."""
    excluded_val_split_hash: str | None = None
    """That val split's hash: a fine-tune on a snapshot with the same `split_hashes.val` was
    never scored on words the pretraining read."""


class PretrainLineage(_Model):
    """`pretraining.json`."""

    kind: Literal["pretraining"] = "pretraining"
    schema_version: Literal[1] = SCHEMA_VERSION
    corpus: CorpusRef
    source: dict[str, Any]
    """What the pretraining started from (`BuiltMaskedLM.describe`): source, model, warm start, MLM head."""
    steps: int
    epochs: float
    tokens_seen: int
    train_runtime_s: float
    tokens_per_second: float
    max_seq_length: int
    doc_stride: int
    windows: int
    config: dict[str, Any]
    """`PretrainConfig.to_dict()`: schedule, batches, masking."""
    held_out: dict[str, Any] | None = None
    """Masked-LM loss and accuracy on held-out receipts before and after (`masked_lm_score`)."""
    job_id: str | None = None
    """The pretraining job, once `trainer pretrain` records it."""
    created_at: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


def corpus_ref(corpus: Any) -> CorpusRef:
    """A `dataset_builder.corpus.Corpus` as the lineage names it."""
    excluded = corpus.excluded
    return CorpusRef(
        id=corpus.id,
        content_sha256=corpus.content_sha256,
        manifest_sha256=corpus.manifest_sha256,
        receipts=corpus.lock.counts.receipts,
        words=corpus.lock.counts.words,
        excluded_val_of=excluded.snapshot_id if excluded else None,
        excluded_val_split_hash=excluded.split_hash if excluded else None,
    )


def save_pretrained_model(model: Any, tokenizer: Any, folder: str | Path, lineage: PretrainLineage) -> Path:
    """Write the model (as a plain LayoutLMForMaskedLM), its tokenizer and `pretraining.json`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / PRETRAINING_FILE).write_text(lineage.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return folder


def read_lineage(folder: str | Path) -> PretrainLineage | None:
    """The lineage of a pretrained folder; None for a folder pretraining did not write."""
    path = Path(folder) / PRETRAINING_FILE
    if not path.is_file():
        return None
    try:
        return PretrainLineage.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ModelError(f"{path} is not a pretraining lineage file: {exc}") from exc

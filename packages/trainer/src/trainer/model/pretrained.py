"""What a pretrained model folder says about itself: `pretraining.json`, its lineage
(`PretrainLineage`: the corpus it read, what it started from, steps, tokens, masking, the
held-out masked-LM scores and the `trainer pretrain` job that wrote it).

`trainer pretrain` writes it (trainer.pretraining.output); `trainer fit --model DIR` reads it
(`read_lineage`) and records the short form (`PretrainingRef`) in its job config, its
run_config log and its model package, so run analysis can name, compare and explain what a
fine-tune was pretrained on without opening the folder again. Pure pydantic: no torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trainer.config import ModelConfig
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
    """The `trainer pretrain` job that wrote the folder (None: pretrained without a job, as the bench does)."""
    created_at: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def started_from(self) -> str | None:
        """The model the pretraining started from, as a fit records its model: the warm start
        folder, else the folder, hub id or `tiny`."""
        return self.source.get("warm_start_text_encoder") or self.source.get("model")

    def ref(self) -> PretrainingRef:
        """The short form a fine-tune records."""
        loss = ((self.held_out or {}).get("after") or {}).get("loss")
        return PretrainingRef(
            job_id=self.job_id,
            corpus_id=self.corpus.id,
            corpus_sha256=self.corpus.content_sha256,
            excluded_val_of=self.corpus.excluded_val_of,
            excluded_val_split_hash=self.corpus.excluded_val_split_hash,
            started_from=self.started_from,
            steps=self.steps,
            tokens_seen=self.tokens_seen,
            held_out_mlm_loss=loss if isinstance(loss, int | float) and math.isfinite(loss) else None,
        )


class PretrainingRef(_Model):
    """What a fine-tune records about the pretraining of the model it started from (its job
    config's `pretraining`, its run_config log, its model package)."""

    job_id: str | None
    """The `trainer pretrain` job (`trainer runs show JOB`)."""
    corpus_id: str
    corpus_sha256: str
    excluded_val_of: str | None = None
    excluded_val_split_hash: str | None = None
    """The val split the corpus left out: equal to the fine-tune's own val split hash, the
    fine-tune is never scored on words the pretraining read."""
    started_from: str | None = None
    steps: int
    tokens_seen: int | None = None
    held_out_mlm_loss: float | None = None
    """Masked-LM loss on the held-out corpus receipts at the end of the pretraining."""

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def read_lineage(folder: str | Path) -> PretrainLineage | None:
    """The lineage of a pretrained folder; None for a folder pretraining did not write."""
    path = Path(folder).expanduser() / PRETRAINING_FILE
    if not path.is_file():
        return None
    try:
        return PretrainLineage.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ModelError(f"{path} is not a pretraining lineage file: {exc}") from exc


def pretraining_of(model: ModelConfig) -> PretrainingRef | None:
    """The pretraining of the model a fine-tune starts from: a local folder `trainer pretrain`
    wrote (its `pretraining.json`), else None."""
    if model.source != "local":
        return None
    lineage = read_lineage(model.model)
    return lineage.ref() if lineage is not None else None

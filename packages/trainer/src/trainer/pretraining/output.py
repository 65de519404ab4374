"""The pretrained model as a folder `trainer fit --model DIR` takes unchanged: a
LayoutLMForMaskedLM (`config.json`, `model.safetensors`) with its tokenizer, whose encoder
`LayoutLMForTokenClassification.from_pretrained(DIR)` loads under a fresh classifier, plus
`pretraining.json`: its lineage (`PretrainLineage`: the corpus id and hashes, the val split it
left out, what it started from, steps, tokens, masking, the job), for the model package and for
run analysis to name what a fine-tune was pretrained on. The lineage types live in
`trainer.model.pretrained`, where `trainer fit` reads them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.model.pretrained import PRETRAINING_FILE, CorpusRef, PretrainLineage, read_lineage

__all__ = ["PRETRAINING_FILE", "CorpusRef", "PretrainLineage", "corpus_ref", "read_lineage", "save_pretrained_model"]


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

"""Layout pretraining end to end on DynamoDB Local: a table of labelled, unvalidated and
unlabelled generated receipts -> snapshot v1 -> corpus c1 built for v1 -> a tiny masked
visual-language model pretrained on it -> a folder `trainer fit --model DIR` fine-tunes."""

from __future__ import annotations

import dataclasses
import uuid

import polars as pl
import pytest
import torch
from transformers import LayoutLMForTokenClassification, set_seed

from dataset_builder.build import create_snapshot
from dataset_builder.config import BuildConfig
from dataset_builder.contracts import corpus_gate
from dataset_builder.corpus import corpus_backend, create_corpus, open_corpus, val_overlap
from dataset_builder.receipts import generate_receipts, write_bundles
from dataset_builder.snapshot import open_snapshot
from dataset_builder.storage import LocalBackend
from metrics_store import MemoryRecorder, StoreConfig, connect, create_table, delete_table
from trainer.config import ModelConfig, TrainConfig
from trainer.model.features import build_features, examples_from_frame
from trainer.pretraining import (
    PretrainConfig,
    PretrainLineage,
    build_masked_lm,
    corpus_examples,
    corpus_ref,
    corpus_windows,
    hold_out,
    masked_lm_score,
    pretrain,
    read_lineage,
    save_pretrained_model,
)
from trainer.training.fit import FitRequest, build_model_and_features, fit

from .conftest import CLEAN_MIX, USER_LABELS

pytestmark = pytest.mark.slow

TINY = ModelConfig(model="tiny", max_seq_length=128, doc_stride=32)


@pytest.fixture(scope="module")
def world(dynamodb_endpoint, tmp_path_factory):
    """60 receipts with VALID labels, 10 whose labels are all NEEDS_REVIEW, 20 with no label
    item; v1 (20% val) selects the 60; c1 is built for v1."""
    config = StoreConfig(table=f"e2e-pre-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    table = connect(config)
    create_table(table, stream=False)
    receipts = list(generate_receipts(17, 90, CLEAN_MIX))
    review = [
        dataclasses.replace(
            r, labels=tuple(dataclasses.replace(label, validation_status="NEEDS_REVIEW") for label in r.labels)
        )
        for r in receipts[60:70]
    ]
    write_bundles(table, [*receipts[:60], *review, *(dataclasses.replace(r, labels=()) for r in receipts[70:])])
    root = tmp_path_factory.mktemp("pretrain")
    create_snapshot(
        table=table,
        backend=LocalBackend(root),
        source={"table": table.name},
        record=False,
        config=BuildConfig(merge_preset="amounts", allowed_labels=USER_LABELS, val_fraction=0.2, seed=1),
    )
    snapshot = open_snapshot(root, "v1")
    create_corpus(
        table=table,
        backend=corpus_backend(root),
        source={"table": table.name},
        exclude=snapshot,
        check_contracts=corpus_gate(),
    )
    yield root, snapshot, open_corpus(root, "c1"), [r.key for r in receipts]
    delete_table(table)


def test_the_corpus_holds_unlabelled_receipts_and_not_the_val_split(world):
    _, snapshot, corpus, keys = world
    val = set(snapshot.receipts.filter(pl.col("split") == "val")["receipt_key"])
    assert len(snapshot.receipts) == 60 and val
    assert set(corpus.receipts["receipt_key"]) == set(keys) - val
    assert (
        corpus.lock.counts.receipts_without_labels == 20
        and corpus.lock.counts.receipts_with_unvalidated_labels_only == 10
    )
    assert corpus.contracts.status == "passed" and val_overlap(corpus, snapshot) == []


def test_corpus_windows_are_the_windows_fit_makes_of_the_same_receipts(world):
    _, snapshot, corpus, _ = world
    set_seed(0)
    tokenizer = build_masked_lm(TINY, corpus.words["text"].to_list()).tokenizer
    examples = corpus_examples(corpus.words)
    ours = corpus_windows(examples, tokenizer, 128, 32)
    train = examples_from_frame(snapshot.words, snapshot.tags, split="train")
    theirs = build_features(train, tokenizer, 128, 32)
    mine: dict[str, list] = {}
    fits: dict[str, list] = {}
    for windows, found, receipts in ((ours, mine, examples), (theirs, fits, train)):
        for w in windows:
            found.setdefault(receipts[w["example_index"]].receipt_key, []).append(
                (w["input_ids"], w["bbox"], w["word_ids"])
            )
    assert set(fits) <= set(mine) and len(fits) == snapshot.lock.counts.split("train").receipts
    assert all(mine[key] == fits[key] for key in fits)


def test_pretraining_lowers_the_loss_and_fit_fine_tunes_the_folder(world, tmp_path):
    root, snapshot, corpus, _ = world
    set_seed(5)
    built = build_masked_lm(TINY, corpus.words["text"].to_list())
    examples = corpus_examples(corpus.words)
    train, held = hold_out(corpus_windows(examples, built.tokenizer, 128, 32), examples, 0.15, seed=0)
    before = masked_lm_score(built.model, built.tokenizer, held)
    config = PretrainConfig(max_steps=60, batch_size=8, learning_rate=2e-3, seed=5, save_steps=30)
    outcome = pretrain(built.model, built.tokenizer, train, config, output_dir=tmp_path / "run", max_seq_length=128)
    after = masked_lm_score(outcome.model, built.tokenizer, held)
    assert after.loss < before.loss - 0.5 and after.accuracy > before.accuracy, (before, after)
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-30", "checkpoint-60"]

    lineage = PretrainLineage(
        corpus=corpus_ref(corpus),
        source=built.describe(TINY),
        steps=outcome.global_step,
        epochs=outcome.epochs,
        tokens_seen=outcome.tokens_seen,
        train_runtime_s=outcome.train_runtime_s,
        tokens_per_second=outcome.tokens_per_second,
        max_seq_length=128,
        doc_stride=32,
        windows=len(train),
        config=config.to_dict(),
        held_out={"before": before.to_dict(), "after": after.to_dict()},
    )
    folder = save_pretrained_model(outcome.model, built.tokenizer, tmp_path / "pretrained", lineage)
    read = read_lineage(folder)
    assert read.corpus.id == "c1" and read.corpus.content_sha256 == corpus.content_sha256 and read.steps == 60
    assert read.corpus.excluded_val_of == "v1" and read.corpus.excluded_val_split_hash == snapshot.split_hash("val")
    assert read_lineage(tmp_path) is None

    classifier = LayoutLMForTokenClassification.from_pretrained(folder, num_labels=len(snapshot.tags))
    assert torch.equal(
        classifier.layoutlm.encoder.layer[1].output.dense.weight,
        outcome.model.layoutlm.encoder.layer[1].output.dense.weight,
    )

    request = FitRequest(
        snapshot_root=str(root),
        model=ModelConfig(model=str(folder), max_seq_length=128, doc_stride=32),
        train=TrainConfig(
            epochs=3,
            batch_size=8,
            learning_rate=1e-3,
            seed=1,
            early_stopping_patience=None,
            output_dir=str(tmp_path / "runs"),
        ),
        job_name="fine-tune-pretrained",
    )
    fine, _ = build_model_and_features(request, snapshot)
    assert fine.source == "local" and len(fine.tokenizer) == len(built.tokenizer)
    assert torch.equal(
        fine.model.layoutlm.embeddings.x_position_embeddings.weight,
        outcome.model.layoutlm.embeddings.x_position_embeddings.weight,
    )  # the 2-D positions it learned
    assert fine.model.config.id2label[1] == snapshot.tags[1] and fine.model.classifier.out_features == len(
        snapshot.tags
    )

    recorders: dict[str, MemoryRecorder] = {}
    result = fit(request, lambda job_id: recorders.setdefault(job_id, MemoryRecorder(job_id)))
    assert result.status == "succeeded" and result.best_dir
    assert (tmp_path / "runs").is_dir()

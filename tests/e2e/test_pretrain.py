"""Layout pretraining end to end on DynamoDB Local: a table of labelled, unvalidated and
unlabelled generated receipts -> snapshot v1 -> corpus c1 built for v1 -> a tiny masked
visual-language model pretrained on it -> a folder `trainer fit --model DIR` fine-tunes.

The `trainer pretrain` job through the CLI as a user runs it: recorded in the table (kind
pretrain, metrics per step, succeeded), its model fine-tuned by `trainer fit`, whose
`runs show` names the pretraining; stopped by SIGTERM and resumed from its checkpoint, killed
by SIGKILL, marked interrupted once stale, and resumed again."""

from __future__ import annotations

import dataclasses
import json
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from metrics_store import MemoryRecorder, Queries, Store, StoreConfig, connect, create_table, delete_table
from trainer.config import ModelConfig, TrainConfig
from trainer.model.features import build_features, examples_from_frame
from trainer.model.package import read_package
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
from .faults import (
    env_for,
    no_metric_twice,
    runner,
    runs_cli,
    runs_show,
    start_trainer,
    statuses,
    stop,
    trainer,
    wait_for,
)

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
    yield root, snapshot, open_corpus(root, "c1"), [r.key for r in receipts], config
    delete_table(table)


def test_the_corpus_holds_unlabelled_receipts_and_not_the_val_split(world):
    _, snapshot, corpus, keys, _ = world
    val = set(snapshot.receipts.filter(pl.col("split") == "val")["receipt_key"])
    assert len(snapshot.receipts) == 60 and val
    assert set(corpus.receipts["receipt_key"]) == set(keys) - val
    assert (
        corpus.lock.counts.receipts_without_labels == 20
        and corpus.lock.counts.receipts_with_unvalidated_labels_only == 10
    )
    assert corpus.contracts.status == "passed" and val_overlap(corpus, snapshot) == []


def test_corpus_windows_are_the_windows_fit_makes_of_the_same_receipts(world):
    _, snapshot, corpus, _, _ = world
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
    root, snapshot, corpus, _, _ = world
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


def pretrain_args(root: Path, out: Path, *extra: str, steps: int = 30) -> list[str]:
    return [
        "pretrain",
        "--corpus",
        "c1",
        "--root",
        str(root),
        "--model",
        "tiny",
        "--max-seq-length",
        "128",
        "--doc-stride",
        "32",
        "--steps",
        str(steps),
        "--batch-size",
        "8",
        "--lr",
        "2e-3",
        "--seed",
        "5",
        "--held-out-fraction",
        "0.15",
        "--output-dir",
        str(out),
        *extra,
    ]


def cli(config: StoreConfig, *args: str):
    """`trainer ...` in this process, as the CLI parses it."""
    from trainer.cli import app

    return runner.invoke(app, list(args), env=env_for(config))


def test_trainer_pretrain_records_a_job_whose_model_trainer_fit_fine_tunes(world, tmp_path):
    root, snapshot, corpus, _, config = world
    table, out = connect(config), tmp_path / "runs"
    done = cli(config, *pretrain_args(root, out, "--job-name", "pre-cli", "--json"))
    assert done.exit_code == 0, done.output
    reported = json.loads(done.stdout)
    job = Queries(table).get_job(reported["job_id"])
    assert job.config.kind == "pretrain" and job.status == "succeeded" and job.tags["kind"] == "pretrain"
    assert job.config.extra["corpus"]["id"] == "c1" and job.config.request["pretrain"]["max_steps"] == 30
    per_step = {
        name: [m.step for m in Queries(table).iter_job_metrics(job.job_id, name)]
        for name in ("step_train_loss", "step_learning_rate", "step_tokens_per_second")
    }
    assert per_step["step_train_loss"] == list(range(1, 31)) and per_step["step_tokens_per_second"] == list(
        range(1, 31)
    )
    results = reported["results"]
    assert results["steps"] == 30 and results["tokens_seen"] > 0 and results["tokens_per_second"] > 0
    assert results["held_out_mlm_loss_after"] < results["held_out_mlm_loss_before"]
    assert results["corpus_id"] == "c1" and results["corpus_sha256"] == corpus.content_sha256
    shown = runs_show(config, job.job_id)
    assert shown["corpus"]["id"] == "c1" and shown["pretraining"] is None
    assert statuses(shown) == ["pending", "running", "succeeded"]
    assert [e["step"] for e in shown["epochs"]] == [0, 30]  # held-out masked-LM loss before and after
    printed = runs_cli(config, "show", job.job_id)
    assert printed.exit_code == 0 and "a pretraining on corpus c1" in printed.output, printed.output
    model_dir = Path(reported["model_dir"])
    lineage = read_lineage(model_dir)
    assert lineage.job_id == job.job_id and lineage.steps == 30 and lineage.corpus.id == "c1"
    assert lineage.corpus.content_sha256 == corpus.content_sha256
    assert lineage.corpus.excluded_val_split_hash == snapshot.split_hash("val")
    assert not list(Path(reported["output_dir"]).glob("checkpoint-*"))  # pruned once the end was recorded

    fine = cli(
        config,
        "fit",
        "--root",
        str(root),
        "--model",
        str(model_dir),
        "--max-seq-length",
        "128",
        "--doc-stride",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--early-stopping-patience",
        "0",
        "--output-dir",
        str(out),
        "--job-name",
        "fine-pre",
        "--json",
    )
    assert fine.exit_code == 0, fine.output
    fitted = json.loads(fine.stdout)
    shown = runs_show(config, fitted["job_id"])
    assert shown["job"]["status"] == "succeeded" and shown["config"]["model"]["model"] == str(model_dir)
    assert shown["pretraining"]["job_id"] == job.job_id and shown["pretraining"]["corpus_id"] == "c1"
    assert shown["pretraining"]["corpus_sha256"] == corpus.content_sha256 and shown["pretraining"]["steps"] == 30
    printed = runs_cli(config, "show", fitted["job_id"])
    assert printed.exit_code == 0 and f"pretrained by job {job.job_id} on corpus c1" in printed.output
    package = read_package(Path(fitted["best_dir"]))
    assert package.pretraining.job_id == job.job_id and package.pretraining.corpus_id == "c1"


def test_a_pretrain_job_survives_sigterm_and_sigkill_and_finishes_from_its_checkpoints(world, tmp_path):
    """SIGTERM: a checkpoint at the end of the step, `interrupted`, the command that resumes it;
    the resume continues from that checkpoint. SIGKILL during the resume: the job stays
    `running` until its heartbeat is stale, `runs mark-interrupted` makes it resumable (and
    names `trainer pretrain --resume`), and the next resume finishes the same job."""
    root, _, _, _, config = world
    table, out = connect(config), tmp_path / "runs"
    args = pretrain_args(root, out, "--job-name", "pre-faults", "--save-steps", "5", steps=120)
    process = start_trainer(config, *args)

    def checkpoints(after: int = 0):
        return lambda: [
            p for p in out.glob("*/checkpoint-*") if (p / "trainer_state.json").is_file() and int(p.name[11:]) > after
        ]

    wait_for(checkpoints(), process=process, what="the first checkpoint")
    output = stop(process)
    assert process.returncode == 130, output[-3000:]
    job_id = Queries(table).jobs_by_name("pre-faults").items[0].job_id
    assert f"resume with: trainer pretrain --resume {job_id}" in output and "Traceback" not in output
    shown = runs_show(config, job_id)
    assert shown["job"]["status"] == "interrupted"
    stopped_at = max(int(p.name[11:]) for p in checkpoints()())
    assert stopped_at < 120

    resumed = start_trainer(config, "pretrain", "--resume", job_id)
    wait_for(checkpoints(stopped_at + 5), process=resumed, what="a checkpoint of the resumed job")
    stop(resumed, signal.SIGKILL)
    job = Queries(table).get_job(job_id)
    assert job.status == "running"  # nobody could say otherwise
    aged = (datetime.now(UTC) - timedelta(minutes=11)).isoformat(timespec="microseconds")
    Store(table).jobs.heartbeat(job_id, job.lease_owner, now=aged)  # as if the clock had moved on
    marked = runs_cli(config, "mark-interrupted", job_id, "--json")
    assert marked.exit_code == 0, marked.output
    assert json.loads(marked.stdout)["resume"] == f"trainer pretrain --resume {job_id}"

    finished = trainer(config, "pretrain", "--resume", job_id, "--json")
    assert finished.returncode == 0, finished.stderr[-3000:]
    shown = runs_show(config, job_id)
    assert shown["job"]["status"] == "succeeded"
    assert statuses(shown)[-5:] == ["interrupted", "running", "interrupted", "running", "succeeded"]
    resumes = Queries(table).structured_logs(job_id, "resume")
    assert len(resumes) == 2 and all("checkpoint-" in r["from_checkpoint"] for r in resumes)
    counts = no_metric_twice(table, job_id)
    assert int(resumes[1]["from_checkpoint"].rsplit("-", 1)[1]) > stopped_at  # the killed attempt's checkpoint
    logged = sorted(step for name, step in counts if name == "step_train_loss")
    assert logged[0] == 1 and logged[-1] == 120 and stopped_at in logged  # each step once, whatever the attempt
    lineage = read_lineage(json.loads(finished.stdout)["model_dir"])
    assert lineage.job_id == job_id and lineage.steps == 120
    assert lineage.tokens_seen == shown["results"]["tokens_seen"] > 0

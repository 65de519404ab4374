"""`trainer review` against DynamoDB Local, as a user runs it, on generated receipts with planted
label errors (tests/e2e/planted.py): the queues find them, `--write-suggestions` writes each
suggestion once and never touches a VALID or INVALID item, a rerun writes nothing new, and an
interrupted review resumes without training a finished fold again."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import polars as pl
import pytest

from dataset_builder import BuildConfig, LocalBackend, create_snapshot, open_snapshot, write_bundles
from metrics_store import (
    Queries,
    ReceiptWordLabel,
    StoreConfig,
    connect,
    create_table,
    delete_table,
)
from metrics_store.suggestions import label_key
from tests.trainer.test_runs_builders import validate
from trainer.cli import app

from .faults import (
    env_for,
    fit_args,
    runner,
    runs_cli,
    runs_show,
    start_trainer,
    statuses,
    stop,
    trainer,
    wait_for,
)
from .planted import plant

LABELS = ("MERCHANT_NAME", "ADDRESS_LINE", "DATE", "PRODUCT_NAME", "AMOUNT")
# Tiny fold models that learn this data in seconds on one thread (tests/e2e/test_sweep.py).
RECIPE = (
    "--model",
    "tiny",
    "--epochs",
    "15",
    "--lr",
    "3e-3",
    "--max-seq-length",
    "128",
    "--doc-stride",
    "32",
    "--batch-size",
    "8",
    "--seed",
    "1",
)


@pytest.fixture(scope="module")
def planted_table(dynamodb_endpoint, tmp_path_factory):
    """60 clean receipts, then: 6 product entities VALID as MERCHANT_NAME, 6 unlabelled, 8
    NEEDS_REVIEW (half right, half under MERCHANT_NAME); snapshot v1 of the five labels."""
    config = StoreConfig(table=f"review-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    table = connect(config)
    create_table(table, stream=False)
    planted = plant(int(os.environ.get("PLANT_SEED", "7")), 60, swap=6, remove=6, propose=8)
    write_bundles(table, planted.bundles)
    root = tmp_path_factory.mktemp("snapshots")
    create_snapshot(
        table=table,
        backend=LocalBackend(root),
        source={"table": table.name},
        config=BuildConfig(merge_preset="amounts", allowed_labels=LABELS, val_fraction=0.2, seed=1),
    )
    yield config, table, planted, root
    delete_table(table)


def review_args(root: Path, out: Path, name: str, *extra: str) -> list[str]:
    return ["review", "--root", str(root), "--output-dir", str(out), "--job-name", name, *RECIPE, *extra]


def label_items(table) -> dict[tuple[str, str], dict]:
    """Every ReceiptWordLabel item of the table, raw, by key."""
    items, start = {}, None
    while True:
        page = table.client.scan(TableName=table.name, **({"ExclusiveStartKey": start} if start else {}))
        items.update({(i["PK"]["S"], i["SK"]["S"]): i for i in page["Items"] if i["TYPE"]["S"] == "RECEIPT_WORD_LABEL"})
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def words_of(frame: pl.DataFrame) -> list[tuple[str, int, int, int]]:
    return [
        (i, int(r), int(line), int(w))
        for i, r, line, w in frame.select("image_id", "receipt_id", "line_id", "word_id").iter_rows()
    ]


@pytest.mark.slow
def auroc(ranked: list, positives: set, universe: set) -> float:
    """How often a positive ranks above a negative of `universe` (words not in `ranked` tie last)."""
    place = {w: i for i, w in enumerate(ranked)}
    last = len(ranked)
    negatives = [place.get(w, last) for w in universe - positives]
    pairs = [(p > n) + 0.5 * (p == n) for p in (place.get(w, last) for w in positives) for n in negatives]
    return 1 - sum(pairs) / len(pairs)


def test_a_review_finds_planted_errors_and_writes_each_suggestion_once(planted_table, tmp_path):
    config, table, planted, root = planted_table
    done = trainer(config, *review_args(root, tmp_path / "runs", "review-a", "--folds", "3", "--json"))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    validate(summary, "review_summary")
    assert summary["status"] == "succeeded" and summary["mode"] == "cross_fit" and summary["schema"] == "review_summary"
    review_id = summary["job_id"]

    folds = Queries(table).jobs_by_parent(review_id)  # every fold a recorded child job of the review
    assert sorted(j.name for j in folds) == [f"review-a-fold{i}of3" for i in (1, 2, 3)]
    assert {j.status for j in folds} == {"succeeded"} and {j.tags["parent_job_id"] for j in folds} == {review_id}
    assert (
        sum(f["receipts"] for f in summary["folds"]) == 60
    )  # each receipt scored once, by the model that never saw it
    assert summary["scored"]["receipts"] == 60
    listed = json.loads(runs_cli(config, "list", "--parent", review_id, "--json").stdout)
    assert len(listed["runs"]) == 3

    queues = {name: pl.read_parquet(q["parquet"]) for name, q in summary["queues"].items()}
    for name, q in summary["queues"].items():
        assert q["rows"] == queues[name].height == len(Path(q["jsonl"]).read_text().splitlines())
    swapped, removed = set(planted.swapped), set(planted.removed)
    words = open_snapshot(root, "v1").words
    valid_entities = set(words_of(words.filter((pl.col("label_state") == "labelled") & (pl.col("label") != "O"))))
    unlabelled = set(words_of(words.filter(pl.col("label_state") == "unlabelled")))
    # Out-of-sample tiny models on 40 receipts are weak (val F1 ~0.7), so every queue also holds
    # their own mistakes; the planted errors must still rank far above the rest.
    suspects = words_of(queues["suspect_valid"])
    assert swapped <= set(suspects) and auroc(suspects, swapped, valid_entities) >= 0.9
    flagged = queues["suspect_valid"].filter(
        pl.col("image_id").is_in([w[0] for w in swapped]) & (pl.col("given_label") == "MERCHANT_NAME")
    )
    assert set(flagged["model_label"]) <= {"PRODUCT_NAME", "O"}
    missing = words_of(queues["missing"])
    print(
        "AUROC",
        os.environ.get("PLANT_SEED"),
        len(removed & set(missing)),
        len(removed),
        auroc(missing, removed, unlabelled),
        auroc(suspects, swapped, valid_entities),
        flush=True,
    )
    # 0.84 measured once card numbers became PAYMENT_METHOD (the user's client's alias for CARD_NUMBER): 0.86 before
    assert len(removed & set(missing)) >= 0.6 * len(removed) and auroc(missing, removed, unlabelled) >= 0.8
    triage = queues["triage"]
    assert set(words_of(triage)) >= set(planted.proposals)  # every NEEDS_REVIEW item is triaged
    by_word = {w: p for w, p in zip(words_of(triage), triage["proposed_probability"].to_list(), strict=True)}
    right = [by_word[w] for w, (_, ok) in planted.proposals.items() if ok]
    wrong = [by_word[w] for w, (_, ok) in planted.proposals.items() if not ok]
    assert sum(r > w for r in right for w in wrong) / (len(right) * len(wrong)) >= 0.9, (right, wrong)  # AUROC
    context = queues["suspect_valid"].row(0, named=True)
    assert context["text"] and context["line_text"] and "VALID" in context["items"] and context["receipt_key"]

    shown = runs_show(config, review_id)
    assert shown["results"]["review"]["queues"]["suspect_valid"]["rows"] == len(suspects)
    as_text = runner.invoke(app, ["runs", "show", review_id], env=env_for(config))
    assert as_text.exit_code == 0 and "suspect" in as_text.output and "runs list --parent" in as_text.output

    before = label_items(table)
    dry = trainer(config, "review", "--resume", "review-a", "--write-suggestions", "--json")
    assert dry.returncode == 0, dry.stderr[-3000:]
    validate(json.loads(dry.stdout), "review_summary")
    report = json.loads(dry.stdout)["suggestions"]
    assert report["mode"] == "dry_run" and report["outcome"] is None and report["suggestions"] > 0
    assert report["proposer"] == f"model:{review_id}"
    assert label_items(table) == before  # a dry run writes nothing

    written = trainer(config, "review", "--resume", review_id, "--write-suggestions", "--yes", "--json")
    assert written.returncode == 0, written.stderr[-3000:]
    outcome = json.loads(written.stdout)["suggestions"]
    assert outcome["outcome"]["written"] == report["before"]["new"] > 0 and outcome["outcome"]["rewritten"] == 0
    after = label_items(table)
    new = {k: v for k, v in after.items() if k not in before}
    assert len(new) == report["before"]["new"] and len(after) == len(before) + len(new)
    assert all(
        before[k] == after[k] for k in before
    )  # every item there before is untouched, VALID and INVALID among them
    assert {v["validation_status"]["S"] for v in new.values()} == {"PENDING"}
    assert {v["label_proposed_by"]["S"] for v in new.values()} == {f"model:{review_id}"}
    assert all(v["reasoning"]["S"].startswith("confidence ") for v in new.values())
    assert {k[1].rsplit("#", 1)[-1] for k in new} <= set(LABELS) - {"AMOUNT"}  # named in the table's labels
    planted_keys = {label_key(ReceiptWordLabel(*word, "PRODUCT_NAME", "PENDING", "-")) for word in swapped | removed}
    assert len(planted_keys & set(new)) >= len(planted_keys) // 2  # the true labels of planted words are proposed

    again = trainer(config, "review", "--resume", review_id, "--write-suggestions", "--yes", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads(again.stdout)["suggestions"]
    assert rerun["outcome"]["written"] == 0 and rerun["outcome"]["rewritten"] == len(new)  # its own items, nothing new
    assert label_items(table) == after


@pytest.mark.slow
def test_from_job_reviews_the_val_split_of_a_trained_job(planted_table, tmp_path):
    config, table, _, root = planted_table
    fit = trainer(config, *fit_args(root, tmp_path / "runs", "--job-name", "fit-for-review", "--json", epochs=4))
    assert fit.returncode == 0, fit.stderr[-3000:]
    fit_id = json.loads(fit.stdout)["job_id"]
    done = trainer(
        config, "review", "--root", str(root), "--from-job", fit_id, "--output-dir", str(tmp_path / "runs"), "--json"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["mode"] == "from_job" and [f["job_id"] for f in summary["folds"]] == [fit_id]
    assert (
        summary["scored"]["receipts"] == open_snapshot(root, "v1").lock.counts.split("val").receipts
    )  # the val split only
    assert Queries(table).jobs_by_parent(summary["job_id"]) == []  # nothing trained


@pytest.mark.slow
def test_an_interrupted_review_resumes_without_training_a_finished_fold_again(planted_table, tmp_path):
    config, table, _, root = planted_table
    process = start_trainer(config, *review_args(root, tmp_path / "runs", "review-b", "--folds", "2"))
    review = wait_for(lambda: Queries(table).jobs_by_name("review-b").items, process=process, what="the review job")[0]

    def second_fold_saved() -> bool:
        folds = sorted(Queries(table).jobs_by_parent(review.job_id), key=lambda j: j.name)
        return len(folds) == 2 and folds[0].status == "succeeded" and bool(Queries(table).checkpoints(folds[1].job_id))

    wait_for(second_fold_saved, process=process, timeout=400, what="a finished fold and a checkpoint of the second")
    output = stop(process, signal.SIGTERM)
    assert process.returncode == 130 and f"trainer review --resume {review.job_id}" in output, output[-3000:]
    assert Queries(table).get_job(review.job_id).status == "interrupted"
    first, second = sorted(Queries(table).jobs_by_parent(review.job_id), key=lambda j: j.name)
    assert (first.status, second.status) == ("succeeded", "interrupted")
    first_history = statuses(runs_show(config, first.job_id))

    resumed = trainer(config, "review", "--resume", "review-b", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    folds = sorted(Queries(table).jobs_by_parent(review.job_id), key=lambda j: j.name)
    assert [f.job_id for f in folds] == [first.job_id, second.job_id]  # the same jobs, none twice
    assert statuses(runs_show(config, first.job_id)) == first_history  # the finished fold was not trained again
    assert statuses(runs_show(config, second.job_id))[-2:] == ["running", "succeeded"]
    assert Queries(table).structured_logs(second.job_id, "resume")[0]["from_checkpoint"]
    assert statuses(runs_show(config, review.job_id))[-3:] == ["interrupted", "running", "succeeded"]


def test_bad_review_options_are_one_line_before_anything_runs(planted_table, tmp_path):
    config, table, _, root = planted_table
    cases = [
        (["--folds", "1"], "--folds must be at least 2"),
        (["--yes"], "--yes confirms --write-suggestions"),
        (["--valid-above", "0.1", "--invalid-below", "0.3"], "--invalid-below (0.3) must be below --valid-above (0.1)"),
        (["--missing-above", "1.5"], "--missing-above must be a probability"),
        (["--from-job", "no-such-job"], "no-such-job"),
        (["--snapshot", "v9"], "v9"),
    ]
    jobs_before = len(Queries(table).jobs_by_name("review-bad", limit=None).items)
    for extra, message in cases:
        result = trainer(config, *review_args(root, tmp_path / "runs", "review-bad", *extra))
        assert result.returncode == 2, (extra, result.stderr[-2000:])
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (extra, result.stderr)
    assert len(Queries(table).jobs_by_name("review-bad", limit=None).items) == jobs_before == 0


def test_fold_jobs_are_children_trained_once_and_found_again_on_resume_with_jobs_in_memory(planted_table, tmp_path):
    """The review's job logic with its jobs in memory (`MemoryJobs`), the words from the table:
    each fold a child job of the review, trained once; a resumed review finds them again and
    scores them from what they kept, training nothing."""
    from metrics_store import MemoryJobs
    from trainer import FitRequest, ModelConfig, ReviewRequest, TableWords, TrainConfig, run_review

    _, table, _, root = planted_table
    jobs = MemoryJobs()
    recipe = FitRequest(
        snapshot_root=str(root),
        model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
        train=TrainConfig(
            epochs=2,
            batch_size=8,
            learning_rate=3e-3,
            seed=1,
            early_stopping_patience=None,
            output_dir=str(tmp_path / "reviews"),
        ),
    )
    request = ReviewRequest(
        snapshot_root=str(root), snapshot="v1", folds=2, recipe=recipe, job_name="in-memory", created_by="tests"
    )
    first = run_review(request, jobs, jobs, TableWords(table))
    assert first.status == "succeeded"
    folds = jobs.jobs_by_parent(first.job_id)
    assert sorted(j.tags["review_fold"] for j in folds) == ["1/2", "2/2"] and {j.status for j in folds} == {"succeeded"}

    review = jobs.recorder_for(first.job_id, source="review")
    review.status("interrupted", message="stopped before its end")
    again = run_review(request, jobs, jobs, TableWords(table), resume_job_id=first.job_id)
    assert again.status == "succeeded" and again.summary["queues"] == first.summary["queues"]
    logged = [json.loads(log.message) for log in jobs.iter_job_logs(first.job_id)]
    assert [(e["fold"], e["trained"]) for e in logged if e.get("type") == "review_fold"] == [
        (1, True),
        (2, True),
        (1, False),
        (2, False),
    ]
    for fold in folds:  # one attempt each: nothing was trained again
        assert sum(json.loads(log.message).get("type") == "run_config" for log in jobs.iter_job_logs(fold.job_id)) == 1

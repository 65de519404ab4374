"""Corpora (`dsb corpus`): every receipt of the table, labelled or not, laid out as snapshots
lay it out, less a snapshot's val split; immutable, hashed, contract-checked."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from dataset_builder.build import ContractGateFailed, create_snapshot
from dataset_builder.cli import app
from dataset_builder.config import BuildConfig
from dataset_builder.contracts import (
    check_corpus,
    corpus_gate,
    default_contracts_dir,
    load_suites,
    run_corpus_contracts,
)
from dataset_builder.corpus import (
    CorpusCorrupted,
    CorpusOptions,
    corpus_backend,
    create_corpus,
    list_corpora,
    open_corpus,
    val_overlap,
)
from dataset_builder.receipts.importer import import_jsonl
from dataset_builder.snapshot import open_snapshot
from dataset_builder.storage import LocalBackend, SnapshotExists
from metrics_store import Queries, Receipt, Store

from .receipts_fixture import image_id, simple_receipt, write_receipts

SOURCE = {"table": "test"}
UNLABELLED = [[("Corner", []), ("Deli", [])], [("Coffee", []), ("3.00", [])], [("Thanks", [])]]
UNVALIDATED = [
    [("Corner", [("MERCHANT_NAME", "NEEDS_REVIEW")]), ("Deli", [("MERCHANT_NAME", "INVALID")])],
    [("Tea", []), ("2.00", [])],
]


@pytest.fixture
def mixed(table):
    """12 receipts with VALID labels, 2 whose labels are none of them VALID, 2 with no label
    item at all and 1 with no word."""
    write_receipts(table, [simple_receipt(n) for n in range(1, 13)])
    write_receipts(table, [(image_id(20), UNVALIDATED), (image_id(21), UNVALIDATED)])
    write_receipts(table, [(image_id(30), UNLABELLED), (image_id(31), UNLABELLED)])
    Store(table).put_records([Receipt(image_id(40), 1, 500, 1000, "2026-01-01T00:00:00+00:00")])
    return table


def key(n: int) -> str:
    return f"{image_id(n)}#00001"


def snapshot_of(table, root):
    create_snapshot(
        table=table,
        backend=LocalBackend(root),
        config=BuildConfig(val_fraction=0.3, seed=2),
        source=SOURCE,
        record=False,
    )
    return open_snapshot(root, "v1")


@pytest.mark.parametrize("strategy", ["query", "scan"])
def test_a_corpus_holds_every_receipt_but_the_val_split_it_was_built_for(mixed, tmp_path, strategy):
    snap = snapshot_of(mixed, tmp_path)
    val = sorted(snap.receipts.filter(pl.col("split") == "val")["receipt_key"].to_list())
    train = set(snap.receipts.filter(pl.col("split") == "train")["receipt_key"])
    assert val and key(20) not in set(snap.receipts["receipt_key"])  # the snapshot selects VALID receipts only

    result = create_corpus(
        table=mixed,
        backend=corpus_backend(tmp_path),
        source=SOURCE,
        exclude=snap,
        options=CorpusOptions(strategy=strategy, concurrency=4),
    )
    corpus = open_corpus(tmp_path, result.corpus_id)
    assert corpus.id == "c1" and LocalBackend(tmp_path).published_ids() == ["v1"]
    keys = set(corpus.receipts["receipt_key"])
    assert keys == train | {key(20), key(21), key(30), key(31), key(40)}  # no VALID label, no label at all, no word
    assert not keys & set(val) and val_overlap(corpus, snap) == []

    counts = corpus.lock.counts
    assert (
        counts.receipts == len(keys)
        and counts.receipts_without_labels == 3
        and counts.receipts_with_unvalidated_labels_only == 2
    )
    assert counts.receipts_with_valid_labels == len(train) and counts.receipts_without_words == 1
    assert counts.words == corpus.words.height == 10 * len(train) + 2 * 4 + 2 * 5
    excluded = corpus.excluded
    assert corpus.spec.exclude_val_of == "v1" and excluded.snapshot_id == "v1" and excluded.receipt_keys == val
    assert excluded.split_hash == snap.split_hash("val") and excluded.found == len(val)
    assert excluded.snapshot_content_sha256 == snap.content_sha256

    # words, boxes and reading order exactly as the snapshot has them
    columns = ["receipt_key", "line_id", "word_id", "position", "text", "x0", "y0", "x1", "y1"]
    ours = (
        corpus.words.filter(pl.col("receipt_key").is_in(sorted(train))).select(columns).sort("receipt_key", "position")
    )
    theirs = snap.words.filter(pl.col("split") == "train").select(columns).sort("receipt_key", "position")
    assert ours.equals(theirs)
    unlabelled = corpus.words.filter(pl.col("receipt_key") == key(30)).sort("position")
    assert unlabelled["text"].to_list() == ["Corner", "Deli", "Coffee", "3.00", "Thanks"]
    assert unlabelled.row(0, named=True)["y0"] == 50  # y flipped to a top-left origin, as in snapshots

    everything = open_corpus(
        tmp_path, create_corpus(table=mixed, backend=corpus_backend(tmp_path), source=SOURCE).corpus_id
    )
    assert everything.id == "c2" and everything.excluded is None and everything.spec.exclude_val_of is None
    assert val_overlap(everything, snap) == val


def test_a_corpus_is_immutable_and_its_hashes_verify(mixed, tmp_path):
    backend = corpus_backend(tmp_path)
    first = create_corpus(table=mixed, backend=backend, source=SOURCE)
    second = create_corpus(table=mixed, backend=backend, source=SOURCE)
    assert (first.corpus_id, second.corpus_id) == ("c1", "c2")
    assert first.manifest.content_sha256 == second.manifest.content_sha256  # same table, same data
    assert [r["id"] for r in list_corpora(tmp_path)] == ["c1", "c2"] and LocalBackend(tmp_path).published_ids() == []
    with pytest.raises(SnapshotExists):
        backend.publish("c1", {"manifest.json": b"{}"})

    open_corpus(tmp_path, "c1").verify()
    assert open_corpus(tmp_path, "latest").id == "c2" and open_corpus(tmp_path, "1").id == "c1"
    words = tmp_path / "c1" / "words.parquet"
    words.chmod(0o644)
    words.write_bytes(pl.DataFrame({"text": ["tampered"]}).write_ipc(None).getvalue())
    with pytest.raises(CorpusCorrupted, match="words.parquet was modified"):
        open_corpus(tmp_path, "c1")
    assert open_corpus(tmp_path, "c1", verify=False).manifest.id == "c1"


def test_the_corpus_contracts_pass_on_a_good_corpus_and_fail_on_a_broken_one(mixed, tmp_path):
    snap = snapshot_of(mixed, tmp_path)
    result = create_corpus(
        table=mixed, backend=corpus_backend(tmp_path), source=SOURCE, exclude=snap, check_contracts=corpus_gate()
    )
    corpus = open_corpus(tmp_path, result.corpus_id)
    assert corpus.contracts.status in ("passed", "warned") and corpus.contracts_passed
    assert check_corpus(corpus)["status"] == "passed"
    assert [s.name for s in load_suites(default_contracts_dir(), subject="corpus")] == ["corpus"]

    words, receipts = corpus.words, corpus.receipts
    victim = sorted(set(receipts.filter(pl.col("n_words") > 0)["receipt_key"]))[0]
    first, second = (
        (pl.col("receipt_key") == victim) & (pl.col("position") == 0),
        (pl.col("receipt_key") == victim) & (pl.col("position") == 1),
    )
    broken_words = words.with_columns(
        pl.when(first)
        .then(pl.lit(1200, dtype=pl.Int32))
        .otherwise(pl.col("x1"))
        .alias("x1"),  # a box off the 0..1000 grid
        pl.when(first)
        .then(pl.lit(1, dtype=pl.Int32))
        .when(second)
        .then(pl.lit(0, dtype=pl.Int32))
        .otherwise(pl.col("position"))
        .alias("position"),  # two words swapped out of reading order
    )
    val_receipt = snap.receipts.filter(pl.col("split") == "val").row(0, named=True)
    leaked = pl.DataFrame(
        [
            {
                **receipts.row(0, named=True),
                "receipt_key": val_receipt["receipt_key"],
                "image_id": val_receipt["image_id"],
                "n_words": 0,
            }
        ],
        schema=receipts.schema,
    )
    broken_receipts = pl.concat([receipts, leaked])
    suites = load_suites(default_contracts_dir(), subject="corpus")
    report = run_corpus_contracts(suites, broken_words, broken_receipts, corpus.excluded.receipt_keys)
    assert report["status"] == "failed"
    failed = {(r["expectation"], r["column"]) for r in report["results"] if not r["success"]}
    assert failed == {
        ("expect_column_values_to_be_between", "x1"),
        ("expect_column_values_to_be_in_set", "reading_order_valid"),
        ("expect_column_values_to_be_in_set", "val_excluded"),
    }
    order = next(r for r in report["results"] if r["column"] == "reading_order_valid")
    assert {row["receipt_key"] for row in order["failing_rows"]} == {victim} and {
        "expected_position",
        "position",
    } <= set(order["failing_rows"][0])

    duplicated = pl.concat([words, words.head(1)]).with_columns(  # a word twice, and a position past the receipt's end
        pl.when((pl.col("receipt_key") == victim) & (pl.col("position") == 2))
        .then(pl.lit(50, dtype=pl.Int32))
        .otherwise(pl.col("position"))
        .alias("position")
    )
    report = run_corpus_contracts(suites, duplicated, receipts, [])
    failed = {r["column"] for r in report["results"] if not r["success"]}
    assert failed == {
        "receipt_key,line_id,word_id",
        "receipt_key,position",
        "position_in_range",
        "reading_order_valid",
        "n_words_valid",
    }


def test_a_failed_gate_publishes_no_corpus(mixed, tmp_path):
    def failing(data, manifest):
        return {
            "status": "failed",
            "results": [{"suite": "corpus", "expectation": "x", "success": False, "severity": "error"}],
        }

    with pytest.raises(ContractGateFailed):
        create_corpus(table=mixed, backend=corpus_backend(tmp_path), source=SOURCE, check_contracts=failing)
    assert corpus_backend(tmp_path).published_ids() == []
    allowed = create_corpus(
        table=mixed,
        backend=corpus_backend(tmp_path),
        source=SOURCE,
        check_contracts=failing,
        options=CorpusOptions(allow_contract_failures=True),
    )
    assert allowed.corpus_id == "c1" and open_corpus(tmp_path, "c1").contracts.status == "failed"


def test_jsonl_receipts_without_labels_import_and_make_a_corpus(table, store_config, tmp_path):
    """`dsb receipts import` takes a file whose words carry no `label`: the receipts land in the
    table with their words and no label item; no snapshot selects them, the corpus has them."""
    path = tmp_path / "unlabelled.jsonl"
    receipts = [
        {
            "receipt_id": f"r{i}",
            "width": 400,
            "height": 800,
            "words": [
                {"text": "Corner", "box": [10, 10, 90, 40]},
                {"text": "Deli", "box": [100, 10, 160, 40]},
                {"text": f"{i}.50", "box": [10, 60, 80, 90]},
            ],
        }
        for i in range(3)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in receipts))
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": store_config.endpoint_url,
        "RECEIPT_ML_TABLE": store_config.table,
        "AWS_REGION": "us-east-1",
    }
    result = CliRunner().invoke(app, ["receipts", "import", str(path), "--strict", "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["receipts"] == 3 and summary["words"] == 9 and summary["labels"] == 0
    queries = Queries(table)
    assert queries.count_by_type("RECEIPT_WORD") == 9 and queries.count_by_type("RECEIPT_WORD_LABEL") == 0
    assert import_jsonl(table, path, strict=True).summary.labels == 0  # the function as well; same ids, same items

    write_receipts(table, [simple_receipt(n) for n in range(1, 5)])  # labelled receipts beside them
    corpus = open_corpus(
        tmp_path, create_corpus(table=table, backend=corpus_backend(tmp_path), source=SOURCE).corpus_id
    )
    assert corpus.lock.counts.receipts == 7 and corpus.lock.counts.receipts_without_labels == 3
    texts = corpus.words.filter(pl.col("text") == "Deli").height
    assert texts == 3 + 4


def test_cli_create_list_show_verify_check(mixed, store_config, tmp_path):
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": store_config.endpoint_url,
        "RECEIPT_ML_TABLE": store_config.table,
        "AWS_REGION": "us-east-1",
        "RECEIPT_ML_SNAPSHOT_ROOT": str(tmp_path),
    }
    run = lambda *args: CliRunner().invoke(app, list(args), env=env)  # noqa: E731
    alone = run("corpus", "create", "--skip-contracts")  # no snapshot yet: nothing to leave out, and it says so
    assert alone.exit_code == 0, alone.output
    assert alone.stdout.strip().splitlines()[-1] == "c1" and "leaves no val split out" in alone.output

    snapshot_of(mixed, tmp_path)
    created = run("corpus", "create", "--json")  # --exclude-val-of latest: v1
    assert created.exit_code == 0, created.output
    manifest = json.loads(created.stdout)["manifest"]
    assert (
        manifest["id"] == "c2"
        and manifest["spec"]["exclude_val_of"] == "v1"
        and manifest["lock"]["contracts"]["status"] == "passed"
    )
    assert run("corpus", "create", "--exclude-val-of", "v7", "--skip-contracts").exit_code == 2  # no such snapshot

    listed = json.loads(run("corpus", "list", "--json").stdout)
    assert [(r["id"], r["exclude_val_of"]) for r in listed] == [("c1", None), ("c2", "v1")]
    assert run("corpus", "list").exit_code == 0
    shown = run("corpus", "show", "c2")
    assert shown.exit_code == 0 and "with no label item" in shown.stdout and "val receipts of v1" in shown.stdout
    verified = run("corpus", "verify", "c2")
    assert verified.exit_code == 0 and "intact" in verified.stdout
    checked = run("corpus", "check", "c2", "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["corpus_id"] == "c2"
    assert run("corpus", "show", "c9").exit_code == 2
    assert json.loads(run("snapshot", "list", "--json").stdout)[0]["id"] == "v1"  # corpora do not show as snapshots


def test_corpus_ids_live_beside_snapshot_ids_on_s3(s3_bucket):
    from dataset_builder.storage import S3Backend

    client, bucket = s3_bucket
    corpora, snapshots = S3Backend(f"s3://{bucket}/data", client, "c"), S3Backend(f"s3://{bucket}/data", client)
    assert (corpora.reserve_id(), snapshots.reserve_id(), corpora.reserve_id()) == ("c1", "v1", "c2")
    corpora.publish("c2", {"words.parquet": b"w", "manifest.json": b"{}"})
    snapshots.publish("v1", {"words.parquet": b"w", "manifest.json": b"{}"})
    assert corpora.published_ids() == ["c2"] and snapshots.published_ids() == ["v1"]
    assert corpora.reserved_ids() == ["c1", "c2"] and snapshots.reserved_ids() == ["v1"]
    with pytest.raises(SnapshotExists, match="corpus c2 already exists"):
        corpora.publish("c2", {"manifest.json": b"{}"})

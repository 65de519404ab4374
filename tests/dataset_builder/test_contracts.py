"""The data contracts: every default expectation passing on a healthy snapshot and failing on
crafted bad data, severities and `mostly`, loud loading errors, drift against the parent, the
`dsb contracts` exit codes, and a failed gate that publishes nothing."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
from dataclasses import replace

import polars as pl
import pytest
from typer.testing import CliRunner

from dataset_builder import ContractGateFailed, LocalBackend, create_snapshot, open_snapshot
from dataset_builder.cli import app
from dataset_builder.config import BuildConfig, BuildOptions
from dataset_builder.contracts import (
    ContractError,
    check_snapshot,
    contract_gate,
    default_contracts_dir,
    load_suites,
)
from dataset_builder.contracts.drift import population_stability
from dataset_builder.contracts.runner import overall_status
from dataset_builder.dataset import Dataset, build_dataset
from metrics_store import Queries
from tests.conftest import REPO_ROOT

from . import broken_snapshot as fixture
from .receipts_fixture import simple_receipt, write_receipts

WORD = ["receipt_key", "line_id", "word_id"]


@pytest.fixture(scope="module")
def gate():
    """The default contracts, loaded (and Great Expectations imported) once for the module."""
    return contract_gate()


@pytest.fixture(scope="module")
def healthy() -> Dataset:
    return fixture.healthy_dataset()


def check(gate, dataset: Dataset, config: BuildConfig = fixture.HEALTHY_CONFIG, **lock_changes) -> dict:
    manifest = fixture.manifest_for(dataset, config)
    return gate(dataset, manifest.model_copy(update={"lock": manifest.lock.model_copy(update=lock_changes)}), None)


def failures(report: dict) -> dict[tuple[str, str | None], dict]:
    """Failed expectations by (suite, column)."""
    return {(r["suite"], r["column"]): r for r in report["results"] if not r["success"]}


def keys_of(rows: list[dict], columns: list[str]) -> set[tuple]:
    return {tuple(row[c] for c in columns) for row in rows}


def word(words: pl.DataFrame, split: str, label: str, nth: int = 0) -> dict:
    return words.filter((pl.col("split") == split) & (pl.col("label") == label)).row(nth, named=True)


def at(row: dict) -> pl.Expr:
    return pl.all_horizontal(pl.col(c) == row[c] for c in WORD)


def set_where(frame: pl.DataFrame, row: dict, column: str, value) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(at(row)).then(pl.lit(value, frame.schema[column])).otherwise(pl.col(column)).alias(column)
    )


# --- the default contracts -------------------------------------------------------------------


def test_every_default_expectation_passes_on_a_healthy_snapshot(gate, healthy):
    report = check(gate, healthy)
    assert report["status"] == "passed", [r for r in report["results"] if not r["success"]]
    assert {n: s["expectations"] for n, s in report["suites"].items()} == {
        "drift": 8,
        "raw_labels": 10,
        "snapshot": 17,
        "snapshot_words": 26,
    }
    assert report["drift"] == {"status": "skipped", "parent_id": None, "reason": "no parent snapshot", "metrics": {}}
    assert all(r["skipped"] == "no parent snapshot" for r in report["results"] if r["suite"] == "drift")
    json.dumps(report)  # stamped in the manifest as is


def test_broken_words_and_labels_fail_with_their_rows_and_types(gate, healthy):
    words, labels = healthy.words, healthy.labels
    out_of_range, flipped, orphan_i, wrong_tag, invalid, no_text = (word(words, "train", "DATE", i) for i in range(6))
    masked_val = word(words, "val", "O")
    words = set_where(words, out_of_range, "y1", -5)
    words = words.with_columns(
        pl.when(at(flipped)).then(pl.col("x1")).otherwise(pl.col("x0")).alias("x0"),
        pl.when(at(flipped)).then(pl.col("x0")).otherwise(pl.col("x1")).alias("x1"),
    )
    words = set_where(words, orphan_i, "tag", "I-DATE")
    words = set_where(words, wrong_tag, "tag", "B-TOTAL_PRICE")
    words = set_where(words, masked_val, "supervised", False)
    words = set_where(words, no_text, "text", None)
    duplicate = words.filter(at(word(words, "train", "MERCHANT_NAME")))
    words = pl.concat([words, duplicate]).with_columns(pl.col("y0").cast(pl.Float64))
    labels = labels.with_columns(
        pl.when(at(invalid)).then(pl.lit("PENDING")).otherwise(pl.col("validation_status")).alias("validation_status")
    )
    bad_label = labels.filter(pl.col("validation_status") == "INVALID").row(0, named=True)  # supervises nothing
    is_bad = at(bad_label) & (pl.col("label") == bad_label["label"]) & (pl.col("validation_status") == "INVALID")
    labels = labels.with_columns(
        pl.when(is_bad).then(pl.lit("MENU_ITEM")).otherwise(pl.col("label")).alias("label"),
        pl.when(is_bad).then(pl.lit("MAYBE")).otherwise(pl.col("validation_status")).alias("validation_status"),
        pl.when(is_bad).then(pl.lit("not-a-uuid")).otherwise(pl.col("image_id")).alias("image_id"),
        pl.when(is_bad).then(pl.lit(0, pl.Int32)).otherwise(pl.col("word_id")).alias("word_id"),
    )
    labels = labels.with_columns(pl.col("line_id").cast(pl.Int64))
    report = check(gate, replace(healthy, words=words, labels=labels))
    failed = failures(report)
    assert report["status"] == "failed"

    def failing_keys(suite, column, keys=WORD):
        assert failed[(suite, column)]["severity"] == "error"
        return keys_of(failed[(suite, column)]["failing_rows"], keys)

    key = lambda row: tuple(row[c] for c in WORD)  # noqa: E731
    assert failing_keys("snapshot_words", "y1") == {key(out_of_range)}
    assert failing_keys("snapshot_words", "x1,x0") == {key(flipped)}
    assert failing_keys("snapshot_words", "bio_valid") == {key(orphan_i)}
    assert failing_keys("snapshot_words", "tag") == {key(wrong_tag)}
    assert failing_keys("snapshot_words", "tag_matches_label") == {key(wrong_tag)}
    assert failing_keys("snapshot_words", "supervision_valid") == {key(invalid)}
    assert failing_keys("snapshot_words", "val_unmasked") == {key(masked_val)}
    assert failing_keys("snapshot_words", "text") == {key(no_text)}
    assert failing_keys("snapshot_words", "receipt_key,line_id,word_id") == {key(duplicate.row(0, named=True))}
    assert failing_keys("snapshot_words", "receipt_key,position") == {key(duplicate.row(0, named=True))}
    orphan = failed[("snapshot_words", "bio_valid")]["failing_rows"][0]
    assert (orphan["previous_tag"], orphan["tag"]) == ("O", "I-DATE")
    assert failed[("snapshot_words", "y1")]["observed"]["unexpected_count"] == 1
    assert failed[("snapshot_words", "y0")]["expectation"] == "expect_column_values_to_be_of_type"
    assert failed[("snapshot_words", "y0")]["observed"]["observed_value"] == "float64"
    assert failed[("raw_labels", "line_id")]["observed"]["observed_value"] == "int64"
    for column in ("validation_status", "label", "image_id", "word_id"):
        assert failing_keys("raw_labels", column, ["receipt_key", "line_id"]) == {
            (bad_label["receipt_key"], bad_label["line_id"])
        }


def test_splits_support_and_size_fail_on_the_snapshot(gate, healthy):
    receipts, words = healthy.receipts, healthy.words
    leaked = receipts.filter(pl.col("split") == "train")["receipt_key"][0]
    words = words.with_columns(
        pl.when((pl.col("receipt_key") == leaked) & (pl.col("line_id") == 1))
        .then(pl.lit("val"))
        .otherwise(pl.col("split"))
        .alias("split")
    )
    receipts = pl.concat([receipts, receipts.head(1)])
    empty = (
        receipts.with_columns(pl.lit(0, pl.Int32).alias("n_words"))
        .tail(1)
        .with_columns(pl.lit("ffffffff-0000-4000-8000-000000000000#00001").alias("receipt_key"))
    )
    receipts = pl.concat([receipts, empty])
    labels = [*healthy.label_list, "TIP"]
    report = check(
        gate,
        replace(healthy, words=words, receipts=receipts),
        label_list=labels,
        tags=["O", *(f"{p}-{x}" for x in labels for p in "BI")],
    )
    failed = failures(report)
    assert keys_of(failed[("snapshot", "n_splits")]["failing_rows"], ["receipt_key", "splits"]) == {
        (leaked, "train,val")
    }
    assert failed[("snapshot", "receipt_key")]["failing_rows"][0]["receipt_key"] == healthy.receipts["receipt_key"][0]
    assert failed[("snapshot", "n_words")]["severity"] == "warn"
    support = [r for r in report["results"] if r["column"] == "train_entities" and not r["success"]]
    assert {r["severity"] for r in support} == {"error", "warn"}
    assert all(r["failing_rows"] == [{"label": "TIP", "train_entities": 0}] for r in support)


def test_a_small_unsplit_snapshot_fails_its_summary(gate):
    config = BuildConfig(val_fraction=0.0, o_entity_ratio=0.1)
    tiny = fixture.healthy_dataset(5, config)
    report = check(gate, tiny, config)
    failed = failures(report)
    assert failed[("snapshot", "receipts")]["failing_rows"] == [{"receipts": 5}]
    assert failed[("snapshot", "val_share")]["failing_rows"][0]["val_share"] == 0.0
    assert failed[("snapshot", "val_entity_words")]["severity"] == "error"
    ratio = [r for r in report["results"] if r["column"] == "train_ratio_to_target"]
    assert [(r["severity"], r["success"]) for r in ratio] == [("error", False), ("warn", True)]
    assert ratio[0]["failing_rows"][0]["target_o_entity_ratio"] == 0.1
    assert failed[("snapshot", "train_receipts")]["severity"] == "warn"


def test_expectations_on_an_unset_parameter_are_skipped(gate):
    config = BuildConfig(val_fraction=0.1)
    report = check(gate, fixture.healthy_dataset(150, config), config)
    ratio = [r for r in report["results"] if r["column"] == "train_ratio_to_target"]
    assert [(r["success"], r["skipped"]) for r in ratio] == [(True, "parameter target_ratio not set")] * 2
    assert report["suites"]["snapshot"]["skipped"] == 2


def awaiting_review(share: float, config: BuildConfig = fixture.HEALTHY_CONFIG) -> Dataset:
    """The healthy receipts with the address items of the first `share` of them NEEDS_REVIEW."""
    raw = fixture.healthy_read()
    pending = [fixture.image_id(n) for n in range(1, 1 + int(share * raw.receipts.height))]
    review = (pl.col("label") == "ADDRESS") & pl.col("image_id").is_in(pending)
    labels = raw.labels.with_columns(
        pl.when(review).then(pl.lit("NEEDS_REVIEW")).otherwise(pl.col("validation_status")).alias("validation_status")
    )
    return build_dataset(replace(raw, labels=labels), config)


@pytest.mark.parametrize(("share", "status"), [(0.1, "passed"), (0.5, "warned")])
def test_a_label_mostly_awaiting_review_warns(gate, share, status):
    dataset = awaiting_review(share)
    assert dataset.words.filter(pl.col("label_state") == "unknown").height == 3 * int(share * 150)
    report = check(gate, dataset)
    assert report["status"] == status, [r for r in report["results"] if not r["success"]]
    shares = {r["column"]: r for r in report["results"] if r["column"] in ("train_unknown_share", "val_unknown_share")}
    assert {r["severity"] for r in shares.values()} == {"warn"}
    if status == "warned":
        rows = shares["train_unknown_share"]["failing_rows"]
        assert [r["label"] for r in rows] == ["ADDRESS_LINE"] and 0.4 < rows[0]["train_unknown_share"] < 0.6


def test_unknown_words_are_never_supervised_under_ignore_and_match_the_label_items(gate):
    dataset = awaiting_review(0.1)
    unknown = dataset.words.filter(pl.col("label_state") == "unknown")
    assert not unknown["supervised"].any() and (unknown["split"] == "val").any()  # val_unmasked allows them
    taught = word(unknown, "train", "O")
    relabelled = word(dataset.words.filter(pl.col("label_state") == "labelled"), "train", "DATE")
    words = set_where(set_where(dataset.words, taught, "supervised", True), relabelled, "label_state", "unknown")
    failed = failures(check(gate, replace(dataset, words=words)))
    key = lambda row: tuple(row[c] for c in WORD)  # noqa: E731
    assert keys_of(failed[("snapshot_words", "unknown_unsupervised")]["failing_rows"], WORD) == {
        key(taught),
        key(relabelled),
    }
    mismatched = failed[("snapshot_words", "label_state_valid")]["failing_rows"]
    assert [(key(r), r["label_state"], r["expected_label_state"]) for r in mismatched] == [
        (key(relabelled), "unknown", "labelled")
    ]
    # built with --unvalidated o, unknown words are trained as O on purpose
    old = BuildConfig(**{**fixture.HEALTHY_CONFIG.__dict__, "unvalidated": "o"})
    assert check(gate, awaiting_review(0.1, old), old)["status"] == "passed"


def address_word_awaiting_review(word_id: int, every: int = 1) -> Dataset:
    """The healthy receipts with word `word_id` of `1 Main St` NEEDS_REVIEW in every `every`-th receipt."""
    raw = fixture.healthy_read()
    receipts = [fixture.image_id(n) for n in range(1, raw.receipts.height + 1, every)]
    pending = (pl.col("label") == "ADDRESS") & (pl.col("word_id") == word_id) & pl.col("image_id").is_in(receipts)
    labels = raw.labels.with_columns(
        pl.when(pending).then(pl.lit("NEEDS_REVIEW")).otherwise(pl.col("validation_status")).alias("validation_status")
    )
    return build_dataset(replace(raw, labels=labels), fixture.HEALTHY_CONFIG)


def test_bio_continues_across_unknown_words_only_under_ignore(gate):
    dataset = address_word_awaiting_review(2)
    street = dataset.words.filter((pl.col("line_id") == 2) & (pl.col("word_id") == 3))
    assert set(street["tag"]) == {"I-ADDRESS_LINE"} and street["supervised"].all()
    assert check(gate, dataset)["status"] in ("passed", "warned")
    old = BuildConfig(
        **{**fixture.HEALTHY_CONFIG.__dict__, "unvalidated": "o"}
    )  # o does not skip unknown words: I- after O
    assert ("snapshot_words", "bio_valid") in failures(check(gate, dataset, old))


def test_a_start_right_after_an_unknown_word_is_unsupervised_in_val_too(gate):
    dataset = address_word_awaiting_review(1, every=4)
    main = dataset.words.filter((pl.col("line_id") == 2) & (pl.col("word_id") == 2) & ~pl.col("supervised"))
    assert set(main["tag"]) == {"B-ADDRESS_LINE"} and (main["split"] == "val").any()
    assert check(gate, dataset)["status"] in ("passed", "warned")  # val_unmasked: not the ratio control's doing


def test_a_snapshot_from_before_label_state_still_passes(gate, healthy):
    old = BuildConfig(**{**fixture.HEALTHY_CONFIG.__dict__, "unvalidated": "o"})
    report = check(gate, replace(healthy, words=healthy.words.drop("label_state")), old)
    assert report["status"] == "passed", [r for r in report["results"] if not r["success"]]


@pytest.mark.parametrize(("empty_share", "status"), [(0.03, "passed"), (0.10, "warned")])
def test_mostly_tolerates_a_share_of_bad_rows_and_warnings_do_not_fail(gate, healthy, empty_share, status):
    n_empty = int(healthy.words.height * empty_share)
    words = healthy.words.with_columns(
        pl.when(pl.int_range(pl.len()) < n_empty).then(pl.lit("")).otherwise(pl.col("text")).alias("text")
    )
    report = check(gate, replace(healthy, words=words))
    assert report["status"] == status
    lengths = next(r for r in report["results"] if r["expectation"] == "expect_column_value_lengths_to_be_between")
    assert lengths["kwargs"]["mostly"] == 0.95 and lengths["observed"]["unexpected_count"] == n_empty


def test_status_is_failed_only_for_error_level_failures():
    result = lambda severity, success: {"severity": severity, "success": success}  # noqa: E731
    assert overall_status([result("error", True), result("warn", True)]) == "passed"
    assert overall_status([result("error", True), result("warn", False)]) == "warned"
    assert overall_status([result("error", False), result("warn", False)]) == "failed"


def test_the_gate_makes_no_network_call_and_writes_nothing(gate, healthy, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the contracts tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.chdir(tmp_path)
    assert check(gate, healthy)["status"] == "passed"
    assert list(tmp_path.iterdir()) == []


def test_importing_the_contracts_does_not_import_great_expectations():
    code = (
        "import sys, dataset_builder.contracts, dataset_builder.cli.contracts; print('great_expectations' in "
        "sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "False"


# --- loading the suite files ------------------------------------------------------------------

GOOD_ENTRY = (
    "  - type: expect_column_values_to_be_between\n    kwargs: {column: receipts, min_value: 1}\n    severity: error\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"suite: s\nframe: summary\nexpectation_count: 2\nexpectations:\n{GOOD_ENTRY}  - type: "
            f"expect_column_values_to_be_purple\n    kwargs: {{column: receipts}}\n    severity: error\n",
            "unknown expectation type 'expect_column_values_to_be_purple'",
        ),
        (
            f"suite: s\nframe: summary\nexpectation_count: 3\nexpectations:\n{GOOD_ENTRY}{GOOD_ENTRY}",
            "declares expectation_count: 3 but lists 2",
        ),
        (f"suite: s\nframe: summary\nexpectations:\n{GOOD_ENTRY}", "declares expectation_count: None but lists 1"),
        (
            "suite: s\nframe: summary\nexpectation_count: "
            f"1\nexpectations:\n{GOOD_ENTRY.replace('severity: error', 'severity: fatal')}",
            "severity must be error or warn",
        ),
        (
            "suite: s\nframe: summary\nexpectation_count: "
            f"1\nexpectations:\n{GOOD_ENTRY.replace('severity', 'severty')}",
            "unknown key(s) severty",
        ),
        (
            "suite: s\nframe: summary\nexpectation_count: "
            f"1\nexpectations:\n{GOOD_ENTRY.replace('min_value: 1', 'min_value: $min_receipts')}",
            "unknown parameter(s) min_receipts",
        ),
        (
            "suite: s\nframe: summary\nexpectation_count: "
            f"1\nexpectations:\n{GOOD_ENTRY.replace('column: receipts', 'column: reciepts')}",
            "frame 'summary' has no column reciepts",
        ),
        (
            "suite: s\nframe: summary\nexpectation_count: "
            f"1\nexpectations:\n{GOOD_ENTRY.replace('min_value: 1', 'low: 1')}",
            "invalid kwargs",
        ),
        (f"suite: s\nframe: sumary\nexpectation_count: 1\nexpectations:\n{GOOD_ENTRY}", "unknown frame 'sumary'"),
        (
            f"suite: other\nframe: summary\nexpectation_count: 1\nexpectations:\n{GOOD_ENTRY}",
            "must match the file name",
        ),
        ("suite: s\nexpectations: [unclosed\n", "not a readable suite file"),
    ],
)
def test_a_suite_file_that_would_not_check_what_it_says_is_refused(tmp_path, text, message):
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ContractError) as error:
        load_suites(tmp_path)
    assert message in str(error.value)


def test_the_repository_suites_load_and_an_empty_folder_is_an_error(tmp_path):
    assert [s.name for s in load_suites(default_contracts_dir())] == [
        "drift",
        "raw_labels",
        "snapshot",
        "snapshot_words",
    ]
    with pytest.raises(ContractError, match="no suite files"):
        load_suites(tmp_path)
    with pytest.raises(ContractError, match="does not exist"):
        contract_gate(tmp_path / "missing")


# --- drift against the parent ----------------------------------------------------------------


def test_psi_of_two_distributions():
    assert population_stability({"a": 5, "b": 5}, {"a": 50, "b": 50})[0] == 0.0
    psi, shifts = population_stability({"a": 50, "b": 50}, {"a": 25, "b": 75})
    assert psi == pytest.approx(-0.25 * math.log(0.5) + 0.25 * math.log(1.5))
    assert {s["bucket"] for s in shifts} == {"a", "b"}
    assert population_stability({}, {"a": 1}) == (None, [])


def shifted(share: float) -> Dataset:
    """The healthy receipts with PRODUCT_NAME labelled LINE_TOTAL in the first `share` of them."""
    raw = fixture.healthy_read()
    moved = [fixture.image_id(n) for n in range(1, 1 + int(share * raw.receipts.height))]
    relabel = (pl.col("label") == "PRODUCT_NAME") & pl.col("image_id").is_in(moved)
    labels = raw.labels.with_columns(
        pl.when(relabel).then(pl.lit("LINE_TOTAL")).otherwise(pl.col("label")).alias("label")
    )
    return build_dataset(replace(raw, labels=labels), fixture.HEALTHY_CONFIG)


@pytest.mark.parametrize(
    ("share", "status", "drift_status"),
    [(0.0, "passed", "passed"), (0.55, "warned", "warned"), (1.0, "failed", "failed")],
)
def test_drift_against_the_parent_snapshot(tmp_path, healthy, share, status, drift_status):
    fixture.publish(tmp_path, healthy)
    fixture.publish(tmp_path, shifted(share))
    parent, current = open_snapshot(tmp_path, "v1"), open_snapshot(tmp_path, "v2")
    report = check_snapshot(current, parent)
    assert (report["snapshot_id"], report["parent_id"]) == ("v2", "v1")
    assert (report["status"], report["drift"]["status"]) == (status, drift_status)
    assert report["suites"]["drift"] == {
        "expectations": 8,
        "failed": {"passed": 0, "warned": 1, "failed": 2}[status],
        "skipped": 0,
    }
    metrics = report["drift"]["metrics"]
    assert metrics["status_mix"]["psi"] == 0.0 and metrics["words_per_receipt"]["psi"] == 0.0
    if share:
        assert metrics["label_share"]["largest_shifts"][0]["bucket"] == "PRODUCT_NAME"


# --- the CLI -------------------------------------------------------------------------------


def run_cli(*args: str):
    return CliRunner().invoke(app, ["contracts", *args])


def test_cli_exit_codes(tmp_path, healthy):
    fixture.publish(tmp_path, healthy)
    assert fixture.main(tmp_path) == "v2"
    passed = run_cli("check", "--root", str(tmp_path), "--snapshot", "v1")
    assert passed.exit_code == 0, passed.output
    assert "contracts passed" in passed.output

    failed = run_cli("check", "--root", str(tmp_path), "--snapshot", "v2", "--json", "--max-failing-rows", "3")
    assert failed.exit_code == 1
    report = json.loads(failed.stdout)
    broken = {
        (r["suite"], r["expectation"], r["column"])
        for r in report["results"]
        if not r["success"] and r["severity"] == "error"
    }
    assert set(fixture.BROKEN.values()) <= broken
    assert report["drift"]["parent_id"] == "v1" and report["drift"]["status"] != "skipped"

    table = run_cli("check", "--root", str(tmp_path), "--snapshot", "v2")
    assert table.exit_code == 1 and "bio_valid" in table.output and "supervision_valid" in table.output

    assert run_cli("check", "--root", str(tmp_path), "--snapshot", "v9").exit_code == 2
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "bad.yaml").write_text("suite: bad\nexpectation_count: 1\nexpectations: []\n")
    unreadable = run_cli(
        "check", "--root", str(tmp_path), "--snapshot", "v1", "--contracts-dir", str(tmp_path / "contracts")
    )
    assert unreadable.exit_code == 2 and "expectation_count" in unreadable.output


def test_cli_lists_the_suites():
    result = run_cli("list", "--json")
    assert result.exit_code == 0
    listed = {s["suite"]: (s["subject"], s["expectation_count"]) for s in json.loads(result.stdout)}
    assert listed == {
        "corpus": ("corpus", 21),
        "drift": ("snapshot", 8),
        "raw_labels": ("snapshot", 10),
        "snapshot": ("snapshot", 17),
        "snapshot_words": ("snapshot", 26),
    }


# --- the gate in a real build ------------------------------------------------------------------


def test_a_failed_gate_publishes_nothing_unless_failures_are_allowed(table, tmp_path):
    write_receipts(table, [simple_receipt(n) for n in range(1, 13)])
    contracts = tmp_path / "contracts"
    shutil.copytree(default_contracts_dir(), contracts)
    suite = contracts / "snapshot.yaml"
    suite.write_text(
        suite.read_text().replace("{column: receipts, min_value: 10}", "{column: receipts, min_value: 1000}")
    )
    root = tmp_path / "snapshots"
    build = lambda allow=False: create_snapshot(  # noqa: E731
        table=table,
        backend=LocalBackend(root),
        config=BuildConfig(val_fraction=0.25),
        options=BuildOptions(allow_contract_failures=allow),
        source={"table": "test"},
        check_contracts=contract_gate(contracts),
    )

    with pytest.raises(ContractGateFailed) as gate_failed:
        build()
    assert LocalBackend(root).published_ids() == []
    failed = failures(gate_failed.value.report)
    assert failed[("snapshot", "receipts")]["failing_rows"] == [{"receipts": 12}]
    assert "snapshot:expect_column_values_to_be_between" in str(gate_failed.value)

    result = build(allow=True)
    assert LocalBackend(root).published_ids() == ["v1"]
    assert open_snapshot(root, "v1").contracts.status == "failed"
    assert Queries(table).snapshot_records("v1")[0].contract_status == "failed"
    assert result.manifest.contracts.suites["snapshot"]["failed"] >= 1

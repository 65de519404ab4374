"""`dsb receipts generate|import` through typer's CliRunner, against DynamoDB Local."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dataset_builder import generate_receipts
from dataset_builder.cli import app
from metrics_store import connect, delete_table, table_exists
from metrics_store.queries import Queries

runner = CliRunner()


def table_args(config) -> list[str]:
    return ["--table", config.table, "--endpoint-url", config.endpoint_url, "--region", config.region, "--create-table"]


def test_generate_creates_the_table_and_prints_json(store_config):
    result = runner.invoke(
        app, ["receipts", "generate", "--n", "4", "--seed", "9", "--json", *table_args(store_config)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    expected = list(generate_receipts(9, 4))
    assert summary["receipts"] == 4 and summary["seed"] == 9
    assert summary["words"] == sum(len(r.words) for r in expected)
    assert summary["labels"] == sum(summary["labels_by_status"].values()) == sum(len(r.labels) for r in expected)
    assert summary["items_written"] == sum(r.item_count for r in expected)
    assert Queries(connect(store_config)).count_by_type("RECEIPT_WORD") == summary["words"]


def test_generate_reads_the_table_from_the_environment_and_renders_a_table(store_config):
    env = {
        "RECEIPT_ML_TABLE": store_config.table,
        "AWS_ENDPOINT_URL_DYNAMODB": store_config.endpoint_url,
        "AWS_REGION": "us-east-1",
    }
    result = runner.invoke(app, ["receipts", "generate", "--n", "2", "--seed", "1", "--create-table"], env=env)
    assert result.exit_code == 0, result.output
    assert "receipts" in result.stdout and "VALID" in result.stdout and store_config.table in result.stdout
    assert Queries(connect(store_config)).count_receipts() == 2


def write(path, receipts):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in receipts))
    return path


GOOD = {
    "receipt_id": "a",
    "width": 100,
    "height": 50,
    "split": "test",
    "words": [
        {"text": "Nasi", "box": [5, 5, 30, 15], "label": "menu.nm", "line_id": 1, "row_id": 1},
        {"text": "5,000", "box": [60, 5, 90, 15], "label": "menu.price", "line_id": 2, "row_id": 1},
    ],
}


def test_import_with_label_map_status_and_split_keys(store_config, tmp_path):
    label_map = tmp_path / "map.json"
    label_map.write_text(json.dumps({"menu.nm": "PRODUCT_NAME", "menu.price": None}))
    keys_file = tmp_path / "keys.txt"
    args = [
        "receipts",
        "import",
        str(write(tmp_path / "in.jsonl", [GOOD])),
        "--label-map",
        str(label_map),
        "--status",
        "PENDING",
        "--split-keys-out",
        str(keys_file),
        "--json",
        *table_args(store_config),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["words"] == 2 and report["summary"]["labels_by_status"]["PENDING"] == 1
    assert report["summary"]["label_names"] == {"PRODUCT_NAME": 1}
    assert report["problems"] == [] and report["held_out_receipts"] == 1
    assert keys_file.read_text() == report["receipts"][0]["key"] + "\n"


def test_import_skips_and_reports_bad_lines_with_exit_code_1(store_config, tmp_path):
    path = write(
        tmp_path / "bad.jsonl",
        [GOOD, "not json", {**GOOD, "receipt_id": "b", "words": [{"text": "x", "box": [0, 0, 500, 10]}]}],
    )
    result = runner.invoke(app, ["receipts", "import", str(path), "--json", *table_args(store_config)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(p["line"], p["receipt_id"]) for p in report["problems"]] == [(1, "a"), (1, "a"), (2, None), (3, "b")]
    assert "unknown label 'menu.price'" in report["problems"][1]["message"]
    assert report["summary"]["receipts"] == 0


def test_strict_import_fails_with_line_numbers_and_writes_nothing(store_config, tmp_path):
    path = write(tmp_path / "bad.jsonl", [{**GOOD, "words": [{"text": "ok", "box": [0, 0, 10, 10]}]}, "{oops"])
    result = runner.invoke(app, ["receipts", "import", str(path), "--strict", *table_args(store_config)])
    assert result.exit_code == 2
    assert "line 2" in result.stderr and "invalid JSON" in result.stderr
    assert not table_exists(connect(store_config))


def test_import_refuses_an_unknown_status(store_config, tmp_path):
    path = write(tmp_path / "in.jsonl", [{**GOOD, "words": []}])
    result = runner.invoke(app, ["receipts", "import", str(path), "--status", "MAYBE", *table_args(store_config)])
    assert result.exit_code == 2 and "status must be one of" in result.stderr


def test_generate_with_the_user_mix_writes_a_ground_truth_copy(store_config, tmp_path):
    from dataclasses import replace

    from dataset_builder.receipts.synthetic import USER_2025_11

    truth_table, truth_file = f"{store_config.table}-truth", tmp_path / "truth.jsonl"
    args = [
        "receipts",
        "generate",
        "--n",
        "3",
        "--seed",
        "5",
        "--label-mix",
        "user-2025-11",
        "--truth-table",
        truth_table,
        "--truth-jsonl",
        str(truth_file),
        "--json",
        *table_args(store_config),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    expected = list(generate_receipts(5, 3, USER_2025_11))
    assert summary["label_mix"] == "user-2025-11" and summary["labels"] == sum(len(r.labels) for r in expected)
    truth_ref = connect(replace(store_config, table=truth_table))
    truth = Queries(truth_ref)
    assert truth.count_by_type("RECEIPT_WORD") == summary["words"]
    assert truth.label_counts().total("VALID") == sum(1 for r in expected for t in r.truth.values() if t)
    assert sum(truth.label_counts().total(s) for s in ("INVALID", "NEEDS_REVIEW", "PENDING", "NONE")) == 0
    assert len(truth_file.read_text().splitlines()) == summary["words"]
    delete_table(truth_ref)
    bad = runner.invoke(app, ["receipts", "generate", "--n", "1", "--label-mix", "sloppy", *table_args(store_config)])
    assert bad.exit_code == 2 and "--label-mix: unknown mix 'sloppy'" in bad.output

"""`dsb snapshot ...` and `dsb stats` as a user runs them."""

import json

from typer.testing import CliRunner

from dataset_builder.cli import app

from .receipts_fixture import image_id, simple_receipt, write_receipts

runner = CliRunner()


def dsb(store_config, *args, root=None):
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": store_config.endpoint_url,
        "RECEIPT_ML_TABLE": store_config.table,
        "AWS_REGION": "us-east-1",
    }
    if root is not None:
        env["RECEIPT_ML_SNAPSHOT_ROOT"] = str(root)
    return runner.invoke(app, list(args), env=env)


def test_create_list_show_verify_diff(table, store_config, tmp_path):
    write_receipts(table, [simple_receipt(n) for n in range(1, 11)])
    first = dsb(
        store_config,
        "snapshot",
        "create",
        "--skip-contracts",
        "--merge-preset",
        "amounts",
        "--val-fraction",
        "0.3",
        root=tmp_path,
    )
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().splitlines()[-1] == "v1"
    second = dsb(
        store_config,
        "snapshot",
        "create",
        "--skip-contracts",
        "--json",
        "--merge-preset",
        "amounts",
        "--val-fraction",
        "0.3",
        root=tmp_path,
    )
    created = json.loads(second.stdout)
    assert created["id"] == "v2" and created["manifest"]["lock"]["parent_id"] == "v1" and created["recorded"] is True

    listed = json.loads(dsb(store_config, "snapshot", "list", "--json", root=tmp_path).stdout)
    assert [r["id"] for r in listed] == ["v1", "v2"]
    shown = json.loads(dsb(store_config, "snapshot", "show", "v1", "--json", root=tmp_path).stdout)
    assert shown["id"] == "v1" and shown["spec"]["merge_preset"] == "amounts"
    assert dsb(store_config, "snapshot", "show", "v1", root=tmp_path).exit_code == 0

    ok = dsb(store_config, "snapshot", "verify", "v2", root=tmp_path)
    assert ok.exit_code == 0 and "intact" in ok.stdout
    diff = json.loads(dsb(store_config, "snapshot", "diff", "v1", "v2", "--json", root=tmp_path).stdout)
    assert (
        diff["receipts"]["added"] == 0 and diff["content_changed"] is False and diff["split"]["same_val_split"] is True
    )
    assert dsb(store_config, "snapshot", "diff", "v1", "v2", root=tmp_path).exit_code == 0

    words = tmp_path / "v1" / "words.parquet"
    words.chmod(0o644)
    words.write_bytes(b"not parquet any more")
    bad = dsb(store_config, "snapshot", "verify", "v1", root=tmp_path)
    assert bad.exit_code == 1 and "words.parquet was modified" in bad.output


def test_clear_errors_and_exit_codes(table, store_config, tmp_path):
    missing = dsb(store_config, "snapshot", "show", "v9", root=tmp_path)
    assert missing.exit_code == 2 and "snapshot v9 not found" in missing.output and "Traceback" not in missing.output
    empty = dsb(store_config, "snapshot", "create", "--skip-contracts", root=tmp_path)
    assert empty.exit_code == 2 and "no receipt has a label with status VALID" in empty.output
    bad_label = dsb(store_config, "snapshot", "create", "--skip-contracts", "--allowed-label", "AMOUNT", root=tmp_path)
    assert bad_label.exit_code == 2 and "--allowed-label: unknown label(s) AMOUNT" in bad_label.output
    no_table = runner.invoke(
        app,
        ["snapshot", "create", "--skip-contracts", "--table", "nope"],
        env={"AWS_ENDPOINT_URL_DYNAMODB": store_config.endpoint_url, "RECEIPT_ML_SNAPSHOT_ROOT": str(tmp_path)},
    )
    assert no_table.exit_code == 2 and "table 'nope' does not exist" in no_table.output
    down = runner.invoke(
        app, ["stats", "--endpoint-url", "http://127.0.0.1:9", "--table", "x"], env={"AWS_MAX_ATTEMPTS": "1"}
    )
    assert down.exit_code == 2 and "cannot reach DynamoDB" in down.output and "mstore local start" in down.output
    keys = dsb(
        store_config,
        "snapshot",
        "create",
        "--skip-contracts",
        "--val-keys",
        str(tmp_path / "absent.txt"),
        root=tmp_path,
    )
    assert keys.exit_code == 2 and "absent.txt does not exist" in keys.output


def test_stats(table, store_config):
    write_receipts(table, [simple_receipt(1), simple_receipt(2, status="NEEDS_REVIEW")])
    result = dsb(store_config, "stats", "--json")
    stats = json.loads(result.stdout)
    assert stats["receipts"] == 2 and stats["words"] == 20
    assert stats["labels_by_status"]["DATE"]["VALID"] == 1 and stats["labels_by_status"]["DATE"]["NEEDS_REVIEW"] == 1
    assert stats["labels_by_status"]["LINE_TOTAL"]["INVALID"] == 2
    assert stats["valid_labels"] == 6
    # receipt 2's six labelled words carry NEEDS_REVIEW (and one INVALID) items only: unknown
    assert stats["label_states"] == {"statuses": ["VALID"], "labelled": 6, "unknown": 6, "unlabelled": 8}
    assert stats["unknown_words_by_label"] == {
        "DATE": {"NEEDS_REVIEW": 1},
        "GRAND_TOTAL": {"NEEDS_REVIEW": 1},
        "LINE_TOTAL": {"INVALID": 1, "NEEDS_REVIEW": 1},
        "MERCHANT_NAME": {"NEEDS_REVIEW": 2},
        "PRODUCT_NAME": {"NEEDS_REVIEW": 1},
    }
    wider = json.loads(dsb(store_config, "stats", "--json", "--status", "VALID", "--status", "NEEDS_REVIEW").stdout)
    assert wider["label_states"]["labelled"] == 12 and wider["label_states"]["unknown"] == 0
    shown = dsb(store_config, "stats")
    assert shown.exit_code == 0 and "6 unknown" in shown.stdout
    assert dsb(store_config, "stats", "--status", "MAYBE").exit_code == 2


def test_create_with_unvalidated_ignore_or_o(table, store_config, tmp_path):
    reviewed = [
        (
            f"{image_id(50)}",
            [
                [("Corner", [("MERCHANT_NAME", "VALID")]), ("Deli", [("MERCHANT_NAME", "NEEDS_REVIEW")])],
                [("2026-01-02", [("DATE", "INVALID")]), ("Thanks", [])],
            ],
        )
    ]
    write_receipts(table, [simple_receipt(n) for n in range(1, 11)] + reviewed)
    ignore = json.loads(
        dsb(
            store_config, "snapshot", "create", "--skip-contracts", "--json", "--val-fraction", "0.2", root=tmp_path
        ).stdout
    )
    old = json.loads(
        dsb(
            store_config,
            "snapshot",
            "create",
            "--skip-contracts",
            "--json",
            "--val-fraction",
            "0.2",
            "--unvalidated",
            "o",
            root=tmp_path,
        ).stdout
    )
    assert ignore["manifest"]["spec"]["unvalidated"] == "ignore" and old["manifest"]["spec"]["unvalidated"] == "o"
    counts = {s: c for s, c in ignore["manifest"]["lock"]["counts"]["splits"].items() if c["unknown_words"]}
    ((split, c),) = counts.items()
    assert c["unknown_words_by_label"] == {"DATE": {"INVALID": 1}, "MERCHANT_NAME": {"NEEDS_REVIEW": 1}}
    old_split = old["manifest"]["lock"]["counts"]["splits"][split]
    assert old_split["unknown_words"] == 2 and old_split["supervised_words"] == c["supervised_words"] + 2
    assert ignore["manifest"]["lock"]["o_entity_ratio"]["unknown_before"][split] == 2
    shown = dsb(store_config, "snapshot", "show", "v1", root=tmp_path)
    assert (
        shown.exit_code == 0
        and "--unvalidated ignore" in shown.stdout
        and "left out of training and scoring" in shown.stdout
    )
    diff = json.loads(dsb(store_config, "snapshot", "diff", "v1", "v2", "--json", root=tmp_path).stdout)
    assert diff["config_changes"] == {"unvalidated": {"from": "ignore", "to": "o"}}
    assert {(c["from"], c["to"]): c["words"] for c in diff["relabelled_words"]["by_change"]} == {("(unknown)", "O"): 2}
    bad = dsb(store_config, "snapshot", "create", "--skip-contracts", "--unvalidated", "skip", root=tmp_path)
    assert bad.exit_code == 2 and "--unvalidated must be one of ignore, o" in bad.output


def test_no_credentials_is_one_clear_error(tmp_path):
    env = {
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_PROFILE": None,
        "AWS_ENDPOINT_URL_DYNAMODB": None,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_REGION": "us-east-1",
    }
    result = runner.invoke(app, ["stats", "--table", "ReceiptsTable"], env=env)
    assert result.exit_code == 2, result.output
    assert "no AWS credentials found" in result.output and "Traceback" not in result.output
    bad_profile = runner.invoke(app, ["stats", "--profile", "nobody"], env=env)
    assert bad_profile.exit_code == 2 and "AWS profile 'nobody' not found" in bad_profile.output

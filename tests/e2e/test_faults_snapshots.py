"""Fault injection on snapshot builds and imports: a failed build publishes nothing, a
damaged parent blocks nothing without saying how to proceed, a killed build's debris is found
and repaired, and an import reports every bad line before writing. State is read back with
`dsb snapshot list --json`."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from dataset_builder import BuildConfig, LocalBackend, create_snapshot
from metrics_store import Queries

from .faults import dsb, snapshot_list

pytestmark = pytest.mark.slow
CREATE = ("snapshot", "create", "--skip-contracts", "--merge-preset", "amounts", "--val-fraction", "0.2")


def test_a_bad_number_publishes_nothing(e2e_table, tmp_path):
    config, _ = e2e_table
    root = tmp_path / "snapshots"
    for ratio in ("nan", "inf", "-1"):
        failed = dsb(config, *CREATE, "--o-entity-ratio", ratio, "--root", str(root))
        assert failed.exit_code == 2 and "--o-entity-ratio" in failed.output, failed.output
    assert snapshot_list(config, root) == []
    assert not (root / ".ids").exists() or not list((root / ".ids").iterdir())  # not even an id was taken


def test_a_damaged_latest_snapshot_is_named_and_can_be_built_around(e2e_table, tmp_path):
    config, table = e2e_table
    root = tmp_path / "snapshots"
    assert dsb(config, *CREATE, "--root", str(root)).exit_code == 0
    words = root / "v1" / "words.parquet"
    words.chmod(0o644)
    words.write_bytes(words.read_bytes()[:-100])
    started = time.monotonic()
    blocked = dsb(config, *CREATE, "--root", str(root))
    assert blocked.exit_code == 2 and "parent snapshot v1" in blocked.output and "--parent none" in blocked.output
    assert time.monotonic() - started < 30, "refused before reading the table"
    assert [r["id"] for r in snapshot_list(config, root)] == ["v1"]
    built = dsb(config, *CREATE, "--root", str(root), "--parent", "none", "--json")
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["manifest"]["lock"]["parent_id"] is None
    listed = snapshot_list(config, root)
    assert [r["id"] for r in listed] == ["v1", "v2"] and listed[1]["recorded"] is True


def test_debris_of_killed_builds_is_listed_and_repaired(e2e_table, tmp_path):
    config, table = e2e_table
    root = tmp_path / "snapshots"
    backend = LocalBackend(root)
    # A build killed after publishing, before its table record (as kill -9 would leave it):
    create_snapshot(
        table=table, backend=backend, config=BuildConfig(val_fraction=0.2), source={"table": config.table}, record=False
    )
    backend.reserve_id()  # a build killed after taking an id: v2 is a gap
    dead = root / ".staging" / f"v2-{socket.gethostname()}-999999-deadbeef"  # pid 999999: no such process
    dead.mkdir(parents=True)
    (dead / "words.parquet").write_bytes(b"half written")
    old = time.time() - 7200
    os.utime(dead, (old, old))
    live = root / ".staging" / f"v9-{socket.gethostname()}-{os.getpid()}-cafe0001"  # a build that is still running
    live.mkdir()
    os.utime(live, (old, old))

    listed = snapshot_list(config, root)
    assert [(r["id"], r["recorded"]) for r in listed] == [("v1", False)]
    verified = dsb(config, "snapshot", "verify", "v1", "--root", str(root))
    assert verified.exit_code == 0 and "MISSING" in verified.output and "dsb snapshot repair" in verified.output
    repaired = dsb(config, "snapshot", "repair", "--root", str(root), "--json")
    assert repaired.exit_code == 0, repaired.output
    report = json.loads(repaired.stdout)
    assert report["records_written"] == ["v1"] and report["unpublished_ids"] == ["v2"]
    assert report["debris_removed"] == [str(dead)] and live.is_dir() and not dead.exists()
    listed = snapshot_list(config, root)
    assert [(r["id"], r["recorded"]) for r in listed] == [("v1", True)]
    assert [r.manifest_sha256 for r in Queries(table).snapshot_records("v1")].count(listed[0]["manifest_sha256"]) == 1
    again = json.loads(dsb(config, "snapshot", "repair", "--root", str(root), "--json").stdout)
    assert again["records_written"] == [] and again["debris_removed"] == []  # a rerun writes nothing new


def test_an_import_reports_oversize_and_truncated_lines_before_writing(e2e_table, tmp_path):
    config, table = e2e_table
    good = {
        "receipt_id": "ok",
        "width": 100,
        "height": 100,
        "words": [{"text": "Milk", "box": [1, 1, 20, 10], "label": "PRODUCT_NAME"}],
    }
    huge = {
        "receipt_id": "huge",
        "width": 100,
        "height": 100,
        "words": [{"text": "x" * 500_000, "box": [1, 1, 20, 10]}],
    }
    lines = [json.dumps(good), json.dumps(huge), json.dumps(good | {"receipt_id": "cut"})[:40]]
    path = tmp_path / "receipts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = Queries(table).count_by_type("RECEIPT")
    strict = dsb(config, "receipts", "import", str(path), "--strict")
    assert strict.exit_code == 2, strict.output
    assert (
        "line 2 (receipt huge): ReceiptWord line 1 word 1" in strict.output
        and "over DynamoDB's 409,600-byte limit" in strict.output
    )
    assert (
        "line 3: invalid JSON: Unterminated string starting at column 37; the line ends at column 41 (truncated?)"
        in strict.output
    )
    assert Queries(table).count_by_type("RECEIPT") == before
    lenient = dsb(config, "receipts", "import", str(path), "--json")
    assert lenient.exit_code == 1 and json.loads(lenient.stdout)["skipped_lines"] == [2, 3]
    assert Queries(table).count_by_type("RECEIPT") == before + 1

"""The typed snapshot manifest: spec vs lock, versions, and snapshots written by the first
release (schema version 1, fixture in tests/fixtures/snapshots_v1)."""

from __future__ import annotations

import json
import shutil

import pytest

from dataset_builder import BuildConfig, SnapshotCorrupted, list_snapshots, open_snapshot
from dataset_builder.diff import diff_snapshots, spec_changes
from dataset_builder.manifest import Manifest, ManifestError
from tests.conftest import REPO_ROOT

V1_ROOT = REPO_ROOT / "tests" / "fixtures" / "snapshots_v1"


def test_a_version_1_snapshot_opens_with_typed_accessors():
    snap = open_snapshot(V1_ROOT, "v1")  # hashes verified: the upgrade rewrites nothing on disk
    raw = json.loads((V1_ROOT / "v1" / "manifest.json").read_text())
    assert raw["format_version"] == 1 and "concurrency" in raw["build_config"]
    assert snap.manifest.schema_version == 2
    # the first release trained every word without a VALID label as O: upgraded as `--unvalidated o`
    assert snap.spec == BuildConfig(
        merge_preset="amounts", val_fraction=0.25, seed=3, o_entity_ratio=3.0, unvalidated="o"
    )
    assert snap.label_list == raw["label_list"] and snap.tags == raw["tags"]
    assert snap.content_sha256 == raw["content_sha256"]
    assert snap.lock.counts.split("train").receipts + snap.lock.counts.split("val").receipts == 12
    assert snap.lock.o_entity_ratio.target == 3.0
    assert snap.contracts.status == "unchecked" and snap.contracts_passed
    assert snap.split_hash("val") == raw["split_hashes"]["val"]
    assert snap.words.height == raw["files"]["words.parquet"]["rows"]
    assert list_snapshots(V1_ROOT)[0]["id"] == "v1"


def test_version_2_round_trips_and_keeps_run_options_out_of_the_spec():
    manifest = open_snapshot(V1_ROOT, "v1").manifest
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    spec = json.loads(manifest.to_json())["spec"]
    assert not {"concurrency", "allow_contract_failures", "strategy"} & set(spec)
    assert set(json.loads(manifest.to_json())) == {"schema_version", "id", "spec", "lock"}


def test_a_version_2_manifest_from_before_the_unvalidated_option_reads_as_o():
    data = open_snapshot(V1_ROOT, "v1").manifest.to_dict()
    assert data["spec"]["unvalidated"] == "o"
    del data["spec"]["unvalidated"]
    assert Manifest.from_dict(data).spec.unvalidated == "o"
    data["spec"]["unvalidated"] = "ignore"
    assert Manifest.from_dict(data).spec.unvalidated == "ignore"
    data["spec"]["unvalidated"] = "skip"
    with pytest.raises(ManifestError, match="--unvalidated must be one of ignore, o"):
        Manifest.from_dict(data)


def test_spec_changes_name_only_data_options():
    a = BuildConfig(merge_preset="amounts")
    assert spec_changes(a, BuildConfig(merge_preset="amounts")) == {}
    changed = spec_changes(a, BuildConfig(merge_preset="amounts", val_fraction=0.2))
    assert changed == {"val_fraction": {"from": 0.1, "to": 0.2}}
    snap = open_snapshot(V1_ROOT, "v1")
    assert diff_snapshots(snap, snap)["config_changes"] == {}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: {**m, "format_version": 7}, "schema version 7"),
        (lambda m: {k: v for k, v in m.items() if k != "label_list"}, "label_list"),
        (lambda m: "[1, 2]", "not a JSON object"),
    ],
)
def test_unreadable_manifests_are_one_clear_error(tmp_path, edit, message):
    shutil.copytree(V1_ROOT / "v1", tmp_path / "v1")
    path = tmp_path / "v1" / "manifest.json"
    path.chmod(0o644)
    edited = edit(json.loads(path.read_text()))
    path.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    with pytest.raises(SnapshotCorrupted, match=message):
        open_snapshot(tmp_path, "v1", verify=False)
    with pytest.raises(ManifestError):
        Manifest.from_json(path.read_text())


@pytest.mark.parametrize(
    "options",
    [
        {"o_entity_ratio": float("nan")},
        {"o_entity_ratio": float("inf")},
        {"o_entity_ratio": -1.0},
        {"val_fraction": float("nan")},
    ],
)
def test_non_finite_build_options_are_refused(options):
    from dataset_builder import ConfigError

    with pytest.raises(ConfigError, match="--o-entity-ratio|--val-fraction"):
        BuildConfig(**options)


@pytest.mark.parametrize(
    "parent, ok", [("latest", True), ("none", True), ("v12", True), ("12", False), ("../v1", False)]
)
def test_the_parent_option(parent, ok):
    from dataset_builder.config import BuildOptions, ConfigError

    if ok:
        assert BuildOptions(parent=parent).parent == parent
    else:
        with pytest.raises(ConfigError, match="--parent"):
            BuildOptions(parent=parent)


def test_a_truncated_json_line_is_reported_where_it_ends():
    from dataset_builder.receipts.jsonl import parse_receipt

    line = '{"receipt_id": "r1", "width": 10, "words": [{"text": "Mi'
    receipt, problems = parse_receipt(line + "\n", 7, None)
    assert receipt is None and problems[0].line_number == 7
    start = line.index('"Mi') + 1
    assert problems[0].message == (
        f"invalid JSON: Unterminated string starting at column {start}; "
        f"the line ends at column {len(line) + 1} (truncated?)"
    )
    _, problems = parse_receipt('{"receipt_id": "r1", "width": 10,\n', 8, None)
    assert "at column 34; the line ends at column 34 (truncated?)" in problems[0].message

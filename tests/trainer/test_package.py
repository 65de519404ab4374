"""The model package contract (trainer.model.package): round trip, the card, the version 0 upgrade,
and every refusal naming what is missing; `--model` resolution (folder, best/, s3://)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from trainer import resolve_model
from trainer.jobs.storage import upload_folder
from trainer.model.package import (
    PACKAGE_FILE,
    BestEvaluation,
    BoxConvention,
    ModelPackage,
    PackageError,
    SnapshotRef,
    load_package,
    model_card,
    package_schema,
    read_package,
    write_package,
)

TAGS = ["O", "B-AMOUNT", "I-AMOUNT", "B-DATE", "I-DATE"]


def package(**changes) -> ModelPackage:
    values = dict(
        job_id="job-1",
        created_at="2026-12-01T00:00:00+00:00",
        snapshot=SnapshotRef(id="v3", content_sha256="ab" * 32),
        label_list=["AMOUNT", "DATE"],
        tags=TAGS,
        tag_scheme="IOB2",
        max_seq_length=128,
        doc_stride=32,
        coordinate_convention=BoxConvention(name="layoutlm-0-1000-top-left", description="0..1000, top-left"),
        best=BestEvaluation(checkpoint_metric="val_f1", best_metric=0.61, epoch=3.0, step=30, val_f1=0.61),
        model_source="tiny",
    )
    values.update(changes)
    return ModelPackage(**values)


def folder(tmp_path: Path, pkg: ModelPackage | None = None, *, weights: bool = True, tokenizer: bool = True) -> Path:
    path = tmp_path / "best"
    path.mkdir(parents=True, exist_ok=True)
    write_package(path, pkg or package())
    if tokenizer:
        (path / "tokenizer.json").write_text("{}")
    if weights:
        (path / "config.json").write_text(json.dumps({"id2label": {str(i): t for i, t in enumerate(TAGS)}}))
        (path / "model.safetensors").write_bytes(b"\0")
    return path


def edit(path: Path, change) -> None:
    data = json.loads((path / PACKAGE_FILE).read_text())
    change(data)
    (path / PACKAGE_FILE).write_text(json.dumps(data))


def test_a_package_round_trips_and_its_card_says_what_it_is(tmp_path):
    path = folder(tmp_path)
    assert load_package(path) == read_package(path) == package()
    card = (path / "README.md").read_text()
    assert card == model_card(package())
    assert "job-1" in card and "`v3`" in card and "0.6100" in card and "128 sub-tokens, stride 32" in card


def test_the_published_schema_is_the_models_own():
    from jsonschema import Draft202012Validator

    schema = json.loads((REPO_ROOT / "docs" / "schemas" / "model_package.json").read_text())
    assert schema == package_schema(), (
        "docs/schemas/model_package.json is stale: regenerate it from trainer.model.package.package_schema()"
    )
    Draft202012Validator(schema).validate(json.loads(package().to_json()))


def test_a_card_written_before_packages_existed_is_upgraded_on_read(tmp_path):
    path = folder(tmp_path)
    (path / PACKAGE_FILE).write_text(
        json.dumps(
            {
                "job_id": "old",
                "snapshot": {"id": "v1", "content_sha256": "cd" * 32},
                "tags": TAGS,
                "label_list": ["AMOUNT", "DATE"],
                "coordinate_convention": {"name": "layoutlm-0-1000-top-left"},
                "max_seq_length": 512,
                "doc_stride": 128,
                "best_epoch": 4.0,
                "best_f1": 0.7,
            }
        )
    )
    old = load_package(path)
    assert old.job_id == "old" and old.tag_scheme == "IOB2" and old.best.epoch == 4.0 and old.best.best_f1_of_run == 0.7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("tags"), "lacks tags"),
        (
            lambda d: (d.pop("max_seq_length"), d["snapshot"].pop("content_sha256")),
            "lacks snapshot.content_sha256, max_seq_length",
        ),
        (
            lambda d: d["coordinate_convention"].update(name="pixels-bottom-left"),
            "expects boxes in the 'pixels-bottom-left' convention",
        ),
        (lambda d: d.update(tag_scheme="BILOU"), "uses the 'BILOU' tag scheme; predict knows only IOB2"),
        (lambda d: d.update(schema_version=7), "schema_version 7"),
        (lambda d: d.update(doc_stride=-1), "has bad values (doc_stride"),
    ],
)
def test_a_package_lacking_a_field_or_with_an_unknown_convention_is_refused_by_name(tmp_path, change, message):
    path = folder(tmp_path)
    edit(path, change)
    with pytest.raises(PackageError, match=message.replace("(", r"\(")):
        load_package(path)


def test_missing_files_are_named_for_the_runtime_that_needs_them(tmp_path):
    with pytest.raises(PackageError, match=r"lacks its tokenizer \(tokenizer.json or vocab.txt\)"):
        load_package(folder(tmp_path / "a", tokenizer=False))
    with pytest.raises(PackageError, match="lacks its PyTorch weights"):
        load_package(folder(tmp_path / "b", weights=False))
    with pytest.raises(PackageError, match="lacks an ONNX graph: make one with `trainer export --format onnx`"):
        load_package(folder(tmp_path / "c"), "onnx")
    with pytest.raises(PackageError, match="is not a model package: it has no receipt_ml.json"):
        load_package(tmp_path)
    path = folder(tmp_path / "d")
    (path / "config.json").write_text(json.dumps({"id2label": {"0": "O"}}))
    with pytest.raises(PackageError, match="disagrees with the package's tags"):
        load_package(path)


def test_model_refs_resolve_to_the_package_folder(tmp_path, s3_bucket):
    best = folder(tmp_path / "run")
    assert resolve_model(str(tmp_path / "run")) == best == resolve_model(str(best))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))
    client, bucket = s3_bucket
    uri = upload_folder(best, f"s3://{bucket}/runs/job-1", s3_client=client)
    local = resolve_model(uri, cache_dir=tmp_path / "cache", s3_client=client)
    assert local == tmp_path / "cache" / bucket / "runs/job-1/best" and load_package(local) == package()
    with pytest.raises(PackageError, match="nothing is stored under that prefix"):
        resolve_model(f"s3://{bucket}/nothing/", cache_dir=tmp_path / "cache", s3_client=client)

"""`trainer predict` and `trainer export` on a tiny model trained here (generated receipts in
DynamoDB Local, windows of 64 sub-tokens so receipts span several): the package round trip,
predictions equal to evaluation, the recorded val F1 reproduced, ONNX parity, int8, every
input source, and the bad inputs with their messages and exit codes."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from dataset_builder import (
    BuildConfig,
    LocalBackend,
    ReceiptBundle,
    create_snapshot,
    generate_receipts,
    write_bundles,
)
from metrics_store import DynamoRecorder, Queries, StoreConfig, connect, create_table, delete_table
from metrics_store.records import Geometry, Point, Receipt, ReceiptWord
from tests.conftest import REPO_ROOT
from trainer import FitRequest, ModelConfig, TrainConfig, fit
from trainer.cli import app
from trainer.model.package import PACKAGE_FILE, ModelPackage, load_package, read_package

from .test_runs_builders import validate

pytestmark = pytest.mark.slow
runner = CliRunner()
LABELS = ("MERCHANT_NAME", "DATE", "TIME", "PRODUCT_NAME", "AMOUNT")


@pytest.fixture(scope="module")
def trained(dynamodb_endpoint, tmp_path_factory):
    """A table of 40 generated receipts, snapshot v1 of them, and a tiny model trained on it."""
    config = StoreConfig(table=f"predict-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    table = connect(config)
    create_table(table, stream=False)
    write_bundles(table, list(generate_receipts(5, 40)))
    root = tmp_path_factory.mktemp("snapshots")
    create_snapshot(
        table=table,
        backend=LocalBackend(root),
        source={"table": table.name},
        config=BuildConfig(merge_preset="amounts", allowed_labels=LABELS, val_fraction=0.25, seed=3),
    )
    out = tmp_path_factory.mktemp("runs")
    request = FitRequest(
        snapshot_root=str(root),
        model=ModelConfig(model="tiny", max_seq_length=64, doc_stride=16),
        train=TrainConfig(
            epochs=4, batch_size=8, learning_rate=2e-3, seed=1, early_stopping_patience=None, output_dir=str(out)
        ),
        job_name="predict-fit",
    )
    result = fit(request, lambda job_id: DynamoRecorder(table, job_id))
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "RECEIPT_ML_TABLE": config.table,
        "AWS_REGION": "us-east-1",
        "RECEIPT_ML_SNAPSHOT_ROOT": str(root),
        "COLUMNS": "200",
    }
    yield {
        "table": table,
        "root": root,
        "result": result,
        "run_dir": Path(result.output_dir),
        "env": env,
        "exported": tmp_path_factory.mktemp("export") / "onnx",
    }
    delete_table(table)


def cli(trained, *args: str, code: int = 0):
    result = runner.invoke(app, list(args), env=trained["env"])
    assert result.exit_code == code, result.output
    return result


def predict_json(trained, *args: str, code: int = 0) -> dict:
    payload = json.loads(cli(trained, "predict", *args, "--json", code=code).stdout)
    validate(payload, "predict_summary")
    return payload


def test_the_best_folder_is_a_package_that_round_trips(trained):
    best = trained["run_dir"] / "best"
    package = load_package(best)
    assert package == read_package(trained["run_dir"] / "best")
    assert ModelPackage.model_validate_json(package.to_json()) == package
    job = Queries(trained["table"]).get_job(trained["result"].job_id)
    assert package.job_id == job.job_id and package.snapshot.id == "v1"
    assert package.snapshot.content_sha256 == job.job_config["snapshot"]["content_sha256"]
    assert (
        package.tags[0] == "O"
        and {f"B-{label}" for label in LABELS} <= set(package.tags)
        and package.tag_scheme == "IOB2"
    )
    assert (package.max_seq_length, package.doc_stride) == (64, 16)
    assert package.coordinate_convention.name == "layoutlm-0-1000-top-left"
    assert package.best.val_f1 == job.results["best_f1"] > 0.0 and package.best.checkpoint_metric == "val_f1"
    card = (best / "README.md").read_text()
    assert job.job_id in card and "val strict F1" in card and f"{package.best.val_f1:.4f}" in card


def test_predicting_the_val_split_reproduces_the_recorded_best_f1_and_equals_evaluation(trained, tmp_path):
    from dataset_builder import open_snapshot
    from trainer import load_runner
    from trainer.model.evaluate import evaluate_windows
    from trainer.model.features import build_features, examples_from_frame

    out = tmp_path / "val.jsonl"
    payload = predict_json(trained, "--model", str(trained["run_dir"]), "--snapshot", "v1", "--out", str(out))
    recorded = Queries(trained["table"]).get_job(trained["result"].job_id).results["best_f1"]
    assert round(payload["metrics"]["f1"], 4) == round(recorded, 4)
    assert (
        payload["input"]["same_snapshot_as_training"] is True and payload["windows"] > payload["receipts"]
    )  # several windows each

    # evaluation's own path: every window through the model one at a time, evaluate_windows
    best = trained["run_dir"] / "best"
    package = load_package(best)
    snapshot = open_snapshot(trained["root"], "v1")
    examples = examples_from_frame(snapshot.words, snapshot.tags, split="val")
    model, tokenizer = load_runner(best, package, "torch", device="cpu")
    features = build_features(examples, tokenizer, package.max_seq_length, package.doc_stride)
    import torch

    logits = [
        model({k: torch.tensor([f[k]]) for k in ("input_ids", "bbox", "attention_mask", "token_type_ids")})[0]
        for f in features
    ]
    assert evaluate_windows(logits, features, examples, snapshot.tags) == payload["metrics"]

    receipts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["receipt_key"] for r in receipts] == [e.receipt_key for e in examples]
    for record, example in zip(receipts, examples, strict=True):
        assert [w["text"] for w in record["words"]] == example.words  # exactly one prediction per word
        assert all(
            0 < w["confidence"] <= 1 and len(w["top"]) == 3 and w["top"][0]["tag"] == w["tag"] for w in record["words"]
        )
        for entity in record["entities"]:
            words = [w for w in record["words"] if w["key"] in entity["word_keys"]]
            assert entity["text"] == " ".join(w["text"] for w in words) and words[0]["tag"] == f"B-{entity['label']}"
            assert entity["confidence_min"] <= entity["confidence_mean"] <= 1


def test_a_job_id_names_its_best_model_and_parquet_output_holds_the_same(trained, tmp_path):
    by_job = predict_json(
        trained, "--model", trained["result"].job_id, "--snapshot", "v1", "--out", str(tmp_path / "p.parquet")
    )
    by_dir = predict_json(trained, "--model", str(trained["run_dir"] / "best"), "--snapshot", "v1", "--split", "all")
    assert by_job["model"] == str(trained["run_dir"] / "best") and by_job["input"]["split"] == "val"
    frame = pl.read_parquet(tmp_path / "p.parquet")
    assert frame.height == by_job["receipts"] and set(frame.columns) >= {"receipt_key", "words", "entities"}
    assert by_dir["receipts"] > by_job["receipts"] and len(by_dir["predictions"]) == by_dir["receipts"]


def test_receipts_from_the_table_and_from_jsonl_get_the_snapshot_predictions(trained, tmp_path):
    from dataset_builder import open_snapshot

    snapshot_run = predict_json(trained, "--model", str(trained["run_dir"]), "--snapshot", "v1")
    wanted = snapshot_run["predictions"][:2]
    from_table = predict_json(
        trained,
        "--model",
        str(trained["run_dir"]),
        "--from-table",
        *[arg for r in wanted for arg in ("--receipt", r["receipt_key"])],
    )
    assert [r["receipt_key"] for r in from_table["predictions"]] == [r["receipt_key"] for r in wanted]
    for ours, theirs in zip(from_table["predictions"], wanted, strict=True):
        assert [w["tag"] for w in ours["words"]] == [w["tag"] for w in theirs["words"]]
        assert [w["key"] for w in ours["words"]] == [w["key"] for w in theirs["words"]]
    by_status = predict_json(trained, "--model", str(trained["run_dir"]), "--from-table", "--status", "VALID")
    assert by_status["receipts"] == 40 and by_status["metrics"] is None

    # the same receipts as a JSONL file (pixel boxes, top-left origin), plus an empty receipt and a bad line
    words = open_snapshot(trained["root"], "v1").words
    lines = []
    for index, record in enumerate(wanted):
        rows = words.filter(pl.col("receipt_key") == record["receipt_key"]).sort("position")
        lines.append(
            json.dumps(
                {
                    "receipt_id": f"r{index}",
                    "width": 1000,
                    "height": 1000,
                    "words": [
                        {"text": t, "box": [x0, y0, x1, y1]}
                        for t, x0, y0, x1, y1 in rows.select("text", "x0", "y0", "x1", "y1").iter_rows()
                    ],
                }
            )
        )
    lines += [
        json.dumps({"receipt_id": "empty", "width": 10, "height": 10, "words": []}),
        '{"receipt_id": "bad", "width": 0}',
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = predict_json(trained, "--model", str(trained["run_dir"]), "--jsonl", str(path), code=1)
    assert [r["source_id"] for r in result["predictions"]] == ["r0", "r1", "empty"]
    for ours, theirs in zip(result["predictions"][:2], wanted, strict=True):
        assert [w["tag"] for w in ours["words"]] == [w["tag"] for w in theirs["words"]]
    assert (
        result["predictions"][2]["words"] == []
        and result["predictions"][2]["entities"] == []
        and result["empty_receipts"] == 1
    )
    assert result["problems"] == [
        {"line": 4, "receipt_id": "bad", "message": "width and height must be positive whole pixels, got 0 x None"}
    ]
    strict = cli(trained, "predict", "--model", str(trained["run_dir"]), "--jsonl", str(path), "--strict", code=2)
    assert "line 4 (receipt bad): width and height" in strict.output and "nothing imported" in strict.output


def test_onnx_export_keeps_parity_and_predicts_the_same(trained):
    out = trained["exported"]
    payload = json.loads(
        cli(
            trained,
            "export",
            "--model",
            str(trained["run_dir"]),
            "--format",
            "onnx",
            "--quantize",
            "int8",
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    validate(payload, "export_summary")
    parity = payload["onnx"]["parity"]
    assert parity["max_abs_logit_diff"] < 1e-4 and parity["argmax_identical"] is True and parity["windows"] > 0
    package = load_package(out, "onnx")
    assert package.onnx.parity.max_abs_logit_diff == parity["max_abs_logit_diff"] and package.onnx.opset == 18
    assert set(package.onnx.inputs) == {"input_ids", "bbox", "attention_mask", "token_type_ids"}
    int8 = package.onnx.int8
    assert (out / int8.file).is_file() and 0 <= int8.val_f1 <= 1 and int8.argmax_agreement > 0.8
    assert package.job_id == trained["result"].job_id and (out / "README.md").read_text().count("ONNX") >= 2

    torch_run = predict_json(trained, "--model", str(trained["run_dir"]), "--snapshot", "v1")
    onnx_run = predict_json(trained, "--model", str(out), "--runtime", "onnx", "--snapshot", "v1")
    assert round(onnx_run["metrics"]["f1"], 4) == round(torch_run["metrics"]["f1"], 4) == round(int8.val_f1_fp32, 4)
    assert [w["tag"] for r in onnx_run["predictions"] for w in r["words"]] == [
        w["tag"] for r in torch_run["predictions"] for w in r["words"]
    ]
    int8_run = predict_json(trained, "--model", str(out), "--runtime", "onnx-int8", "--snapshot", "v1")
    assert int8_run["metrics"]["f1"] == pytest.approx(int8.val_f1, abs=1e-9)
    refused = cli(trained, "predict", "--model", str(out), "--snapshot", "v1", code=2)
    assert "lacks its PyTorch weights" in refused.output and "--runtime onnx" in refused.output


def test_the_readme_onnx_snippet_runs_with_plain_onnxruntime(trained):
    if not (trained["exported"] / "model.onnx").is_file():
        test_onnx_export_keeps_parity_and_predicts_the_same(trained)
    readme = (REPO_ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- onnx-snippet -->\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(snippet.strip().splitlines()) <= 10
    printed: list = []
    exec(snippet.replace('"model-onnx"', repr(str(trained["exported"]))), {"print": printed.append})  # noqa: S102
    (pairs,) = printed
    tags = json.loads((trained["exported"] / PACKAGE_FILE).read_text())["tags"]
    assert [word for word, _ in pairs] == ["TOTAL", "12.50"] and all(tag in tags for _, tag in pairs)


def test_bad_requests_exit_non_zero_with_one_line(trained, tmp_path):
    model = str(trained["run_dir"])
    assert (
        "exactly one of --snapshot, --jsonl, --from-table" in cli(trained, "predict", "--model", model, code=2).output
    )
    assert "--from-table needs --receipt" in cli(trained, "predict", "--model", model, "--from-table", code=2).output
    assert (
        "no receipt 0000#00001"
        in cli(trained, "predict", "--model", model, "--from-table", "--receipt", "0000#1", code=2).output
    )
    assert (
        "--runtime must be one of"
        in cli(trained, "predict", "--model", model, "--snapshot", "v1", "--runtime", "tf", code=2).output
    )
    assert (
        "lacks an ONNX graph"
        in cli(trained, "predict", "--model", model, "--snapshot", "v1", "--runtime", "onnx", code=2).output
    )
    assert (
        "is not a model package" in cli(trained, "predict", "--model", str(tmp_path), "--snapshot", "v1", code=2).output
    )
    assert (
        "does not exist"
        in cli(trained, "predict", "--model", str(tmp_path / "nope"), "--snapshot", "v1", code=2).output
    )
    assert (
        "no job 'no-such-job'" in cli(trained, "predict", "--model", "no-such-job", "--snapshot", "v1", code=2).output
    )
    off_page = Geometry(Point(0.2, 0.5), Point(1.3, 0.5), Point(0.2, 0.45), Point(1.3, 0.45))
    image_id = str(uuid.uuid4())
    bad = ReceiptBundle(Receipt(image_id, 1, 100, 100, ""), (), (ReceiptWord(image_id, 1, 1, 1, "CASH", off_page),), ())
    write_bundles(trained["table"], [bad])
    refused = cli(trained, "predict", "--model", model, "--from-table", "--receipt", f"{image_id}#1", code=2).output
    assert (
        f"receipt {image_id}#00001: word 1 of line 1 ('CASH')" in refused
        and "outside layoutlm-0-1000-top-left" in refused
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"receipt_id": 1, "width": 5, "height": 5, "words": []}) + "\n")
    only_empty = predict_json(trained, "--model", model, "--jsonl", str(empty))
    assert only_empty["windows"] == 0 and only_empty["predictions"][0]["words"] == []
    assert np.isfinite(only_empty["seconds"])

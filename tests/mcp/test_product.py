"""`trainer mcp` on runs the product itself recorded (tiny models, a few seconds each on one
thread): a `trainer fit` run, a sweep with a seed repeat, a `--from-job` label review and a data
curve (25/50/100% of the train receipts as child jobs). Through the SDK's client over stdio,
each tool answers with its command's `--json`; the data curve's points are nested subsets on the
same val split, and `run_report` answers "which labels need more data" from them."""

from __future__ import annotations

import json
import uuid

import pytest

from dataset_builder.build import create_snapshot
from dataset_builder.config import BuildConfig
from dataset_builder.receipts import generate_receipts, write_bundles
from dataset_builder.snapshot import open_snapshot
from dataset_builder.storage import LocalBackend
from metrics_store import Queries, StoreConfig, connect, create_table, delete_table
from tests.e2e.conftest import CLEAN_MIX
from tests.e2e.faults import fit_args, trainer
from tests.trainer.test_runs_builders import validate

from .client import McpClient, cli_json, server_env, steady

pytestmark = pytest.mark.slow

LABELS = ("MERCHANT_NAME", "DATE", "PRODUCT_NAME", "AMOUNT")
TINY = ("--model", "tiny", "--max-seq-length", "128", "--doc-stride", "32", "--epochs", "2", "--batch-size", "8", "--lr", "3e-3", "--seed", "1")
SPACE = """\
fixed: {model: tiny, max_seq_length: 128, doc_stride: 32, epochs: 2, batch_size: 8, early_stopping_patience: 0, seed: 1}
search:
  lr: {type: categorical, choices: [3.0e-3, 1.0e-6]}
"""


@pytest.fixture(scope="module")
def product(dynamodb_endpoint, tmp_path_factory):
    """One table, snapshot v1 of 60 receipts, and the four kinds of jobs, each made by its command."""
    config = StoreConfig(table=f"mcp-product-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=dynamodb_endpoint)
    table = connect(config)
    create_table(table, stream=False)
    write_bundles(table, list(generate_receipts(31, 60, CLEAN_MIX)))
    base = tmp_path_factory.mktemp("product")
    root, out = base / "snapshots", base / "runs"
    create_snapshot(table=table, backend=LocalBackend(root), source={"table": table.name},
                    config=BuildConfig(merge_preset="amounts", allowed_labels=LABELS, val_fraction=0.2, seed=1))

    def run(*args: str) -> dict:
        done = trainer(config, *args, "--json")
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    jobs = {"fit": run(*fit_args(root, out, "--job-name", "fit-a", epochs=2))["job_id"]}
    (base / "space.yaml").write_text(SPACE)
    run("sweep", "--root", str(root), "--space", str(base / "space.yaml"), "--trials", "2", "--seed-repeats", "1", "--pruner", "none",
        "--output-dir", str(out), "--job-name", "lr-sweep")
    jobs["sweep"] = Queries(table).find_job("lr-sweep").job_id
    jobs["review"] = run("review", "--root", str(root), "--from-job", jobs["fit"], "--output-dir", str(out), "--job-name", "review-a")["job_id"]
    jobs["curve"] = run("data-curve", "--root", str(root), "--snapshot", "v1", "--fractions", "0.25,0.5,1", *TINY, "--output-dir", str(out),
                        "--job-name", "curve")["job_id"]
    yield config, table, root, jobs
    delete_table(table)


@pytest.fixture(scope="module")
def server(product):
    config, _, root, _ = product
    with McpClient(server_env(config), "--root", str(root)) as client:
        yield client


def test_the_data_curve_trains_nested_subsets_as_child_jobs(product):
    config, table, root, jobs = product
    summary = Queries(table).get_job(jobs["curve"]).outcome.get("data_curve")
    validate(summary, "data_curve")
    points = Queries(table).jobs_by_parent(jobs["curve"])
    assert sorted(float(j.tags["data_curve_fraction"]) for j in points) == [0.25, 0.5, 1.0]
    assert {j.status for j in points} == {"succeeded"} and {j.tags["kind"] for j in points} == {"data_curve_point"}
    train = open_snapshot(root, "v1").lock.counts.splits["train"].receipts
    assert summary["sizes"] == [round(train / 4), round(train / 2), train]
    opened = [open_snapshot(p["snapshot_uri"].rsplit("/", 1)[0], "v1") for p in summary["points"]]
    keys = [set(s.receipts.filter(s.receipts["split"] == "train")["receipt_key"]) for s in opened]
    assert keys[0] < keys[1] < keys[2]  # nested
    assert len({s.split_hash("val") for s in opened}) == 1  # one yardstick
    assert {r["verdict"] for r in summary["labels"]} <= {"rising", "flat", "not_measured", "no_examples"} and summary["labels"]


def test_tools_answer_with_the_json_of_their_commands_on_recorded_jobs(server, product):
    config, _, root, jobs = product
    cases = [
        ("sweep_report", {"sweep": "lr-sweep"}, ("runs", "sweep", "lr-sweep"), "sweep_report"),
        ("runs_list", {"parent": "lr-sweep"}, ("runs", "list", "--parent", "lr-sweep"), "runs_list"),
        ("review_queues", {"review": "review-a", "top": 3}, ("runs", "queues", "review-a", "--top", "3"), "review_queues"),
        ("review_queues", {"review": "review-a", "queue": "suspect_valid", "label": "DATE"},
         ("runs", "queues", "review-a", "--queue", "suspect_valid", "--label", "DATE"), "review_queues"),
        ("run_report", {"job": "fit-a"}, ("runs", "report", "fit-a"), "run_report"),
        ("run_show", {"job": "curve"}, ("runs", "show", "curve"), "run_show"),
        ("what_next", {}, ("runs", "next"), "next_run"),
        ("runs_history", {"group_by": "learning_rate"}, ("runs", "history", "--group-by", "learning_rate"), "runs_history"),
    ]
    for tool, arguments, command, schema in cases:
        answer = server.structured(tool, arguments)
        assert steady(answer) == steady(cli_json(config, "trainer", *command)), tool
        validate(answer, schema)
    sweep = server.structured("sweep_report", {"sweep": "lr-sweep"})
    assert sweep["counts"]["trials"] == 2 and sweep["best"]["command"].startswith("trainer fit --snapshot v1")
    queues = server.structured("review_queues", {"review": "review-a", "top": 3})
    assert set(queues["queues"]) == {"suspect_valid", "triage", "missing"}
    assert all(len(group["first"]) <= 3 for q in queues["queues"].values() for group in q["labels"])
    advice = server.structured("what_next", {})
    assert advice["sweeps"][0]["job_id"] == jobs["sweep"] and any(c["option"] == "lr" for c in advice["choices"])


def test_which_labels_need_more_data_is_answered_from_the_data_curve(server, product):
    _, table, _, jobs = product
    full = next(j for j in Queries(table).jobs_by_parent(jobs["curve"]) if j.tags["data_curve_fraction"] == "1")
    needs = {d["name"]: d for d in server.structured("run_report", {"job": full.job_id})["diagnoses"]}["data_needs"]
    assert needs["evidence"]["method"] == "data_curve" and needs["evidence"]["series"]["data_curve_job_id"] == jobs["curve"]
    assert needs["evidence"]["series"]["same_recipe"] is True and len(needs["evidence"]["series"]["sizes"]) == 3
    rising = [r["label"] for r in needs["evidence"]["ranking"] if r["verdict"] == "rising"]
    assert needs["verdict"] == (rising[0] if rising else None)
    # the fit run on v1 used another recipe: measured with the curve's, and it says which keys differ
    other = {d["name"]: d for d in server.structured("run_report", {"job": "fit-a"})["diagnoses"]}["data_needs"]
    assert other["evidence"]["method"] == "data_curve" and other["evidence"]["series"]["same_recipe"] is False
    assert "train.learning_rate" in [d["key"] for d in other["evidence"]["series"]["config_differences"]]


def test_the_commands_behind_the_new_tools_render_for_people_and_a_finished_curve_resumes_to_itself(product):
    from typer.testing import CliRunner

    from trainer.cli import app

    config, table, root, jobs = product
    children = {j.job_id for j in Queries(table).jobs_by_parent(jobs["curve"])}
    env = server_env(config)
    again = CliRunner().invoke(app, ["data-curve", "--resume", "curve", "--root", str(root)], env=env)
    assert again.exit_code == 0, again.output
    assert "data curve curve" in again.stdout and "per label" in again.stdout
    assert {j.job_id for j in Queries(table).jobs_by_parent(jobs["curve"])} == children  # nothing trained again
    queues = CliRunner().invoke(app, ["runs", "queues", "review-a", "--top", "2"], env=env)
    assert queues.exit_code == 0 and "suspect_valid:" in queues.stdout and "triage:" in queues.stdout
    advice = CliRunner().invoke(app, ["runs", "next"], env=env)
    assert advice.exit_code == 0 and "Best config found so far on v1" in advice.stdout and "trainer fit --snapshot v1" in advice.stdout
    not_a_review = CliRunner().invoke(app, ["runs", "queues", "fit-a"], env=env)
    assert not_a_review.exit_code == 2 and "is a fit job, not a review" in not_a_review.output

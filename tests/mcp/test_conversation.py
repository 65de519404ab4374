"""A scripted agent, tool calls only, through a real MCP client over stdio: it answers every
example question of the user's training-assistant guide on the planted runs (conftest.py), and
each answer is checked against the truth planted there."""

from __future__ import annotations

import pytest

from .client import McpClient, server_env
from .conftest import DATE_CURVE


@pytest.fixture(scope="module")
def agent(planted):
    with McpClient(server_env(planted.config), "--root", str(planted.root)) as client:
        yield client


def diagnoses(agent, job: str) -> dict:
    return {d["name"]: d for d in agent.structured("run_report", {"job": job})["diagnoses"]}


def test_whats_the_best_batch_size(agent):
    history = agent.structured("runs_history", {"group_by": "batch_size"})
    best = history["groups"][0]
    assert best["value"] == 8 and best["runs"] == 2
    assert best["best_f1_mean"] == pytest.approx(0.89) and history["groups"][-1]["value"] == 32


def test_is_it_overfitting(agent, planted):
    found = diagnoses(agent, "overfit")
    assert found["overfitting"]["verdict"] is True and found["overfitting"]["evidence"]["onset_epoch"] == 4
    assert diagnoses(agent, "batch8-a")["overfitting"]["verdict"] is False


def test_did_early_stopping_trigger_and_which_epoch_was_best(agent):
    found = diagnoses(agent, "early")["early_stopping"]
    assert found["verdict"] is True and found["evidence"]["best_epoch"] == 5 and found["evidence"]["epochs_since_best"] == 3
    assert diagnoses(agent, "overfit")["early_stopping"]["verdict"] is False


def test_what_is_the_learning_rate_at_epoch_n(agent):
    from tests.trainer.test_runs_builders import linear_lr

    selected = agent.structured("run_show", {"job": "base", "epoch": 5})["selected"]
    assert selected["epoch"] == 5 and selected["metrics"]["learning_rate"] == pytest.approx(linear_lr(10)[4])


def test_which_labels_need_more_data(agent, planted):
    needs = diagnoses(agent, "base")["data_needs"]
    assert needs["verdict"] == "DATE" and needs["evidence"]["method"] == "nested_snapshots"
    series = needs["evidence"]["series"]
    assert series["same_recipe"] and sorted(r["job_id"] for r in series["runs"]) == sorted(planted.ids[k] for k in DATE_CURVE)
    date = needs["evidence"]["ranking"][0]
    assert date["label"] == "DATE" and date["verdict"] == "rising"
    assert [round(p["f1"], 2) for p in date["points"]] == [0.40, 0.55, 0.70]
    assert {r["verdict"] for r in needs["evidence"]["ranking"][1:]} <= {"flat", "no_examples"}
    # a run on v1 with another recipe is answered from the measured recipe, and says so
    other = diagnoses(agent, "overfit")["data_needs"]
    assert other["verdict"] == "DATE" and other["evidence"]["series"]["same_recipe"] is False
    assert [d["key"] for d in other["evidence"]["series"]["config_differences"]] == ["train.learning_rate"]


def test_why_did_f1_drop_after_epoch_n(agent):
    found = diagnoses(agent, "overfit")
    assert found["best_vs_last"]["verdict"] == "last_worse" and found["best_vs_last"]["evidence"]["best_epoch"] == 4
    epochs = agent.structured("run_show", {"job": "overfit"})["epochs"]
    after = [e for e in epochs if e["epoch"] > 4]
    assert all(e["eval_loss"] > epochs[3]["eval_loss"] for e in after) and all(e["val_f1"] < epochs[3]["val_f1"] for e in after)


def test_what_to_try_next_with_the_exact_command(agent, planted):
    advice = agent.structured("what_next", {})
    assert advice["best"]["job_id"] == planted.ids["batch8-a"]
    assert "--batch-size 8" in advice["command"] and "--epochs 15" in advice["command"]
    assert advice["command"].startswith(f"trainer fit --snapshot v1 --root {planted.root}")
    assert [c["option"] for c in advice["adjustments"]] == ["epochs"]
    batch = next(c for c in advice["choices"] if c["option"] == "batch_size")
    assert batch["value"] == 8 and batch["evidence"][0]["groups"][0]["value"] == 8
    assert advice["runs_considered"] == 7  # the runs on v1 itself; the subset runs train on other data


def test_which_label_is_weakest_and_what_is_training_now(agent, planted):
    latest = agent.structured("runs_list", {"sort": "created", "status": ["succeeded"], "limit": 1})["runs"][0]
    weakest = diagnoses(agent, latest["job_id"])["weak_labels"]["evidence"]["weakest"][0]
    assert latest["name"] == "early" and weakest["f1"] == min(r["f1"] for r in diagnoses(agent, "early")["weak_labels"]["evidence"]["weakest"])
    frame = agent.structured("runs_monitor", {})
    assert frame["job"]["job_id"] == planted.ids["running"] and frame["epoch"] == 3 and frame["finished"] is False

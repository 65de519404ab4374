"""`trainer sweep` against DynamoDB Local, as a user runs it: the sweep job and its trials as
child jobs, a pruned trial recorded as pruned, a sweep killed after two trials resumed without
running them again, two workers sharing one sweep, and bad space files refused before
anything runs. Read back with `trainer runs sweep|list|compare --json`."""

from __future__ import annotations

import json
import shlex
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from metrics_store import Queries, Store
from tests.trainer.test_runs_builders import validate
from trainer.cli import app
from trainer.sweep.verdict import VERDICTS

from .faults import (
    env_for,
    no_metric_twice,
    runner,
    runs_cli,
    runs_show,
    start_trainer,
    statuses,
    stop,
    trainer,
    wait_for,
)

pytestmark = pytest.mark.slow

# Tiny trials (about 10 s each on one thread): lr 3e-3 learns (val_f1 0.58 at epoch 2, 0.67 at
# epoch 4 on this data), lr 1e-6 does not (0.03, what untrained tags score by chance).
SPACE = """\
fixed:
  model: tiny
  max_seq_length: 128
  doc_stride: 32
  epochs: 4
  batch_size: 8
  early_stopping_patience: 0
  seed: 1
search:
  lr: {type: categorical, choices: [3.0e-3, 1.0e-6]}
  warmup_ratio: {type: uniform, low: 0.0, high: 0.2}
"""


def space_file(tmp_path: Path, text: str = SPACE) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def sweep_args(snapshot_root: Path, space: Path, out: Path, name: str, *extra: str) -> list[str]:
    return [
        "sweep",
        "--root",
        str(snapshot_root),
        "--space",
        str(space),
        "--output-dir",
        str(out),
        "--job-name",
        name,
        *extra,
    ]


def children(table, sweep_id: str):
    return Queries(table).jobs_by_parent(sweep_id)


def trials_of(table, sweep_id: str):
    return sorted(
        (j for j in children(table, sweep_id) if j.tags.get("kind") == "sweep_trial"),
        key=lambda j: int(j.tags["sweep_trial"]),
    )


def sweep_report(config, job: str, *extra: str) -> dict:
    shown = runs_cli(config, "sweep", job, "--json", *extra)
    assert shown.exit_code == 0, shown.output
    payload = json.loads(shown.stdout)
    validate(payload, "sweep_report")
    return payload


def test_a_sweep_records_its_trials_as_children_prunes_on_f1_and_reads_back(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    # Sampler seed 1 gives trials 0, 1 and 3 lr 3e-3 and trial 2 lr 1e-6 (TPE starts with random
    # draws); after one finished trial, one below it at epoch 2 is pruned.
    done = trainer(
        config,
        *sweep_args(
            e2e_snapshot,
            space_file(tmp_path),
            tmp_path / "runs",
            "sweep-a",
            "--trials",
            "4",
            "--seed",
            "1",
            "--prune-startup-trials",
            "1",
            "--prune-warmup-epochs",
            "2",
            "--json",
        ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded" and result["counts"]["trials"] == 4 and result["counts"]["seed_repeats"] == 2
    sweep_id = result["job_id"]

    kids = children(table, sweep_id)
    assert len(kids) == 6  # 4 trials, 2 seed repeats of the best
    assert {k.parent_job_id for k in kids} == {sweep_id} and {k.tags["parent_job_id"] for k in kids} == {sweep_id}
    trials = trials_of(table, sweep_id)
    assert [t.tags["sweep_trial"] for t in trials] == ["0", "1", "2", "3"]
    assert [t.name for t in trials] == [f"sweep-a-t00{n}" for n in range(4)]
    assert all(t.job_config["request"]["model"]["model"] == "tiny" for t in kids)  # each with its full config

    pruned = [t for t in trials if (t.results or {}).get("trial", {}).get("state") == "pruned"]
    assert trials[2].job_config["request"]["train"]["learning_rate"] == 1e-6 and trials[2] in pruned, [
        (t.status, t.results) for t in trials
    ]
    for job in pruned:  # below the one finished trial at some epoch from 2 on (other lr 3e-3 trials may be, too)
        shown = runs_show(config, job.job_id)
        epoch = job.results["trial"]["epoch"]
        assert (
            shown["job"]["status"] == "cancelled"
            and f"pruned by the sweep at epoch {epoch:g}" in shown["status_history"][-1]["message"]
        )
        assert epoch >= 2 and [e["epoch"] for e in shown["epochs"]] == list(
            range(1, int(epoch) + 1)
        )  # stopped where it was pruned
        assert job.results["trial"]["value"] == shown["epochs"][-1]["val_f1"] and "best_f1" in job.results
        assert not (Path(shown["job"]["storage"]["output_dir"]) / "best").exists()
    assert trials[2].results["trial"]["epoch"] == 2  # lr 1e-6 went at the first evaluation it could
    assert not [t for t in trials if t.status == "failed"] and trials[0].status == "succeeded"

    listed = runs_cli(config, "list", "--parent", "sweep-a", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    validate(rows, "runs_list")
    assert (
        len(rows["runs"]) == 6
        and {r["parent_job_id"] for r in rows["runs"]} == {sweep_id}
        and rows["filters"]["parent"] == sweep_id
    )

    report = sweep_report(config, "sweep-a", "--out", str(tmp_path / "report"))
    assert report["counts"]["complete"] + report["counts"]["pruned"] == 4 and report["counts"]["pruned"] == len(pruned)
    ranked = [r["best_f1"] for r in report["trials"] if r["state"] == "complete"]
    assert ranked == sorted(ranked, reverse=True) and report["trials"][0]["state"] == "complete"
    best = report["best"]
    assert best["params"]["lr"] == 3e-3 and best["best_f1"] == max(ranked) and report["sweep"]["status"] == "succeeded"
    assert report["seed_noise"]["available"] and report["seed_noise"]["runs"] == 3
    assert [j["seed"] for j in report["seed_noise"]["jobs"]] == [1, 2, 3]
    assert [v["parameter"] for v in report["verdicts"]] == ["lr", "warmup_ratio"]
    assert all(v["verdict"] in VERDICTS and v["sentence"] for v in report["verdicts"]) and report["summary"]
    assert {Path(p).name for p in report["plots"]} == {"optimisation_history.png", "params_vs_f1.png"}
    assert all(Path(p).stat().st_size > 10_000 for p in report["plots"])
    command = shlex.split(best["command"])
    params = (
        typer.main.get_command(app).commands["fit"].make_context("fit", command[2:]).params
    )  # a ready `trainer fit` line
    assert params["lr"] == 3e-3 and params["model"] == "tiny" and params["snapshot"] == "v1"
    sweep_job = Queries(table).get_job(sweep_id)
    assert sweep_job.status == "succeeded" and sweep_job.results["best_f1"] == best["best_f1"]
    assert (Path(sweep_job.storage["output_dir"]) / "sweep_report.json").is_file()
    table_view = runner.invoke(app, ["runs", "sweep", sweep_id], env={**env_for(config), "COLUMNS": "120"})
    assert (
        table_view.exit_code == 0
        and "verdicts" in table_view.output
        and "trainer fit --snapshot v1" in table_view.output
    )

    compared = runs_cli(config, "compare", trials[0].job_id, trials[1].job_id, "--json")
    assert compared.exit_code == 0, compared.output
    differences = {d["key"] for d in json.loads(compared.stdout)["config_differences"]}
    assert "train.warmup_ratio" in differences and "job_name" not in differences


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_sweep_killed_after_two_trials_resumes_without_running_them_again(e2e_table, e2e_snapshot, tmp_path, signum):
    config, table = e2e_table
    name = f"sweep-b-{signal.Signals(signum).name.lower()}"
    space = space_file(tmp_path, SPACE.replace("[3.0e-3, 1.0e-6]", "[3.0e-3, 1.0e-3]"))
    process = start_trainer(
        config,
        *sweep_args(
            e2e_snapshot, space, tmp_path / "runs", name, "--trials", "4", "--pruner", "none", "--seed-repeats", "0"
        ),
    )
    sweep = wait_for(lambda: Queries(table).jobs_by_name(name).items, process=process, what="the sweep job")[0]

    def third_trial_saved() -> bool:
        trials = trials_of(table, sweep.job_id)
        return (
            len(trials) == 3
            and [t.status for t in trials[:2]] == ["succeeded"] * 2
            and bool(Queries(table).checkpoints(trials[2].job_id))
        )

    wait_for(third_trial_saved, process=process, timeout=400, what="two finished trials and a checkpoint of the third")
    output = stop(process, signum)
    first = trials_of(table, sweep.job_id)
    if signum == signal.SIGTERM:  # stopped cleanly: the trial at the end of its step, then the sweep
        assert process.returncode == 130 and f"trainer sweep --resume {sweep.job_id}" in output, output[-3000:]
        assert Queries(table).get_job(sweep.job_id).status == "interrupted"
        assert [t.status for t in first] == ["succeeded", "succeeded", "interrupted"]
    else:  # nothing could say so: both leases go stale (here: as if ten minutes had passed)
        assert [Queries(table).get_job(sweep.job_id).status, first[2].status] == ["running", "running"]
        eleven_minutes_ago = (datetime.now(UTC) - timedelta(minutes=11)).isoformat(timespec="microseconds")
        for job in (Queries(table).get_job(sweep.job_id), first[2]):
            Store(table).jobs.heartbeat(job.job_id, job.lease_owner, now=eleven_minutes_ago)
    before = {
        t.job_id: (len(runs_show(config, t.job_id)["status_history"]), sum(no_metric_twice(table, t.job_id).values()))
        for t in first[:2]
    }

    resumed = trainer(config, "sweep", "--resume", name, "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["status"] == "succeeded" and "joining" not in resumed.stderr
    after = trials_of(table, sweep.job_id)
    assert [t.job_id for t in after[:3]] == [t.job_id for t in first] and len(
        after
    ) == 4  # the same jobs, one more, none twice
    assert [t.status for t in after] == ["succeeded"] * 4
    for job_id, (n_statuses, n_metrics) in before.items():  # the finished trials were not touched
        assert (len(runs_show(config, job_id)["status_history"]), sum(no_metric_twice(table, job_id).values())) == (
            n_statuses,
            n_metrics,
        )
    third = runs_show(config, first[2].job_id)
    assert statuses(third)[-2:] == ["running", "succeeded"] and ("interrupted" in statuses(third)) == (
        signum == signal.SIGTERM
    )
    assert Queries(table).structured_logs(first[2].job_id, "resume")[0]["from_checkpoint"]
    no_metric_twice(table, first[2].job_id)
    assert statuses(runs_show(config, sweep.job_id))[-1] == "succeeded"
    assert sweep_report(config, sweep.job_id)["counts"]["complete"] == 4

    again = trainer(config, "sweep", "--resume", sweep.job_id)
    assert again.returncode == 2 and "has ended (succeeded)" in again.stderr, again.stderr


def test_two_workers_share_one_sweep_and_never_run_a_trial_twice(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    space = space_file(tmp_path, SPACE.replace("epochs: 4", "epochs: 3"))
    leader = start_trainer(
        config,
        *sweep_args(
            e2e_snapshot,
            space,
            tmp_path / "runs",
            "sweep-c",
            "--trials",
            "4",
            "--pruner",
            "none",
            "--seed-repeats",
            "0",
        ),
    )
    sweep = wait_for(lambda: Queries(table).jobs_by_name("sweep-c").items, process=leader, what="the sweep job")[0]
    wait_for(lambda: trials_of(table, sweep.job_id), process=leader, what="the first trial")
    helper = trainer(
        config, "sweep", "--resume", sweep.job_id, "--json"
    )  # a second GPU's worker, here a second process
    assert helper.returncode == 0, helper.stderr[-3000:]
    assert "joining it as a helper worker" in helper.stderr and json.loads(helper.stdout)["status"] == "joined"
    output, _ = leader.communicate(timeout=600)
    assert leader.returncode == 0, output[-3000:]
    trials = trials_of(table, sweep.job_id)
    assert [t.tags["sweep_trial"] for t in trials] == ["0", "1", "2", "3"] and {t.status for t in trials} == {
        "succeeded"
    }
    workers = {t.lease_owner.split(":")[1] for t in trials}  # host:pid:tag of the process that trained it
    assert len(workers) == 2, workers  # the helper trained some while the leader trained others
    assert Queries(table).get_job(sweep.job_id).status == "succeeded"
    for trial in trials:
        no_metric_twice(table, trial.job_id)


def test_a_spent_budget_starts_no_new_trial_and_the_sweep_ends_saying_so(e2e_table, e2e_snapshot, tmp_path):
    config, table = e2e_table
    space = space_file(tmp_path, SPACE.replace("epochs: 4", "epochs: 1"))
    done = trainer(
        config,
        *sweep_args(
            e2e_snapshot,
            space,
            tmp_path / "runs",
            "sweep-d",
            "--trials",
            "20",
            "--budget-minutes",
            "0.02",
            "--pruner",
            "none",
            "--seed-repeats",
            "0",
            "--json",
        ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded" and result["stopped_by"] == "budget" and result["counts"]["trials"] == 1
    job = Queries(table).get_job(result["job_id"])
    assert (
        job.results["sweep"]["stopped_by"] == "budget"
        and "stopped by its budget" in runs_show(config, job.job_id)["status_history"][-1]["message"]
    )
    assert sweep_report(config, job.job_id)["sweep"]["stopped_by"] == "budget"


BAD_SPACES = {
    "unknown option": (
        "search:\n  lrate: {type: log_uniform, low: 1.0e-4, high: 1.0e-2}\n",
        "search.lrate",
        "not a `trainer fit` option",
    ),
    "empty range": (
        "search:\n  warmup_ratio: {type: uniform, low: 0.3, high: 0.1}\n",
        "search.warmup_ratio",
        "empty range",
    ),
    "wrong type": (
        "search:\n  batch_size: {type: categorical, choices: [8, sixteen]}\n",
        "search.batch_size",
        "wrong type",
    ),
    "a bound the config refuses": (
        "search:\n  warmup_ratio: {type: uniform, low: 0.0, high: 1.5}\n",
        "search.warmup_ratio: 1.5",
        "warmup_ratio must be in [0, 1)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SPACES), ids=list(BAD_SPACES))
def test_a_bad_space_file_is_one_clear_error_before_anything_runs(e2e_table, e2e_snapshot, tmp_path, case):
    config, table = e2e_table
    text, where, why = BAD_SPACES[case]
    jobs_before = len(list(Queries(table).iter_all_jobs()))
    started = time.monotonic()
    result = runner.invoke(
        app,
        sweep_args(e2e_snapshot, space_file(tmp_path, text), tmp_path / "runs", f"bad-{case.replace(' ', '-')}"),
        env=env_for(config),
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and where in lines[0] and why in lines[0] and "Traceback" not in result.output, result.stderr
    assert len(list(Queries(table).iter_all_jobs())) == jobs_before and not (tmp_path / "runs").exists()
    assert time.monotonic() - started < 30


def test_the_sweep_command_refuses_what_it_cannot_do(e2e_table, e2e_snapshot, tmp_path):
    config, _ = e2e_table
    for args, why in (
        (["sweep", "--root", str(e2e_snapshot)], "--space FILE is required"),
        (sweep_args(e2e_snapshot, space_file(tmp_path), tmp_path, "x", "--snapshot", "v9"), "v9"),
        (
            sweep_args(e2e_snapshot, space_file(tmp_path), tmp_path, "x", "--pruner", "hyperband"),
            "--pruner must be one of",
        ),
        (sweep_args(e2e_snapshot, space_file(tmp_path), tmp_path, "x", "--set", "epochs=many"), "--set epochs=many"),
        (["sweep", "--resume", "no-such-sweep"], "no-such-sweep"),
    ):
        result = runner.invoke(app, args, env=env_for(config))
        assert result.exit_code == 2 and why in result.stderr, (args, result.output)

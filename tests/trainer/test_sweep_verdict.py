"""The sweep's verdicts and its study, without a table: deterministic, honest about seed noise,
and the optuna study rebuilt from recorded trials as they were recorded."""

from __future__ import annotations

import uuid

import pytest

from metrics_store import Job, JobMetric
from trainer.sweep.config import SweepConfig, epoch_step
from trainer.sweep.space import parse_space
from trainer.sweep.study import build_study, trial_child, trial_record, trial_state
from trainer.sweep.verdict import (
    Point,
    parameter_verdict,
    seed_noise,
    split_groups,
    summary_sentence,
)

NOW = "2026-03-01T10:00:00.000000+00:00"


def points(pairs):
    return [Point(n, value, f1) for n, (value, f1) in enumerate(pairs)]


def test_seed_noise_is_the_range_over_the_best_configs_seeds():
    noise = seed_noise([(1, 0.70), (2, 0.72), (3, 0.69)])
    assert noise["available"] and noise["runs"] == 3 and noise["margin"] == pytest.approx(0.03)
    assert seed_noise([(1, 0.7)])["available"] is False and seed_noise([(1, 0.7)])["margin"] is None


def test_a_parameter_that_moved_f1_beyond_the_noise_is_said_to_matter():
    small = [(8, 0.71), (8, 0.70), (16, 0.72), (16, 0.69)]
    large = [(32, 0.61), (64, 0.55), (64, 0.58), (32, 0.60)]
    verdict = parameter_verdict("batch_size", points(small + large), margin=0.02)
    assert verdict["verdict"] == "mattered"
    assert verdict["sentence"].startswith(
        "batch_size 8-16 beat 32-64 in 16 of 16 pairs by more than the seed noise 0.020"
    )
    assert verdict["evidence"]["groups"][0]["trials"] == [0, 1, 2, 3]
    again = parameter_verdict("batch_size", list(reversed(points(small + large))), margin=0.02)
    assert again == verdict  # the order trials come in changes nothing


def test_differences_within_the_noise_do_not_count():
    mixed = [(1e-4, 0.70), (2e-4, 0.71), (3e-4, 0.695), (5e-4, 0.715), (8e-4, 0.70), (9e-4, 0.705)]
    verdict = parameter_verdict("lr", points(mixed), margin=0.03)
    assert verdict["verdict"] == "within_noise" and verdict["evidence"]["wins"] == 0
    assert verdict["sentence"].startswith("lr: no effect beyond seed noise")
    unknown = parameter_verdict("lr", points(mixed), margin=None)
    assert unknown["verdict"] == "noise_unknown" and "may be noise" in unknown["sentence"]
    summary = summary_sentence([verdict], seed_noise([(1, 0.7), (2, 0.73)]))
    assert summary.startswith("No parameter mattered beyond seed noise (0.030")


def test_too_few_trials_or_one_value_say_so():
    assert (
        parameter_verdict("lr", points([(1e-4, 0.5), (1e-3, 0.7), (1e-2, 0.6)]), 0.01)["verdict"] == "not_enough_trials"
    )
    assert parameter_verdict("epochs", points([(4, 0.5), (4, 0.7)]), 0.01)["verdict"] == "not_varied"


def test_groups_never_split_one_value_and_categoricals_put_the_best_value_against_the_rest():
    low, high = split_groups(points([(8, 0.5), (8, 0.6), (8, 0.55), (16, 0.7), (32, 0.4)]), numeric=True)
    assert {p.value for p in low} == {8} and {p.value for p in high} == {16, 32}
    best, rest = split_groups(
        points([("auto", 0.7), ("none", 0.5), ("auto", 0.72), ("none", 0.52), ("x.json", 0.4)]), numeric=False
    )
    assert {p.value for p in best} == {"auto"} and {p.value for p in rest} == {"none", "x.json"}


SPACE = parse_space(
    {
        "search": {
            "lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-2},
            "batch_size": {"type": "categorical", "choices": [8, 16]},
        }
    },
    "s.yaml",
)


def child_job(number: int, status: str, lr: float, results=None, heartbeat_at: str | None = NOW) -> Job:
    child = trial_child("sweep-1", number)
    request = {"snapshot": "v1", "model": {"model": "tiny"}, "train": {"learning_rate": lr, "batch_size": 8, "seed": 1}}
    return child.apply(
        Job(
            job_id="x",
            name=f"s-t{number:03d}",
            created_at=NOW,
            status=status,
            job_config={"request": request},
            results=results,
            heartbeat_at=heartbeat_at,
        )
    )


def f1s(job: Job, values: dict[float, float]) -> list[JobMetric]:
    return [
        JobMetric(job.job_id, "val_f1", f"2026-03-01T10:0{i}:00.000000+00:00", v, step=10 * i, epoch=e)
        for i, (e, v) in enumerate(values.items())
    ]


def test_trial_states_from_job_statuses():
    from datetime import datetime, timedelta

    now = datetime.fromisoformat(NOW)
    assert trial_state(child_job(0, "succeeded", 1e-3), now) == "complete"
    assert trial_state(child_job(0, "cancelled", 1e-3, results={"trial": {"state": "pruned"}}), now) == "pruned"
    assert trial_state(child_job(0, "cancelled", 1e-3), now) == "cancelled"
    assert trial_state(child_job(0, "running", 1e-3), now + timedelta(seconds=30)) == "running"
    assert (
        trial_state(child_job(0, "running", 1e-3), now + timedelta(minutes=11)) == "stale"
    )  # its process died: resumable
    assert trial_state(child_job(0, "interrupted", 1e-3), now) == "interrupted"


def test_the_study_is_rebuilt_from_recorded_trials():
    from optuna.trial import TrialState

    done = child_job(0, "succeeded", 1e-3)
    pruned = child_job(
        1, "cancelled", 1e-5, results={"trial": {"state": "pruned", "epoch": 1, "step": 10, "value": 0.1}}
    )
    failed = child_job(2, "failed", 1e-2)
    records = [
        trial_record(done, SPACE, f1s(done, {1.0: 0.4, 2.0: 0.6})),
        trial_record(pruned, SPACE, f1s(pruned, {1.0: 0.1})),
        trial_record(failed, SPACE, []),
    ]
    assert records[0].value == 0.6 and records[0].intermediate == {epoch_step(1.0): 0.4, epoch_step(2.0): 0.6}
    assert records[0].params == {"lr": 1e-3, "batch_size": 8} and records[0].number == 0
    study = build_study(SweepConfig(seed=3), SPACE, records, number=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    assert study.best_value == 0.6 and study.trials[0].intermediate_values == {100: 0.4, 200: 0.6}
    first = SPACE.suggest(build_study(SweepConfig(seed=3), SPACE, records, number=3).ask())
    assert (
        SPACE.suggest(build_study(SweepConfig(seed=3), SPACE, records, number=3).ask()) == first
    )  # a resume proposes the same
    assert trial_child("sweep-1", 3).job_id == trial_child("sweep-1", 3).job_id != trial_child("sweep-2", 3).job_id
    assert uuid.UUID(trial_child("sweep-1", 3).job_id)

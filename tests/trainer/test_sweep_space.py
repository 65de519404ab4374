"""The search space file: what it accepts, and one clear error naming the entry for what it
does not; `trainer fit` options as request fields, and the command line of a request."""

from __future__ import annotations

import json
import shlex

import pytest
import typer

from trainer import FitRequest, ModelConfig, TrainConfig
from trainer.cli import app
from trainer.sweep.options import NOT_SWEPT, SWEPT
from trainer.sweep.plan import base_request
from trainer.sweep.space import SearchSpace, SpaceError, load_space, parse_assignment, parse_space
from trainer.training.options import FIT_OPTION_TABLE, apply, fit_command_line

GOOD = """\
fixed:
  model: tiny
  max_seq_length: 128
  doc_stride: 32
  early_stopping_patience: 0
search:
  lr: {type: log_uniform, low: 1e-4, high: 3.0e-3}   # YAML reads 1e-4 as text: still a float
  warmup_ratio: {type: uniform, low: 0.0, high: 0.3, step: 0.05}
  --epochs: {type: int, low: 2, high: 8, step: 2}
  batch-size: {type: categorical, choices: [8, 16, 32]}
  class_weights: {type: categorical, choices: [none, auto]}
"""


def base(space: SearchSpace) -> FitRequest:
    return base_request(space, root="/data/snapshots", snapshot="v1", output_dir="/tmp/runs")


def test_a_space_file_reads_into_typed_parameters_and_fixed_options(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(GOOD)
    space = load_space(path)
    assert space.names == ["lr", "warmup_ratio", "epochs", "batch_size", "class_weights"]
    lr, _, epochs, batch, _ = space.params
    assert (lr.kind, lr.low, lr.high, lr.is_log) == ("log_uniform", 1e-4, 3e-3, True)
    assert (epochs.low, epochs.high, epochs.step) == (2, 8, 2) and batch.choices == (8, 16, 32)
    assert space.fixed == {"model": "tiny", "max_seq_length": 128, "doc_stride": 32, "early_stopping_patience": 0}
    request = base(space)
    assert (
        request.model.model == "tiny" and request.train.early_stopping_patience is None
    )  # 0 means off, as in trainer fit
    space.check(request)
    trial = apply(request, {"lr": 1e-3, "batch_size": 16, "epochs": 4, "warmup_ratio": 0.1, "class_weights": "auto"})
    assert (trial.train.learning_rate, trial.train.batch_size, trial.train.epochs, trial.train.class_weights) == (
        1e-3,
        16,
        4,
        "auto",
    )
    assert space.values_of(trial.to_dict()) == {
        "lr": 1e-3,
        "warmup_ratio": 0.1,
        "epochs": 4,
        "batch_size": 16,
        "class_weights": "auto",
    }
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again.params == space.params and again.fixed == space.fixed
    as_json = tmp_path / "space.json"
    as_json.write_text(json.dumps({"search": {"lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-3}}}))
    assert load_space(as_json).param("lr").high == 1e-3


BAD = {
    "unknown option": (
        "search:\n  learning_rat: {type: uniform, low: 0.1, high: 0.2}\n",
        "search.learning_rat",
        "not a `trainer fit` option",
    ),
    "not a hyperparameter": (
        "search:\n  output_dir: {type: categorical, choices: [a, b]}\n",
        "search.output_dir",
        "not a hyperparameter",
    ),
    "empty range": ("search:\n  lr: {type: log_uniform, low: 1.0e-3, high: 1.0e-4}\n", "search.lr", "empty range"),
    "one-point range": ("search:\n  epochs: {type: int, low: 3, high: 3}\n", "search.epochs", "empty range"),
    "int option as float range": (
        "search:\n  batch_size: {type: uniform, low: 8, high: 32}\n",
        "search.batch_size",
        "takes integers",
    ),
    "float option as int range": ("search:\n  lr: {type: int, low: 1, high: 3}\n", "search.lr", "takes floats"),
    "wrong type of a choice": (
        "search:\n  batch_size: {type: categorical, choices: [8, '16']}\n",
        "search.batch_size",
        "wrong type",
    ),
    "wrong type of a bound": (
        "search:\n  lr: {type: uniform, low: small, high: 0.1}\n",
        "search.lr: low",
        "wrong type",
    ),
    "text option as a range": ("search:\n  model: {type: uniform, low: 1, high: 2}\n", "search.model", "categorical"),
    "log with a zero bound": (
        "search:\n  weight_decay: {type: log_uniform, low: 0.0, high: 0.1}\n",
        "search.weight_decay",
        "above 0",
    ),
    "no choices": ("search:\n  batch_size: {type: categorical, choices: []}\n", "search.batch_size", "non-empty list"),
    "one choice": ("search:\n  batch_size: {type: categorical, choices: [8]}\n", "search.batch_size", "one choice"),
    "twice the same choice": (
        "search:\n  batch_size: {type: categorical, choices: [8, 8]}\n",
        "search.batch_size",
        "twice",
    ),
    "unknown distribution": ("search:\n  lr: {type: normal, low: 0.1, high: 0.2}\n", "search.lr", "unknown type"),
    "unknown key": ("search:\n  lr: {type: uniform, low: 0.1, high: 0.2, q: 2}\n", "search.lr", "not q"),
    "step that does not divide": (
        "search:\n  epochs: {type: int, low: 2, high: 7, step: 2}\n",
        "search.epochs",
        "multiple of step",
    ),
    "no search": ("fixed:\n  model: tiny\n", "`search:`", "at least one"),
    "entries at the top": ("lr: {type: uniform, low: 0.1, high: 0.2}\n", "top-level", "lr"),
    "searched and fixed": (
        "fixed:\n  lr: 0.001\nsearch:\n  lr: {type: uniform, low: 0.1, high: 0.2}\n",
        "fixed.lr",
        "also searched",
    ),
    "fixed of the wrong type": (
        "fixed:\n  epochs: four\nsearch:\n  lr: {type: uniform, low: 0.1, high: 0.2}\n",
        "fixed.epochs",
        "wrong type",
    ),
    "the metric searched": (
        "search:\n  checkpoint_metric: {type: categorical, choices: [val_f1, eval_loss]}\n",
        "search.checkpoint_metric",
        "cannot be searched",
    ),
    "not YAML": ("search:\n  lr: {type: [uniform\n", "not valid YAML", "line"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_space_file_is_one_error_naming_the_entry(tmp_path, case):
    text, where, why = BAD[case]
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as raised:
        load_space(path)
    message = str(raised.value)
    assert str(path) in message and where in message and why in message, message
    assert "\n" not in message


def test_bounds_and_combinations_pass_the_config_checks_before_anything_runs(tmp_path):
    space = parse_space({"search": {"warmup_ratio": {"type": "uniform", "low": 0.0, "high": 1.0}}}, "space.yaml")
    with pytest.raises(SpaceError, match=r"space.yaml: search.warmup_ratio: 1.0: warmup_ratio must be in \[0, 1\)"):
        space.check(base(space))
    clash = parse_space(
        {
            "fixed": {
                "model": "tiny"
            },  # each value is fine alone (with the defaults 512 and 128), not the two together
            "search": {
                "max_seq_length": {"type": "categorical", "choices": [256, 512]},
                "doc_stride": {"type": "categorical", "choices": [32, 300]},
            },
        },
        "space.yaml",
    )
    with pytest.raises(
        SpaceError, match=r"the combination \{'max_seq_length': 256, 'doc_stride': 300\}: doc_stride must be"
    ):
        clash.check(base(clash))
    with pytest.raises(SpaceError, match="fixed.lr: -1.0: learning_rate must be > 0"):
        base(
            parse_space(
                {"fixed": {"lr": -1.0}, "search": {"epochs": {"type": "int", "low": 1, "high": 2}}}, "space.yaml"
            )
        )
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "missing.yaml")


def test_set_options_are_typed_as_the_option_is():
    assert parse_assignment("epochs=4") == ("epochs", 4)
    assert parse_assignment("--lr=1e-3") == ("lr", 1e-3)
    assert parse_assignment("batching=random") == ("batching", "random")
    assert parse_assignment("fp16=false") == ("fp16", False)
    assert parse_assignment("eval_steps=null") == ("eval_steps", None)
    for bad, why in (
        ("epochs=four", "wrong type"),
        ("epochs", "OPTION=VALUE"),
        ("job_name=x", "not a hyperparameter"),
        ("nope=1", "not a `trainer fit`"),
    ):
        with pytest.raises(SpaceError, match=why):
            parse_assignment(bad)
    space = parse_space({"search": {"lr": {"type": "uniform", "low": 0.1, "high": 0.2}}}, "s.yaml")
    with pytest.raises(SpaceError, match="searched"):
        space.with_fixed({"lr": 0.1})
    assert space.with_fixed({"epochs": 2}).fixed == {"epochs": 2}


def _fit_command():
    return typer.main.get_command(app).commands["fit"]


def test_every_trainer_fit_option_is_either_a_sweep_option_or_said_not_to_be():
    names = {p.name.removeprefix("_conn_") for p in _fit_command().params}
    table = {"table", "endpoint_url", "region", "profile"}
    assert names - table == set(SWEPT) | set(NOT_SWEPT)
    assert not set(SWEPT) & set(NOT_SWEPT)


def test_the_fit_command_line_is_built_from_the_one_option_table():
    """Every row of the table is a `trainer fit` option with the table's help, default and
    flags, in the table's order: the CLI, the sweep and the docs cannot disagree."""
    params = [p for p in _fit_command().params if not p.name.startswith("_conn_")]
    rows = list(FIT_OPTION_TABLE)
    assert [p.name for p in params[: len(rows)]] == [o.name for o in rows]
    for param, row in zip(params, rows, strict=False):
        assert param.help == row.help and param.hidden == row.hidden, row.name
        assert param.default == row.default, row.name
        assert row.flag in param.opts or any(row.flag in f for f in row.flags), row.name


def test_the_command_line_of_a_request_parses_back_to_the_same_request():
    request = FitRequest(
        snapshot_root="/data/snap shots",
        snapshot="v3",
        model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
        train=TrainConfig(
            learning_rate=0.00123,
            batch_size=8,
            early_stopping_patience=None,
            batching="random",
            fp16=False,
            eval_steps=7,
            seed=3,
        ),
    )
    line = fit_command_line(request.to_dict())
    assert line.startswith("trainer fit --snapshot v3 --root '/data/snap shots'")
    params = _fit_command().make_context("fit", shlex.split(line)[2:]).params
    assert (
        params["lr"],
        params["batch_size"],
        params["early_stopping_patience"],
        params["batching"],
        params["fp16"],
        params["eval_steps"],
        params["seed"],
        params["max_seq_length"],
        params["model"],
    ) == (0.00123, 8, 0, "random", False, 7, 3, 128, "tiny")
    assert "--epochs" not in line  # defaults are left out


def test_the_snapshot_list_becomes_a_categorical():
    space = parse_space({"search": {"lr": {"type": "uniform", "low": 0.1, "high": 0.2}}}, "s.yaml").with_snapshots(
        ["v1", "v2"]
    )
    assert space.param("snapshot").choices == ("v1", "v2")
    with pytest.raises(SpaceError, match="choose one place"):
        space.with_snapshots(["v1", "v3"])

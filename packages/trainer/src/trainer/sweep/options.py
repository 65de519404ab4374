"""`trainer fit` options as a sweep sees them: which field of the `FitRequest` each one sets,
its type, how a value is read from a recorded request, and the `trainer fit` command line
that reproduces a request. Pure: no I/O, no heavy imports.

`tests/trainer/test_sweep_space.py` checks that every `trainer fit` option is either here or
in `NOT_SWEPT`, so a new option cannot be forgotten."""

from __future__ import annotations

import dataclasses
import difflib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ModelConfig, TrainConfig
from ..errors import ConfigError
from ..request import FitRequest


class SpaceError(ConfigError):
    """A search space (file, `--set`, `--snapshot` list) that cannot be used; the message
    names where and the entry."""


@dataclass(frozen=True)
class FitOption:
    """One `trainer fit` option: `--<name>` sets `<section>.<field>` of the request."""

    name: str
    section: str  # "request", "model" or "train"
    field: str
    kind: type  # int, float, str or bool
    nullable: bool = False  # None is a valid value (a flag left unset, no warm start...)
    zero_is_none: bool = False  # the option's 0 is the field's None (early_stopping_patience)
    negative_flag: str | None = None  # the flag for False, when not --no-<name>

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def to_field(self, value: Any) -> Any:
        return None if self.zero_is_none and value == 0 else value

    def from_field(self, value: Any) -> Any:
        return 0 if self.zero_is_none and value is None else value

    def read(self, request: Mapping[str, Any]) -> Any:
        """The option's value in a request as `FitRequest.to_dict()` records it."""
        holder = request if self.section == "request" else request.get(self.section) or {}
        return self.from_field(holder.get(self.field))


FIT_OPTIONS: dict[str, FitOption] = {o.name: o for o in (
    FitOption("snapshot", "request", "snapshot", str),
    FitOption("model", "model", "model", str),
    FitOption("warm_start", "model", "warm_start_text_encoder", str, nullable=True),
    FitOption("max_seq_length", "model", "max_seq_length", int),
    FitOption("doc_stride", "model", "doc_stride", int),
    FitOption("epochs", "train", "epochs", int),
    FitOption("batch_size", "train", "batch_size", int),
    FitOption("lr", "train", "learning_rate", float),
    FitOption("warmup_ratio", "train", "warmup_ratio", float),
    FitOption("weight_decay", "train", "weight_decay", float),
    FitOption("label_smoothing", "train", "label_smoothing", float),
    FitOption("gradient_accumulation_steps", "train", "gradient_accumulation_steps", int),
    FitOption("early_stopping_patience", "train", "early_stopping_patience", int, zero_is_none=True),
    FitOption("checkpoint_metric", "train", "checkpoint_metric", str),
    FitOption("class_weights", "train", "class_weights", str),
    FitOption("seed", "train", "seed", int),
    FitOption("fp16", "train", "fp16", bool, nullable=True),
    FitOption("bf16", "train", "bf16", bool, nullable=True),
    FitOption("num_workers", "train", "num_workers", int),
    FitOption("batching", "train", "batching", str),
    FitOption("length_jitter", "train", "length_jitter", float),
    FitOption("eval_steps", "train", "eval_steps", int, nullable=True),
)}

NOT_SWEPT = {
    "root": "the sweep's --root",
    "output_dir": "the sweep's --output-dir (trials go to OUTPUT_DIR/<sweep name>/)",
    "job_name": "trials are named <sweep name>-t<number>",
    "description": "the sweep's --description",
    "upload_uri": "not available in sweeps",
    "allow_contract_failures": "the sweep's --allow-contract-failures",
    "resume": "trainer sweep --resume resumes a sweep and its trials",
    "restart": "not available in sweeps",
    "as_json": "the sweep's --json",
    "group_by_length": "a legacy spelling of --batching (length / random): sweep `batching`",
}
"""`trainer fit` options that are not hyperparameters, and where their job is done instead."""

FIXED_ONLY = {"checkpoint_metric": "the metric that picks each trial's best checkpoint; the sweep always maximises val_f1"}
"""Options a sweep may set for every trial but not search over."""


def option(name: str, where: str) -> FitOption:
    """The option an entry names (`lr`, `--warmup-ratio` and `warmup-ratio` alike)."""
    key = name.strip().removeprefix("--").replace("-", "_")
    if key in FIT_OPTIONS:
        return FIT_OPTIONS[key]
    if key in NOT_SWEPT:
        raise SpaceError(f"{where}: {key!r} is a `trainer fit` option but not a hyperparameter: {NOT_SWEPT[key]}")
    close = difflib.get_close_matches(key, [*FIT_OPTIONS, "learning_rate"], n=1)
    hint = f"did you mean {'lr' if close == ['learning_rate'] else close[0]}? " if close else ""
    raise SpaceError(f"{where}: {name!r} is not a `trainer fit` option ({hint}options a sweep can set: {', '.join(sorted(FIT_OPTIONS))})")


def apply(request: FitRequest, values: Mapping[str, Any]) -> FitRequest:
    """`request` with these option values; the config dataclasses validate the result."""
    sections: dict[str, dict[str, Any]] = {"request": {}, "model": {}, "train": {}}
    for name, value in values.items():
        spec = FIT_OPTIONS[name]
        sections[spec.section][spec.field] = spec.to_field(value)
    model = dataclasses.replace(request.model, **sections["model"]) if sections["model"] else request.model
    train = dataclasses.replace(request.train, **sections["train"]) if sections["train"] else request.train
    return dataclasses.replace(request, model=model, train=train, **sections["request"])


def _render(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def fit_command_line(request: Mapping[str, Any]) -> str:
    """The `trainer fit` command that trains this recorded request again: the snapshot and its
    root, then every option whose value is not the default."""
    defaults = FitRequest(snapshot_root="", model=ModelConfig(), train=TrainConfig()).to_dict()
    parts = ["trainer", "fit", "--snapshot", str(request.get("snapshot")), "--root", str(request.get("snapshot_root"))]
    for spec in FIT_OPTIONS.values():
        value = spec.read(request)
        if spec.name == "snapshot" or value is None or value == spec.read(defaults):
            continue
        if spec.kind is bool:
            parts.append(spec.flag if value else (spec.negative_flag or "--no-" + spec.flag[2:]))
        else:
            parts += [spec.flag, _render(value)]
    if request.get("allow_contract_failures"):
        parts.append("--allow-contract-failures")
    return shlex.join(parts)

"""The one table of `trainer fit` options. Each row says which field of the `FitRequest` the
option sets, its type, default and help, and whether a sweep may search it (or where its job
is done instead). From this table come the `trainer fit` command line (cli/fit.py builds its
options from it, so docs/cli/trainer.md does too), the request a command line asks for, the
options a sweep may set, and the command that trains a recorded request again.

Pure: no I/O, no heavy imports; defaults are read from the config dataclasses, so the CLI and
the code that runs without it cannot disagree."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trainer.config import Batching, ModelConfig, TrainConfig
from trainer.training.request import FitRequest

TRAIN = TrainConfig()
MODEL = ModelConfig()

Section = Literal["request", "model", "train"]


@dataclass(frozen=True)
class FitOption:
    """One `trainer fit` option: `--<name>` sets `<section>.<field>` of the request."""

    name: str
    section: Section | None  # None: an option of the command line only (a legacy spelling)
    field: str
    kind: type  # int, float, str, bool or Path: how a sweep reads and writes the value
    annotation: Any  # the type the command line parses (`int | None`, `Batching | None`...)
    default: Any
    help: str
    flags: tuple[str, ...] = ()  # explicit flags (`--fp16/--no-fp16`); default: --<name>
    envvar: str | None = None
    hidden: bool = False
    nullable: bool = False  # None is a valid value (a flag left unset, no warm start...)
    zero_is_none: bool = False  # the option's 0 is the field's None (early_stopping_patience)
    not_swept: str | None = None  # not a hyperparameter: where its job is done in a sweep instead
    fixed_only: str | None = None  # a sweep may set it for every trial but not search over it

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def negative_flag(self) -> str:
        """The flag for False (bool options)."""
        declared = next((f.split("/", 1)[1] for f in self.flags if "/" in f), None)
        return declared or "--no-" + self.flag[2:]

    @property
    def swept(self) -> bool:
        return self.section is not None and self.not_swept is None

    def to_field(self, value: Any) -> Any:
        return None if self.zero_is_none and value == 0 else value

    def from_field(self, value: Any) -> Any:
        return 0 if self.zero_is_none and value is None else value

    def read(self, request: Mapping[str, Any]) -> Any:
        """The option's value in a request as `FitRequest.to_dict()` records it."""
        holder = request if self.section == "request" else request.get(str(self.section)) or {}
        return self.from_field(holder.get(self.field))


def _option(
    name: str,
    section: Section | None,
    field: str,
    kind: type,
    default: Any,
    help: str,
    *,  # noqa: A002 - typer's name
    annotation: Any = None,
    **more: Any,
) -> FitOption:
    return FitOption(name, section, field, kind, annotation if annotation is not None else kind, default, help, **more)


FIT_OPTION_TABLE: tuple[FitOption, ...] = (
    _option("snapshot", "request", "snapshot", str, "latest", "Snapshot id (v12) or `latest`."),
    _option(
        "root",
        "request",
        "snapshot_root",
        str,
        "snapshots",
        "Snapshot root: a folder, or s3://bucket/prefix.",
        flags=("--root",),
        envvar="RECEIPT_ML_SNAPSHOT_ROOT",
        not_swept="the sweep's --root",
    ),
    _option(
        "model",
        "model",
        "model",
        str,
        MODEL.model,
        "Hub id (cached, or downloaded on first use unless HF_HUB_OFFLINE=1), a local model folder, or `tiny`.",
    ),
    _option(
        "warm_start",
        "model",
        "warm_start_text_encoder",
        str,
        None,
        "Local BERT (uncased) folder: its encoder seeds LayoutLM; 2-D embeddings start fresh.",
        annotation=str | None,
        nullable=True,
    ),
    _option(
        "max_seq_length",
        "model",
        "max_seq_length",
        int,
        MODEL.max_seq_length,
        "Sub-tokens per window, [CLS] and [SEP] included.",
    ),
    _option(
        "doc_stride",
        "model",
        "doc_stride",
        int,
        MODEL.doc_stride,
        "Sub-tokens shared by consecutive windows of a long receipt (at most).",
    ),
    _option(
        "epochs",
        "train",
        "epochs",
        int,
        TRAIN.epochs,
        "Passes over the training windows (early stopping may end sooner).",
    ),
    _option("batch_size", "train", "batch_size", int, TRAIN.batch_size, "Windows per device per step."),
    _option(
        "lr",
        "train",
        "learning_rate",
        float,
        TRAIN.learning_rate,
        "Peak learning rate (per optimiser step, after warm-up).",
    ),
    _option(
        "warmup_ratio",
        "train",
        "warmup_ratio",
        float,
        TRAIN.warmup_ratio,
        "Share of all optimiser steps spent warming up, in [0, 1).",
    ),
    _option(
        "weight_decay", "train", "weight_decay", float, TRAIN.weight_decay, "AdamW weight decay (decoupled, per step)."
    ),
    _option(
        "label_smoothing",
        "train",
        "label_smoothing",
        float,
        TRAIN.label_smoothing,
        "Label smoothing epsilon in [0, 1), applied with the class weights.",
    ),
    _option(
        "gradient_accumulation_steps",
        "train",
        "gradient_accumulation_steps",
        int,
        TRAIN.gradient_accumulation_steps,
        "Batches per optimiser step (windows per update = batch size x this).",
    ),
    _option(
        "early_stopping_patience",
        "train",
        "early_stopping_patience",
        int,
        TRAIN.early_stopping_patience or 0,
        "Evaluations without improvement before stopping; 0 disables.",
        zero_is_none=True,
    ),
    _option(
        "checkpoint_metric",
        "train",
        "checkpoint_metric",
        str,
        TRAIN.checkpoint_metric,
        "Metric that picks the best checkpoint (val_f1, eval_loss...).",
        fixed_only="the metric that picks each trial's best checkpoint; the sweep always maximises val_f1",
    ),
    _option(
        "class_weights",
        "train",
        "class_weights",
        str,
        TRAIN.class_weights,
        "auto (inverse train frequency, clipped), none, or a JSON file {tag: weight}.",
    ),
    _option("seed", "train", "seed", int, TRAIN.seed, "Seed of the weights, batch order and dropout."),
    _option(
        "fp16",
        "train",
        "fp16",
        bool,
        TRAIN.fp16,
        "Half precision (default: bf16 or fp16 on a GPU, fp32 on CPU).",
        annotation=bool | None,
        flags=("--fp16/--no-fp16",),
        nullable=True,
    ),
    _option(
        "bf16",
        "train",
        "bf16",
        bool,
        TRAIN.bf16,
        "bfloat16 (default: on when the GPU supports it).",
        annotation=bool | None,
        flags=("--bf16/--no-bf16",),
        nullable=True,
    ),
    _option(
        "num_workers",
        "train",
        "num_workers",
        int,
        TRAIN.num_workers,
        "DataLoader worker processes (0: load in the training process).",
    ),
    _option(
        "batching",
        "train",
        "batching",
        str,
        None,
        "How windows form batches: packed (several per sequence, little padding), length (similar lengths "
        f"together) or random (default: {TRAIN.batching}).",
        annotation=Batching | None,
    ),
    _option(
        "length_jitter",
        "train",
        "length_jitter",
        float,
        TRAIN.length_jitter,
        "With --batching length: lengths times a random factor 1 +- JITTER, in [0, 1) (0: exact sort).",
    ),
    _option(
        "group_by_length",
        None,
        "batching",
        bool,
        None,
        "Old spelling of --batching length / random.",
        annotation=bool | None,
        flags=("--group-by-length/--random-batches",),
        hidden=True,
        not_swept="a legacy spelling of --batching (length / random): sweep `batching`",
    ),
    _option(
        "eval_steps",
        "train",
        "eval_steps",
        int,
        TRAIN.eval_steps,
        "Evaluate every N optimiser steps (default: once per epoch).",
        annotation=int | None,
        nullable=True,
    ),
    _option(
        "output_dir",
        "train",
        "output_dir",
        Path,
        Path(TRAIN.output_dir),
        "Runs go to OUTPUT_DIR/<job name>/.",
        not_swept="the sweep's --output-dir (trials go to OUTPUT_DIR/<sweep name>/)",
    ),
    _option(
        "job_name",
        "request",
        "job_name",
        str,
        None,
        "Job name (default: <snapshot>-<model>-<time>).",
        annotation=str | None,
        not_swept="trials are named <sweep name>-t<number>",
    ),
    _option(
        "description",
        "request",
        "description",
        str,
        "",
        "Free text stored with the job.",
        not_swept="the sweep's --description",
    ),
    _option(
        "upload_uri",
        "request",
        "upload_uri",
        str,
        None,
        "Also copy the best model to s3://bucket/prefix/.",
        annotation=str | None,
        not_swept="not available in sweeps",
    ),
    _option(
        "allow_contract_failures",
        "request",
        "allow_contract_failures",
        bool,
        False,
        "Train on a snapshot whose contracts failed.",
        flags=("--allow-contract-failures",),
        not_swept="the sweep's --allow-contract-failures",
    ),
)
"""Every option that says what to train, in the order `trainer fit --help` lists them."""

FIT_OPTIONS: dict[str, FitOption] = {o.name: o for o in FIT_OPTION_TABLE}

COMMAND_OPTIONS = {
    "resume": "trainer sweep --resume resumes a sweep and its trials",
    "restart": "not available in sweeps",
    "as_json": "the sweep's --json",
}
"""`trainer fit` options that say how to run the command rather than what to train (and, for
a sweep, where their job is done instead)."""


def request_from_options(values: Mapping[str, Any], *, created_by: str) -> FitRequest:
    """The request a `trainer fit` command line asks for: each option's value into its field
    (paths as given: the CLI makes them absolute). The config dataclasses validate it."""
    sections: dict[str, dict[str, Any]] = {"request": {}, "model": {}, "train": {}}
    for name, value in values.items():
        spec = FIT_OPTIONS[name]
        if spec.section is not None:
            sections[spec.section][spec.field] = str(value) if spec.kind is Path else spec.to_field(value)
    if sections["train"].get("batching") is None:
        sections["train"].pop("batching", None)
    return FitRequest(
        model=ModelConfig(**sections["model"]),
        train=TrainConfig(**sections["train"]),
        created_by=created_by,
        **sections["request"],
    )


def apply(request: FitRequest, values: Mapping[str, Any]) -> FitRequest:
    """`request` with these option values; the config dataclasses validate the result."""
    sections: dict[str, dict[str, Any]] = {"request": {}, "model": {}, "train": {}}
    for name, value in values.items():
        spec = FIT_OPTIONS[name]
        sections[str(spec.section)][spec.field] = spec.to_field(value)
    model = dataclasses.replace(request.model, **sections["model"]) if sections["model"] else request.model
    train = dataclasses.replace(request.train, **sections["train"]) if sections["train"] else request.train
    return dataclasses.replace(request, model=model, train=train, **sections["request"])


def _render(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def fit_command_line(request: Mapping[str, Any]) -> str:
    """The `trainer fit` command that trains this recorded request again: the snapshot and its
    root, then every hyperparameter whose value is not the default."""
    defaults = FitRequest(snapshot_root="", model=ModelConfig(), train=TrainConfig()).to_dict()
    parts = ["trainer", "fit", "--snapshot", str(request.get("snapshot")), "--root", str(request.get("snapshot_root"))]
    for spec in FIT_OPTION_TABLE:
        if not spec.swept or spec.name == "snapshot":
            continue
        value = spec.read(request)
        if value is None or value == spec.read(defaults):
            continue
        if spec.kind is bool:
            parts.append(spec.flag if value else spec.negative_flag)
        else:
            parts += [spec.flag, _render(value)]
    if request.get("allow_contract_failures"):
        parts.append("--allow-contract-failures")
    return shlex.join(parts)

"""What a job's records hold, typed: the job's config and results, its `run_config` and
`run_summary` logs and its metrics, each with one reader.

Three writers have filled the table: this product, the user's previous trainer
(`receipt_layoutlm`, through their client `receipt_dynamo`) and the client itself. Each reader
here accepts all three and returns one shape, so no analysis reads `job_config["..."]` by key
or guesses which writer it is looking at:

- `JobConfig.parse(job.job_config)`: ours hold `{"schema_version", "kind", "request",
  "snapshot", "seed", ...}`; the previous trainer's is one flat map (`model` a string such as
  `"layoutlm-v1"`, hyperparameters beside data settings), translated into the same `request`
  shape (`model.*`, `train.*`) with the rest kept in `extra`;
- `JobResults.parse(job.results)`: the names the user's dashboards read, typed;
- `RunConfigLog.parse(payload)`: ours is flat, theirs nests everything under `data`;
- `RunSummary.parse(payload)`: `epoch_metrics` rows as ours (`val_f1`, `per_label_metrics`) or
  theirs (`eval_f1`, `eval_label_<L>_f1`, `global_step`);
- `per_label_metrics(metrics)`: `label_<L>` dict rows and flat `label_<L>_<field>` rows.

Everything here is pure (no I/O); docs/table_layout.md says which writer writes what.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import JobMetric

SCHEMA_VERSION = 2
"""Version of the job_config we write. 1: the same shape without `schema_version` and `kind`
(a `request` meant `trainer fit`, a `sweep` key a sweep)."""
JOB_KINDS = ("fit", "sweep", "review", "pretrain", "data_curve", "legacy")
"""`legacy`: a job written by the user's previous trainer (or anything else we did not write)."""

PER_LABEL_FIELDS = ("f1", "precision", "recall", "support")
FLAT_LABEL_METRIC = re.compile(r"^label_(?P<label>.+)_(?P<field>f1|precision|recall|support)$")
EVAL_LABEL_KEY = re.compile(r"^eval_label_(?P<label>.+)_(?P<field>f1|precision|recall|support)$")

# The previous trainer's flat job_config keys, where our request keeps the same setting.
LEGACY_SETTINGS = {
    "pretrained_model_name": ("model", "model"), "max_seq_length": ("model", "max_seq_length"),
    "doc_stride": ("model", "doc_stride"), "epochs": ("train", "epochs"), "batch_size": ("train", "batch_size"),
    "learning_rate": ("train", "learning_rate"), "warmup_ratio": ("train", "warmup_ratio"),
    "weight_decay": ("train", "weight_decay"), "max_grad_norm": ("train", "max_grad_norm"),
    "label_smoothing": ("train", "label_smoothing"), "gradient_accumulation_steps": ("train", "gradient_accumulation_steps"),
    "early_stopping_patience": ("train", "early_stopping_patience"), "checkpoint_metric": ("train", "checkpoint_metric"),
}
# Names the previous trainer gave metrics in its run_summary rows and results, as ours.
LEGACY_METRIC_NAMES = {"eval_f1": "val_f1", "eval_precision": "val_precision", "eval_recall": "val_recall",
                       "eval_accuracy": "val_accuracy", "f1": "val_f1", "global_step": "step"}


def number(value: Any) -> float | None:
    """A finite float, or None (absent, null, text, NaN or infinite)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _whole(value: Any) -> int | None:
    found = number(value)
    return int(found) if found is not None else None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def parse_structured(message: str) -> dict[str, Any] | None:
    """The JSON object of a structured log message (`{"type": ...}`), or None for plain text.
    Lenient as Python's json is: the previous trainer wrote bare `Infinity` and `NaN`."""
    if not message.startswith("{"):
        return None
    try:
        payload = json.loads(message)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


# --- job_config ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotLineage:
    """Which snapshot a job trained on, and what it held (recorded so runs can be compared)."""

    id: str | None = None
    uri: str | None = None
    content_sha256: str | None = None
    manifest_sha256: str | None = None
    split_hashes: Mapping[str, str] = field(default_factory=dict)
    label_list: tuple[str, ...] = ()
    coordinate_convention: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> SnapshotLineage | None:
        if not isinstance(raw, Mapping) or not raw:
            return None
        labels = raw.get("label_list")
        return cls(raw.get("id"), raw.get("uri"), raw.get("content_sha256"), raw.get("manifest_sha256"), _mapping(raw.get("split_hashes")),
                   tuple(labels) if isinstance(labels, list | tuple) else (), _mapping(raw.get("coordinate_convention")))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "uri": self.uri, "content_sha256": self.content_sha256, "manifest_sha256": self.manifest_sha256,
                "split_hashes": dict(self.split_hashes), "label_list": list(self.label_list),
                "coordinate_convention": dict(self.coordinate_convention)}


@dataclass(frozen=True)
class JobConfig:
    """A job's `job_config`, whoever wrote it.

    `request` is what the job was asked for, in the shape of the job kind's own request
    (`trainer fit`'s `FitRequest.to_dict()`: `model.*`, `train.*`...); the kind's own code turns
    it back into its typed request. `extra` holds what else the job recorded (a sweep's plan, a
    review's folds, a pretraining's corpus, the previous trainer's other settings)."""

    kind: str = "fit"
    request: Mapping[str, Any] = field(default_factory=dict)
    snapshot: SnapshotLineage | None = None
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"job kind must be one of {', '.join(JOB_KINDS)}, got {self.kind!r}")

    @property
    def model(self) -> str | None:
        """What the job trained from: a hub id, a model folder, `tiny`, a warm start folder, or
        the previous trainer's `layoutlm-v1`."""
        model = self.request.get("model")
        if isinstance(model, Mapping):
            return model.get("warm_start_text_encoder") or model.get("model")
        return model if isinstance(model, str) else None

    def part(self, name: str) -> dict[str, Any]:
        """One section of the request (`model`, `train`), empty when absent."""
        found = self.request.get(name)
        return dict(found) if isinstance(found, Mapping) else {}

    def to_dict(self) -> dict[str, Any]:
        written: dict[str, Any] = {"schema_version": self.schema_version, "kind": self.kind}
        if self.request:
            written["request"] = dict(self.request)
        if self.snapshot is not None:
            written["snapshot"] = self.snapshot.to_dict()
        if self.seed is not None:
            written["seed"] = self.seed
        return {**written, **self.extra}

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> JobConfig:
        raw = dict(raw or {})
        snapshot = SnapshotLineage.parse(raw.pop("snapshot", None))
        seed = _whole(raw.pop("seed", None))
        version = _whole(raw.pop("schema_version", None)) or 1
        kind = raw.pop("kind", None)
        if isinstance(raw.get("request"), Mapping):
            return cls(kind if kind in JOB_KINDS else "fit", dict(raw.pop("request")), snapshot, seed, raw, version)
        if kind in JOB_KINDS or "sweep" in raw:
            return cls(kind if kind in JOB_KINDS else "sweep", {}, snapshot, seed, raw, version)
        return cls._legacy(raw, snapshot, seed)

    @classmethod
    def _legacy(cls, raw: dict[str, Any], snapshot: SnapshotLineage | None, seed: int | None) -> JobConfig:
        """The previous trainer's flat config: its settings moved to where ours keep them."""
        request: dict[str, Any] = {"model": {}, "train": {}}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            if key in LEGACY_SETTINGS:
                section, name = LEGACY_SETTINGS[key]
                request[section][name] = value
            else:
                extra[key] = value
        if isinstance(raw.get("model"), str) and "model" not in request["model"]:
            request["model"]["model"] = raw["model"]
        metric = request["train"].get("checkpoint_metric")
        if isinstance(metric, str):
            request["train"]["checkpoint_metric"] = LEGACY_METRIC_NAMES.get(metric, metric)
        return cls("legacy", request, snapshot, seed, extra, 0)


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobResults:
    """A job's `results`: the summary the user's dashboards read, typed. What else a job kind
    records (a sweep's state, a trial's outcome, a review's summary, a divergence) is in `extra`."""

    best_f1: float | None = None
    best_epoch: float | None = None
    train_runtime: float | None = None
    total_flos: float | None = None
    early_stopping_triggered: bool | None = None
    epochs_since_best: int | None = None
    best_checkpoint_uri: str | None = None
    """`best_checkpoint_s3_path` (ours and theirs), or the previous trainer's local `best_checkpoint_path`."""
    checkpoint_metric: str | None = None
    best_metric: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    KNOWN = ("best_f1", "best_epoch", "train_runtime", "total_flos", "early_stopping_triggered", "epochs_since_best",
             "best_checkpoint_s3_path", "best_checkpoint_path", "checkpoint_metric", "best_metric")

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> JobResults:
        raw = dict(raw or {})
        stopped = raw.get("early_stopping_triggered")
        metric = raw.get("checkpoint_metric")
        return cls(
            best_f1=number(raw.get("best_f1")), best_epoch=number(raw.get("best_epoch")),
            train_runtime=number(raw.get("train_runtime")), total_flos=number(raw.get("total_flos")),
            early_stopping_triggered=stopped if isinstance(stopped, bool) else None,
            epochs_since_best=_whole(raw.get("epochs_since_best")),
            best_checkpoint_uri=raw.get("best_checkpoint_s3_path") or raw.get("best_checkpoint_path") or None,
            checkpoint_metric=LEGACY_METRIC_NAMES.get(metric, metric) if isinstance(metric, str) else None,
            best_metric=number(raw.get("best_metric", raw.get("best_checkpoint_metric_value"))),
            extra={k: v for k, v in raw.items() if k not in cls.KNOWN},
        )

    def get(self, name: str) -> Any:
        """An extra entry (`trial`, `sweep`, `review`, `diverged`...), or None."""
        return self.extra.get(name)


# --- logs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfigLog:
    """The `run_config` log: ours is flat; the previous trainer's nests its payload under `data`."""

    schedule: Mapping[str, Any] = field(default_factory=dict)
    label_list: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> RunConfigLog:
        body = payload.get("data") if isinstance(payload.get("data"), Mapping) and "request" not in payload else payload
        labels = body.get("label_list") or (body.get("snapshot") or {}).get("label_list") or ()
        return cls(dict(body.get("schedule") or {}), tuple(base_labels(labels)), dict(body))


@dataclass(frozen=True)
class EpochRow:
    """One evaluation in a run_summary's `epoch_metrics`, in our metric names."""

    epoch: float | None
    step: int | None
    values: Mapping[str, float]
    per_label: Mapping[str, Mapping[str, float]]

    @classmethod
    def parse(cls, row: Mapping[str, Any]) -> EpochRow:
        values: dict[str, float] = {}
        labels: dict[str, dict[str, float]] = defaultdict(dict)
        for key, raw in row.items():
            if key in ("epoch", "per_label_metrics"):
                continue
            flat = EVAL_LABEL_KEY.match(key)
            if flat:
                if number(raw) is not None:
                    labels[flat["label"]][flat["field"]] = number(raw)
                continue
            value = number(raw)
            if value is not None:
                values[LEGACY_METRIC_NAMES.get(key, key)] = value
        for name, figures in (row.get("per_label_metrics") or {}).items():
            if isinstance(figures, Mapping):
                label = name[2:] if name[:2] in ("B-", "I-") else name
                labels.setdefault(label, {k: number(figures.get(k)) for k in PER_LABEL_FIELDS})
        step = values.pop("step", None)
        return cls(number(row.get("epoch")), int(step) if step is not None else None, values, dict(labels))


@dataclass(frozen=True)
class RunSummary:
    """The `run_summary` log written at the end of a run (ours and the previous trainer's)."""

    epoch_rows: tuple[EpochRow, ...] = ()
    best_epoch: float | None = None
    best_f1: float | None = None
    early_stopping_triggered: bool | None = None
    checkpoint_metric: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> RunSummary:
        rows = tuple(EpochRow.parse(r) for r in payload.get("epoch_metrics") or () if isinstance(r, Mapping))
        stopped = payload.get("early_stopping_triggered")
        metric = payload.get("checkpoint_metric")
        return cls(rows, number(payload.get("best_epoch")), number(payload.get("best_f1")),
                   stopped if isinstance(stopped, bool) else None,
                   LEGACY_METRIC_NAMES.get(metric, metric) if isinstance(metric, str) else None, dict(payload))


def base_labels(labels: Iterable[str]) -> list[str]:
    """Entity labels without B-/I- and without O, in first-seen order (`label_list`s of the
    previous trainer hold BIO tags)."""
    seen: dict[str, None] = {}
    for label in labels:
        if isinstance(label, str) and label != "O":
            seen.setdefault(label[2:] if label[:2] in ("B-", "I-") else label, None)
    return list(seen)


# --- metrics --------------------------------------------------------------------------------------


def per_label_metrics(metrics: Iterable[JobMetric]) -> dict[tuple[float | None, str], dict[str, Any]]:
    """Per-label figures keyed by (epoch, LABEL), from `label_<L>` dict rows and flat
    `label_<L>_<f1|precision|recall|support>` rows alike; a later row wins over an earlier one
    of the same evaluation (the previous trainer could write one twice). A dict-valued
    `label_*` metric that holds no per-label figures (their `label_merge_config`) is not one."""
    folded: dict[tuple[float | None, str], dict[str, Any]] = defaultdict(dict)
    for metric in sorted(metrics, key=lambda m: m.timestamp):
        if not metric.metric_name.startswith("label_"):
            continue
        if isinstance(metric.value, Mapping):
            if set(metric.value) & set(PER_LABEL_FIELDS):
                folded[(metric.epoch, metric.metric_name.removeprefix("label_"))].update(metric.value)
            continue
        flat = FLAT_LABEL_METRIC.match(metric.metric_name)
        if flat:
            folded[(metric.epoch, flat["label"])][flat["field"]] = metric.value
    return dict(folded)

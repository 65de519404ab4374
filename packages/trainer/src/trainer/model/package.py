"""The model package: a folder anyone can apply to receipts without the run that made it.

Like the snapshot manifest, `receipt_ml.json` is a typed, versioned contract (`ModelPackage`,
`schema_version` 1) beside the weights and tokenizer: the tag list in the model's output order
and its scheme, the window sizes, the box convention the model expects, the snapshot (id and
content hash) and job it came from, and the best evaluation. `README.md` is the same facts for
people (the model card). `trainer export` adds the ONNX graph (`onnx`), its parity check and
its int8 twin.

`load_package` refuses a folder that is not a package, lacks a field or a file that the
chosen runtime needs, or expects a box convention or tag scheme predict does not know, and
names what is wrong. Cards written before packages existed (no `schema_version`: version 0)
are upgraded on read (`upgrade_v0`); nothing on disk changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trainer.config import RUNTIMES
from trainer.errors import TrainerError
from trainer.model.pretrained import PretrainingRef

SCHEMA_VERSION = 1
BEST_DIR = "best"
"""The package folder in a run's folder."""
PACKAGE_FILE = "receipt_ml.json"
CARD_FILE = "README.md"
KNOWN_CONVENTIONS = ("layoutlm-0-1000-top-left",)
"""Box conventions predict can produce (dataset_builder.rules.COORDINATE_CONVENTION)."""
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


class PackageError(TrainerError, ValueError):
    """A folder that is not a usable model package; the message names what is missing."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SnapshotRef(_Model):
    id: str
    content_sha256: str


class BoxConvention(_Model):
    name: str
    description: str = ""
    source: str = ""


class BestEvaluation(_Model):
    """The evaluation whose weights the package holds (val split of the snapshot)."""

    checkpoint_metric: str | None
    best_metric: float | None = None
    epoch: float | None = None
    step: int | None = None
    val_f1: float | None = None
    """Strict IOB2 entity F1 of these weights on the snapshot's val split."""
    val_precision: float | None = None
    val_recall: float | None = None
    val_f1_lenient: float | None = None
    eval_loss: float | None = None
    best_f1_of_run: float | None = None
    """The highest val F1 of any evaluation of the run (equals val_f1 when it chose by val_f1)."""


class OnnxParity(_Model):
    """ONNX fp32 against PyTorch on real windows (the snapshot's val split)."""

    windows: int
    words: int
    max_abs_logit_diff: float
    argmax_identical: bool
    threshold: float


class OnnxInt8(_Model):
    file: str
    method: Literal["onnxruntime-dynamic-int8"] = "onnxruntime-dynamic-int8"
    val_f1: float
    val_f1_fp32: float
    max_abs_logit_diff: float
    argmax_agreement: float
    """Share of val words whose int8 tag equals the fp32 tag."""


class OnnxExport(_Model):
    file: str
    opset: int
    inputs: list[str]
    outputs: list[str]
    dynamic_axes: dict[str, list[str]]
    exporter: str
    torch_version: str
    onnxruntime_version: str
    exported_at: str
    parity: OnnxParity
    int8: OnnxInt8 | None = None


class ModelPackage(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["layoutlm-token-classification"] = "layoutlm-token-classification"
    job_id: str
    created_at: str
    snapshot: SnapshotRef
    label_list: list[str]
    tags: list[str]
    """The model's output classes, in output order (logit i is tags[i])."""
    tag_scheme: str
    max_seq_length: int = Field(ge=3)
    doc_stride: int = Field(ge=0)
    coordinate_convention: BoxConvention
    best: BestEvaluation
    model_source: str = ""
    """How the run built the network: tiny, local, hub or warm_start."""
    pretraining: PretrainingRef | None = None
    """The `trainer pretrain` job (corpus, steps) that wrote the folder the run started from; None: none did."""
    onnx: OnnxExport | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def package_schema() -> dict[str, Any]:
    """The JSON schema of receipt_ml.json (docs/schemas/model_package.json is this)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://receipt-ml.local/schemas/model_package.json",
        **ModelPackage.model_json_schema(),
        "title": "receipt_ml.json: the model package",
    }


def write_package(folder: Path, package: ModelPackage) -> None:
    """receipt_ml.json and the README.md model card, in `folder`."""
    (folder / PACKAGE_FILE).write_text(package.to_json())
    (folder / CARD_FILE).write_text(model_card(package))


def upgrade_v0(data: dict[str, Any]) -> dict[str, Any]:
    """The card runs wrote before packages existed, as version 1 data (IOB2 was the only tag
    scheme snapshots ever had; the card recorded the best epoch and F1 only)."""
    known = ("job_id", "snapshot", "label_list", "tags", "coordinate_convention", "max_seq_length", "doc_stride")
    return {
        **{k: data[k] for k in known if k in data},
        "created_at": "",
        "tag_scheme": "IOB2",
        "best": {"checkpoint_metric": None, "epoch": data.get("best_epoch"), "best_f1_of_run": data.get("best_f1")},
    }


def read_package(folder: Path) -> ModelPackage:
    """The typed package of `folder`, any known schema version; no file checks."""
    path = Path(folder) / PACKAGE_FILE
    if not path.is_file():
        raise PackageError(
            f"{folder} is not a model package: it has no {PACKAGE_FILE} (pass a run folder, its best/ folder, "
            "an exported folder, a job id or an s3:// URI of one)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise PackageError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PackageError(f"{path} is not a JSON object")
    version = data.get("schema_version", 0)
    if version not in (0, SCHEMA_VERSION):
        raise PackageError(f"{path} has schema_version {version!r}; this trainer reads versions 0 and {SCHEMA_VERSION}")
    try:
        return ModelPackage.model_validate(upgrade_v0(data) if version == 0 else data)
    except ValidationError as exc:
        raise PackageError(f"model package {folder} {_problems(exc)}") from exc


def _problems(exc: ValidationError) -> str:
    missing = [".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "missing"]
    other = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors() if e["type"] != "missing"]
    parts = ([f"lacks {', '.join(missing)}"] if missing else []) + (
        [f"has bad values ({'; '.join(other[:3])})"] if other else []
    )
    return " and ".join(parts)


def load_package(folder: str | Path, runtime: str = "torch") -> ModelPackage:
    """Read and check a package for `runtime` (torch, onnx, onnx-int8): a known box convention
    and tag scheme, and every file that runtime loads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    if runtime not in RUNTIMES:
        raise PackageError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    package = read_package(folder)
    where = f"model package {folder}"
    convention = package.coordinate_convention.name
    if convention not in KNOWN_CONVENTIONS:
        raise PackageError(
            f"{where} expects boxes in the {convention!r} convention; predict produces only "
            f"{', '.join(KNOWN_CONVENTIONS)}"
        )
    if package.tag_scheme != "IOB2":
        raise PackageError(f"{where} uses the {package.tag_scheme!r} tag scheme; predict knows only IOB2")
    if not package.tags or package.tags[0] != "O" or any(t != "O" and t[:2] not in ("B-", "I-") for t in package.tags):
        raise PackageError(f"{where}: tags must be O followed by B-/I- tags, got {package.tags[:5]}")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise PackageError(f"{where} lacks its tokenizer ({' or '.join(TOKENIZER_FILES)})")
    if runtime == "torch":
        _check_weights(folder, package, where)
    else:
        onnx_file = (
            None
            if package.onnx is None
            else package.onnx.file
            if runtime == "onnx"
            else (package.onnx.int8.file if package.onnx.int8 else None)
        )
        if onnx_file is None:
            hint = "`trainer export --format onnx" + (" --quantize int8`" if runtime == "onnx-int8" else "`")
            raise PackageError(
                f"{where} lacks an {'int8 ' if runtime == 'onnx-int8' else ''}ONNX graph: make one with {hint}"
            )
        if not (folder / onnx_file).is_file():
            raise PackageError(f"{where} lacks its ONNX graph {onnx_file}")
    return package


def _check_weights(folder: Path, package: ModelPackage, where: str) -> None:
    if not (folder / "config.json").is_file() or not any((folder / name).is_file() for name in WEIGHT_FILES):
        exported = " (an ONNX export: use --runtime onnx)" if package.onnx else ""
        raise PackageError(f"{where} lacks its PyTorch weights (config.json and {' or '.join(WEIGHT_FILES)}){exported}")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    id2label = config.get("id2label") or {}
    labels = [id2label.get(str(i)) for i in range(len(id2label))]
    if labels != package.tags:
        raise PackageError(
            f"{where}: the weights' id2label ({len(labels)} classes) disagrees with the package's tags "
            f"({len(package.tags)})"
        )


def model_card(package: ModelPackage) -> str:
    """README.md of the package folder: what the model is, what it was trained and measured on,
    and how to use it."""
    best = package.best
    f1 = "n/a" if best.val_f1 is None else f"{best.val_f1:.4f}"
    lines = [
        f"# LayoutLM receipt tagger (job {package.job_id})",
        "",
        "Token classification of receipt words, trained by receipt-ml `trainer fit`. Machine-readable facts: "
        f"`{PACKAGE_FILE}` (schema version {package.schema_version}).",
        "",
        "| | |",
        "|---|---|",
        f"| job | `{package.job_id}` |",
        f"| snapshot | `{package.snapshot.id}` (content sha256 `{package.snapshot.content_sha256[:16]}...`) |",
        f"| labels | {', '.join(package.label_list) or '(none)'} |",
        f"| tags | {len(package.tags)}, {package.tag_scheme} |",
        f"| windows | {package.max_seq_length} sub-tokens, stride {package.doc_stride} |",
        f"| boxes | `{package.coordinate_convention.name}`: {package.coordinate_convention.description} |",
        f"| best evaluation | epoch {best.epoch}, step {best.step}, chosen by {best.checkpoint_metric} |",
        f"| val strict F1 | {f1} |",
    ]
    if package.pretraining is not None:
        pretrained = package.pretraining
        lines.append(
            f"| pretrained | job `{pretrained.job_id or '-'}` on corpus `{pretrained.corpus_id}` (content sha256 "
            f"`{pretrained.corpus_sha256[:16]}...`), {pretrained.steps} steps from `{pretrained.started_from}` |"
        )
    if package.onnx is not None:
        onnx = package.onnx
        lines.append(
            f"| ONNX | `{onnx.file}`, opset {onnx.opset}, parity max abs logit diff "
            f"{onnx.parity.max_abs_logit_diff:.2e} "
            f"on {onnx.parity.windows} windows, argmax identical: {onnx.parity.argmax_identical} |"
        )
        if onnx.int8 is not None:
            lines.append(
                f"| ONNX int8 | `{onnx.int8.file}`, val F1 {onnx.int8.val_f1:.4f} (fp32 {onnx.int8.val_f1_fp32:.4f}) |"
            )
    lines += [
        "",
        "## Use",
        "",
        "```bash",
        "trainer predict --model THIS_FOLDER --jsonl receipts.jsonl --out predictions.jsonl",
        "trainer export --model THIS_FOLDER --format onnx --quantize int8 --out model-onnx",
        "```",
        "",
        "Words go in with boxes `[x0, y0, x1, y1]` in 0..1000 of the receipt, origin top-left; receipts longer than "
        "one window "
        f"are cut into overlapping windows ({package.max_seq_length} sub-tokens, stride {package.doc_stride}) and "
        "each word's "
        "logits are averaged over the windows that hold it.",
        "",
    ]
    return "\n".join(lines)

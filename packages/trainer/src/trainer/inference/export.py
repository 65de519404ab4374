"""`trainer export --format onnx`: the package's network as an ONNX graph, checked against
PyTorch on real windows before anything is published, optionally with an int8 twin.

Exporter: `torch.onnx.export(dynamo=True)`, torch's maintained exporter (torch.export, then
onnxscript); the TorchScript exporter (`dynamo=False`) also handles LayoutLM but is
deprecated since torch 2.9. Inputs `input_ids`, `bbox`, `attention_mask`, `token_type_ids`
(int64), output `logits`; batch and sequence axes are dynamic. The graph is traced on a batch
of two real windows (a size-1 axis would be specialised).

Parity: the snapshot's val windows through both, max |logit difference| over real tokens
(fp32: below 1e-4) and the arg-max tag of every word after the windows are merged (all
identical); a failed check publishes nothing. `--quantize int8` adds onnxruntime's dynamic
int8 quantization of the weights (MatMul/Gemm, one scale per output channel), after onnxruntime's pre-processing (shape
inference, graph optimisations), and scores it against fp32 on the val split.

The output folder is a model package (package.py) with the ONNX graph, the tokenizer and the
model's config.json, and no PyTorch weights.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import TrainerError
from trainer.inference.options import ExportOptions
from trainer.inference.predict import PredictInput, Progress, predict, window_logits
from trainer.inference.predict_io import snapshot_input
from trainer.inference.runtime import (
    ONNX_INPUTS,
    OnnxRunner,
    TorchRunner,
    onnx_session,
    require_onnx,
)
from trainer.model.evaluate import merge_window_logits
from trainer.model.features import FeatureCollator, build_features
from trainer.model.package import (
    PACKAGE_FILE,
    ModelPackage,
    OnnxExport,
    OnnxInt8,
    OnnxParity,
    load_package,
    write_package,
)

OPSET = 18
PARITY_THRESHOLD = 1e-4
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


class ExportError(TrainerError):
    """An export that cannot be published: parity failed, or the output folder is taken."""


@dataclass(frozen=True)
class ExportRequest:
    model_dir: Path
    out: Path
    snapshot_root: str
    snapshot: str | None = None  # default: the package's own snapshot
    options: ExportOptions = ExportOptions()


class _Logits:
    """LayoutLMForTokenClassification with positional inputs and one output, as ONNX wants it."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Logits(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, bbox, attention_mask, token_type_ids):  # noqa: ANN001
                return self.model(
                    input_ids=input_ids, bbox=bbox, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).logits

        return Logits().eval()


def export_graph(model: Any, sample: dict[str, Any], path: Path, opset: int = OPSET) -> None:
    """Write `model` as one ONNX file (weights inside), batch and sequence axes dynamic."""
    import torch
    from torch.export import Dim

    batch, sequence = Dim("batch"), Dim("sequence", max=model.config.max_position_embeddings)
    shapes = {name: {0: batch, 1: sequence} for name in ONNX_INPUTS}
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(
        logging.ERROR
    )  # "torchvision is not installed"
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():  # it prints its steps; stdout is for --json
        warnings.filterwarnings(
            "ignore", message=".*(axis name|treespec).*"
        )  # one Dim shared by the inputs; a torch-internal notice
        torch.onnx.export(
            _Logits(model),
            tuple(sample[name] for name in ONNX_INPUTS),
            str(path),
            input_names=list(ONNX_INPUTS),
            output_names=["logits"],
            dynamic_shapes=shapes,
            opset_version=opset,
            dynamo=True,
            external_data=False,
        )
    model.eval()


def parity(
    torch_runner: Any,
    onnx_runner: Any,
    tokenizer: Any,
    package: ModelPackage,
    data: PredictInput,
    batch_size: int,
    progress: Progress | None = None,
) -> OnnxParity:
    """ONNX against PyTorch on the windows of `data`: max |logit diff| on real tokens, and
    whether every word's merged arg-max agrees."""

    examples = [e for e in data.examples if e.words]
    features = build_features(examples, tokenizer, package.max_seq_length, package.doc_stride)
    pad = tokenizer.pad_token_id
    reference = window_logits(torch_runner, features, pad_token_id=pad, batch_size=batch_size, progress=progress)
    exported = window_logits(onnx_runner, features, pad_token_id=pad, batch_size=batch_size)
    diff = max((float(np.abs(a - b).max()) for a, b in zip(reference, exported, strict=True)), default=0.0)
    counts = [len(e.words) for e in examples]
    merged = (
        [merge_window_logits(logits, features, counts) for logits in (reference, exported)] if features else [[], []]
    )
    same = all(np.array_equal(a.argmax(-1), b.argmax(-1)) for a, b in zip(*merged, strict=True))
    return OnnxParity(
        windows=len(features),
        words=sum(len(e.words) for e in examples),
        max_abs_logit_diff=diff,
        argmax_identical=same,
        threshold=PARITY_THRESHOLD,
    )


def _sample_batch(tokenizer: Any, package: ModelPackage, data: PredictInput) -> dict[str, Any]:

    examples = [e for e in data.examples if e.words][:2]
    features = build_features(examples, tokenizer, package.max_seq_length, package.doc_stride)[:2]
    if not features:
        raise ExportError("the val split has no words to trace and check the graph on")
    batch = FeatureCollator(tokenizer.pad_token_id, pad_to_multiple_of=8)((features * 2)[:2])
    batch.pop("labels", None)
    return batch


def _prepare_out(out: Path) -> Path:
    if out.exists() and any(out.iterdir()) and not (out / PACKAGE_FILE).is_file():
        raise ExportError(f"--out {out} exists and is not an exported package; choose an empty or new folder")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def export_onnx(request: ExportRequest, *, progress: Progress | None = None, log: Any = None) -> ModelPackage:
    """Export, check, quantize, publish; returns the written package (its `onnx` filled in)."""
    require_onnx()
    import onnxruntime
    import torch
    from transformers import AutoTokenizer, LayoutLMForTokenClassification

    from metrics_store.keys import utc_now_iso

    say = log or (lambda message: None)
    package = load_package(request.model_dir, "torch")
    if request.options.threads:
        torch.set_num_threads(request.options.threads)
    model = LayoutLMForTokenClassification.from_pretrained(str(request.model_dir), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(request.model_dir), local_files_only=True)
    data = snapshot_input(request.snapshot_root, request.snapshot or package.snapshot.id, "val", package)
    partial = _prepare_out(request.out)
    try:
        say(f"exporting {request.model_dir} to ONNX (opset {OPSET})")
        export_graph(model, _sample_batch(tokenizer, package, data), partial / ONNX_FILE)
        torch_runner = TorchRunner(model, "cpu")
        fp32 = OnnxRunner(onnx_session(partial / ONNX_FILE, request.options.threads))
        check = parity(torch_runner, fp32, tokenizer, package, data, request.options.batch_size, progress)
        say(
            f"parity on {check.windows} val windows ({check.words} words): max |logit diff| "
            f"{check.max_abs_logit_diff:.2e} "
            f"(limit {PARITY_THRESHOLD:.0e}), arg-max identical on every word: {check.argmax_identical}"
        )
        if check.max_abs_logit_diff >= PARITY_THRESHOLD or not check.argmax_identical:
            raise ExportError(
                f"ONNX parity failed: max |logit diff| {check.max_abs_logit_diff:.2e} (limit {PARITY_THRESHOLD:.0e}), "
                f"arg-max identical: {check.argmax_identical}; nothing was written to {request.out}"
            )
        int8 = quantize_int8(partial, fp32, tokenizer, package, data, request) if request.options.quantize else None
        if int8 is not None:
            say(
                f"int8: val F1 {int8.val_f1:.4f} (fp32 {int8.val_f1_fp32:.4f}), tags equal to fp32 on "
                f"{int8.argmax_agreement:.2%} of words"
            )
        model.config.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        exported = package.model_copy(
            update={
                "onnx": OnnxExport(
                    file=ONNX_FILE,
                    opset=OPSET,
                    inputs=list(ONNX_INPUTS),
                    outputs=["logits"],
                    dynamic_axes={name: ["batch", "sequence"] for name in (*ONNX_INPUTS, "logits")},
                    exporter="torch.onnx.export(dynamo=True)",
                    torch_version=torch.__version__,
                    onnxruntime_version=onnxruntime.__version__,
                    exported_at=utc_now_iso(),
                    parity=check,
                    int8=int8,
                )
            }
        )
        write_package(partial, exported)
        shutil.rmtree(request.out, ignore_errors=True)
        partial.rename(request.out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return exported


def quantize_int8(
    folder: Path, fp32: OnnxRunner, tokenizer: Any, package: ModelPackage, data: PredictInput, request: ExportRequest
) -> OnnxInt8:
    """onnxruntime dynamic int8 quantization of the graph's weights, scored on the val split
    next to fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = folder / "model.pre-quant.onnx"  # ONNX shape inference and onnxruntime's graph optimisations, as advised
    quant_pre_process(
        str(folder / ONNX_FILE), str(prepared), skip_symbolic_shape=True
    )  # (symbolic inference cannot follow the graph)
    # Per output channel: one scale per row of each weight matrix. Per tensor (onnxruntime's default)
    # cost the 22 M-parameter warm start 0.018 val F1 on CORD, per channel 0.007 (bench/RESULTS.md).
    quantize_dynamic(str(prepared), str(folder / INT8_FILE), weight_type=QuantType.QInt8, per_channel=True)
    prepared.unlink()
    int8 = OnnxRunner(onnx_session(folder / INT8_FILE, request.options.threads), name="onnx-int8")
    full = predict(fp32, tokenizer, package, data, batch_size=request.options.batch_size)
    small = predict(int8, tokenizer, package, data, batch_size=request.options.batch_size)
    diffs = [float(np.abs(a - b).max()) for a, b in zip(full.scores, small.scores, strict=True) if len(a)]
    agree = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(full.scores, small.scores, strict=True))
    words = sum(len(a) for a in full.scores)
    assert full.metrics is not None and small.metrics is not None
    return OnnxInt8(
        file=INT8_FILE,
        val_f1=small.metrics["f1"],
        val_f1_fp32=full.metrics["f1"],
        max_abs_logit_diff=max(diffs, default=0.0),
        argmax_agreement=agree / words if words else 1.0,
    )

"""What runs the network on a batch of windows: PyTorch (the package's weights) or
onnxruntime (the package's ONNX graph, fp32 or int8). Both take the batch FeatureCollator
makes and answer logits [windows, tokens, classes] as a float32 numpy array, so everything
around them (windows, merging, metrics) is one code path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trainer.errors import ConfigError
from trainer.model.package import ModelPackage

ONNX_INPUTS = ("input_ids", "bbox", "attention_mask", "token_type_ids")


class Runner(Protocol):
    name: str

    def __call__(self, batch: Mapping[str, Any]) -> np.ndarray: ...


@dataclass
class TorchRunner:
    model: Any
    device: str = "cpu"
    name: str = "torch"

    def __post_init__(self) -> None:
        self.model = self.model.eval().to(self.device)

    def __call__(self, batch: Mapping[str, Any]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            inputs = {k: v.to(self.device) for k, v in batch.items() if k in ONNX_INPUTS}
            return self.model(**inputs).logits.float().cpu().numpy()


@dataclass
class OnnxRunner:
    session: Any
    name: str = "onnx"

    def __post_init__(self) -> None:
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, batch: Mapping[str, Any]) -> np.ndarray:
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.inputs}
        return self.session.run(None, feed)[0]


def require_onnx() -> None:
    """onnx, onnxruntime and onnxscript are the trainer's `onnx` extra; say so when they are missing."""
    import importlib.util

    missing = [name for name in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"ONNX needs {', '.join(missing)}: pip install 'receipt-ml-trainer[onnx]' (bash scripts/setup.sh "
            "installs it)"
        )


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """A CPU onnxruntime session; `threads` caps its intra-op threads (None: onnxruntime's choice)."""
    require_onnx()
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is visible to torch here")
    return device


def load_runner(
    folder: Path, package: ModelPackage, runtime: str, *, device: str = "auto", threads: int | None = None
) -> tuple[Runner, Any]:
    """The runner and the tokenizer of a package checked by `load_package(folder, runtime)`."""
    import torch
    from transformers import AutoTokenizer, LayoutLMForTokenClassification

    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if runtime == "torch":
        model = LayoutLMForTokenClassification.from_pretrained(str(folder), local_files_only=True)
        return TorchRunner(model, resolve_device(device)), tokenizer
    onnx = package.onnx
    assert onnx is not None and (runtime == "onnx" or onnx.int8 is not None), "load_package checked the graph is there"
    file = onnx.file if runtime == "onnx" or onnx.int8 is None else onnx.int8.file
    return OnnxRunner(onnx_session(folder / file, threads), name=runtime), tokenizer

"""What `trainer predict` and `trainer export` are asked for, frozen and checked once at the CLI
edge; the CLI's option defaults are these fields' defaults. No heavy imports here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trainer.config import RUNTIMES
from trainer.errors import ConfigError

SPLITS = ("val", "train", "all")
FORMATS = ("onnx",)
QUANTIZE = ("int8",)


@dataclass(frozen=True)
class PredictOptions:
    runtime: str = "torch"
    batch_size: int = 16  # windows per forward pass
    top_k: int = 3  # alternatives kept per word
    device: str = "auto"  # torch runtime: cpu, cuda, cuda:N or auto
    threads: int | None = None  # CPU threads (torch and onnxruntime); None: the library's choice
    split: str = "val"

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.split not in SPLITS:
            raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.top_k < 1:
            raise ConfigError(f"--top-k must be >= 1, got {self.top_k}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")


@dataclass(frozen=True)
class ExportOptions:
    format: str = "onnx"
    quantize: str | None = None
    batch_size: int = 16  # windows per forward pass of the parity check
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.quantize is not None and self.quantize not in QUANTIZE:
            raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE)}, got {self.quantize!r}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")


DEFAULT_CACHE = Path(os.environ.get("RECEIPT_ML_MODEL_CACHE", "~/.cache/receipt-ml/models")).expanduser()
"""Where s3:// models are downloaded to (`--cache-dir`)."""

"""What a run leaves behind: the best model folder, run.json, and an optional S3 copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .package import ModelPackage, write_package

BEST_DIR = "best"
RUN_FILE = "run.json"


def export_best(model: Any, tokenizer: Any, output_dir: Path, *, package: ModelPackage) -> Path:
    """Weights, tokenizer and the model package (receipt_ml.json and the README.md model card:
    package.py) in one folder that `trainer predict` and any inference service can load
    (`LayoutLMForTokenClassification.from_pretrained(best)`)."""
    best = output_dir / BEST_DIR
    if best.exists():
        shutil.rmtree(best)
    model.save_pretrained(best)
    tokenizer.save_pretrained(best)
    write_package(best, package)
    return best


def prune_checkpoints(output_dir: Path, keep: Path | None = None) -> list[str]:
    """Remove the Trainer's checkpoint-* folders once the best model is exported."""
    removed = []
    for folder in sorted(output_dir.glob("checkpoint-*")):
        if keep is not None and folder.resolve() == keep.resolve():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def write_run_file(output_dir: Path, summary: dict[str, Any]) -> Path:
    path = output_dir / RUN_FILE
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path


def upload_folder(folder: Path, uri: str, *, s3_client: Any = None) -> str:
    """Copy a folder to `s3://bucket/prefix/<folder name>/`; returns that URI."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"--upload-uri must be an s3:// URI, got {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    target = "/".join(p for p in (prefix.strip("/"), folder.name) if p)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3_client.upload_file(str(path), bucket, f"{target}/{path.relative_to(folder).as_posix()}")
    return f"s3://{bucket}/{target}/"

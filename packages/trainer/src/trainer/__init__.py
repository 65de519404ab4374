"""trainer: LayoutLM token classification on dataset snapshots, every run recorded.

The public face, for code that trains or uses models without the CLI (a notebook, a pipeline,
another service). Names load on first use, so `import trainer` stays cheap:

    from trainer import FitRequest, ModelConfig, TrainConfig, fit
    from metrics_store import DynamoRecorder, StoreConfig, connect

    table = connect(StoreConfig(table="ReceiptsTable"))
    result = fit(FitRequest(snapshot_root="snapshots", snapshot="latest", model=ModelConfig(),
                            train=TrainConfig(epochs=10)), lambda job_id: DynamoRecorder(table, job_id))

Train: `fit`, `FitRequest`, `FitResult`, `ModelConfig`, `TrainConfig`, `request_for_resume`.
Pretrain on a corpus (then `fit` with `ModelConfig(model=result.model_dir)`): `run_pretrain`,
`PretrainRequest`, `PretrainResult`.
Use a model: `resolve_model`, `load_package`, `load_runner`, `predict`, the inputs
(`snapshot_input`, `jsonl_input`, `table_input`), `export_onnx`.
Jobs that start jobs: `start_sweep` / `resume_sweep` (`SweepPlan`, `SweepConfig`),
`run_review` (`ReviewRequest`, `TableWords`).
Read runs back: `load_run`. Errors: `TrainerError` and its subclasses.
docs/architecture.md says what lives where.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "trainer.config": ("ModelConfig", "TrainConfig"),
    "trainer.errors": (
        "ConfigError",
        "DataError",
        "FitError",
        "JobExists",
        "ModelError",
        "ModelNotCachedError",
        "RunInterrupted",
        "TrainerError",
        "TrainingDiverged",
    ),
    "trainer.training.request": ("FitRequest", "FitResult", "request_for_resume"),
    "trainer.training.fit": ("fit",),
    "trainer.pretraining.request": ("PretrainRequest", "PretrainResult"),
    "trainer.pretraining.job": ("run_pretrain",),
    "trainer.model.package": ("ModelPackage", "PackageError", "load_package"),
    "trainer.inference.model_ref": ("resolve_model",),
    "trainer.inference.runtime": ("load_runner",),
    "trainer.inference.predict": ("PredictInput", "Predictions", "predict"),
    "trainer.inference.predict_io": ("jsonl_input", "snapshot_input", "table_input"),
    "trainer.inference.export": ("ExportRequest", "export_onnx"),
    "trainer.sweep.config": ("SweepConfig",),
    "trainer.sweep.plan": ("SweepPlan",),
    "trainer.sweep.runner": ("SweepResult", "resume_sweep", "start_sweep"),
    "trainer.review.config": ("ReviewRequest",),
    "trainer.review.run": ("ReviewResult", "run_review"),
    "dataset_builder.review": ("TableWords",),
    "trainer.analysis.runs": ("RunData", "load_run"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [
    "ConfigError",
    "DataError",
    "ExportRequest",
    "FitError",
    "FitRequest",
    "FitResult",
    "JobExists",
    "ModelConfig",
    "ModelError",
    "ModelNotCachedError",
    "ModelPackage",
    "PackageError",
    "PredictInput",
    "Predictions",
    "PretrainRequest",
    "PretrainResult",
    "ReviewRequest",
    "ReviewResult",
    "RunData",
    "RunInterrupted",
    "SweepConfig",
    "SweepPlan",
    "SweepResult",
    "TableWords",
    "TrainConfig",
    "TrainerError",
    "TrainingDiverged",
    "export_onnx",
    "fit",
    "jsonl_input",
    "load_package",
    "load_run",
    "load_runner",
    "predict",
    "request_for_resume",
    "resolve_model",
    "resume_sweep",
    "run_pretrain",
    "run_review",
    "snapshot_input",
    "start_sweep",
    "table_input",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from dataset_builder.review import TableWords
    from trainer.analysis.runs import RunData, load_run
    from trainer.config import ModelConfig, TrainConfig
    from trainer.errors import (
        ConfigError,
        DataError,
        FitError,
        JobExists,
        ModelError,
        ModelNotCachedError,
        RunInterrupted,
        TrainerError,
        TrainingDiverged,
    )
    from trainer.inference.export import ExportRequest, export_onnx
    from trainer.inference.model_ref import resolve_model
    from trainer.inference.predict import PredictInput, Predictions, predict
    from trainer.inference.predict_io import jsonl_input, snapshot_input, table_input
    from trainer.inference.runtime import load_runner
    from trainer.model.package import ModelPackage, PackageError, load_package
    from trainer.pretraining.job import run_pretrain
    from trainer.pretraining.request import PretrainRequest, PretrainResult
    from trainer.review.config import ReviewRequest
    from trainer.review.run import ReviewResult, run_review
    from trainer.sweep.config import SweepConfig
    from trainer.sweep.plan import SweepPlan
    from trainer.sweep.runner import SweepResult, resume_sweep, start_sweep
    from trainer.training.fit import fit
    from trainer.training.request import FitRequest, FitResult, request_for_resume

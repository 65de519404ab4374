"""What `trainer fit` is asked for and what it answers: frozen, recordable, rebuilt on resume."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from metrics_store import Job

from .config import ModelConfig, TinySizes, TrainConfig, upgrade_train_dict
from .errors import FitError


@dataclass(frozen=True)
class FitRequest:
    """Everything `trainer fit` was asked for; recorded in the job so `--resume` can rebuild it."""

    snapshot_root: str
    snapshot: str = "latest"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    job_name: str | None = None
    description: str = ""
    created_by: str = "receipt-ml"  # the CLIs pass the user (cli_edge.current_user); the table refuses an empty one
    allow_contract_failures: bool = False
    upload_uri: str | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.job_name is not None:
            from .run_dir import check_job_name

            check_job_name(self.job_name)
        if self.upload_uri is not None:
            from .artifacts import split_s3_uri

            split_s3_uri(self.upload_uri)

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "train")},
                "model": self.model.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitRequest:
        model = dict(d["model"])
        model["tiny"] = TinySizes(**model.get("tiny", {}))
        train = upgrade_train_dict(d["train"])
        train["class_weight_clip"] = tuple(train.get("class_weight_clip", (0.1, 10.0)))
        rest = {k: v for k, v in d.items() if k not in ("model", "train")}
        return cls(model=ModelConfig(**model), train=TrainConfig(**train), **rest)


@dataclass(frozen=True)
class FitResult:
    job_id: str
    status: str
    output_dir: str
    results: dict[str, Any]
    best_dir: str | None = None
    stopped_by: str | None = None
    """Why an interrupted run stopped (a signal, an outage, a lost lease)."""
    recorded: bool = True
    """False when the end of the run could not be written to the table."""
    pending: str | None = None
    """Where the records the table did not take wait (the run folder's spool), if any."""
    lease_lost: bool = False
    """Another process took the job: this one stopped and wrote nothing more."""


def request_for_resume(job: Job) -> FitRequest:
    """The request a job was started with, pinned to the snapshot it trained on."""
    config = job.config
    if config.kind != "fit":
        how = {"sweep": f"resume it with `trainer sweep --resume {job.job_id}`", "review": f"resume it with `trainer review --resume {job.job_id}`",
               "pretrain": f"resume it with `trainer pretrain --resume {job.job_id}`",
               "data_curve": f"resume it with `trainer data-curve --resume {job.job_id}`"}.get(
            config.kind, "it was not started by `trainer fit` (written by another trainer) and cannot be resumed")
        raise FitError(f"job {job.job_id} is a {config.kind} job: {how}")
    if config.snapshot is None or not config.snapshot.id:
        raise FitError(f"job {job.job_id} recorded no snapshot; it cannot be resumed")
    request = FitRequest.from_dict(json.loads(json.dumps(dict(config.request))))
    return dataclasses.replace(request, snapshot=config.snapshot.id, job_name=job.name)

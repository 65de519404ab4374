"""What `trainer pretrain` is asked for and what it answers: frozen, recordable (the job's
`job_config.request`), rebuilt from the job on `--resume`. No torch."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from metrics_store import Job
from trainer.config import ModelConfig, TinySizes
from trainer.errors import ConfigError, FitError
from trainer.jobs.folders import check_job_name
from trainer.jobs.lifecycle import JOB_COMMANDS, resume_command
from trainer.pretraining.config import PretrainConfig

DEFAULT_HELD_OUT_FRACTION = 0.05
DEFAULT_OUTPUT_DIR = "runs"
MODEL_DIR = "pretrained"
"""The pretrained model's folder in the job's run folder: what `trainer fit --model` takes."""


@dataclass(frozen=True)
class PretrainRequest:
    """Everything `trainer pretrain` was asked for; recorded in the job so `--resume` can rebuild it."""

    corpus_root: str
    corpus: str = "latest"
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION
    """Share of the corpus's receipts kept out of training to measure the masked-LM loss on."""
    output_dir: str = DEFAULT_OUTPUT_DIR
    """The job's folder is OUTPUT_DIR/<job name>-<id>/: checkpoints, then `pretrained/`."""
    job_name: str | None = None
    description: str = ""
    created_by: str = "receipt-ml"
    allow_contract_failures: bool = False
    cache_dir: str | None = None
    """Where the corpus windows are kept between runs (default: OUTPUT_DIR/.feature-cache)."""

    def __post_init__(self) -> None:
        if self.job_name is not None:
            check_job_name(self.job_name)
        if not (math.isfinite(self.held_out_fraction) and 0.0 <= self.held_out_fraction < 1.0):
            raise ConfigError(f"held_out_fraction must be in [0, 1), got {self.held_out_fraction}")
        if not self.corpus:
            raise ConfigError("corpus must name a corpus (c3) or be `latest`")

    def to_dict(self) -> dict[str, Any]:
        return {
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "pretrain")},
            "model": self.model.to_dict(),
            "pretrain": self.pretrain.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainRequest:
        model = dict(d["model"])
        model["tiny"] = TinySizes(**model.get("tiny", {}))
        rest = {k: v for k, v in d.items() if k not in ("model", "pretrain")}
        return cls(model=ModelConfig(**model), pretrain=PretrainConfig.from_dict(d["pretrain"]), **rest)


@dataclass(frozen=True)
class PretrainResult:
    job_id: str
    status: str
    output_dir: str
    results: dict[str, Any]
    model_dir: str | None = None
    """The pretrained model (`trainer fit --model MODEL_DIR`), once the job succeeded."""
    stopped_by: str | None = None
    """Why an interrupted job stopped (a signal, an outage, a lost lease)."""
    recorded: bool = True
    """False when the end of the job could not be written to the table."""
    pending: str | None = None
    """Where the records the table did not take wait (the run folder's spool), if any."""
    lease_lost: bool = False
    """Another process took the job: this one stopped and wrote nothing more."""


def request_for_resume(job: Job) -> PretrainRequest:
    """The request a pretrain job was started with, pinned to the corpus it read."""
    config = job.config
    if config.kind != "pretrain":
        how = (
            f"resume it with `{resume_command(config.kind, job.job_id)}`"
            if config.kind in JOB_COMMANDS
            else "it was not started by `trainer pretrain` and cannot be resumed by it"
        )
        raise FitError(f"job {job.job_id} is a {config.kind} job: {how}")
    corpus = config.extra.get("corpus") or {}
    if not config.request or not corpus.get("id"):
        raise FitError(f"job {job.job_id} recorded no request or corpus; it cannot be resumed")
    request = PretrainRequest.from_dict(json.loads(json.dumps(dict(config.request))))
    return dataclasses.replace(request, corpus=corpus["id"], job_name=job.name)

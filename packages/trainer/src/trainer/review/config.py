"""What `trainer review` is asked for: frozen, built once at the CLI edge, recorded in the review
job and rebuilt from it by `--resume`. Nothing here imports torch."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from trainer.config import ModelConfig, TrainConfig
from trainer.errors import ConfigError
from trainer.jobs.folders import check_job_name
from trainer.training.request import FitRequest

TRIAGE_STATUSES = ("NEEDS_REVIEW", "PENDING", "NONE")
"""Label items a review triages: proposals nobody has decided on (INVALID ones were decided)."""
REVIEW_MODEL = ModelConfig(model="tiny")
REVIEW_TRAIN = TrainConfig(epochs=15, learning_rate=2e-3, early_stopping_patience=3)
"""The default recipe of the fold models: the tiny LayoutLM at the learning rate it needs
(bench/RESULTS.md); any `trainer fit` recipe can be taken from a recorded job (`--recipe-from`)."""


SUSPECT_SCORES = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
"""cleanlab's token label-quality scores (`cleanlab.token_classification.rank`), any of which
ranks the suspect VALID queue; bench/bench_review.py measures each."""


@dataclass(frozen=True)
class QueueConfig:
    """Thresholds of the queues, on out-of-sample probabilities (docs/runs.md, "Label review")."""

    valid_above: float = 0.8
    """Triage: a proposed label the model gives at least this probability is `likely_valid`."""
    invalid_below: float = 0.2
    """Triage: at most this probability is `likely_invalid`; in between, `uncertain`."""
    missing_above: float = 0.7
    """Missing labels: an unlabelled word enters the queue when the model gives an entity label
    at least this probability; also the least confidence of any suggestion written."""
    suspect_score: str = "confidence_weighted_entropy"
    """How suspect VALID labels are ranked (one of SUSPECT_SCORES), lowest score first. The
    default ranked the most planted errors first with the stronger reviewer on CORD (P@k 0.86,
    self-confidence 0.81) and tied elsewhere (bench/RESULTS.md, "Label review")."""

    def __post_init__(self) -> None:
        if self.suspect_score not in SUSPECT_SCORES:
            raise ConfigError(f"--suspect-score must be one of {', '.join(SUSPECT_SCORES)}, got {self.suspect_score!r}")
        for name in ("valid_above", "invalid_below", "missing_above"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a probability in [0, 1], got {value}")
        if self.invalid_below >= self.valid_above:
            raise ConfigError(
                f"--invalid-below ({self.invalid_below}) must be below --valid-above ({self.valid_above})"
            )


@dataclass(frozen=True)
class ReviewRequest:
    """Everything `trainer review` was asked for. `recipe` is the `trainer fit` request every
    fold model is trained with (its snapshot fields are replaced per fold; its
    `train.output_dir` is where the review's folder goes)."""

    snapshot_root: str
    snapshot: str = "latest"
    from_job: str | None = None
    """Cheap mode: score the val split of this job's snapshot with its model (no folds)."""
    folds: int = 5
    fold_seed: int = 0
    fold_ratio: str = "none"
    """The fold models train on every word (`none`) or under the snapshot's O:entity ratio
    control (`snapshot`); see `dataset_builder.review.plan_folds`."""
    queues: QueueConfig = field(default_factory=QueueConfig)
    recipe: FitRequest = field(
        default_factory=lambda: FitRequest(snapshot_root="", model=REVIEW_MODEL, train=REVIEW_TRAIN)
    )
    job_name: str | None = None
    description: str = ""
    created_by: str = "receipt-ml"  # the CLIs pass the user (cli_edge.current_user); the table refuses an empty one
    allow_contract_failures: bool = False
    folds_root: str | None = None
    """Where fold snapshots are published (default: the review folder's `fold-snapshots/`)."""
    batch_size: int = 16
    """Windows per forward pass when the fold models score their folds."""
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"--folds must be at least 2, got {self.folds}")
        from dataset_builder.config import FOLD_RATIOS

        if self.fold_ratio not in FOLD_RATIOS:
            raise ConfigError(f"--fold-ratio must be one of {', '.join(FOLD_RATIOS)}, got {self.fold_ratio!r}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.job_name is not None:
            check_job_name(self.job_name)

    @property
    def output_dir(self) -> str:
        return self.recipe.train.output_dir

    @property
    def mode(self) -> str:
        return "from_job" if self.from_job else "cross_fit"

    def to_dict(self) -> dict[str, Any]:
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("queues", "recipe")}
        return {**plain, "queues": dataclasses.asdict(self.queues), "recipe": self.recipe.to_dict()}

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> ReviewRequest:
        rest = {k: v for k, v in recorded.items() if k not in ("queues", "recipe")}
        return cls(
            queues=QueueConfig(**recorded.get("queues", {})), recipe=FitRequest.from_dict(recorded["recipe"]), **rest
        )


def fold_job_name(review_name: str, fold: int, folds: int) -> str:
    """`<review name>-fold2of5`: how a fold job is found again on `--resume`."""
    return f"{review_name}-fold{fold}of{folds}"


def require_cleanlab() -> None:
    """cleanlab is the trainer's `review` extra; say so when it is missing."""
    import importlib.util

    if importlib.util.find_spec("cleanlab") is None:
        raise ConfigError(
            "trainer review needs cleanlab: pip install 'receipt-ml-trainer[review]' (bash scripts/setup.sh "
            "installs it)"
        )

"""What `trainer data-curve` is asked for: frozen, recorded in the job, rebuilt on `--resume`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..request import FitRequest

DEFAULT_FRACTIONS = (0.25, 0.5, 1.0)


@dataclass(frozen=True)
class CurveRequest:
    """`recipe` is the `trainer fit` request every point is trained with (its snapshot fields
    are replaced per subset; its `train.output_dir` is where the data-curve folder goes)."""

    snapshot_root: str
    snapshot: str = "latest"
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    subset_seed: int = 0
    """Seed of the order in which train receipts join the subsets."""
    repeats: int = 1
    """Training seeds per fraction (the recipe's seed, +1, +2...): the noise a gain must beat."""
    recipe: FitRequest = field(default_factory=lambda: FitRequest(snapshot_root=""))
    job_name: str | None = None
    description: str = ""
    created_by: str = "receipt-ml"
    allow_contract_failures: bool = False
    subsets_root: str | None = None
    """Where subset snapshots are published (default: the data-curve folder's `subset-snapshots/`)."""

    def __post_init__(self) -> None:
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ConfigError(f"--fractions must be numbers in (0, 1], got {', '.join(map(str, self.fractions)) or 'none'}")
        if len(set(self.fractions)) < 2:
            raise ConfigError("--fractions needs at least two different sizes to measure a curve")
        if self.repeats < 1:
            raise ConfigError(f"--repeats must be at least 1, got {self.repeats}")
        if self.job_name is not None:
            from ..run_dir import check_job_name

            check_job_name(self.job_name)

    @property
    def output_dir(self) -> str:
        return self.recipe.train.output_dir

    def to_dict(self) -> dict[str, Any]:
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "recipe"}
        return {**plain, "fractions": list(self.fractions), "recipe": self.recipe.to_dict()}

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> CurveRequest:
        rest = {k: v for k, v in recorded.items() if k not in ("recipe", "fractions")}
        return cls(fractions=tuple(recorded["fractions"]), recipe=FitRequest.from_dict(recorded["recipe"]), **rest)

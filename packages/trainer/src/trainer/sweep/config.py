"""How a sweep searches: frozen, recorded in the sweep job, rebuilt on `--resume`.
`trainer sweep`'s option defaults are read from `SweepConfig()`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trainer.errors import ConfigError

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
STEP_SCALE = 100
"""Optuna's pruner compares trials at the same step: a trial's val_f1 is reported at
`round(epoch * STEP_SCALE)`, so trials with other batch sizes (other optimiser steps per
epoch) still meet at the same epoch."""


def epoch_step(epoch: float | None) -> int:
    return round(float(epoch or 0.0) * STEP_SCALE)


@dataclass(frozen=True)
class SweepConfig:
    trials: int = 20  # trials to run (pruned and failed ones count); seed repeats come on top
    budget_minutes: float | None = None  # no trial starts once the sweep has run this long (wall clock, all attempts)
    sampler: str = "tpe"  # optuna TPESampler, or RandomSampler
    startup_trials: int = 10  # TPE: random trials before it models the results (optuna's n_startup_trials)
    pruner: str = "median"  # optuna MedianPruner on val_f1 at each evaluation, or none
    prune_startup_trials: int = 5  # finished trials before any trial can be pruned
    prune_warmup_epochs: float = 1.0  # no trial is pruned before this epoch
    seed: int = 0  # seed of the sampler (each trial's training seed is the `seed` option)
    seed_repeats: int = 2  # extra runs of the best config with other training seeds (the seed-noise estimate)

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ConfigError(f"--trials must be >= 1, got {self.trials}")
        if self.budget_minutes is not None and not self.budget_minutes > 0:
            raise ConfigError(f"--budget-minutes must be > 0, got {self.budget_minutes}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.startup_trials < 0:
            raise ConfigError(f"--startup-trials must be >= 0, got {self.startup_trials}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.prune_startup_trials < 0:
            raise ConfigError(f"--prune-startup-trials must be >= 0, got {self.prune_startup_trials}")
        if not self.prune_warmup_epochs >= 0:
            raise ConfigError(f"--prune-warmup-epochs must be >= 0, got {self.prune_warmup_epochs}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if not 0 <= self.seed_repeats <= 10:
            raise ConfigError(f"--seed-repeats must be in 0..10, got {self.seed_repeats}")

    @property
    def budget_seconds(self) -> float | None:
        return None if self.budget_minutes is None else self.budget_minutes * 60.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any]) -> SweepConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in recorded.items() if k in names})

    def sampler_for(self, number: int) -> Any:
        """The sampler that proposes trial `number`: seeded by the sweep's seed and the number,
        so a resumed sweep proposes what the uninterrupted one would have, given the same history."""
        from optuna.samplers import RandomSampler, TPESampler

        seed = (self.seed * 1_000_003 + number) % 2**32
        return (
            TPESampler(seed=seed, n_startup_trials=self.startup_trials)
            if self.sampler == "tpe"
            else RandomSampler(seed=seed)
        )

    def pruner_for(self) -> Any:
        from optuna.pruners import MedianPruner, NopPruner

        if self.pruner == "none":
            return NopPruner()
        return MedianPruner(
            n_startup_trials=self.prune_startup_trials, n_warmup_steps=epoch_step(self.prune_warmup_epochs)
        )

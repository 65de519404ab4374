"""What a build is asked for: frozen, built once at the CLI edge.

`BuildConfig` holds every option that changes the data and is the manifest's `spec`;
`BuildOptions` holds how a build runs (concurrency, read strategy, the contract gate) and is
never saved, because two builds that differ only there produce the same data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .errors import DatasetBuilderError
from .labels import CORE_LABELS, MERGE_PRESETS, VALIDATION_STATUSES

RATIO_MECHANISMS = ("mask", "drop")
SPLIT_GROUPS = ("receipt", "merchant")
READ_STRATEGIES = ("query", "scan")
UNVALIDATED_CHOICES = ("ignore", "o")


class ConfigError(DatasetBuilderError, ValueError):
    """A build option that cannot work; the message names the option and the bad value."""


@dataclass(frozen=True)
class BuildConfig:
    statuses: tuple[str, ...] = ("VALID",)
    """Validation statuses whose labels supervise training (and select receipts)."""
    merge_preset: str = "none"
    custom_merge: tuple[tuple[str, str], ...] = ()
    """Extra `SOURCE -> TARGET` merges, applied on top of the preset."""
    allowed_labels: tuple[str, ...] | None = None
    """Labels to keep (after merging); every other label becomes O. None keeps all."""
    extra_labels: tuple[str, ...] = ()
    """Labels beyond the 22 core ones that this data set uses (e.g. for imported data)."""
    o_entity_ratio: float | None = None
    """Target O:entity word ratio for the training split; None leaves it as read."""
    ratio_mechanism: str = "drop"
    """`drop`: O-only lines are removed from training receipts; `mask`: they stay as context but
    are not supervised. `drop` is the default because it measured better
    (bench/bench_ratio_mechanism.py, bench/RESULTS.md: best val F1 0.457 drop, 0.432 mask,
    0.371 without ratio control)."""
    val_fraction: float = 0.1
    seed: int = 7
    split_by: str = "receipt"
    """`receipt`, or `merchant` to hold out whole merchants."""
    val_keys: tuple[str, ...] | None = None
    """A frozen validation split: receipt keys `<image_id>#<receipt_id>`."""
    holdout_merchants: tuple[str, ...] = ()
    """Merchants whose receipts all go to validation."""
    unvalidated: str = "ignore"
    """What an `unknown` word (it has label items, but none with a selected status: only
    NEEDS_REVIEW, PENDING, NONE or INVALID ones) becomes. `ignore`: layout context, out of the
    loss (`supervised=False`) and out of scoring, because nobody has said what it is; `o`: a
    trained and scored O, the behaviour of the first release and of the predecessor (to
    reproduce an old run)."""

    def __post_init__(self) -> None:
        bad = [s for s in self.statuses if s not in VALIDATION_STATUSES]
        if bad or not self.statuses:
            raise ConfigError(
                f"--status: unknown validation status {bad or '(none)'}; choose from {', '.join(VALIDATION_STATUSES)}"
            )
        if self.merge_preset not in MERGE_PRESETS:
            raise ConfigError(
                f"--merge-preset: unknown preset {self.merge_preset!r}; choose from {', '.join(MERGE_PRESETS)}"
            )
        if self.ratio_mechanism not in RATIO_MECHANISMS:
            raise ConfigError(f"--ratio-mechanism must be one of {RATIO_MECHANISMS}, got {self.ratio_mechanism!r}")
        if self.unvalidated not in UNVALIDATED_CHOICES:
            raise ConfigError(
                f"--unvalidated must be one of {', '.join(UNVALIDATED_CHOICES)}, got {self.unvalidated!r}"
            )
        if self.split_by not in SPLIT_GROUPS:
            raise ConfigError(f"--split-by must be one of {SPLIT_GROUPS}, got {self.split_by!r}")
        if not (math.isfinite(self.val_fraction) and 0.0 <= self.val_fraction < 1.0):
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.o_entity_ratio is not None and not (math.isfinite(self.o_entity_ratio) and self.o_entity_ratio > 0):
            raise ConfigError(f"--o-entity-ratio must be a positive finite number, got {self.o_entity_ratio}")
        if self.allowed_labels is not None:
            unknown = sorted(set(self.allowed_labels) - set(self.output_vocabulary))
            if unknown:
                raise ConfigError(
                    f"--allowed-label: unknown label(s) {', '.join(unknown)}; after merging "
                    f"({self.merge_preset}) the labels are {', '.join(self.output_vocabulary)}"
                )
        unknown_sources = sorted({s for s, _ in self.custom_merge} - set(self.vocabulary))
        if unknown_sources:
            raise ConfigError(f"--merge: unknown source label(s) {', '.join(unknown_sources)}")

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every label name the table may carry that this build understands."""
        return tuple(dict.fromkeys((*CORE_LABELS, *self.extra_labels)))

    @property
    def merge_map(self) -> dict[str, str]:
        return {**MERGE_PRESETS[self.merge_preset], **dict(self.custom_merge)}

    @property
    def output_vocabulary(self) -> tuple[str, ...]:
        """Labels after merging, in vocabulary order."""
        merge = self.merge_map
        return tuple(dict.fromkeys(merge.get(label, label) for label in self.vocabulary))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples) plus the resolved `merge_map`, for the table record."""
        d = asdict(self)
        d["custom_merge"] = [list(pair) for pair in self.custom_merge]
        for name in ("statuses", "allowed_labels", "extra_labels", "val_keys", "holdout_merchants"):
            d[name] = None if d[name] is None else list(d[name])
        d["merge_map"] = self.merge_map
        return d


@dataclass(frozen=True)
class BuildOptions:
    """How a build runs. None of this changes the data, so none of it is in the manifest."""

    concurrency: int = 16
    """Concurrent DynamoDB requests while reading."""
    strategy: str = "query"
    """`query` (GSI3 status partition, then one GSI4 query per receipt) or `scan`."""
    allow_contract_failures: bool = False
    """Publish even when an error-level contract fails (the failures are stamped)."""
    parent: str = "latest"
    """The snapshot drift is measured against: `latest`, `none`, or an id (`v12`)."""

    def __post_init__(self) -> None:
        if self.parent not in ("latest", "none") and not (self.parent.startswith("v") and self.parent[1:].isdigit()):
            raise ConfigError(f"--parent must be latest, none or a snapshot id like v12, got {self.parent!r}")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.strategy not in READ_STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(READ_STRATEGIES)}, got {self.strategy!r}")


FOLD_RATIOS = ("none", "snapshot")
"""How a label review's fold snapshots treat the O:entity ratio (`review.plan_folds`): `none`
trains fold models on every word, `snapshot` under the parent's own ratio control."""

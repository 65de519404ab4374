"""What a sweep was asked for (`SweepPlan`: name, space, config, the base request of every
trial), recorded in the sweep job's `job_config.sweep` and rebuilt from it on `--resume`; and
the checks that run before the sweep job exists."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metrics_store import Job, JobConfig
from trainer.config import TrainConfig
from trainer.errors import ConfigError, FitError
from trainer.sweep.config import SweepConfig
from trainer.sweep.space import Param, SearchSpace, SpaceError
from trainer.training.options import apply
from trainer.training.preflight import check_files, check_model_source, preflight
from trainer.training.request import FitRequest

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot
    from trainer.sweep.study import TrialRecord


@dataclass(frozen=True)
class SweepPlan:
    name: str
    space: SearchSpace
    config: SweepConfig
    base: FitRequest  # fixed options applied; train.output_dir is the sweep's folder once the job exists

    def job_config(self) -> JobConfig:
        return JobConfig(
            "sweep",
            extra={
                "sweep": {
                    "space": self.space.to_dict(),
                    "config": self.config.to_dict(),
                    "base_request": self.base.to_dict(),
                }
            },
        )

    @classmethod
    def from_job(cls, job: Job) -> SweepPlan:
        recorded = job.config.extra.get("sweep") if job.config.kind == "sweep" else None
        if not isinstance(recorded, Mapping):
            raise FitError(
                f"job {job.job_id} ({job.name}) is not a sweep (no recorded sweep plan): "
                f"`trainer fit --resume {job.job_id}` resumes a training run"
            )
        return cls(
            job.name,
            SearchSpace.from_dict(recorded["space"]),
            SweepConfig.from_dict(recorded["config"]),
            FitRequest.from_dict(recorded["base_request"]),
        )

    @property
    def snapshots(self) -> list[str]:
        """The snapshot ids the trials train on."""
        if "snapshot" in self.space.names:
            return [str(c) for c in self.space.param("snapshot").choices]
        return [self.base.snapshot]

    def in_folder(self, folder: str) -> SweepPlan:
        return dataclasses.replace(
            self, base=dataclasses.replace(self.base, train=dataclasses.replace(self.base.train, output_dir=folder))
        )

    def trial_request(self, number: int, values: Mapping[str, Any]) -> FitRequest:
        return dataclasses.replace(apply(self.base, values), job_name=f"{self.name}-t{number:03d}")

    def repeat_request(self, best: TrialRecord, repeat: int) -> FitRequest:
        """The best trial's request again, with training seed + `repeat`."""
        request = FitRequest.from_dict(best.request)
        return dataclasses.replace(
            request,
            job_name=f"{self.name}-repeat{repeat}",
            train=dataclasses.replace(request.train, seed=request.train.seed + repeat),
        )


def base_request(
    space: SearchSpace,
    *,
    root: str,
    snapshot: str,
    output_dir: str,
    description: str = "",
    created_by: str = "receipt-ml",
    allow_contract_failures: bool = False,
) -> FitRequest:
    """`trainer fit`'s defaults, the sweep's own options, then the space's fixed options."""

    request = FitRequest(
        snapshot_root=root,
        snapshot=snapshot,
        train=TrainConfig(output_dir=output_dir),
        description=description,
        created_by=created_by,
        allow_contract_failures=allow_contract_failures,
        cache_dir=f"{output_dir}/.feature-cache",
    )
    try:
        return apply(request, dict(space.fixed))
    except ConfigError as together:
        for name, value in space.fixed.items():  # name the entry when one alone is wrong
            try:
                apply(request, {name: value})
            except ConfigError as exc:
                raise SpaceError(f"{space.source}: fixed.{name}: {value!r}: {exc}") from exc
        raise SpaceError(f"{space.source}: fixed: {dict(space.fixed)}: {together}") from together


def prepare(plan: SweepPlan) -> tuple[SweepPlan, dict[str, Snapshot]]:
    """Everything that can be checked before the sweep job exists: every bound and choice
    makes a valid request, every snapshot opens and passed its contracts (`latest` becomes its
    id, so every trial and a resume see the same data), every model and class-weights file
    named can be found. Returns the plan with snapshot ids resolved, and the opened snapshots."""

    plan.space.check(plan.base)
    opened: dict[str, Snapshot] = {}
    for ref in plan.snapshots:
        snapshot = preflight(apply(plan.base, {"snapshot": ref}))
        if snapshot.id in opened:
            raise SpaceError(f"--snapshot: {ref!r} is snapshot {snapshot.id}, which is listed already")
        opened[snapshot.id] = snapshot
        if ref != snapshot.id:
            plan = _rename_snapshot(plan, ref, snapshot.id)
    for name in ("model", "warm_start", "class_weights"):
        if name in plan.space.names:
            for choice in plan.space.param(name).choices:
                request = apply(plan.base, {name: choice})
                check_model_source(request)
                check_files(request)
    return plan, opened


def _rename_snapshot(plan: SweepPlan, ref: str, snapshot_id: str) -> SweepPlan:
    if "snapshot" not in plan.space.names:
        return dataclasses.replace(plan, base=dataclasses.replace(plan.base, snapshot=snapshot_id))
    params = tuple(
        Param(p.name, p.kind, choices=tuple(snapshot_id if c == ref else c for c in p.choices))
        if p.name == "snapshot"
        else p
        for p in plan.space.params
    )
    return dataclasses.replace(plan, space=SearchSpace(params, plan.space.fixed, plan.space.source))

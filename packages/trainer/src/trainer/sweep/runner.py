"""Run a sweep: the sweep job, its trials (child jobs, each a `trainer.training.fit.fit()` run), the
seed repeats of the best config, and the end of the sweep.

One process leads a sweep: it holds the sweep job's lease, records its progress and ends it.
`trainer sweep --resume SWEEP` on a sweep whose leader is alive joins it as a helper: it runs
trials (one at a time, on the GPU it sees) and records nothing on the sweep job. Two workers
never run the same trial: a trial's job id is derived from the sweep and the trial number,
and creating it is a conditional put (`JobExists` for the loser); resuming one takes its
lease (`JobLeased` for the loser). Before each trial a worker rebuilds the optuna study
from the table (study.py), so it sees every trial any worker finished.

Signals: SIGTERM/SIGINT during a trial stop that trial at the end of its step (it becomes
`interrupted`, as any `trainer fit` run), then the sweep stops as `interrupted`; between
trials the sweep stops at once. `--resume` resumes the interrupted trial (the same job, from
its checkpoint) and carries on: no trial is run or counted twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_store import Job, JobLeased, JobReader, JobRecorders, StoreError
from metrics_store.keys import utc_now_iso
from trainer.errors import FitError, JobExists
from trainer.jobs.children import ChildJob
from trainer.jobs.folders import claim, run_folder
from trainer.jobs.lifecycle import CLOSE_TIMEOUT_S, JobSession, resume_command
from trainer.jobs.signals import RunInterrupted, SignalGuard
from trainer.sweep.plan import SweepPlan, prepare
from trainer.sweep.pruning import PruneOnF1
from trainer.sweep.report import write_sweep_report
from trainer.sweep.study import (
    RESUMABLE_STATES,
    TrialReader,
    TrialRecord,
    build_study,
    repeat_child,
    trial_child,
    trials_only,
)
from trainer.training.fit import fit_child
from trainer.training.request import FitRequest, FitResult

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot

log = logging.getLogger(__name__)
WAIT_POLL_S = 15.0
"""How often the leader looks at trials other workers still run."""


@dataclass
class SweepResult:
    job_id: str
    name: str
    status: str  # succeeded, interrupted, or joined (a helper that finished its part)
    output_dir: str
    stopped_by: str | None = None  # budget, a signal, a lost lease
    counts: dict[str, int] = field(default_factory=dict)
    best: dict[str, Any] | None = None
    recorded: bool = True


def best_trial(records: list[TrialRecord]) -> TrialRecord | None:
    """The completed trial with the highest best val_f1 (the lower number on a tie)."""
    complete = [r for r in trials_only(records) if r.state == "complete" and r.value is not None]
    return max(complete, key=lambda r: (r.value or 0.0, -r.trial_number)) if complete else None


def counts_of(records: list[TrialRecord]) -> dict[str, int]:
    trials = trials_only(records)
    counts = {
        state: sum(r.state == state for r in trials)
        for state in ("complete", "pruned", "failed", "cancelled", "running", "pending", "interrupted", "stale")
    }
    return {
        "trials": len(trials),
        **counts,
        "seed_repeats": sum(r.kind != "sweep_trial" and r.state == "complete" for r in records),
    }


def start_sweep(
    plan: SweepPlan, recorder_for: JobRecorders, jobs: JobReader, *, echo: Callable[[str], None] = print
) -> SweepResult:
    """Check everything, create the sweep job, lead it to its end. `recorder_for` makes the
    recorders of the sweep job and its trials; `jobs` reads them back (`Queries` on a table,
    `MemoryJobs` in memory)."""
    plan, snapshots = prepare(plan)
    sweep_id = str(uuid.uuid4())
    folder = run_folder(plan.base.train.output_dir, plan.name, sweep_id)
    plan = plan.in_folder(str(folder))
    proposed = Job(
        job_id=sweep_id,
        name=plan.name,
        created_at=utc_now_iso(),
        description=plan.base.description,
        created_by=plan.base.created_by,
        job_config=plan.job_config().to_dict(),
        storage={"output_dir": str(folder)},
        tags={"kind": "sweep", "snapshot_id": ",".join(plan.snapshots), "model": plan.base.model.source},
    )
    claim(folder, sweep_id)
    session, job, _ = JobSession.open(recorder_for(sweep_id, source="sweep"), proposed, "sweep", resuming=False)
    session.folder = folder
    session.acquire("setting up")
    session.log({"type": "sweep_config", **plan.job_config().extra["sweep"], "snapshots": plan.snapshots})
    return Sweep(plan, recorder_for, jobs, job, snapshots, session, echo).run()


def resume_sweep(
    job_ref: str, recorder_for: JobRecorders, jobs: JobReader, *, echo: Callable[[str], None] = print
) -> SweepResult:
    """Continue an interrupted or failed sweep, or join a live one as a helper worker."""
    job = jobs.find_job(job_ref)
    plan = SweepPlan.from_job(job)
    if job.status in ("succeeded", "cancelled"):
        raise FitError(
            f"sweep {job.job_id} ({job.name}) has ended ({job.status}): `trainer runs sweep {job.job_id}` shows its "
            "results"
        )
    plan, snapshots = prepare(plan)
    session: JobSession | None = JobSession(
        recorder_for(job.job_id, source="sweep"), "sweep", Path(plan.base.train.output_dir)
    )
    try:
        session.acquire("resumed")
    except JobLeased as exc:
        echo(f"sweep {job.job_id} is led by {exc.owner or 'another process'}: joining it as a helper worker")
        session.recorder.close(1.0)
        session = None
    return Sweep(plan, recorder_for, jobs, job, snapshots, session, echo).run()


class Sweep:
    """One worker of one sweep. `session` is the sweep job's (None for a helper)."""

    def __init__(
        self,
        plan: SweepPlan,
        recorder_for: JobRecorders,
        jobs: JobReader,
        job: Job,
        snapshots: dict[str, Snapshot],
        session: JobSession | None,
        echo: Callable[[str], None],
    ):
        self.plan, self.recorder_for, self.jobs, self.job, self.snapshots = plan, recorder_for, jobs, job, snapshots
        self.session, self.echo = session, echo
        self.reader = TrialReader(jobs, job.job_id, plan.space)
        recorded = (job.outcome.get("sweep") or {}) if session else {}
        self.spent_before = float(recorded.get("elapsed_seconds") or 0.0)
        self.started = time.monotonic()
        self.refused: set[str] = set()  # children this worker could not resume (their checkpoint is elsewhere...)
        self.ended = False  # a helper saw the sweep end

    @property
    def leader(self) -> bool:
        return self.session is not None

    @property
    def recorder(self) -> Any:
        """The sweep job's recorder (the leader's)."""
        assert self.session is not None, "only the leader records on the sweep job"
        return self.session.recorder

    @property
    def sweep_id(self) -> str:
        return self.job.job_id

    def elapsed(self) -> float:
        return self.spent_before + time.monotonic() - self.started

    def run(self) -> SweepResult:
        stopped_by: str | None = None
        with SignalGuard() as guard:
            try:
                if self.leader:
                    self.progress(message="searching")
                stopped_by = self.search()
                if self.leader and (stopped_by is None or stopped_by == "budget"):
                    stopped_by = self.seed_repeats() or stopped_by
            except RunInterrupted as exc:
                stopped_by = str(exc)
            except BaseException as exc:
                if self.leader:
                    self.fail(exc)
                raise
            with guard.graceful():  # a signal now changes nothing: the end is being recorded
                if stopped_by not in (None, "budget"):
                    return self.interrupted(stopped_by)
                return self.finish(stopped_by)

    # --- trials ----------------------------------------------------------------------

    def search(self) -> str | None:
        """Run trials until all are claimed (and, for the leader, until the trials others run
        have ended) or the budget is spent. Returns why it stopped early, or None."""
        while True:
            records = self.reader.read()
            trials = trials_only(records)
            resumable = [t for t in trials if t.state in RESUMABLE_STATES and t.job.job_id not in self.refused]
            if resumable:
                stop = self.trial(records, resumable[0].trial_number, resume=resumable[0])
            elif len(trials) < self.plan.config.trials and not self.out_of_budget():
                stop = self.trial(records, max((t.trial_number for t in trials), default=-1) + 1)
            elif self.leader and any(t.state in ("running", "pending") for t in trials):
                time.sleep(WAIT_POLL_S)  # others' trials: the seed repeats need the final best
                continue
            else:
                return "budget" if len(trials) < self.plan.config.trials and not self.ended else None
            if stop:
                return stop

    def out_of_budget(self) -> bool:
        budget = self.plan.config.budget_seconds
        if self.leader:
            return budget is not None and self.elapsed() >= budget
        job = self.jobs.get_job(self.sweep_id)  # a helper follows the leader's clock
        deadline = (job.outcome.get("sweep") or {}).get("deadline_at")
        self.ended = job.status not in ("running", "pending")
        return self.ended or (deadline is not None and datetime.now(UTC) >= datetime.fromisoformat(deadline))

    def trial(self, records: list[TrialRecord], number: int, resume: TrialRecord | None = None) -> str | None:
        """Run (or resume) one trial. Returns why the sweep must stop, or None."""
        study = build_study(self.plan.config, self.plan.space, records, number)
        if resume is not None:
            study.enqueue_trial(dict(resume.params))
        optuna_trial = study.ask()
        values = self.plan.space.suggest(optuna_trial)
        request = self.plan.trial_request(number, values)
        callbacks = (
            [PruneOnF1(optuna_trial, resume.intermediate if resume else None)]
            if self.plan.config.pruner != "none"
            else []
        )
        child = trial_child(self.sweep_id, number)
        self.echo(
            f"trial {number} ({'resumed' if resume else 'new'}): " + ", ".join(f"{k}={v}" for k, v in values.items())
        )
        return self.after(self.fit(request, child, f"trial {number}", resume=resume, callbacks=callbacks))

    def seed_repeats(self) -> str | None:
        """The best config again with training seed + 1, + 2...: how much F1 moves by seed alone."""
        for repeat in range(1, self.plan.config.seed_repeats + 1):
            records = self.reader.read()
            best = best_trial(records)
            if best is None:
                return None
            child = repeat_child(self.sweep_id, best, repeat)
            existing = next((r for r in records if r.job.job_id == child.job_id), None)
            if existing is not None and existing.done:
                continue
            request = self.plan.repeat_request(best, repeat)
            self.echo(f"seed repeat {repeat} of trial {best.number} (seed {request.train.seed})")
            stop = self.after(self.fit(request, child, f"seed repeat {repeat}", resume=existing))
            if stop:
                return stop
        return None

    def fit(
        self,
        request: FitRequest,
        child: ChildJob,
        what: str,
        *,
        resume: TrialRecord | None = None,
        callbacks: list[Any] | None = None,
    ) -> FitResult | None:
        """A child's `fit()` (new, or resumed when `resume`): None when another worker has it; a
        crash is the child's own outcome (fit recorded it `failed`) unless the table itself
        fails or no job was made."""
        recorded = resume.job if resume else None
        recorded_snapshot = recorded.config.snapshot if recorded else None
        snapshot = self.snapshots[
            str(recorded_snapshot.id if recorded_snapshot and recorded_snapshot.id else request.snapshot)
        ]
        try:
            return fit_child(request, self.recorder_for, child, recorded, snapshot=snapshot, callbacks=callbacks)
        except (JobExists, JobLeased):
            self.echo(f"{what}: another worker has it")
            return None
        except StoreError:
            raise
        except Exception as exc:
            try:
                job = self.jobs.get_job(resume.job.job_id if resume else child.job_id)
            except StoreError:
                raise exc from None  # it never became a job: retrying would fail the same way
            self.echo(
                f"{what} {'could not be resumed' if job.status == 'interrupted' else 'failed'}: "
                f"{type(exc).__name__}: {exc}"[:500]
            )
            if job.status == "interrupted":  # a refused resume leaves it resumable: not by this worker again
                self.refused.add(job.job_id)
            return FitResult(job.job_id, job.status, "", {})

    def after(self, result: FitResult | None) -> str | None:
        if result is not None:
            self.echo(
                f"  -> {result.status}"
                + (f", best val_f1 {result.results['best_f1']:.4f}" if "best_f1" in result.results else "")
            )
            if result.stopped_by:
                return result.stopped_by
        if self.leader:
            health = self.recorder.health()
            if health:
                return health
            self.progress()
        return None

    # --- the sweep job -----------------------------------------------------------------

    def state(self, records: list[TrialRecord], stopped_by: str | None = None) -> dict[str, Any]:
        best = best_trial(records)
        budget = self.plan.config.budget_seconds
        deadline = None
        if budget is not None:
            deadline = datetime.fromtimestamp(time.time() + max(budget - self.elapsed(), 0.0), UTC).isoformat()
        return {
            "best_f1": best.value if best else None,
            "best_job_id": best.job.job_id if best else None,
            "best_trial": best.number if best else None,
            "sweep": {
                **counts_of(records),
                "planned": self.plan.config.trials,
                "elapsed_seconds": round(self.elapsed(), 1),
                "deadline_at": deadline,
                "stopped_by": stopped_by,
            },
        }

    def progress(self, message: str | None = None) -> None:
        records = self.reader.read()
        state = self.state(records)
        self.recorder.results({k: v for k, v in state.items() if v is not None})
        counts, best = state["sweep"], state["best_f1"]
        text = message or (
            f"{counts['trials']}/{self.plan.config.trials} trials ({counts['pruned']} pruned, {counts['failed']} "
            "failed)" + (f"; best val_f1 {best:.4f} (trial {state['best_trial']})" if best is not None else "")
        )
        self.recorder.status(
            "running", progress=min(100.0, 100.0 * counts["trials"] / self.plan.config.trials), message=text
        )

    def result(self, status: str, stopped_by: str | None, recorded: bool = True) -> SweepResult:
        records = self.reader.read()
        best = best_trial(records)
        return SweepResult(
            self.sweep_id,
            self.plan.name,
            status,
            self.plan.base.train.output_dir,
            stopped_by,
            counts_of(records),
            {"job_id": best.job.job_id, "trial": best.number, "best_f1": best.value} if best else None,
            recorded,
        )

    def finish(self, stopped_by: str | None) -> SweepResult:
        if self.session is None:
            return self.result("joined", stopped_by)
        records = self.reader.read()
        state = self.state(records, stopped_by or "trials")
        counts = state["sweep"]
        summary = (
            f"{counts['trials']} trials: {counts['complete']} complete, {counts['pruned']} pruned, "
            f"{counts['failed']} failed"
            + (
                f"; best val_f1 {state['best_f1']:.4f} (trial {state['best_trial']})"
                if state["best_f1"] is not None
                else ""
            )
            + ("; stopped by its budget" if stopped_by == "budget" else "")
        )
        self.session.log({"type": "sweep_summary", **state})
        self.session.succeeded(summary, {k: v for k, v in state.items() if v is not None})
        self.recorder.flush(CLOSE_TIMEOUT_S)
        self.write_report()
        return self.result("succeeded", stopped_by, self.session.close().recorded)

    def write_report(self) -> None:
        """sweep_report.json and the PNGs in the sweep's folder; a report that cannot be made is a warning."""
        try:
            write_sweep_report(self.jobs, self.sweep_id, Path(self.plan.base.train.output_dir))
        except Exception as exc:  # noqa: BLE001 - the sweep itself succeeded
            log.warning("could not write the sweep report: %s", exc)
            self.recorder.log(
                {"type": "warning", "warning": f"sweep report not written: {type(exc).__name__}: {exc}"},
                level="WARNING",
            )

    def interrupted(self, stopped_by: str) -> SweepResult:
        self.echo(
            f"sweep {self.sweep_id} stopped ({stopped_by}); resume with `{resume_command('sweep', self.sweep_id)}`"
        )
        if self.session is None:
            return self.result("interrupted", stopped_by)
        try:
            self.recorder.results(
                {k: v for k, v in self.state(self.reader.read(), stopped_by).items() if v is not None}
            )
        except StoreError:
            pass  # the status below still says how to go on
        self.session.interrupted(stopped_by)
        return self.result("interrupted", stopped_by, self.session.close().recorded)

    def fail(self, exc: BaseException) -> None:
        if self.session is not None:
            self.session.failed(exc)
            self.session.close()

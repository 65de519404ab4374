"""Writes that outlive an outage: a queue, one thread that writes in order, and a spool on disk
for what the table never took.

A training run must not die because DynamoDB is briefly unreachable, and must not lose a
record because it was unreachable for long. Every write is a `PendingWrite`: plain data (the
items of a batch put, a status change, a job update), encoded (and so validated) by the caller,
applied by `Store`, and serializable, so that what could not be written can wait on disk
(`spool`) and be written later by another process (`replay`).

`BackgroundWriter` runs them one after another on its own thread. A transient failure (the
endpoint is unreachable, throttling outlasted the store's retries, a 5xx) is retried with
exponential backoff and full jitter until the outage has lasted `outage_budget_s` (default 5
minutes); then the writer stops writing, keeps every unwritten record, and reports the failure
through `failure`, so the trainer can stop cleanly (checkpoint, `interrupted`) and spool them.

The lease: `tick` (the recorder's heartbeat) runs every `tick_seconds` whatever else is being
written, so a run that logs often still renews its lease on schedule. `fence` runs before a
write when the lease may have expired (no renewal for `fence_after_s`): a process paused longer
than that (SIGSTOP, a frozen VM) re-checks that the job is still its own before writing a
single record, and stops if another process took it over. Every write has a deterministic key,
so a retry or a replay overwrites itself: nothing is recorded twice.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_store.errors import InvalidStatusTransition

from .errors import LeaseLost, OutageTooLong, StoreError
from .retry import is_transient

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)

OUTAGE_BUDGET_SECONDS = 300.0
"""How long a run keeps retrying its writes through an outage before it stops."""
SPOOL_VERSION = 1


@dataclass(frozen=True)
class PendingWrite:
    """One write of a run, as data: `items` (a batch put of encoded items), `status` (a job
    status change: `Store.set_job_status` arguments) or `update` (`Store.update_job` fields)."""

    what: str
    job_id: str
    items: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    update: dict[str, Any] | None = None

    def apply(self, store: Store) -> None:
        if self.items:
            store.batch_put(self.items)
        if self.status is not None:
            store.jobs.set_job_status(self.job_id, **self.status)
        if self.update is not None:
            store.jobs.update_job(self.job_id, **self.update)

    def to_json(self) -> str:
        return json.dumps(
            {
                "what": self.what,
                "job_id": self.job_id,
                "items": self.items,
                "status": self.status,
                "update": self.update,
            }
        )

    @classmethod
    def from_json(cls, line: str) -> PendingWrite:
        raw = json.loads(line)
        return cls(raw["what"], raw["job_id"], raw.get("items") or [], raw.get("status"), raw.get("update"))


def spool(path: Path, writes: Iterable[PendingWrite]) -> int:
    """Append `writes` to the spool at `path` (JSON lines, written then renamed into place
    with what was there, so a kill mid-way leaves the old spool whole). Returns how many wait."""
    waiting = read_spool(path) + list(writes)
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(
        json.dumps({"spool_version": SPOOL_VERSION}) + "\n" + "".join(w.to_json() + "\n" for w in waiting)
    )
    staging.replace(path)
    return len(waiting)


def read_spool(path: Path) -> list[PendingWrite]:
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    header = json.loads(lines[0]) if lines else {}
    if header.get("spool_version") != SPOOL_VERSION:
        raise StoreError(
            f"{path} is not a spool of unwritten records this version can read (spool_version "
            f"{header.get('spool_version')})"
        )
    return [PendingWrite.from_json(line) for line in lines[1:]]


def replay(store: Store, path: Path) -> int:
    """Write what waits in the spool at `path`, in order, then remove it; a status change the
    job no longer allows (another process resumed it, or it ended) is skipped, since what came
    after it is newer. Returns how many were written. A failure leaves the spool as it was."""

    waiting = read_spool(path)
    for write in waiting:
        try:
            write.apply(store)
        except (InvalidStatusTransition, LeaseLost) as exc:
            log.warning("skipped %s from %s: %s", write.what, path, exc)
    path.unlink(missing_ok=True)
    return len(waiting)


class BackgroundWriter:
    """Runs submitted writes in order on one daemon thread, through outages of up to
    `outage_budget_s`; renews the lease every `tick_seconds` (`tick`) and fences writes after
    `fence_after_s` without a renewal (`fence`)."""

    def __init__(
        self,
        apply: Callable[[PendingWrite], None],
        *,
        outage_budget_s: float = OUTAGE_BUDGET_SECONDS,
        base_delay: float = 0.5,
        max_delay: float = 5.0,
        tick: Callable[[], None] | None = None,
        tick_seconds: float = 60.0,
        fence: Callable[[], None] | None = None,
        fence_after_s: float | None = None,
        name: str = "metrics-store-writer",
    ):
        self._apply = apply
        self.outage_budget_s = outage_budget_s
        self.base_delay, self.max_delay = base_delay, max_delay
        self._tick, self._tick_seconds = tick, tick_seconds
        self._fence, self._fence_after_s = fence, fence_after_s
        self._unwritten: list[PendingWrite] = []  # in order; the first is the one being written
        self._state = threading.Condition()
        self._stopping = False
        self._failure: BaseException | None = None
        self._outage_since: float | None = None
        self._renewed = time.monotonic()
        self._rng = random.Random()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def failure(self) -> BaseException | None:
        """Why writes stopped (an outage longer than the budget, a lost lease, a bad write), or None."""
        return self._failure

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def renewed(self) -> None:
        """The lease was renewed now (by a tick, or by a write that renews it)."""
        self._renewed = time.monotonic()

    def fence_now(self) -> None:
        """Check the lease now if it may have run out (the fence every write passes), from the
        caller's thread: `LeaseLost` when it is gone (and writing stops)."""
        if self._fence is None or self._fence_after_s is None or time.monotonic() - self._renewed < self._fence_after_s:
            return
        try:
            self._fence()
        except LeaseLost as exc:
            self._give_up(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - the table is unreachable: unverified, and every write fences again
            if not is_transient(exc):
                raise
            return
        self.renewed()

    def submit(self, write: PendingWrite) -> None:
        with self._state:
            self._unwritten.append(write)
            self._state.notify_all()

    def unwritten(self) -> list[PendingWrite]:
        """What was submitted and not written, in order (what a spool keeps)."""
        with self._state:
            return list(self._unwritten)

    def retry(self) -> bool:
        """After an outage longer than the budget: try the unwritten writes again (the end of a
        run gives the table one more budget to answer). False when writes stopped for another
        reason (a lost lease, a write the table refuses), which no retry mends."""
        with self._state:
            if self._failure is None:
                return True
            if not isinstance(self._failure, OutageTooLong):
                return False
            self._failure, self._outage_since = None, None
            self._state.notify_all()
            return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted write is done; False when some are still unwritten
        (timeout, or the writer gave up)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state:
            while self._unwritten and self._failure is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state.wait(remaining if remaining is not None else 1.0)
            return not self._unwritten

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the thread. Returns whether everything was written."""
        done = self.flush(timeout)
        with self._state:
            self._stopping = True
            self._state.notify_all()
        self._thread.join(timeout=1.0)
        return done

    # --- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        next_tick = time.monotonic() + self._tick_seconds
        while True:
            with self._state:
                while not self._stopping and (not self._unwritten or self._failure is not None):
                    if self._tick and time.monotonic() >= next_tick:
                        break
                    self._state.wait(max(0.0, next_tick - time.monotonic()) if self._tick else None)
                if self._stopping:
                    return
                write = self._unwritten[0] if self._unwritten and self._failure is None else None
            if write is not None:
                self._attempt(write)
            if self._tick and time.monotonic() >= next_tick:
                self._run_tick()
                next_tick = time.monotonic() + self._tick_seconds

    def _run_tick(self) -> None:
        if self._tick is None or self._failure is not None:
            return
        try:
            self._tick()
            self.renewed()
        except LeaseLost as exc:
            self._give_up(exc)
        except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried at the next tick
            if not is_transient(exc):
                self._give_up(exc)

    def _fenced(self) -> bool:
        """Before a write: when the lease may have run out, check it is still ours."""
        if self._fence is None or self._fence_after_s is None or time.monotonic() - self._renewed < self._fence_after_s:
            return True
        try:
            self._fence()
            self.renewed()
        except LeaseLost as exc:
            self._give_up(exc)
            return False
        return True

    def _attempt(self, write: PendingWrite) -> None:
        attempt = 0
        while True:
            try:
                if not self._fenced():
                    return
                self._apply(write)
                if self._outage_since is not None:
                    log.warning(
                        "the table answers again after %.0f s; writes resumed", time.monotonic() - self._outage_since
                    )
                self._outage_since = None
                with self._state:
                    self._unwritten.remove(write)
                    self._state.notify_all()
                return
            except Exception as exc:  # noqa: BLE001 - classified below; nothing is dropped
                if not is_transient(exc):
                    self._give_up(exc)
                    return
                now = time.monotonic()
                if self._outage_since is None:
                    self._outage_since = now
                    log.warning(
                        "cannot write %s (%s); retrying for up to %.0f s", write.what, exc, self.outage_budget_s
                    )
                if now - self._outage_since > self.outage_budget_s:
                    self._give_up(OutageTooLong(self.outage_budget_s, len(self._unwritten), exc), cause=exc)
                    return
                time.sleep(self._rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))
                attempt += 1

    def _give_up(self, exc: BaseException, cause: BaseException | None = None) -> None:
        if cause is not None:
            exc.__cause__ = cause
        with self._state:
            self._failure = exc
            self._state.notify_all()

"""Writes that outlive a short outage: a queue and one thread that writes in order.

A training run must not die because DynamoDB is briefly unreachable. `BackgroundWriter`
takes each write as a callable whose items were encoded (and so validated) by the caller,
and runs them one after another on its own thread. A transient failure (the endpoint is
unreachable, throttling outlasted the store's retries, a 5xx) is retried with exponential
backoff and full jitter until the outage has lasted `outage_budget_s` (default 5 minutes);
then the writer gives up, keeps every unwritten record in its queue, and reports the failure
through `failure`, so the trainer can stop cleanly (checkpoint, `interrupted`). Every write
has a deterministic key, so a retry overwrites itself: nothing is recorded twice.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import EndpointUnreachable, LeaseLost, StoreError, WriteFailed

log = logging.getLogger(__name__)

OUTAGE_BUDGET_SECONDS = 300.0
"""How long a run keeps retrying its writes through an outage before it stops."""
TRANSIENT_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionConflictException",
})


def is_transient(exc: BaseException) -> bool:
    """Errors worth waiting out: the table may answer again in a moment."""
    if isinstance(exc, EndpointUnreachable | WriteFailed):
        return True
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    if code in TRANSIENT_CODES:
        return True
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(cause, HTTPClientError | BotoConnectionError)


@dataclass
class _Write:
    run: Callable[[], Any]
    what: str


class BackgroundWriter:
    """Runs submitted writes in order on one daemon thread, through outages of up to
    `outage_budget_s`. `tick` (if given) runs whenever the queue has been idle for
    `tick_seconds` (the recorder's heartbeat)."""

    def __init__(self, *, outage_budget_s: float = OUTAGE_BUDGET_SECONDS, base_delay: float = 0.5, max_delay: float = 5.0,
                 tick: Callable[[], None] | None = None, tick_seconds: float = 60.0, name: str = "metrics-store-writer"):
        self.outage_budget_s = outage_budget_s
        self.base_delay, self.max_delay = base_delay, max_delay
        self._tick, self._tick_seconds = tick, tick_seconds
        self._queue: queue.Queue[_Write | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._failure: BaseException | None = None
        self._outage_since: float | None = None
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

    def submit(self, run: Callable[[], Any], what: str) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(_Write(run, what))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted write is done; False when some are still queued
        (timeout, or the writer gave up)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending and self._failure is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining if remaining is not None else 1.0)
            return self._pending == 0

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the thread. Returns whether everything was written."""
        done = self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout=1.0)
        return done

    # --- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                write = self._queue.get(timeout=self._tick_seconds if self._tick else None)
            except queue.Empty:
                self._run_tick()
                continue
            if write is None:
                return
            if self._failure is None:
                self._attempt(write)
            if self._failure is None:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _run_tick(self) -> None:
        if self._tick is None or self._failure is not None:
            return
        try:
            self._tick()
        except LeaseLost as exc:
            self._give_up(exc)
        except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried at the next tick
            if not is_transient(exc):
                self._give_up(exc)

    def _attempt(self, write: _Write) -> None:
        attempt = 0
        while True:
            try:
                write.run()
                if self._outage_since is not None:
                    log.warning("the table answers again after %.0f s; writes resumed", time.monotonic() - self._outage_since)
                self._outage_since = None
                return
            except Exception as exc:  # noqa: BLE001 - classified below; nothing is dropped
                if not is_transient(exc):
                    self._give_up(exc)
                    return
                now = time.monotonic()
                if self._outage_since is None:
                    self._outage_since = now
                    log.warning("cannot write %s (%s); retrying for up to %.0f s", write.what, exc, self.outage_budget_s)
                if now - self._outage_since > self.outage_budget_s:
                    self._give_up(StoreError(f"the table was unreachable for over {self.outage_budget_s:.0f} s; "
                                             f"{self._pending} record(s) not written: {exc}"))
                    return
                time.sleep(self._rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))
                attempt += 1

    def _give_up(self, exc: BaseException) -> None:
        with self._idle:
            self._failure = exc
            self._idle.notify_all()

"""When to try a DynamoDB call again, and how long to wait: one policy and one set of transient
errors for every write (`Store`) and for the writer that rides out outages (`writer`)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import EndpointUnreachable, StoreError, WriteFailed

TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
"""Error codes DynamoDB answers with when the same request may succeed a moment later."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
    and Jitter"): attempt n waits uniform(0, min(max_delay, base_delay * 2**n)) seconds."""

    max_attempts: int = 10
    base_delay: float = 0.05
    max_delay: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def error_code(exc: BaseException | None) -> str | None:
    """The DynamoDB error code behind an error (ours wrap botocore's as their cause), or None."""
    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code:
            return code
        exc, seen = exc.__cause__, seen + 1
    return None


def is_conditional_failure(exc: BaseException) -> bool:
    """A condition of the write did not hold (a conditional put, update or transaction)."""
    return error_code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException")


def is_transient(exc: BaseException) -> bool:
    """Errors worth waiting out: the table may answer again in a moment."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, EndpointUnreachable | WriteFailed) or error_code(exc) in TRANSIENT_CODES:
        return True
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    return isinstance(cause, HTTPClientError | BotoConnectionError)

"""Errors raised by metrics_store. SDK errors are wrapped once, at the boundary, with the
original kept as `__cause__`, so callers (and CLIs) can print one clear line."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: anything that went wrong talking to the receipts table."""


class TableNotFound(StoreError):
    def __init__(self, table: str, endpoint: str | None = None, *, hint: str | None = None):
        where = f" at {endpoint}" if endpoint else ""
        super().__init__(
            f"DynamoDB table {table!r} does not exist{where}; create it with "
            f"`mstore table create --table {table}`{', ' + hint if hint else ''} or pass the right --table"
        )
        self.table = table


class EndpointUnreachable(StoreError):
    def __init__(self, endpoint: str | None):
        hint = (
            "start DynamoDB Local with `mstore local start`"
            if endpoint and ("localhost" in endpoint or "127.0.0.1" in endpoint)
            else "check --endpoint-url / AWS_ENDPOINT_URL_DYNAMODB and your network"
        )
        super().__init__(f"cannot reach DynamoDB at {endpoint or 'the AWS default endpoint'}: {hint}")
        self.endpoint = endpoint


class InvalidEndpoint(StoreError):
    """An endpoint URL that cannot name a DynamoDB endpoint."""

    def __init__(self, url: str, why: str):
        super().__init__(f"--endpoint-url {url!r}: {why}; check --endpoint-url / AWS_ENDPOINT_URL_DYNAMODB")
        self.url = url


class NotDynamoDB(StoreError):
    """Something answers at the endpoint, but not as DynamoDB (a web server, a proxy page)."""

    def __init__(self, endpoint: str | None, what: str):
        super().__init__(
            f"{endpoint or 'the endpoint'} does not answer like DynamoDB ({' '.join(what.split())[:120]}): "
            "check --endpoint-url / AWS_ENDPOINT_URL_DYNAMODB"
        )
        self.endpoint = endpoint


class MissingCredentials(StoreError):
    def __init__(self) -> None:
        super().__init__(
            "no AWS credentials found: set AWS_PROFILE (or pass --profile), or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; for DynamoDB Local pass --endpoint-url"
        )


class InvalidValue(StoreError, ValueError):
    """A value cannot be stored as-is (non-finite float, unsupported type)."""


class ItemTooLarge(StoreError):
    def __init__(self, key: str, size: int, limit: int):
        super().__init__(f"item {key} is {size:,} bytes, over DynamoDB's {limit:,}-byte item limit")
        self.key = key
        self.size = size


class WriteFailed(StoreError):
    """Writes still unprocessed after every retry; nothing was silently dropped."""

    def __init__(self, message: str, unprocessed_keys: list[str]):
        super().__init__(f"{message}: {len(unprocessed_keys)} item(s) not written, first {unprocessed_keys[:3]}")
        self.unprocessed_keys = unprocessed_keys


class OutageTooLong(StoreError):
    """The table did not answer for longer than a run's outage budget: its writes wait."""

    def __init__(self, budget_s: float, unwritten: int, last: BaseException):
        super().__init__(
            f"the table was unreachable for over {budget_s:.0f} s ({' '.join(str(last).split())[:160]}); "
            f"{unwritten} record(s) not written yet"
        )
        self.budget_s, self.unwritten = budget_s, unwritten


class JobNotFound(StoreError):
    def __init__(self, job_id: str):
        super().__init__(f"no job {job_id!r} in the table")
        self.job_id = job_id


class AmbiguousJob(StoreError):
    """A job name (or id prefix) that several jobs share: which one was meant is not guessed."""

    def __init__(self, job_ref: str, by: str, jobs: list) -> None:
        listed = "; ".join(f"{j.job_id} ({j.status}, created {j.created_at[:19]})" for j in jobs[:5])
        more = f" and {len(jobs) - 5} more" if len(jobs) > 5 else ""
        super().__init__(f"{len(jobs)} jobs have the {by} {job_ref!r}: {listed}{more}; give the job id")
        self.job_ref, self.job_ids = job_ref, [j.job_id for j in jobs]


class InvalidStatusTransition(StoreError):
    pass


class JobLeased(StoreError):
    """The job is running under another process whose heartbeat is fresh."""

    def __init__(self, job_id: str, owner: str | None, heartbeat_at: str | None, age_s: float | None = None):
        when = f"{age_s:.0f} s ago" if age_s is not None else f"at {heartbeat_at}"
        super().__init__(
            f"job {job_id} is running (lease held by {owner or 'another process'}, heartbeat {when}): "
            "it cannot be resumed or marked interrupted while its heartbeat is fresh"
        )
        self.job_id, self.owner, self.heartbeat_at = job_id, owner, heartbeat_at


class LeaseLost(StoreError):
    """This process no longer holds the job's lease: stop training it, and touch nothing of it."""

    def __init__(self, job_id: str, owner: str, status: str | None, holder: str | None):
        taker = (
            f"process {holder} took it over"
            if holder and holder != owner
            else "its lease was ended (marked interrupted)"
        )
        super().__init__(
            f"job {job_id} is no longer this process's to train: it is {status} and {taker}; "
            f"this process ({owner}) stopped without writing to the job or its folder"
        )
        self.job_id, self.status, self.holder = job_id, status, holder

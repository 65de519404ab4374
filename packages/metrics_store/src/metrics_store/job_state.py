"""A job's status and its lease: every status change is one conditional transaction.

A running job holds a lease: `lease_owner` (who trains it: host, pid, a random tag) and
`heartbeat_at` on the Job item, renewed at most once a minute (`HEARTBEAT_SECONDS`) by the
process that trains it. A running job whose heartbeat is older than `STALE_AFTER_SECONDS` is
*stale*: its process died (SIGKILL, OOM, a lost spot instance) or cannot reach the table.

- `acquire_lease` moves a pending, interrupted or failed job, or a stale running one, to
  running under a new owner; a live job (running, fresh heartbeat) is refused (`JobLeased`),
  so two processes never train the same job.
- `heartbeat` renews the lease only for its owner while the job runs; anything else means the
  lease was lost (`LeaseLost`: another process took over, or the job was marked interrupted).
- `mark_stale_interrupted` ends a stale lease so the job can be resumed; a fresh one is refused.
- `set_job_status` never changes a succeeded or cancelled job (`FINAL_JOB_STATUSES`).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from . import keys
from .codec import to_attribute
from .errors import InvalidStatusTransition, JobLeased, JobNotFound, LeaseLost
from .records import FINAL_JOB_STATUSES, RESUMABLE_JOB_STATUSES, Job, JobStatus
from .table_writer import TableWriter, check_size

HEARTBEAT_SECONDS = 60
"""How often a running job renews its lease (at most; other writes to the job renew it too)."""
STALE_AFTER_SECONDS = 600
"""A running job whose heartbeat is older than this is stale (ten missed heartbeats)."""


def new_lease_owner() -> str:
    """Who holds a lease: host, process id and a random tag (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def stale_before(now: str, stale_after_s: float = STALE_AFTER_SECONDS) -> str:
    """The heartbeat time before which a running job counts as stale, as an ISO string."""
    return (datetime.fromisoformat(now) - timedelta(seconds=stale_after_s)).isoformat(timespec="microseconds")


def heartbeat_age(job: Job, now: datetime | None = None, last_activity: str | None = None) -> float | None:
    """Seconds since the job's last sign of life: its heartbeat, or for a job started by a
    trainer without leases, `last_activity` (its latest record) or its creation. None when
    there is no timestamp at all."""
    seen = job.heartbeat_at or last_activity or job.created_at
    if not seen:
        return None
    now = now or datetime.now(UTC)
    try:
        return max((now - datetime.fromisoformat(seen)).total_seconds(), 0.0)
    except ValueError:
        return None


def is_stale(
    job: Job, now: datetime | None = None, stale_after_s: float = STALE_AFTER_SECONDS, last_activity: str | None = None
) -> bool:
    """A running job with no sign of life for longer than the threshold."""
    if job.status != "running":
        return False
    age = heartbeat_age(job, now, last_activity)
    return age is None or age > stale_after_s


class JobStates:
    """The writes of a job's lifecycle: create, status changes, the lease, and its attributes."""

    def __init__(self, writer: TableWriter):
        self.writer = writer

    @property
    def table_name(self) -> str:
        return self.writer.table.name

    def create_job(self, job: Job) -> bool:
        """Create the job and its first status entry. Idempotent: False if it existed."""
        created = self.writer.put_new(job.to_item())
        if created:
            self.writer.put(JobStatus(job.job_id, job.status, job.created_at, message="created").to_item())
        return created

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set top-level attributes of a job (results, tags, storage, description...)."""
        forbidden = {
            "PK",
            "SK",
            "TYPE",
            "GSI1PK",
            "GSI1SK",
            "GSI2PK",
            "GSI2SK",
            "status",
            "job_id",
            "name",
            "created_at",
            "lease_owner",
            "heartbeat_at",
        }
        bad = forbidden & fields.keys()
        if bad:
            raise ValueError(f"update_job cannot set {sorted(bad)}; use set_job_status for status")
        if not fields:
            return
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": to_attribute(value, name) for i, (name, value) in enumerate(fields.items())}
        check_size(
            {
                "PK": {"S": keys.job_pk(job_id)},
                "SK": {"S": "JOB"},
                **{n: values[f":v{i}"] for i, n in enumerate(fields)},
            }
        )
        done = self.writer.conditional(
            "update_item",
            TableName=self.table_name,
            Key=_job_key(job_id),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        if done is None:
            raise JobNotFound(job_id)

    def set_job_status(
        self,
        job_id: str,
        status: str,
        *,
        message: str | None = None,
        progress: float | None = None,
        updated_by: str | None = None,
        instance_id: str | None = None,
        updated_at: str | None = None,
        owner: str | None = None,
    ) -> JobStatus:
        """Move the job to `status` (its GSI1 partition moves with it) and append a JobStatus
        entry, in one transaction. With `owner`, only the lease holder may do it, and the
        heartbeat is renewed with it."""
        entry = JobStatus(
            job_id,
            status,
            updated_at or keys.utc_now_iso(),
            progress=progress,
            message=message,
            updated_by=updated_by,
            instance_id=instance_id,
        )
        values: dict[str, Any] = {}
        condition = _not_final(status, values)
        sets = {}
        if owner is not None:
            condition += " AND (lease_owner = :owner OR attribute_not_exists(lease_owner))"
            values[":owner"] = {"S": owner}
            sets["heartbeat_at"] = entry.updated_at
        current = self._transition(entry, condition, values, sets)
        if current is not None:
            if (
                owner is not None
                and current.lease_owner not in (None, owner)
                and current.status not in FINAL_JOB_STATUSES
            ):
                raise LeaseLost(job_id, owner, current.status, current.lease_owner)
            raise InvalidStatusTransition(f"job {job_id} is {current.status}; it cannot become {status}")
        return entry

    def acquire_lease(
        self,
        job_id: str,
        owner: str,
        *,
        message: str | None = None,
        now: str | None = None,
        stale_after_s: float = STALE_AFTER_SECONDS,
    ) -> JobStatus:
        """Take the job's lease and mark it running; refuse a live job."""
        entry = JobStatus(
            job_id, "running", now or keys.utc_now_iso(), progress=None, message=message, updated_by=owner
        )
        values = {
            ":running": {"S": "running"},
            ":stale": {"S": stale_before(entry.updated_at, stale_after_s)},
            **{f":r{i}": {"S": s} for i, s in enumerate(RESUMABLE_JOB_STATUSES)},
        }
        resumable = " OR ".join(f"#status = :r{i}" for i in range(len(RESUMABLE_JOB_STATUSES)))
        condition = (
            f"attribute_exists(PK) AND ({resumable} OR (#status = :running AND "
            "(attribute_not_exists(heartbeat_at) OR heartbeat_at < :stale)))"
        )
        current = self._transition(entry, condition, values, {"lease_owner": owner, "heartbeat_at": entry.updated_at})
        if current is not None:
            _refuse_live(current, entry, stale_after_s)
            raise InvalidStatusTransition(f"job {job_id} is {current.status}; it cannot be resumed")
        return entry

    def mark_stale_interrupted(
        self,
        job_id: str,
        *,
        message: str,
        now: str | None = None,
        stale_after_s: float = STALE_AFTER_SECONDS,
        updated_by: str | None = None,
    ) -> JobStatus:
        """End a stale lease: the running job becomes interrupted (resumable). A job whose
        heartbeat is fresh is refused with `JobLeased`."""
        entry = JobStatus(job_id, "interrupted", now or keys.utc_now_iso(), message=message, updated_by=updated_by)
        values = {":running": {"S": "running"}, ":stale": {"S": stale_before(entry.updated_at, stale_after_s)}}
        condition = "#status = :running AND (attribute_not_exists(heartbeat_at) OR heartbeat_at < :stale)"
        current = self._transition(entry, condition, values, {})
        if current is not None:
            _refuse_live(current, entry, stale_after_s)
            raise InvalidStatusTransition(f"job {job_id} is {current.status}, not running: nothing to mark interrupted")
        return entry

    def heartbeat(self, job_id: str, owner: str, *, now: str | None = None) -> str:
        """Renew the lease; `LeaseLost` when the job is no longer running under `owner`."""
        at = now or keys.utc_now_iso()
        done = self.writer.conditional(
            "update_item",
            TableName=self.table_name,
            Key=_job_key(job_id),
            UpdateExpression="SET heartbeat_at = :at",
            ConditionExpression="lease_owner = :owner AND #status = :running",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":at": {"S": at}, ":owner": {"S": owner}, ":running": {"S": "running"}},
        )
        if done is None:
            current = self.current_job(job_id)
            raise LeaseLost(
                job_id, owner, current.status if current else None, current.lease_owner if current else None
            )
        return at

    def current_job(self, job_id: str) -> Job | None:
        """The job as it is now (a consistent read): why a condition did not hold."""
        item = self.writer.get(_job_key(job_id))
        return Job.from_item(item) if item else None

    # --- the one transaction -------------------------------------------------------------

    def _transition(self, entry: JobStatus, condition: str, values: dict[str, Any], sets: dict[str, Any]) -> Job | None:
        """Apply the status change if `condition` holds. Returns None when applied, else the
        job as it is now (the caller says why it was refused)."""
        assignments = {"#status": ":status", "GSI1PK": ":gsi1pk", **{name: f":set_{name}" for name in sets}}
        values = {
            **values,
            ":status": {"S": entry.status},
            ":gsi1pk": {"S": keys.job_status_gsi1pk(entry.status)},
            **{f":set_{name}": to_attribute(value, name) for name, value in sets.items()},
        }
        done = self.writer.conditional(
            "transact_write_items",
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": _job_key(entry.job_id),
                        "UpdateExpression": "SET " + ", ".join(f"{k} = {v}" for k, v in assignments.items()),
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": values,
                    }
                },
                {"Put": {"TableName": self.table_name, "Item": check_size(entry.to_item())}},
            ],
        )
        if done is not None:
            return None
        current = self.current_job(entry.job_id)
        if current is None:
            raise JobNotFound(entry.job_id)
        return current


def _refuse_live(current: Job, entry: JobStatus, stale_after_s: float) -> None:
    """Raise `JobLeased` when `current` is running with a fresh heartbeat."""
    if current.status == "running" and not is_stale(current, datetime.fromisoformat(entry.updated_at), stale_after_s):
        raise JobLeased(
            current.job_id,
            current.lease_owner,
            current.heartbeat_at,
            heartbeat_age(current, datetime.fromisoformat(entry.updated_at)),
        )


def _job_key(job_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": "JOB"}}


def _not_final(status: str, values: dict[str, Any]) -> str:
    condition = "attribute_exists(PK)"
    for i, final in enumerate(FINAL_JOB_STATUSES):
        if final != status:
            values[f":f{i}"] = {"S": final}
            condition += f" AND #status <> :f{i}"
    return condition

"""The user's own client (`receipt_dynamo`, installed from ../shared/clients/ by set-up) pointed
at a test table, and every read their dashboards and tools make of a job, through it.

Its readers validate each item as strictly as the user's tools do (a UUID job id, a whole-number
epoch, a non-empty `created_by`...), so a record they cannot read raises here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metrics_store import TableRef

try:
    from receipt_dynamo import DynamoClient
except ImportError as exc:  # CI installs it (scripts/setup.sh); without it these tests cannot say anything
    raise ImportError(
        "the user's client receipt_dynamo is not installed: run `bash scripts/setup.sh` "
        "(it installs ../shared/clients/receipt_dynamo-*.whl into .venv)"
    ) from exc


def client_for(table: TableRef) -> DynamoClient:
    return DynamoClient(table.name, region="us-east-1", endpoint_url=table.endpoint_url)


def _all(call, *args: Any, **kwargs: Any) -> list[Any]:
    """Every page of a client list call (they return (items, last_evaluated_key))."""
    items, key = call(*args, **kwargs)
    found = list(items)
    while key:
        items, key = call(*args, last_evaluated_key=key, **kwargs)
        found += items
    return found


@dataclass
class ClientView:
    """What the user's client reads of one job: one entry per get_*/list_* call."""

    job: Any
    by_name: list[Any]
    with_status: tuple[Any, list[Any]]
    metrics: list[Any]
    metrics_by_name: dict[str, list[Any]]
    logs: list[Any]
    log_heads: list[Any]
    statuses: list[Any]
    latest_status: Any
    checkpoints: list[Any]
    best_checkpoint: Any
    resources: list[Any]
    resource_by_id: dict[str, Any] = field(default_factory=dict)


def read_job(client: DynamoClient, job_id: str) -> ClientView:
    """Every per-job read the client has; each raises if an item does not validate."""
    job = client.get_job(job_id)
    metrics = _all(client.list_job_metrics, job_id)
    names = sorted({m.metric_name for m in metrics})
    logs = _all(client.list_job_logs, job_id)
    resources = _all(client.list_job_resources, job_id)
    return ClientView(
        job=job,
        by_name=_all(client.get_job_by_name, job.name),
        with_status=client.get_job_with_status(job_id),
        metrics=metrics,
        metrics_by_name={n: _all(client.list_job_metrics, job_id, metric_name=n) for n in names},
        logs=logs,
        log_heads=[client.get_job_log(job_id, log.timestamp) for log in logs],
        statuses=_all(client.list_job_statuses, job_id),
        latest_status=client.get_latest_job_status(job_id),
        checkpoints=_all(client.list_job_checkpoints, job_id),
        best_checkpoint=client.get_best_checkpoint(job_id),
        resources=resources,
        resource_by_id={r.resource_id: client.get_resource_by_id(r.resource_id)[0] for r in resources},
    )


def read_table_wide(client: DynamoClient, metric_names: list[str]) -> dict[str, Any]:
    """The client's reads across all jobs (a dashboard's listing): one bad item breaks these for everyone."""
    statuses = ("pending", "running", "succeeded", "failed", "cancelled", "interrupted")
    return {
        "jobs": _all(client.list_jobs),
        "by_status": {s: _all(client.list_jobs_by_status, s) for s in statuses},
        "checkpoints": _all(client.list_all_job_checkpoints),
        "resources": {t: _all(client.list_resources_by_type, t) for t in ("cpu", "gpu")},
        "metrics": {n: _all(client.get_metrics_by_name, n) for n in metric_names},
        "metrics_across_jobs": {n: _all(client.get_metrics_by_name_across_jobs, n) for n in metric_names},
    }

"""Shared by the record modules: the allowed values of enumerated attributes."""

from __future__ import annotations

JOB_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled", "interrupted")
TERMINAL_JOB_STATUSES = ("succeeded", "failed", "cancelled")
"""The run has ended (it is not running and not waiting to resume)."""
FINAL_JOB_STATUSES = ("succeeded", "cancelled")
"""A job in one of these never changes status again (a failed job can be resumed)."""
RESUMABLE_JOB_STATUSES = ("pending", "interrupted", "failed")
"""A job in one of these may be (re)started by `acquire_lease`; a stale running job too."""
JOB_PRIORITIES = ("low", "medium", "high", "critical")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RESOURCE_TYPES = ("cpu", "gpu", "memory", "storage", "network", "combined")
RESOURCE_STATUSES = ("allocated", "released", "failed", "pending")
VALIDATION_STATUSES = ("NONE", "PENDING", "VALID", "INVALID", "NEEDS_REVIEW")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

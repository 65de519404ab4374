"""Shared by the record modules: the allowed values of enumerated attributes."""

from __future__ import annotations

JOB_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled", "interrupted")
TERMINAL_JOB_STATUSES = ("succeeded", "failed", "cancelled")
JOB_PRIORITIES = ("low", "medium", "high", "critical")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RESOURCE_TYPES = ("cpu", "gpu", "memory", "storage", "network", "combined")
VALIDATION_STATUSES = ("NONE", "PENDING", "VALID", "INVALID", "NEEDS_REVIEW")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

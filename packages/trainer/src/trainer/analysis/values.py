"""Small helpers every analysis payload needs: JSON-safe numbers and flat config keys."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from metrics_store.run_records import number

__all__ = ["flatten", "json_safe", "number", "rounded"]


def json_safe(value: Any) -> Any:
    """A copy that `json.dumps` writes as strict JSON: non-finite floats become null (agents'
    parsers reject NaN), tuples become lists, keys become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return value


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train": {"lr": 1}}` -> `{"train.lr": 1}`, so two configs compare key by key."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)

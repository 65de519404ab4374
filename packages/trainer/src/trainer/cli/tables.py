"""Table helpers every `trainer` renderer shares: numbers formatted one way, right-aligned,
and key columns never shortened (`cli_edge.key_table`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from cli_edge import Column, key_table


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return str(value)


def _numeric(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, int | float) and not isinstance(c, bool)) for c in cells)


def table(title: str, columns: list[Column | str], rows: list[list[Any]]) -> Any:
    """Numbers right-aligned, text left-aligned; the first column (or those marked) is a key
    and is never shortened (cli_edge.key_table)."""
    specs = [c if isinstance(c, Column) else Column(c) for c in columns]
    specs = [
        dataclasses.replace(c, justify=c.justify or ("right" if i and _numeric([row[i] for row in rows]) else "left"))
        for i, c in enumerate(specs)
    ]
    return key_table(title, specs, [[fmt(c) for c in row] for row in rows])


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"

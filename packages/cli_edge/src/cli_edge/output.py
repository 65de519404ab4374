"""What commands print: JSON for agents, tables for people, progress on stderr.

Tables follow one rule from the style guide: keys (job ids, snapshot ids, option names) are
never shortened. A `key_table` gives its key columns their full width; when the console is
too narrow it drops the optional columns (lowest priority first), then lets the rest fold,
and only as a last resort renders wider than the console rather than cut a key.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str, sort_keys=False) + "\n")


def console(stderr: bool = False) -> Any:
    """A rich console; in a pipe it is 80 columns wide and prints no colour codes."""
    from rich.console import Console

    return Console(stderr=stderr)


@dataclass(frozen=True)
class Column:
    """A table column. `key`: never shortened. `drop`: may be left out when space is short;
    higher numbers go first. Numbers are right-aligned unless `justify` says otherwise."""

    name: str
    key: bool = False
    drop: int | None = None
    justify: str | None = None


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _as_column(column: Column | str) -> Column:
    return column if isinstance(column, Column) else Column(column)


def key_table(title: str | None, columns: Sequence[Column | str], rows: Sequence[Sequence[Any]], *, width: int | None = None) -> Any:
    """A rich renderable: a table that fits `width` (default: the console's) without cutting
    a key. The first column is a key unless columns say otherwise."""
    from rich.console import Group
    from rich.table import Table

    specs = [_as_column(c) for c in columns]
    if specs and not any(c.key for c in specs):
        specs[0] = Column(specs[0].name, key=True, drop=None, justify=specs[0].justify)
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(specs[i].name), *(len(r[i]) for r in cells)]) for i in range(len(specs))]

    def needed(kept: list[int]) -> int:
        # keys at full width, other columns at least 6 characters, 3 per column of borders
        return sum(widths[i] if specs[i].key else min(widths[i], 6) for i in kept) + 3 * len(kept) + 1

    target = width or console().width
    kept = list(range(len(specs)))
    droppable = sorted((i for i, c in enumerate(specs) if c.drop is not None), key=lambda i: -specs[i].drop)
    while needed(kept) > target and droppable:
        kept.remove(droppable.pop(0))
    table = Table(title=title, title_justify="left")
    for i in kept:
        spec = specs[i]
        numeric = all(_numeric(row[i]) for row in rows) and bool(rows)
        table.add_column(spec.name, justify=spec.justify or ("right" if numeric and i else "left"),
                         no_wrap=spec.key, min_width=widths[i] if spec.key else None, overflow="fold")
    for row in cells:
        table.add_row(*(row[i] for i in kept))
    dropped = [specs[i].name for i in range(len(specs)) if i not in kept]
    render_width = max(target, needed(kept))
    parts: list[Any] = [_Sized(table, render_width)]
    if dropped:
        parts.append(f"(left out for width: {', '.join(dropped)}; --json has every column)")
    return Group(*parts)


def _numeric(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


class _Sized:
    """Renders its table at a fixed width (wider than the console only when keys need it)."""

    def __init__(self, renderable: Any, width: int):
        self.renderable, self.width = renderable, width

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        yield from console.render(self.renderable, options.update(width=self.width))


@contextmanager
def progress(description: str, *, quiet: bool = False) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr (stdout stays clean for --json and ids), fed `(done, total)`.
    `quiet` (or stderr not being a terminal) hides it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console(stderr=True), disable=quiet, transient=True)
    task = bar.add_task(description, total=None)
    with bar:
        yield lambda done, total=None: bar.update(task, completed=done, total=total)

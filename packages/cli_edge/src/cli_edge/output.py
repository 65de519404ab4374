"""What commands print: JSON for agents, tables for people, progress on stderr.

Tables follow one rule from the style guide: keys (job ids, snapshot ids, option names) are
never shortened, and values that read as one token (a status, a date) are never wrapped. A
`key_table` gives those columns their full width; when the console is too narrow it drops the
optional columns (lowest priority first), then lets the rest fold, and only as a last resort
renders wider than the console rather than cut a key. Long ids are shown short (`short_id`:
8 characters, as git does; prefixes resolve), the full values are in `--json`.
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
    """A table column. `key`: never shortened. `whole`: never wrapped (a status, a date), so
    it keeps its full width like a key. `drop`: may be left out when space is short; higher
    numbers go first. Numbers are right-aligned unless `justify` says otherwise."""

    name: str
    key: bool = False
    drop: int | None = None
    justify: str | None = None
    whole: bool = False

    @property
    def unbroken(self) -> bool:
        return self.key or self.whole


FOLDED = 10
"""The narrowest a foldable column gets before optional columns are left out: narrower, a
name breaks over more lines than a reader can follow."""

SHORT_ID = 8
"""Characters of a job id shown in tables: as git shortens commits (a prefix resolves)."""


def short_id(job_id: str | None) -> str:
    return (job_id or "")[:SHORT_ID]


def short_time(timestamp: str | None) -> str:
    """An ISO timestamp to the minute, readable in a table: `2026-12-07 05:33`."""
    return (timestamp or "")[:16].replace("T", " ")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _as_column(column: Column | str) -> Column:
    return column if isinstance(column, Column) else Column(column)


def key_table(title: str | None, columns: Sequence[Column | str], rows: Sequence[Sequence[Any]]) -> KeyTable:
    """A rich renderable: a table that fits the console it is printed on without cutting a
    key. The first column is a key unless columns say otherwise."""
    specs = [_as_column(c) for c in columns]
    if specs and not any(c.key for c in specs):
        specs[0] = Column(specs[0].name, key=True, drop=None, justify=specs[0].justify, whole=specs[0].whole)
    return KeyTable(title, specs, rows)


class KeyTable:
    """Chooses its columns when rendered, for the width it is given (see `key_table`)."""

    def __init__(self, title: str | None, specs: list[Column], rows: Sequence[Sequence[Any]]):
        self.title, self.specs, self.rows = title, specs, rows
        self.cells = [[_cell(v) for v in row] for row in rows]
        self.widths = [max([len(spec.name), *(len(r[i]) for r in self.cells)]) for i, spec in enumerate(specs)]

    def _needed(self, kept: list[int]) -> int:
        # keys and whole values at full width, other columns at least FOLDED characters, 3 per column of borders
        return (
            sum(self.widths[i] if self.specs[i].unbroken else min(self.widths[i], FOLDED) for i in kept)
            + 3 * len(kept)
            + 1
        )

    def columns_for(self, width: int) -> list[int]:
        """The columns kept at `width`: optional ones leave, highest `drop` first."""
        kept = list(range(len(self.specs)))
        droppable = sorted(
            (i for i, c in enumerate(self.specs) if c.drop is not None), key=lambda i: -(self.specs[i].drop or 0)
        )
        while self._needed(kept) > width and droppable:
            kept.remove(droppable.pop(0))
        return kept

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.table import Table

        kept = self.columns_for(options.max_width)
        table = Table(title=self.title, title_justify="left")
        for i in kept:
            spec = self.specs[i]
            numeric = bool(self.rows) and all(_numeric(row[i]) for row in self.rows)
            table.add_column(
                spec.name,
                justify=spec.justify or ("right" if numeric and i else "left"),  # type: ignore[arg-type]  # rich types it as a Literal of these
                no_wrap=spec.unbroken,
                min_width=self.widths[i] if spec.unbroken else None,
                overflow="fold",
            )
        for row in self.cells:
            table.add_row(*(row[i] for i in kept))
        # wider than the console only when the keys alone need it: a key is never cut
        yield from console.render(table, options.update(width=max(options.max_width, self._needed(kept))))
        dropped = [self.specs[i].name for i in range(len(self.specs)) if i not in kept]
        if dropped:
            yield from console.render(f"(left out for width: {', '.join(dropped)}; --json has every column)", options)


def _numeric(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


@contextmanager
def progress(description: str, *, quiet: bool = False) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr (stdout stays clean for --json and ids), fed `(done, total)`.
    `quiet` (or stderr not being a terminal) hides it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        disable=quiet,
        transient=True,
    )
    task = bar.add_task(description, total=None)
    with bar:
        yield lambda done, total=None: bar.update(task, completed=done, total=total)

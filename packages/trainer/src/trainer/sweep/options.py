"""`trainer fit` options as a sweep sees them (`training.options` is the one table): the ones
it may search, the ones it may only fix, and where the job of the others is done instead.

`tests/trainer/test_sweep_space.py` checks that every `trainer fit` option is one or the
other, so a new option cannot be forgotten."""

from __future__ import annotations

import difflib

from trainer.errors import ConfigError
from trainer.training.options import COMMAND_OPTIONS, FIT_OPTION_TABLE, FitOption


class SpaceError(ConfigError):
    """A search space (file, `--set`, `--snapshot` list) that cannot be used; the message
    names where and the entry."""


SWEPT: dict[str, FitOption] = {o.name: o for o in FIT_OPTION_TABLE if o.swept}
"""The options a sweep may set (search over, or fix for every trial)."""

NOT_SWEPT: dict[str, str] = {**{o.name: str(o.not_swept) for o in FIT_OPTION_TABLE if not o.swept}, **COMMAND_OPTIONS}
"""`trainer fit` options that are not hyperparameters, and where their job is done instead."""

FIXED_ONLY: dict[str, str] = {o.name: o.fixed_only for o in FIT_OPTION_TABLE if o.fixed_only}
"""Options a sweep may set for every trial but not search over."""


def option(name: str, where: str) -> FitOption:
    """The option an entry names (`lr`, `--warmup-ratio` and `warmup-ratio` alike)."""
    key = name.strip().removeprefix("--").replace("-", "_")
    if key in SWEPT:
        return SWEPT[key]
    if key in NOT_SWEPT:
        raise SpaceError(f"{where}: {key!r} is a `trainer fit` option but not a hyperparameter: {NOT_SWEPT[key]}")
    close = difflib.get_close_matches(key, [*SWEPT, "learning_rate"], n=1)
    hint = f"did you mean {'lr' if close == ['learning_rate'] else close[0]}? " if close else ""
    raise SpaceError(
        f"{where}: {name!r} is not a `trainer fit` option ({hint}options a sweep can set: {', '.join(sorted(SWEPT))})"
    )

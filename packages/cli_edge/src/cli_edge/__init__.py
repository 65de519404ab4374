"""The command-line edge shared by `mstore`, `dsb` and `trainer`.

A command parses its options, calls one domain function through `run_or_exit`, and renders
the result with `print_json` or `key_table`. Nothing here imports a receipt-ml package (each
CLI imports this one), so it can sit under all three without cycles:

- `app`: `new_app()`, a Typer app whose `--help` is plain text that never cuts an option name;
- `options`: the shared options (`--json`, `--root`, the table connection) and `store_options`;
- `errors`: exit codes and the one map from domain errors to them (`run_or_exit`, `fail`);
- `output`: JSON, consoles, `key_table` (keys never shortened) and `progress`.
"""

from .app import new_app
from .errors import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    exit_code_for,
    exit_on_error,
    fail,
    run_or_exit,
)
from .options import DEFAULT_USER, JsonOpt, RootOpt, TableConnection, current_user, store_options
from .output import SHORT_ID, Column, console, key_table, print_json, progress, short_id, short_time

__all__ = [
    "DEFAULT_USER",
    "EXIT_CODES",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "Column",
    "JsonOpt",
    "RootOpt",
    "TableConnection",
    "console",
    "current_user",
    "exit_code_for",
    "exit_on_error",
    "fail",
    "key_table",
    "new_app",
    "print_json",
    "progress",
    "run_or_exit",
    "store_options",
    "SHORT_ID",
    "short_id",
    "short_time",
]

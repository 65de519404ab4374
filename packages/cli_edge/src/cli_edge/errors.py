"""Exit codes, and the one place where domain errors become `error: <one line>` and a code.

Domain packages raise their own typed errors (metrics_store.StoreError, dataset_builder's
SnapshotError and ConfigError, trainer's FitError...). `EXIT_CODES` names them by qualified
class name, so this module imports none of those packages; `tests/test_cli_edge.py` checks
that every name is where its class is defined (an alias would never match). Anything not in
the map is a bug and keeps its traceback: a broad `except ValueError` would hide bugs behind a tidy message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem: a contract failed, a file was modified
EXIT_ERROR = 2  # the command could not do what was asked: bad option, missing table or snapshot
EXIT_INTERRUPTED = 130  # stopped by a signal, cleanly; resumable (a shell's SIGINT code)

EXIT_CODES: dict[str, int] = {
    # metrics_store: the table cannot be reached or used as asked
    "metrics_store.errors.StoreError": EXIT_ERROR,
    # dataset_builder: one base; the two that mean "ran, and found a problem" are 1
    "dataset_builder.errors.DatasetBuilderError": EXIT_ERROR,
    "dataset_builder.snapshot.SnapshotCorrupted": EXIT_FAILED,
    "dataset_builder.build.ContractGateFailed": EXIT_FAILED,
    # trainer
    "trainer.errors.TrainerError": EXIT_ERROR,
    "trainer.errors.TrainingDiverged": EXIT_FAILED,  # the run started and failed: recorded as `failed`
    # files named by an option
    "builtins.FileNotFoundError": EXIT_ERROR,
}


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of the most specific mapped class in the error's MRO, or None (a bug)."""
    for cls in type(exc).__mro__:
        code = EXIT_CODES.get(_qualified(cls))
        if code is not None:
            return code
    return None


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print `error: <message>` in red on stderr and exit with `code`."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Inside: a mapped error becomes `error: <one line>` and its exit code; others propagate."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        fail(_one_line(exc), code)


def run_or_exit(action: Callable[[], T]) -> T:
    """Run a command's domain call under `exit_on_error`."""
    with exit_on_error():
        return action()
    raise AssertionError("unreachable")  # for type checkers: exit_on_error never swallows


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return " ".join(text.split())

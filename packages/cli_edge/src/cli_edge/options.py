"""Options more than one CLI takes, declared once.

`store_options(StoreConfig)` adds the table connection options (`--table`, `--endpoint-url`,
`--region`, `--profile`, each with its environment variable) to a command and hands the
command one built config instead of four strings. The config class is passed in (this
package imports no receipt-ml package) and its dataclass defaults are the options' defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
RootOpt = Annotated[
    str,
    typer.Option("--root", envvar="RECEIPT_ML_SNAPSHOT_ROOT", help="Snapshot root: a folder, or s3://bucket/prefix."),
]
DEFAULT_ROOT = "snapshots"
DEFAULT_USER = "receipt-ml"
"""Who started a job when nobody can be named (the user's client refuses an empty `created_by`)."""


def current_user() -> str:
    """Who runs this command, for a job's `created_by`: $USER, else the login name of this
    process's user (containers, CI and SageMaker often have no $USER), else `receipt-ml`."""
    import getpass
    import os

    try:
        return os.environ.get("USER") or getpass.getuser() or DEFAULT_USER
    except Exception:  # noqa: BLE001 - no passwd entry for this uid: a name is still owed
        return DEFAULT_USER


@dataclasses.dataclass(frozen=True)
class _ConnectionOption:
    field: str
    flag: str
    envvar: str
    help: str


TableConnection = (
    _ConnectionOption("table", "--table", "RECEIPT_ML_TABLE", "DynamoDB table name."),
    _ConnectionOption(
        "endpoint_url",
        "--endpoint-url",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "DynamoDB endpoint URL, e.g. DynamoDB Local's http://127.0.0.1:8000 (default: AWS's own).",
    ),
    _ConnectionOption("region", "--region", "AWS_REGION", "AWS region (default: the profile's, else us-east-1)."),
    _ConnectionOption(
        "profile", "--profile", "AWS_PROFILE", "AWS credentials profile (default: the environment's credentials)."
    ),
)
"""The connection options, in the order they appear in `--help`."""


def store_options(config_cls: type, *, param: str = "store") -> Callable[[F], F]:
    """Decorator: replace the command's `param` argument by the connection options and call
    the command with `param=config_cls(table=..., endpoint_url=..., region=..., profile=...)`."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_cls)}

    def decorate(command: F) -> F:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command, include_extras=True)  # resolve `from __future__` strings
        signature = signature.replace(
            parameters=[p.replace(annotation=hints.get(n, p.annotation)) for n, p in signature.parameters.items()]
        )
        if param not in signature.parameters:
            raise TypeError(f"{command.__name__} has no parameter {param!r} for the connection config")
        added = [
            inspect.Parameter(
                f"_conn_{option.field}",
                inspect.Parameter.KEYWORD_ONLY,
                default=defaults[option.field],
                annotation=Annotated[
                    str if defaults[option.field] is not None else str | None,
                    typer.Option(
                        option.flag,
                        envvar=option.envvar,
                        help=option.help,
                        show_default=defaults[option.field] is not None,
                    ),
                ],
            )
            for option in TableConnection
        ]
        kept = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for name, p in signature.parameters.items() if name != param
        ]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {option.field: kwargs.pop(f"_conn_{option.field}") for option in TableConnection}
            return command(**kwargs, **{param: config_cls(**values)})

        wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]  # read by typer
        wrapper.__annotations__ = {p.name: p.annotation for p in (*kept, *added)}
        del wrapper.__wrapped__  # typer must read the new signature, not the command's
        return wrapper  # type: ignore[return-value]  # a command with other parameters, as typer sees it

    return decorate

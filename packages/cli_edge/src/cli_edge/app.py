"""One way to make a Typer app, so every CLI's help reads the same in a terminal and a pipe."""

from __future__ import annotations

from typing import Any

import typer

# Rich's help panels cut option names to fit (`--early-stopping-pa…` at 80 columns); click's
# plain formatter never does: a long option takes its own line and the description wraps.
HELP_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def new_app(help: str, **kwargs: Any) -> typer.Typer:
    """A Typer app with plain-text help, `-h`, and no help-less empty invocations."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(
        help=help,
        rich_markup_mode=None,
        context_settings=HELP_SETTINGS,
        pretty_exceptions_show_locals=False,
        **kwargs,
    )

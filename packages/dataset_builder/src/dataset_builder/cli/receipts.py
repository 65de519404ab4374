"""`dsb receipts ...`: put receipts into the table (synthetic or imported)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Put receipts into the table: generate synthetic ones or import a JSONL file.", no_args_is_help=True)

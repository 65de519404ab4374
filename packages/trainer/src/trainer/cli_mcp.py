"""`trainer mcp`: serve the table's runs, snapshots, sweeps and reviews to AI agents over the
Model Context Protocol (read-only). The MCP SDK loads only when the command runs."""

from __future__ import annotations

from typing import Annotated

import typer

from cli_edge import fail, store_options
from cli_edge.options import DEFAULT_ROOT, RootOpt
from metrics_store import StoreConfig


def mcp_command(
    store: StoreConfig,
    root: RootOpt = DEFAULT_ROOT,
    http: Annotated[str | None, typer.Option(help="Serve streamable HTTP at HOST:PORT (URL http://HOST:PORT/mcp) instead of stdio.")] = None,
) -> None:
    """Serve runs, snapshots, sweeps and reviews as MCP tools, resources and prompts (stdio by
    default). Read-only: its table connection refuses every write; each tool returns the JSON
    of the `--json` command it names."""
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        fail("trainer mcp needs the MCP SDK: pip install 'receipt-ml-trainer[mcp]' (bash scripts/setup.sh installs it)")
    from .cli import _absolute
    from .mcp.session import Session

    session = Session(store, _absolute(root))
    if http is None:
        from .mcp.server import serve_stdio

        serve_stdio(session)
        return
    host, _, port = http.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--http {http!r}: give HOST:PORT, e.g. 127.0.0.1:8765")
    from .mcp.server import serve_http

    typer.secho(f"receipt-ml MCP server: http://{host}:{port}/mcp (table {store.table}, snapshots {session.root})", err=True)
    serve_http(session, host.strip("[]"), int(port))


def add_mcp(app: typer.Typer) -> None:
    """Register `mcp` on the trainer app."""
    app.command("mcp")(store_options(StoreConfig)(mcp_command))

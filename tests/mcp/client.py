"""An MCP client (the SDK's own) held open across synchronous tests: `trainer mcp` started as a
subprocess over stdio, or reached over streamable HTTP; and the same answers from the CLIs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from anyio.from_thread import start_blocking_portal
from typer.testing import CliRunner

from metrics_store import StoreConfig
from tests.conftest import REPO_ROOT

VOLATILE = frozenset({"heartbeat_age_seconds", "observed_at", "elapsed_seconds", "eta_seconds", "eta_at"})
"""Fields computed from the clock at the moment of asking: equal answers differ in them."""


def server_env(config: StoreConfig, **extra: str) -> dict[str, str]:
    """The connection environment a user's MCP client config would give the server."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "HF_HUB_OFFLINE", "TMPDIR", "LANG")}
    return {**keep, "AWS_ENDPOINT_URL_DYNAMODB": str(config.endpoint_url), "RECEIPT_ML_TABLE": config.table, "AWS_REGION": "us-east-1",
            "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **extra}


class McpClient:
    """`with McpClient(...) as mcp: mcp.call("runs_list", {})`: one server for many calls."""

    def __init__(self, env: dict[str, str], *args: str, url: str | None = None, errlog: Path | None = None):
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters, stdio_client

        self._portal_cm = start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        self._errlog = errlog.open("w") if errlog else sys.stderr
        if url:
            target: Any = url
        else:
            params = StdioServerParameters(command=sys.executable, args=["-m", "trainer.cli", "mcp", *args], env=env, cwd=str(REPO_ROOT))
            target = stdio_client(params, errlog=self._errlog)
        self._client_cm = self.portal.wrap_async_context_manager(Client(target, cache=None, read_timeout_seconds=120))
        self.client = self._client_cm.__enter__()

    def __enter__(self) -> McpClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._client_cm.__exit__(None, None, None)
        self._portal_cm.__exit__(None, None, None)
        if self._errlog is not sys.stderr:
            self._errlog.close()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.portal.call(lambda: getattr(self.client, method)(*args, **kwargs))

    def list_tools(self) -> list[Any]:
        return self._call("list_tools").tools

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """The raw CallToolResult."""
        return self._call("call_tool", name, arguments or {})

    def structured(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self.call(name, arguments)
        assert not result.is_error, result.content[0].text
        return result.structured_content

    def list_resources(self) -> list[Any]:
        return self._call("list_resources").resources

    def list_resource_templates(self) -> list[Any]:
        return self._call("list_resource_templates").resource_templates

    def read_resource(self, uri: str) -> Any:
        return self._call("read_resource", uri)

    def list_prompts(self) -> list[Any]:
        return self._call("list_prompts").prompts

    def get_prompt(self, name: str, arguments: dict[str, str]) -> Any:
        return self._call("get_prompt", name, arguments)


def cli_json(config: StoreConfig, cli: str, *args: str) -> Any:
    """`trainer ... --json` or `dsb ... --json`, in this process, as a user runs it."""
    if cli == "trainer":
        from trainer.cli import app
    else:
        from dataset_builder.cli import app
    result = CliRunner().invoke(app, [*args, "--json"], env=server_env(config))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def steady(value: Any) -> Any:
    """`value` without the fields that change with the clock."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


def run_async(fn: Any) -> Any:
    return anyio.run(fn)

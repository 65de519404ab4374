"""The MCP SDK glue (the `mcp` package, 2.x, low-level `Server`): list and call the tools, read
the resources, get the prompts; serve over stdio or streamable HTTP.

Errors, as the protocol separates them: arguments that break a tool's input schema, an unknown
tool or a foreign cursor are protocol errors (`INVALID_PARAMS`); a domain error (an unknown
job, with the closest ones; a table that is down, naming the endpoint; a snapshot not found)
is a tool result with `isError` and that one line, for the model to read and act on; anything
else is a bug: its traceback goes to the server's stderr, the client gets `INTERNAL_ERROR` with
one line. Domain calls are blocking (boto3), so each runs in a worker thread."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.shared.exceptions import MCPError

from cli_edge import exit_code_for
from metrics_store import JobNotFound

from . import prompts, resources, tools
from .session import Session

log = logging.getLogger("trainer.mcp")
INSTRUCTIONS = (
    "Read-only access to receipt-ml's training runs, dataset snapshots, sweeps and label reviews in one DynamoDB table. Start with "
    f"the resource {resources.CONTEXT_URI} (infrastructure, latest config, history, dataset, active runs). Every tool returns the "
    "same JSON as the `--json` command it names; verdicts are deterministic functions of recorded numbers, with their evidence. "
    "Jobs are named by id, unique id prefix (8+ characters) or name. Long lists come in pages: pass `page.next_cursor` as `cursor`."
)


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


def _domain_error(session: Session, exc: BaseException) -> str:
    text = _one_line(exc)
    if isinstance(exc, JobNotFound):
        try:
            near = tools.closest_jobs(session, exc.job_id)
        except Exception:  # noqa: BLE001 - the listing is a hint; the error itself still stands
            near = []
        text += f"; closest: {'; '.join(near)}" if near else "; the table has no job close to it (`runs_list` lists them)"
    return text


def _run(session: Session, call: Any, what: str) -> Any:
    """A call in a worker thread: bad arguments become `INVALID_PARAMS`, mapped domain errors a
    `DomainError`, anything else `INTERNAL_ERROR` (the traceback stays in the server's log)."""
    try:
        return call()
    except (tools.ArgumentError, resources.UnknownResource) as exc:
        raise MCPError(types.INVALID_PARAMS, _one_line(exc)) from None
    except Exception as exc:
        if exit_code_for(exc) is None:
            log.exception("%s failed", what)
            raise MCPError(types.INTERNAL_ERROR, f"internal error in {what}: {type(exc).__name__}: {_one_line(exc)} "
                                                 "(the server's stderr has the traceback)") from None
        raise DomainError(_domain_error(session, exc)) from exc


class DomainError(Exception):
    """A mapped domain error, as the one line an agent reads."""


def build_server(session: Session) -> Server:
    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, title=t.title, description=f"{t.description} Same JSON as `{t.cli}`.", input_schema=t.input_schema,
                       output_schema=t.output_schema, annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                                                                        idempotent_hint=True, open_world_hint=False))
            for t in tools.TOOLS])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = dict(params.arguments or {})
        try:
            answer = await anyio.to_thread.run_sync(lambda: _run(session, lambda: tools.call(session, params.name, args), params.name))
        except DomainError as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"error: {exc}")], is_error=True)
        content: list[Any] = [types.TextContent(type="text", text=json.dumps(answer.structured))]
        content += [types.ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png")
                    for png in answer.images.values()]
        return types.CallToolResult(content=content, structured_content=answer.structured)

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        listed = [types.Resource(name="agent-context", title="Agent context", uri=resources.CONTEXT_URI, mime_type="text/markdown",
                                 description="Infrastructure, latest config, history summary, dataset statistics, active runs")]
        try:
            reports = await anyio.to_thread.run_sync(lambda: _run(session, lambda: resources.recent_reports(session), "resources/list"))
        except DomainError as exc:
            log.warning("run reports not listed: %s", exc)
            reports = []
        listed += [types.Resource(mime_type="application/json", **r) for r in reports]
        return types.ListResourcesResult(resources=listed)

    async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
            name="run-report", title="Run report", uri_template=resources.REPORT_TEMPLATE, mime_type="application/json",
            description="The diagnoses of one run (`trainer runs report JOB --json`); JOB is an id, id prefix or name")])

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            text, mime = await anyio.to_thread.run_sync(lambda: _run(session, lambda: resources.read(session, uri), f"resource {uri}"))
        except DomainError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])

    async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[
            types.Prompt(name=p.name, title=p.title, description=p.description,
                         arguments=[types.PromptArgument(name=a.name, description=a.description, required=a.required) for a in p.arguments])
            for p in prompts.PROMPTS])

    async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        prompt = prompts.BY_NAME.get(params.name)
        if prompt is None:
            raise MCPError(types.INVALID_PARAMS, f"no prompt {params.name!r}; the prompts are {', '.join(prompts.BY_NAME)}")
        try:
            text = prompt.render(dict(params.arguments or {}))
        except ValueError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        return types.GetPromptResult(description=prompt.description,
                                     messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))])

    from importlib import metadata

    return Server("receipt-ml", version=metadata.version("receipt-ml-trainer"), title="receipt-ml training runs",
                  instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
                  on_list_resource_templates=list_templates, on_read_resource=read_resource, on_list_prompts=list_prompts,
                  on_get_prompt=get_prompt)


def serve_stdio(session: Session) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(session)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def serve_http(session: Session, host: str, port: int) -> None:
    """Streamable HTTP at http://HOST:PORT/mcp (DNS-rebinding protection on for local hosts)."""
    import uvicorn

    app = build_server(session).streamable_http_app(host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")

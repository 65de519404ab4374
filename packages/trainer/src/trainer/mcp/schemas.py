"""The JSON schemas of the tools: outputs are the `--json` schemas of docs/schemas/ (the
snapshot manifest's comes from its pydantic model), inputs are built here. A paged tool's output
schema gains `page`, present only when an answer was cut into pages."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

SCHEMA_DIRS = (Path(__file__).parent / "schemas", Path(__file__).resolve().parents[5] / "docs" / "schemas")
"""Packaged copies first (a wheel build may place docs/schemas there), else the repository's."""

PAGE = {"type": "object", "required": ["field", "offset", "size", "total", "next_cursor"], "additionalProperties": False,
        "description": "present only when the answer was cut into pages: pass next_cursor back as `cursor` for the next one",
        "properties": {"field": {"type": "string"}, "offset": {"type": "integer"}, "size": {"type": "integer"}, "total": {"type": "integer"},
                       "next_cursor": {"type": ["string", "null"]}}}
PAGING_ARGS = {
    "cursor": {"type": "string", "description": "next_cursor of the previous page (omit for the first page)"},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 500, "description": "items per page"},
}


class SchemaMissing(RuntimeError):
    """The docs/schemas folder is not where the server looks: an install without it."""


@functools.cache
def output_schema(name: str) -> dict[str, Any]:
    """The schema a tool's structured content follows (docs/schemas/<name>.json)."""
    if name == "snapshot_manifest":
        from dataset_builder.manifest import Manifest

        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "dsb snapshot show --json",
                **Manifest.model_json_schema(mode="serialization")}
    for folder in SCHEMA_DIRS:
        path = folder / f"{name}.json"
        if path.is_file():
            return json.loads(path.read_text())
    raise SchemaMissing(f"schema {name}.json is in none of {', '.join(map(str, SCHEMA_DIRS))}: install from a checkout of receipt-ml")


def wrapped(name: str, key: str) -> dict[str, Any]:
    """An object holding a `--json` document that is not an object (MCP structured content must be one)."""
    inner = {k: v for k, v in output_schema(name).items() if k not in ("$schema", "$id")}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": [key], "additionalProperties": False,
            "properties": {key: inner}}


def with_page(schema: dict[str, Any]) -> dict[str, Any]:
    paged = copy.deepcopy(schema)
    paged.setdefault("properties", {})["page"] = PAGE
    return paged


def input_schema(properties: dict[str, Any], required: tuple[str, ...] = (), paged: bool = False) -> dict[str, Any]:
    props = {**properties, **(PAGING_ARGS if paged else {})}
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}

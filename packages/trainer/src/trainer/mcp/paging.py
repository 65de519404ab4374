"""Long answers in pages: a tool with a list field returns `page_size` items of it at a time,
plus `page.next_cursor`, instead of cutting the answer. The cursor is opaque to the agent: the
tool, the arguments it was made for and the offset, so a cursor from another question is refused."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any


class BadCursor(ValueError):
    """A cursor this tool did not make for these arguments."""


def _fingerprint(tool: str, args: dict[str, Any]) -> str:
    asked = {k: v for k, v in sorted(args.items()) if k not in ("cursor", "page_size")}
    return hashlib.sha256(json.dumps([tool, asked], sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(tool: str, args: dict[str, Any], offset: int) -> str:
    raw = json.dumps({"t": tool, "f": _fingerprint(tool, args), "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(tool: str, args: dict[str, Any], cursor: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = int(data["o"])
        matches = data["t"] == tool and data["f"] == _fingerprint(tool, args) and offset >= 0
    except (ValueError, KeyError, TypeError):
        raise BadCursor(f"cursor {cursor[:20]!r} is not one {tool} gave") from None
    if not matches:
        raise BadCursor(f"cursor {cursor[:20]!r} was made by {data.get('t')} for other arguments: ask again without it")
    return offset


def page(tool: str, args: dict[str, Any], payload: dict[str, Any], field: str, default_size: int) -> dict[str, Any]:
    """`payload` with `field` cut to one page; unchanged (no `page`) when it fits and no cursor was given."""
    items = payload[field]
    size = int(args.get("page_size") or default_size)
    offset = decode(tool, args, args["cursor"]) if args.get("cursor") else 0
    if offset == 0 and len(items) <= size:
        return payload
    end = offset + size
    following = encode(tool, args, end) if end < len(items) else None
    return {**payload, field: items[offset:end],
            "page": {"field": field, "offset": offset, "size": size, "total": len(items), "next_cursor": following}}

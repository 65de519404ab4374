"""Python values <-> DynamoDB attribute values (the low-level `{"S": ...}` wire form).

Written by hand rather than with boto3's TypeSerializer because the rules are ours:
floats become exact decimal strings (not binary-float noise), non-finite floats are refused
with the path of the bad value, and on read integral numbers come back as `int`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .errors import InvalidValue

MAX_ITEM_BYTES = 400 * 1024

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


def _number_string(value: int | float | Decimal, path: str) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{path}: non-finite number {value!r} cannot be stored in DynamoDB")
        # repr() is the shortest string that round-trips to the same float.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidValue(f"{path}: non-finite number {value!r} cannot be stored in DynamoDB")
        return str(value)
    return str(int(value))


def to_attribute(value: Any, path: str = "value") -> AttributeValue:
    """Encode one Python value; `path` names it in errors (e.g. `results.best_f1`)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": _number_string(value, path)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v, f"{path}.{k}") for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    # numpy scalars and the like: accept anything that converts to float cleanly.
    if hasattr(value, "item"):
        return to_attribute(value.item(), path)
    raise InvalidValue(f"{path}: cannot store a value of type {type(value).__name__}")


def _parse_number(text: str) -> int | float:
    """Integral numbers come back as int, the rest as float (DynamoDB keeps no type)."""
    return float(text) if any(c in text for c in ".eE") else int(text)


def from_attribute(attribute: AttributeValue) -> Any:
    ((kind, raw),) = attribute.items()
    if kind == "S":
        return raw
    if kind == "N":
        return _parse_number(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute(v) for k, v in raw.items()}
    if kind == "L":
        return [from_attribute(v) for v in raw]
    if kind == "B":
        return bytes(raw)
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {_parse_number(v) for v in raw}
    raise InvalidValue(f"unsupported DynamoDB attribute type {kind!r}")


def encode_item(fields: Mapping[str, Any], *, write_nulls: bool) -> Item:
    """Encode a flat mapping into an item. `write_nulls=False` omits None fields (job
    entities); `True` writes them as NULL (vision entities), as the reference layout does."""
    item: Item = {}
    for name, value in fields.items():
        if value is None and not write_nulls:
            continue
        item[name] = to_attribute(value, name)
    return item


def decode_item(item: Mapping[str, AttributeValue]) -> dict[str, Any]:
    return {name: from_attribute(value) for name, value in item.items()}


def _attribute_size(attribute: AttributeValue) -> int:
    ((kind, raw),) = attribute.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        # DynamoDB: up to 21 bytes; roughly one byte per two significant digits plus one.
        return min(21, (len(raw.lstrip("-").replace(".", "")) + 1) // 2 + 1)
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + _attribute_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_attribute_size(v) + 1 for v in raw)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v)) for v in raw)
    return len(str(raw))


def item_size(item: Item) -> int:
    """Size of an item by DynamoDB's accounting (names + values; maps/lists with overhead).
    Slightly conservative, so an item that passes here passes on AWS."""
    return sum(len(name.encode("utf-8")) + _attribute_size(value) for name, value in item.items())

"""Record <-> item, derived from the record's dataclass fields.

Hand-written `to_item()`/`from_item()` pairs, one per record type, were near copies that had
to agree by hand. Here the default is one attribute per dataclass field, named like the field;
a record declares only what differs, and `Record` encodes and decodes. The layout itself
(docs/table_layout.md) is the contract with the user's table; tests/metrics_store/
test_record_layout.py pins it item by item.

How to add a record type
------------------------
1. Write a frozen, slotted dataclass deriving from `Record` (from `JobRecord` for an entity
   under `JOB#<job_id>`), with `TYPE` and its fields; validations go in `__post_init__`.
2. `item_keys()`: return PK, SK and the GSI keys, built with `metrics_store.keys`.
3. `LAYOUT = Layout(write_nulls=...)`: True where absent optionals are written as NULL
   (vision entities), False where they are omitted (job entities). Then only what applies:
   `key_only` for fields kept in the keys and not as attributes, `flattened` for a field
   spread over several attributes (a type with `to_fields()` / `from_fields(attributes)`),
   `read_defaults` for what a required field reads as when an older item lacks it,
   `whole_numbers` for numbers the user's client reads as integers (see below).
4. Fields held in the keys: `fields_from_keys(pk, sk)` parses them back.
5. `check_writable()`: refuse, by key, what the user's client (`receipt_dynamo`) would refuse to
   read (an empty `created_by`, a resource id that is not a UUID...). It runs on every
   `to_item()`, never on `from_item()`: we write only what their client reads, and read
   whatever anyone wrote.
6. Add the class to `RECORD_TYPES` in `records/__init__.py`, and two literal cases (all
   fields set, required only) to tests/metrics_store/layout_cases_*.py.

Whole numbers
-------------
The user's client reads some numbers as integers (`int(item["epoch"]["N"])`), while our runs
have fractional epochs (a logging step at epoch 0.5). A field named in `whole_numbers` is
written as its floor, the way the user's previous trainer wrote it (`int(state.epoch)`), and,
when it has a fraction, exactly again in `<field>_exact`, an attribute their client ignores;
reading prefers `<field>_exact`.

Reading rules (the tolerance the hand-written readers had)
----------------------------------------------------------
- A present attribute wins; it is passed through `int`, `bool` or `list` when the field is
  declared so (DynamoDB numbers carry no int/float distinction: `864.0` is a valid width).
- An attribute that is missing or NULL, or an empty string where the field has a fallback
  (readers used to write `priority or "medium"`), takes the fallback: the value parsed from
  the keys, else the read default, else the dataclass default. A required field with none of
  these raises KeyError when its attribute is missing, and reads None when it is NULL.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ..codec import Item, decode_item, encode_item

MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Layout:
    """How a record's item departs from one attribute per field."""

    write_nulls: bool
    key_only: tuple[str, ...] = ()
    flattened: Mapping[str, type] = field(default_factory=dict)
    read_defaults: Mapping[str, Any] = field(default_factory=dict)
    whole_numbers: tuple[str, ...] = ()


EXACT_SUFFIX = "_exact"


@dataclass(frozen=True)
class _FieldRule:
    """How one field is stored and read, worked out once per record type from its Layout."""

    name: str
    key_only: bool
    flattened: type | None
    coerce: Callable[[Any], Any] | None
    default: Any  # MISSING when a required field has no read default
    default_factory: Callable[[], Any] | None

    def fallback(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def _coercion(hint: Any) -> Callable[[Any], Any] | None:
    if hint in (int, bool):
        return hint
    return list if typing.get_origin(hint) is list else None


@functools.cache
def _field_rules(cls: type) -> tuple[_FieldRule, ...]:
    """The field rules of a record type; refuses a Layout that names fields it lacks, so a
    typo fails the first encode or decode instead of silently changing the layout."""
    layout: Layout = cls.LAYOUT
    fields = dataclasses.fields(cls)
    unknown = {*layout.key_only, *layout.flattened, *layout.read_defaults, *layout.whole_numbers} - {
        f.name for f in fields
    }
    if unknown:
        raise TypeError(f"{cls.__name__}.LAYOUT names fields it does not have: {sorted(unknown)}")
    hints = typing.get_type_hints(cls)
    rules = []
    for f in fields:
        if f.name in layout.read_defaults:
            default, factory = layout.read_defaults[f.name], None
        else:
            default = f.default
            factory = None if f.default_factory is MISSING else f.default_factory
        rules.append(
            _FieldRule(
                f.name,
                f.name in layout.key_only,
                layout.flattened.get(f.name),
                _coercion(hints[f.name]),
                default,
                factory,
            )
        )
    return tuple(rules)


def _absent(value: Any, fallback: Any) -> bool:
    """Missing or NULL; or "" where the field has a fallback, as `x or "medium"` read it."""
    if value is None:
        return True
    return value == "" and fallback is not None and fallback is not MISSING


class Record:
    """Base of every record: `to_item()` and `from_item()` from the dataclass fields."""

    __slots__ = ()
    TYPE: ClassVar[str]
    LAYOUT: ClassVar[Layout]

    def item_keys(self) -> dict[str, str]:
        """PK, SK and the GSI keys of this record's item."""
        raise NotImplementedError(f"{type(self).__name__} must define item_keys()")

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        """Field values parsed back from the keys; the fallback for absent attributes."""
        return {}

    def check_writable(self) -> None:
        """Raise `InvalidValue` (naming the item) for what the user's client cannot read back."""

    def to_item(self) -> Item:
        self.check_writable()
        attributes: dict[str, Any] = {**self.item_keys(), "TYPE": self.TYPE}
        whole = self.LAYOUT.whole_numbers
        for rule in _field_rules(type(self)):
            if rule.key_only:
                continue
            value = getattr(self, rule.name)
            if rule.flattened is not None:
                attributes.update(value.to_fields())
            elif rule.name in whole and value is not None:
                attributes[rule.name] = math.floor(value)
                if value != math.floor(value):
                    attributes[rule.name + EXACT_SUFFIX] = value
            else:
                attributes[rule.name] = value
        return encode_item(attributes, write_nulls=self.LAYOUT.write_nulls)

    @classmethod
    def from_item(cls, item: Item) -> Self:
        attributes = decode_item(item)
        from_keys = cls.fields_from_keys(attributes["PK"], attributes["SK"])
        values: dict[str, Any] = {}
        for rule in _field_rules(cls):
            if rule.flattened is not None:
                values[rule.name] = rule.flattened.from_fields(attributes)
                continue
            value = (
                attributes.get(rule.name + EXACT_SUFFIX, MISSING) if rule.name in cls.LAYOUT.whole_numbers else MISSING
            )
            if value is MISSING or value is None:
                value = attributes.get(rule.name, MISSING)
            fallback = from_keys[rule.name] if rule.name in from_keys else rule.fallback()
            if value is MISSING or _absent(value, fallback):
                if fallback is not MISSING:
                    value = fallback
                elif value is MISSING:
                    raise KeyError(f"{cls.TYPE} item {attributes['PK']}/{attributes['SK']} has no {rule.name!r}")
                # else a NULL with nothing to stand in for it: it reads as None, as it always did
            elif rule.coerce is not None:
                value = rule.coerce(value)
            values[rule.name] = value
        return cls(**values)

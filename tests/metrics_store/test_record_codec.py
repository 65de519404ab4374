"""The generic record codec, through a record type written the way records/codec.py's
docstring says to add one."""

from dataclasses import dataclass
from typing import ClassVar

import pytest

from metrics_store.records import Layout, Record


@dataclass(frozen=True, slots=True)
class Note(Record):
    TYPE: ClassVar[str] = "NOTE"
    LAYOUT: ClassVar[Layout] = Layout(write_nulls=True, key_only=("note_id",), read_defaults={"text": ""})
    note_id: int
    text: str
    count: int = 0
    pinned: bool = False
    author: str | None = None

    def item_keys(self) -> dict[str, str]:
        return {"PK": "NOTES", "SK": f"NOTE#{self.note_id}", "GSI1PK": "NOTE"}

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, object]:
        return {"note_id": int(sk.removeprefix("NOTE#"))}


def test_a_new_record_type_needs_only_its_declarations():
    item = Note(7, "hi", count=2).to_item()
    assert item == {
        "PK": {"S": "NOTES"},
        "SK": {"S": "NOTE#7"},
        "GSI1PK": {"S": "NOTE"},
        "TYPE": {"S": "NOTE"},
        "text": {"S": "hi"},
        "count": {"N": "2"},
        "pinned": {"BOOL": False},
        "author": {"NULL": True},
    }
    assert Note.from_item(item) == Note(7, "hi", count=2)
    assert Note.from_item(
        {"PK": {"S": "NOTES"}, "SK": {"S": "NOTE#8"}, "TYPE": {"S": "NOTE"}, "count": {"N": "3.0"}}
    ) == Note(8, "", count=3)


def test_a_layout_naming_a_field_the_record_lacks_is_refused():
    @dataclass(frozen=True, slots=True)
    class Typo(Record):
        TYPE: ClassVar[str] = "TYPO"
        LAYOUT: ClassVar[Layout] = Layout(write_nulls=False, key_only=("note_ids",))
        note_id: int

        def item_keys(self) -> dict[str, str]:
            return {"PK": "NOTES", "SK": f"TYPO#{self.note_id}"}

    with pytest.raises(TypeError, match=r"Typo.LAYOUT names fields it does not have: \['note_ids'\]"):
        Typo(1).to_item()

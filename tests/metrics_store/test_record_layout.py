"""Characterization of every record type's item layout (the compatibility contract with the
user's production table): each case in layout_cases_*.py must encode to exactly its literal
item and decode back to itself, also through `record_from_item`."""

import pytest

from metrics_store.records import RECORD_TYPES, record_from_item

from .layout_cases_jobs import CASES as JOB_CASES
from .layout_cases_receipts import CASES as RECEIPT_CASES

CASES = {**RECEIPT_CASES, **JOB_CASES}


@pytest.mark.parametrize(("record", "expected"), list(CASES.values()), ids=list(CASES))
def test_item_layout_is_exact(record, expected):
    assert record.to_item() == expected


@pytest.mark.parametrize(("record", "expected"), list(CASES.values()), ids=list(CASES))
def test_item_decodes_to_the_record(record, expected):
    assert type(record).from_item(expected) == record
    assert record_from_item(expected) == record


def test_every_record_type_has_a_full_and_a_required_only_case():
    counts = {kind: 0 for kind in RECORD_TYPES}
    for record, _ in CASES.values():
        counts[record.TYPE] += 1
    assert counts == {kind: 2 for kind in RECORD_TYPES}

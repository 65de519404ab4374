"""Label suggestions on DynamoDB Local: written once, rewritten only by their own proposer while
PENDING, never over a VALID, INVALID or another proposer's item."""

import uuid
from dataclasses import replace

import pytest

from metrics_store import Queries, Store
from metrics_store.suggestions import label_key

from .helpers import label

ME, OTHER = "model:review-a", "model:review-b"


def _all_labels(table) -> dict:
    items, start = {}, None
    while True:
        kw = {"TableName": table.name}
        if start:
            kw["ExclusiveStartKey"] = start
        page = table.client.scan(**kw)
        items.update({(i["PK"]["S"], i["SK"]["S"]): i for i in page["Items"] if i["TYPE"]["S"] == "RECEIPT_WORD_LABEL"})
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def _suggestion(image: str, wid: int, name: str = "MERCHANT_NAME", by: str = ME, reasoning: str = "confidence 0.9"):
    return replace(label(image, wid=wid, name=name, status="PENDING"), label_proposed_by=by, reasoning=reasoning)


def test_suggestions_never_touch_validated_or_foreign_items_and_rewrite_only_their_own(table):
    image = str(uuid.uuid4())
    store = Store(table)
    existing = [
        label(image, wid=1, name="MERCHANT_NAME", status="VALID"),
        label(image, wid=2, name="MERCHANT_NAME", status="INVALID"),
        _suggestion(image, 3, by=OTHER),
        _suggestion(image, 4, by=ME, reasoning="an earlier run"),
        replace(_suggestion(image, 5, by=ME), validation_status="VALID"),  # a person validated our suggestion
        label(image, wid=6, name="ADDRESS_LINE", status="VALID"),
    ]  # same word, another label
    store.put_records(existing)
    before = _all_labels(table)
    suggestions = [_suggestion(image, wid) for wid in range(1, 8)]
    outcome = store.suggestions.put_label_suggestions(suggestions)
    assert {label_key(s) for s in suggestions[5:]} == set(outcome.written)  # words 6 (other label) and 7: no item there
    assert outcome.rewritten == [label_key(suggestions[3])]
    assert set(outcome.left_alone) == {
        label_key(s) for s in (suggestions[0], suggestions[1], suggestions[2], suggestions[4])
    }
    after = _all_labels(table)
    for key in (label_key(s) for s in existing):
        if key != label_key(suggestions[3]):
            assert after[key] == before[key], key  # byte for byte
    assert after[label_key(suggestions[3])]["reasoning"]["S"] == "confidence 0.9"
    assert len(after) == len(before) + 2

    again = store.suggestions.put_label_suggestions(suggestions)  # a rerun writes nothing new
    assert again.written == [] and set(again.rewritten) == {label_key(suggestions[i]) for i in (3, 5, 6)}
    assert _all_labels(table) == after


def test_bad_suggestions_are_refused_before_anything_is_written(table):
    image = str(uuid.uuid4())
    store = Store(table)
    with pytest.raises(ValueError, match="PENDING"):
        store.suggestions.put_label_suggestions([label(image, wid=1, status="VALID")])
    with pytest.raises(ValueError, match="proposer"):
        store.suggestions.put_label_suggestions([label(image, wid=1, status="PENDING")])
    with pytest.raises(ValueError, match="twice"):
        store.suggestions.put_label_suggestions([_suggestion(image, 1), _suggestion(image, 1)])
    assert _all_labels(table) == {}


def test_word_labels_reads_only_the_items_that_exist(table):
    image = str(uuid.uuid4())
    present = [label(image, wid=w, name="DATE") for w in range(1, 131)]  # more than one BatchGetItem (100 keys)
    Store(table).put_records(present)
    wanted = [label_key(p) for p in present] + [label_key(label(image, wid=999, name="DATE"))]
    found = Queries(table).word_labels(wanted)
    assert set(found) == {label_key(p) for p in present}
    assert found[label_key(present[0])] == present[0]

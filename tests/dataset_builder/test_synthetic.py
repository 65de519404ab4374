"""The synthetic receipt generator: deterministic, in the table's conventions, with the label
mix its parameters ask for, and ground truth a model can learn."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import pytest

from dataset_builder import write_bundles
from dataset_builder.labels import CORE_LABELS, LEGACY_ALIASES
from dataset_builder.receipts.synthetic import LEGACY_NAMES, LabelMix, generate_receipts
from metrics_store.queries import Queries
from metrics_store.records import RECORD_TYPES, Geometry


def _labels_by_word(receipt):
    by_word = defaultdict(list)
    for label in receipt.labels:  # generation order: the primary item first
        by_word[(label.line_id, label.word_id)].append(label)
    return by_word


def _close(observed: int, total: int, p: float) -> bool:
    """Within 4.5 binomial standard deviations (plus one count for tiny p)."""
    return abs(observed - total * p) <= 4.5 * math.sqrt(total * p * (1 - p)) + 1


def test_same_seed_gives_same_receipts_and_ids():
    first = list(generate_receipts(7, 12))
    assert first == list(generate_receipts(7, 12))
    assert first[:5] == list(generate_receipts(7, 5)), "receipt i must not depend on n_receipts"
    other = list(generate_receipts(8, 12))
    assert {r.receipt.image_id for r in first}.isdisjoint(r.receipt.image_id for r in other)
    assert len({r.receipt.image_id for r in first}) == 12


def test_ids_and_geometry_follow_the_table_convention():
    for receipt in generate_receipts(21, 60):
        assert receipt.receipt.width > 0 and receipt.receipt.height > 0
        assert receipt.place is None or receipt.place.merchant_name
        assert [line.line_id for line in receipt.lines] == list(range(1, len(receipt.lines) + 1))
        centres = [(line.geometry.top_left.y + line.geometry.bottom_right.y) / 2 for line in receipt.lines]
        assert centres == sorted(centres, reverse=True), "line 1 is the top line (largest y)"
        words_by_line = defaultdict(list)
        for word in receipt.words:
            words_by_line[word.line_id].append(word)
            g = word.geometry
            assert g.top_left.y > g.bottom_left.y and g.top_right.y > g.bottom_right.y, "upright word"
            assert g.top_right.x > g.top_left.x
            points = (g.top_left, g.top_right, g.bottom_left, g.bottom_right)
            assert all(0.0 <= p.x <= 1.0 and 0.0 <= p.y <= 1.0 for p in points)
            assert 0.0 < g.confidence <= 1.0 and abs(g.angle_degrees) <= 2.5
            assert math.isclose(math.radians(g.angle_degrees), g.angle_radians)
        for line in receipt.lines:
            words = words_by_line[line.line_id]
            assert [w.word_id for w in words] == list(range(1, len(words) + 1))
            xs = [w.geometry.top_left.x for w in words]
            assert xs == sorted(xs), "words are numbered left to right"
            assert line.text == " ".join(w.text for w in words)
        word_keys = {(w.line_id, w.word_id) for w in receipt.words}
        assert {(lab.line_id, lab.word_id) for lab in receipt.labels} <= word_keys
        assert set(receipt.truth) == word_keys


def test_label_mix_matches_its_parameters():
    mix = LabelMix(
        status_probabilities={"VALID": 0.6, "INVALID": 0.1, "NEEDS_REVIEW": 0.1, "PENDING": 0.15, "NONE": 0.05},
        legacy_fraction=0.2,
        two_label_fraction=0.1,
        missing_fraction=0.05,
    )
    labelled = missing = two = legacy_eligible = legacy = cards = 0
    statuses: Counter[str] = Counter()
    for receipt in generate_receipts(3, 150, mix):
        by_word = _labels_by_word(receipt)
        for key, truth in receipt.truth.items():
            items = by_word.get(key, [])
            if truth is None:
                assert not items, "an O word gets no label"
                continue
            if not items:
                missing += 1
                continue
            labelled += 1
            primary = items[0]
            statuses[primary.validation_status] += 1
            if primary.validation_status == "INVALID":
                assert primary.label != truth
            else:
                assert primary.label == truth or LEGACY_ALIASES.get(primary.label) == truth
                if truth in LEGACY_NAMES:
                    legacy_eligible += 1
                    legacy += primary.label != truth
                    cards += primary.label == "CARD_NUMBER"
            assert len(items) <= 2
            if len(items) == 2:
                two += 1
                assert items[1].validation_status == "INVALID" and items[1].label not in (truth, primary.label)
    assert _close(missing, missing + labelled, 0.05)
    assert _close(two, labelled, 0.1)
    for status, p in mix.status_probabilities.items():
        assert _close(statuses[status], labelled, p), (status, statuses[status], labelled)
    assert legacy_eligible > 1000 and _close(legacy, legacy_eligible, 0.2)
    assert cards > 5, "card numbers are written under their old name too"


def test_default_mix_is_mostly_valid_with_some_of_everything():
    statuses: Counter[str] = Counter()
    names: Counter[str] = Counter()
    for receipt in generate_receipts(5, 60):
        statuses.update(label.validation_status for label in receipt.labels)
        names.update(label.label for label in receipt.labels)
    assert statuses["VALID"] / sum(statuses.values()) > 0.7
    assert all(statuses[s] > 0 for s in ("INVALID", "NEEDS_REVIEW", "PENDING", "NONE"))
    assert {"ADDRESS", "BUSINESS_NAME"} <= set(names)


@pytest.mark.parametrize(
    "bad",
    [
        {"status_probabilities": {"VALID": 0.5, "INVALID": 0.2}},
        {"status_probabilities": {"VALID": 0.9, "MAYBE": 0.1}},
        {"legacy_fraction": 1.5},
    ],
)
def test_label_mix_refuses_impossible_parameters(bad):
    with pytest.raises(ValueError):
        LabelMix(**bad)


def test_ground_truth_is_consistent_enough_to_learn():
    """Every core label occurs; VALID labels never contradict the truth; every receipt has a
    grand total, and a kind of word (here: the amount on the total row) is VALID mostly."""
    seen: Counter[str] = Counter()
    total_words = total_valid = 0
    for receipt in generate_receipts(11, 200):
        seen.update(t for t in receipt.truth.values() if t)
        grand_total_words = [k for k, t in receipt.truth.items() if t == "GRAND_TOTAL"]
        assert grand_total_words, "every receipt has a grand total"
        for key, items in _labels_by_word(receipt).items():
            truth = receipt.truth[key]
            for item in items:
                if item.validation_status == "VALID":
                    assert item.label == truth or LEGACY_ALIASES.get(item.label) == truth, (item, truth)
        for key in grand_total_words:
            total_words += 1
            total_valid += any(
                i.label == "GRAND_TOTAL" and i.validation_status == "VALID" for i in _labels_by_word(receipt)[key]
            )
    assert set(CORE_LABELS) <= set(seen), set(CORE_LABELS) - set(seen)
    assert total_valid / total_words > 0.7


def test_receipt_sizes_span_short_to_longer_than_512_subtokens():
    def subtokens(receipt) -> int:  # a lower bound on WordPiece pieces: runs of letters or digits, each symbol
        return sum(len(re.findall(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]", w.text)) for w in receipt.words)

    sizes = [subtokens(r) for r in generate_receipts(13, 150)]
    assert min(sizes) < 200
    assert sum(size > 512 for size in sizes) >= 3


def _read_receipt(table, receipt_key: str) -> dict[str, list]:
    items, start = [], None
    while True:
        request = {
            "TableName": table.name,
            "IndexName": "GSI4",
            "KeyConditionExpression": "GSI4PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": receipt_key}},
        }
        if start:
            request["ExclusiveStartKey"] = start
        page = table.client.query(**request)
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    by_type = defaultdict(list)
    for item in items:
        by_type[item["TYPE"]["S"]].append(RECORD_TYPES[item["TYPE"]["S"]].from_item(item))
    return by_type


def _assert_same_geometry(read: Geometry, written: Geometry) -> None:
    for corner in ("top_left", "top_right", "bottom_left", "bottom_right"):
        assert getattr(read, corner).x == pytest.approx(getattr(written, corner).x, abs=1e-12)
        assert getattr(read, corner).y == pytest.approx(getattr(written, corner).y, abs=1e-12)
    assert read.angle_degrees == pytest.approx(written.angle_degrees)
    assert read.confidence == pytest.approx(written.confidence)


def test_receipts_round_trip_through_the_table(table):
    receipts = list(generate_receipts(17, 3))
    summary = write_bundles(table, receipts)
    assert summary.items_written == sum(r.item_count for r in receipts)
    write_bundles(table, receipts)  # same keys: overwritten, not duplicated
    assert Queries(table).count_by_type("RECEIPT_WORD") == sum(len(r.words) for r in receipts)
    for receipt in receipts:
        stored = _read_receipt(table, f"IMAGE#{receipt.receipt.image_id}#RECEIPT#00001")
        assert stored["RECEIPT"] == [receipt.receipt]
        assert sorted(stored["RECEIPT_WORD_LABEL"], key=repr) == sorted(receipt.labels, key=repr)
        for kind, written in (("RECEIPT_LINE", receipt.lines), ("RECEIPT_WORD", receipt.words)):
            read = {(r.line_id, getattr(r, "word_id", 0)): r for r in stored[kind]}
            assert len(read) == len(written)
            for record in written:
                back = read[(record.line_id, getattr(record, "word_id", 0))]
                assert back.text == record.text
                _assert_same_geometry(back.geometry, record.geometry)


def test_the_user_mix_reproduces_the_per_label_status_shares_of_november_2025():
    from dataset_builder.receipts.synthetic import LABEL_MIXES, USER_2025_11

    assert LABEL_MIXES["default"] == LabelMix() and LABEL_MIXES["user-2025-11"] is USER_2025_11
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for receipt in generate_receipts(3, 300, USER_2025_11):
        by_word = _labels_by_word(receipt)
        for key, truth in receipt.truth.items():
            if truth and by_word.get(key):
                statuses[truth][by_word[key][0].validation_status] += 1
    seeds = {
        "ADDRESS_LINE": (1394, 545, 1365),
        "MERCHANT_NAME": (647, 346, 798),
        "PAYMENT_METHOD": (517, 129, 625),
        "DATE": (435, 450, 0),
        "TIME": (556, 251, 0),
        "PRODUCT_NAME": (4534, 359, 0),
    }
    for label, (valid, invalid, review) in seeds.items():
        drawn, total = statuses[label], valid + invalid + review
        n = sum(drawn.values())
        assert n > 250, label
        for status, count in (("VALID", valid), ("INVALID", invalid), ("NEEDS_REVIEW", review)):
            assert _close(drawn[status], n, count / total), (label, status, drawn)
    default_share = statuses["PHONE_NUMBER"]["VALID"] / sum(statuses["PHONE_NUMBER"].values())
    assert _close(statuses["PHONE_NUMBER"]["VALID"], sum(statuses["PHONE_NUMBER"].values()), 0.8), default_share
    assert list(generate_receipts(3, 5)) == list(generate_receipts(3, 5, LabelMix())), "the default mix draws as before"
    with pytest.raises(ValueError, match="per_label\\[DATE\\]"):
        LabelMix(per_label={"DATE": {"VALID": 0.5}})
    with pytest.raises(ValueError, match="unknown label"):
        LabelMix(per_label={"TOTAL_PRICE": {"VALID": 1.0}})


def test_the_ground_truth_copy_has_the_same_ids_and_every_true_label_valid(tmp_path):
    import json

    from dataset_builder.receipts.synthetic import USER_2025_11
    from dataset_builder.receipts.truth import truth_bundle, write_truth_jsonl

    receipts = list(generate_receipts(4, 20, USER_2025_11))
    for receipt in receipts:
        truth = truth_bundle(receipt)
        assert (truth.receipt, truth.lines, truth.words) == (receipt.receipt, receipt.lines, receipt.words)
        assert all(label.validation_status == "VALID" for label in truth.labels)
        assert {(lab.line_id, lab.word_id): lab.label for lab in truth.labels} == {
            k: t for k, t in receipt.truth.items() if t
        }
    path = tmp_path / "truth.jsonl"
    assert write_truth_jsonl(receipts, path) == sum(len(r.words) for r in receipts)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    first = receipts[0]
    assert rows[0] == {
        "receipt_key": first.key,
        "image_id": first.receipt.image_id,
        "receipt_id": 1,
        "line_id": 1,
        "word_id": 1,
        "text": first.words[0].text,
        "label": first.truth[(1, 1)],
    }
    assert {r["label"] for r in rows} - {None} <= set(CORE_LABELS)

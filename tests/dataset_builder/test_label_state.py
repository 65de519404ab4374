"""Label states (labelled / unlabelled / unknown) and what `--unvalidated ignore|o` makes of
unknown words, on hand-made reads: the rule itself, multi-label words, merges and the allowed
list, the O:entity ratio control and the manifest counts."""

from __future__ import annotations

import polars as pl
import pytest

from dataset_builder import BuildConfig, ConfigError, rules
from dataset_builder.dataset import RawRead, build_dataset
from dataset_builder.manifest import Counts, RatioReport

from .receipts_fixture import image_id

TS = "2026-01-01T00:00:00+00:00"
INTS = {"receipt_id": pl.Int32, "line_id": pl.Int32, "word_id": pl.Int32}


def raw_read(receipts: dict[int, list[list[tuple[str, list[tuple[str, str]]]]]]) -> RawRead:
    """receipts: number -> lines -> (text, [(label, status), ...]) words, laid out top to bottom."""
    headers, words, labels = [], [], []
    for n, lines in receipts.items():
        img = image_id(n)
        headers.append((img, 1, 500, 1000, f"merchant {n % 3}"))
        for line_id, line in enumerate(lines, start=1):
            top = 1.0 - 0.04 * line_id
            for word_id, (text, items) in enumerate(line, start=1):
                left = 0.05 + 0.12 * (word_id - 1)
                words.append(
                    (
                        img,
                        1,
                        line_id,
                        word_id,
                        text,
                        left,
                        top,
                        left + 0.1,
                        top,
                        left,
                        top - 0.03,
                        left + 0.1,
                        top - 0.03,
                        None,
                    )
                )
                labels += [(img, 1, line_id, word_id, label, status, TS) for label, status in items]
    corners = dict.fromkeys(("tl_x", "tl_y", "tr_x", "tr_y", "bl_x", "bl_y", "br_x", "br_y"), pl.Float64)
    return RawRead(
        receipts=pl.DataFrame(
            headers,
            schema={
                "image_id": pl.Utf8,
                "receipt_id": pl.Int32,
                "width": pl.Int32,
                "height": pl.Int32,
                "merchant": pl.Utf8,
            },
            orient="row",
        ),
        words=pl.DataFrame(
            words, schema={"image_id": pl.Utf8, **INTS, "text": pl.Utf8, **corners, "entity_id": pl.Utf8}, orient="row"
        ),
        labels=pl.DataFrame(
            labels,
            schema={
                "image_id": pl.Utf8,
                **INTS,
                "label": pl.Utf8,
                "validation_status": pl.Utf8,
                "timestamp_added": pl.Utf8,
            },
            orient="row",
        ),
    )


V, NR, INV = "VALID", "NEEDS_REVIEW", "INVALID"
RECEIPT = [
    [("Corner", [("MERCHANT_NAME", V)]), ("Deli", [("MERCHANT_NAME", NR)])],  # labelled, unknown
    [
        ("1", [("ADDRESS_LINE", INV)]),
        ("Main", [("ADDRESS", V), ("PHONE_NUMBER", INV)]),
    ],  # unknown, labelled (legacy name)
    [("Date:", []), ("2026-01-02", [("DATE", "PENDING"), ("TIME", "NONE")])],  # unlabelled, unknown (two items)
    [("12:30", [("TIME", V)]), ("VISA", [("PAYMENT_METHOD", NR)])],  # labelled, unknown
    [("TOTAL", []), ("9.50", [("GRAND_TOTAL", NR), ("LINE_TOTAL", INV)])],  # unlabelled, unknown (merged)
    [("card", [("CARD_NUMBER", V)]), ("x", [("O", V)])],  # legacy CARD_NUMBER is PAYMENT_METHOD; O names nothing
    [("Thank", []), ("you", [])],
]


def words_of(dataset, n: int = 1) -> dict[str, dict]:
    return {row["text"]: row for row in dataset.words.filter(pl.col("image_id") == image_id(n)).iter_rows(named=True)}


def test_label_states_of_each_kind():
    labels = raw_read({1: RECEIPT}).labels
    got = {
        (r["line_id"], r["word_id"]): r["label_state"]
        for r in rules.label_states(labels, ["VALID"]).iter_rows(named=True)
    }
    assert got == {
        (1, 1): "labelled",
        (1, 2): "unknown",
        (2, 1): "unknown",
        (2, 2): "labelled",
        (3, 2): "unknown",
        (4, 1): "labelled",
        (4, 2): "unknown",
        (5, 2): "unknown",
        (6, 1): "labelled",
        (6, 2): "labelled",
    }
    # the selected statuses decide: with NEEDS_REVIEW selected, a NEEDS_REVIEW item makes a word labelled
    wider = {
        (r["line_id"], r["word_id"]): r["label_state"]
        for r in rules.label_states(labels, ["VALID", NR]).iter_rows(named=True)
    }
    assert wider[(1, 2)] == wider[(4, 2)] == wider[(5, 2)] == "labelled" and wider[(2, 1)] == "unknown"


@pytest.mark.parametrize("unvalidated", ["ignore", "o"])
def test_unknown_words_are_context_under_ignore_and_o_under_o(unvalidated):
    config = BuildConfig(merge_preset="amounts", val_fraction=0.0, unvalidated=unvalidated)
    words = words_of(build_dataset(raw_read({1: RECEIPT}), config))
    state = {text: (w["label_state"], w["label"], w["tag"], w["supervised"]) for text, w in words.items()}
    assert state["Corner"] == ("labelled", "MERCHANT_NAME", "B-MERCHANT_NAME", True)
    # VALID wins over the INVALID item; right after the unknown `1`, whether `Main` starts the address is not known
    assert state["Main"] == ("labelled", "ADDRESS_LINE", "B-ADDRESS_LINE", unvalidated == "o")
    assert state["Date:"] == ("unlabelled", "O", "O", True)
    assert state["x"] == ("labelled", "O", "O", True)
    assert state["card"] == ("labelled", "PAYMENT_METHOD", "B-PAYMENT_METHOD", True)  # the user's client's own alias
    for text in ("Deli", "1", "2026-01-02", "VISA", "9.50"):
        assert state[text] == ("unknown", "O", "O", unvalidated == "o"), text
    assert all(w["source_label"] is None for t, w in words.items() if w["label_state"] == "unknown")


def test_allowed_list_and_merges_change_labels_not_states():
    config = BuildConfig(merge_preset="amounts", allowed_labels=("MERCHANT_NAME", "AMOUNT"), val_fraction=0.0)
    dataset = build_dataset(raw_read({1: RECEIPT}), config)
    words = words_of(dataset)
    assert (words["12:30"]["label_state"], words["12:30"]["label"], words["12:30"]["supervised"]) == (
        "labelled",
        "O",
        True,
    )
    assert (words["Main"]["label_state"], words["Main"]["label"]) == ("labelled", "O")
    assert (words["VISA"]["label_state"], words["VISA"]["supervised"]) == (
        "unknown",
        False,
    )  # not allowed, still unknown
    train = Counts.model_validate(dataset.summary["counts"]).split("train")
    assert (train.labelled_words, train.unknown_words, train.unlabelled_words) == (5, 5, 4)
    assert train.labelled_words + train.unknown_words + train.unlabelled_words == train.words
    assert train.supervised_words == train.words - train.unknown_words
    # proposed labels of unknown words, aliased and merged (GRAND_TOTAL and LINE_TOTAL -> AMOUNT), per status
    assert train.unknown_words_by_label == {
        "ADDRESS_LINE": {"INVALID": 1},
        "AMOUNT": {"INVALID": 1, "NEEDS_REVIEW": 1},
        "DATE": {"PENDING": 1},
        "MERCHANT_NAME": {"NEEDS_REVIEW": 1},
        "PAYMENT_METHOD": {"NEEDS_REVIEW": 1},
        "TIME": {"NONE": 1},
    }
    assert train.entity_words == {"MERCHANT_NAME": 1}


@pytest.mark.parametrize("mechanism", ["mask", "drop"])
def test_the_ratio_control_counts_only_supervised_words(mechanism):
    # per receipt: 2 entity words; an O-only line with 2 unknown words; 6 O words elsewhere
    lines = [
        [("Corner", [("MERCHANT_NAME", V)]), ("Deli", [("MERCHANT_NAME", V)])],
        [("1", [("ADDRESS_LINE", NR)]), ("Main", [("ADDRESS_LINE", NR)]), ("St", []), ("TEL", [])],
        [("a", []), ("b", []), ("c", [])],
        [("d", []), ("e", [])],
    ]
    raw = raw_read(dict.fromkeys(range(1, 11), lines))
    ignore = build_dataset(raw, BuildConfig(val_fraction=0.0, o_entity_ratio=1.0, ratio_mechanism=mechanism, seed=2))
    ratio = RatioReport.model_validate(ignore.summary["o_entity_ratio"])
    assert ratio.before["train"] == pytest.approx(7 / 2)  # unknown words are neither O nor entity
    assert ratio.after["train"] <= 1.0
    assert ratio.unknown_before["train"] == 20
    train = ignore.words.filter(pl.col("split") == "train")
    remaining = train.filter(pl.col("label_state") == "unknown").height
    assert ratio.unknown_after["train"] == remaining
    if mechanism == "mask":
        assert remaining == 20
    else:
        assert remaining < 20  # O-only lines taken by `drop` take their unknown words along
    assert not train.filter((pl.col("label_state") == "unknown") & pl.col("supervised")).height
    old = build_dataset(
        raw, BuildConfig(val_fraction=0.0, o_entity_ratio=1.0, ratio_mechanism=mechanism, seed=2, unvalidated="o")
    )
    assert RatioReport.model_validate(old.summary["o_entity_ratio"]).before["train"] == pytest.approx(
        9 / 2
    )  # unknown taught as O


def test_old_snapshots_get_labelled_or_unlabelled_never_unknown():
    words = pl.DataFrame({"source_label": ["DATE", None], "label": ["DATE", "O"], "supervised": [True, True]})
    assert rules.with_label_state(words)["label_state"].to_list() == ["labelled", "unlabelled"]
    assert (
        rules.with_label_state(words.with_columns(pl.lit("unknown").alias("label_state")))["label_state"].to_list()
        == ["unknown"] * 2
    )


def test_unvalidated_must_be_ignore_or_o():
    with pytest.raises(ConfigError, match="--unvalidated must be one of ignore, o"):
        BuildConfig(unvalidated="skip")
    assert BuildConfig().unvalidated == "ignore"


def test_under_ignore_an_entity_continues_across_unknown_words_and_an_uncertain_start_is_no_target():
    address = [
        [("1", [("ADDRESS_LINE", V)]), ("Main", [("ADDRESS_LINE", NR)]), ("St", [("ADDRESS_LINE", V)])],
        [("Ave", [("ADDRESS_LINE", V)])],
        [("2", [("ADDRESS_LINE", NR)]), ("Elm", [("ADDRESS_LINE", V)]), ("Rd", [("ADDRESS_LINE", V)])],
    ]
    built = {
        u: build_dataset(raw_read({1: address}), BuildConfig(val_fraction=0.0, unvalidated=u)).words
        for u in ("ignore", "o")
    }
    tags = {u: list(zip(w["tag"], w["supervised"], strict=True)) for u, w in built.items()}
    A, IA = "B-ADDRESS_LINE", "I-ADDRESS_LINE"
    # `St` continues `1` across the unknown `Main`; a new line starts an entity; `Elm` may continue an
    # address that starts at the unknown `2`: its label is a target only through `Rd`, which continues it
    assert tags["ignore"] == [(A, True), ("O", False), (IA, True), (A, True), ("O", False), (A, False), (IA, True)]
    assert tags["o"] == [
        (A, True),
        ("O", True),
        (A, True),
        (A, True),
        ("O", True),
        (A, True),
        (IA, True),
    ]  # the first release


def test_o_builds_what_the_old_rule_built():
    """`--unvalidated o` is the first release's rule: the words come out exactly as if the
    unknown words had no label item at all (then every word was O unless VALID)."""
    raw = raw_read({n: RECEIPT for n in range(1, 30)})
    config = BuildConfig(merge_preset="amounts", val_fraction=0.3, o_entity_ratio=1.0, seed=4, unvalidated="o")
    old = build_dataset(raw, config).words
    unknown = old.filter(pl.col("label_state") == "unknown").select(rules.WORD_KEY)
    assert unknown.height > 100
    stripped = raw.labels.join(unknown, on=rules.WORD_KEY, how="anti")
    as_before = build_dataset(
        RawRead(raw.receipts, raw.words, stripped), BuildConfig(**{**config.__dict__, "unvalidated": "ignore"})
    ).words
    assert old.drop("label_state").equals(as_before.drop("label_state"))


def test_an_entity_id_settles_whether_a_word_after_an_unknown_one_starts_an_entity():
    line = [[("Nasi", [("PRODUCT_NAME", NR)]), ("Goreng", [("PRODUCT_NAME", NR)]), ("25,000", [("LINE_TOTAL", V)])]]
    raw = raw_read({1: line})
    for entity_ids, supervised in ((["a", "a", "b"], True), ([None] * 3, False)):
        words = raw.words.with_columns(pl.Series("entity_id", entity_ids, dtype=pl.Utf8))
        built = build_dataset(RawRead(raw.receipts, words, raw.labels), BuildConfig(val_fraction=0.0)).words
        price = built.filter(pl.col("text") == "25,000").row(0, named=True)
        assert (price["tag"], price["supervised"]) == ("B-LINE_TOTAL", supervised)

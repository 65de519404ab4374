"""The labelling rules: pure functions on polars frames, each tested on its own.

Input frames (as `sources.dynamo` reads them):
- receipts: image_id, receipt_id, width, height, place_merchant (the merchant of its ReceiptPlace)
- words: image_id, receipt_id, line_id, word_id, text, tl_x, tl_y, tr_x, tr_y, bl_x, bl_y,
  br_x, br_y (normalized 0..1, bottom-left origin), entity_id (str or null)
- labels: image_id, receipt_id, line_id, word_id, label, validation_status, timestamp_added
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import polars as pl

from .labels import LEGACY_ALIASES

WORD_KEY = ["image_id", "receipt_id", "line_id", "word_id"]
COORDINATE_CONVENTION = {
    "name": "layoutlm-0-1000-top-left",
    "description": "x0,y0,x1,y1 integers in 0..1000 of the receipt crop; origin top-left, y grows downward",
    "source": "table corners normalized 0..1 with a bottom-left origin; y flipped as 1 - y",
}


def with_receipt_key(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `receipt_key` = `<image_id>#<receipt_id 5 digits>`, the unit of splitting."""
    return frame.with_columns(
        pl.format("{}#{}", pl.col("image_id"), pl.col("receipt_id").cast(pl.Utf8).str.zfill(5)).alias("receipt_key")
    )


def canonical_receipt_key(key: str) -> str:
    """Accept `<image_id>#1` or `<image_id>#00001` (and `IMAGE#..#RECEIPT#..`)."""
    text = key.strip().removeprefix("IMAGE#").replace("#RECEIPT#", "#")
    image_id, sep, rid = text.rpartition("#")
    if not sep or not image_id or not rid.isdigit():
        raise ValueError(f"not a receipt key (<image_id>#<receipt_id>): {key!r}")
    return f"{image_id}#{int(rid):05d}"


# --- labels -------------------------------------------------------------------------------


def alias_labels(
    labels: pl.DataFrame, vocabulary: Iterable[str], aliases: Mapping[str, str | None] = LEGACY_ALIASES
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Map legacy names onto the vocabulary; return the kept labels and a count of every
    name that was dropped (aliased to nothing, or unknown), so nothing is dropped silently."""
    vocab = list(vocabulary)
    mapping = {**{v: v for v in vocab}, **{k: v for k, v in aliases.items() if k not in vocab}}
    mapped = labels.with_columns(
        pl.col("label").alias("raw_label"),
        pl.col("label").replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias("label"),
    )
    dropped = mapped.filter(pl.col("label").is_null()).group_by("raw_label").len()
    return mapped.filter(pl.col("label").is_not_null()), dict(zip(dropped["raw_label"], dropped["len"], strict=True))


def resolve_word_labels(
    labels: pl.DataFrame, statuses: Iterable[str], merge_map: Mapping[str, str]
) -> tuple[pl.DataFrame, int]:
    """One supervising label per word.

    Only labels whose status is in `statuses` supervise. The rule for a word with several:
    if they all merge to the same label, that label (merged neighbours agree); otherwise the
    most recently added one wins (`timestamp_added`, ties broken by name), and the word is
    counted as a conflict in the manifest. Returns (image_id.., word_id, source_label, label)
    and the number of conflicting words.
    """
    chosen = (
        labels.filter(pl.col("validation_status").is_in(list(statuses)))
        .with_columns(pl.col("label").replace(dict(merge_map)).alias("merged"))
        .sort([*WORD_KEY, "timestamp_added", "label"], descending=[False] * 4 + [True, False], nulls_last=True)
        .group_by(WORD_KEY, maintain_order=True)
        .agg(
            pl.col("label").first().alias("source_label"),
            pl.col("merged").first().alias("label"),
            pl.col("merged").n_unique().alias("n_targets"),
        )
    )
    conflicts = int((chosen["n_targets"] > 1).sum())
    return chosen.drop("n_targets"), conflicts


def apply_allowed(word_labels: pl.DataFrame, allowed: Iterable[str] | None) -> pl.DataFrame:
    """Labels outside the allowed list become O (the word stays, as context and as O)."""
    if allowed is None:
        return word_labels
    return word_labels.filter(pl.col("label").is_in(list(allowed)))


# --- label state ----------------------------------------------------------------------------

LABELLED, UNLABELLED, UNKNOWN = "labelled", "unlabelled", "unknown"
LABEL_STATES = (LABELLED, UNLABELLED, UNKNOWN)


def label_states(labels: pl.DataFrame, statuses: Iterable[str]) -> pl.DataFrame:
    """`label_state` of every word that has a label item (WORD_KEY + label_state).

    `labelled`: one of its items has a selected status, whatever its name (a VALID `O` or
    CARD_NUMBER, which map to no label, still says what the word is: O). `unknown`: items
    exist but none has a selected status (only NEEDS_REVIEW, PENDING, NONE or INVALID): a
    proposal nobody confirmed, or one that was rejected; neither says the word is O. A word
    without a row here is `unlabelled` (nobody proposed a label: O, as always). Computed on the
    raw items, before aliases, merges and the allowed list, which change labels, not states.
    """
    selected = pl.col("validation_status").is_in(list(statuses)).any()
    return labels.group_by(WORD_KEY).agg(
        pl.when(selected).then(pl.lit(LABELLED)).otherwise(pl.lit(UNKNOWN)).alias("label_state")
    )


def starts_after_unknown(*, by_entity_id: bool = True) -> pl.Expr:
    """True for a word tagged B-X right after an unknown word of its line (on a frame with
    `tag`, `label_state`, `line_id`, `position` and, with `by_entity_id`, `entity_id`):
    whether it starts an entity or continues one that starts at the unknown word depends on
    what that word is, so its B-/I- prefix is not known. When the source says which entity
    each word belongs to (`entity_id`, e.g. CORD), a different id there settles it: B."""
    previous = lambda c: pl.col(c).shift(1).over("receipt_key", order_by="position")  # noqa: E731
    after_unknown = (previous("label_state") == UNKNOWN) & (previous("line_id") == pl.col("line_id"))
    if by_entity_id:
        after_unknown = after_unknown & previous("entity_id").eq_missing(pl.col("entity_id"))
    return (pl.col("tag").str.starts_with("B-") & after_unknown).fill_null(False)


def initial_supervision(unvalidated: str) -> pl.Expr:
    """`supervised` before the O:entity ratio control. Under `ignore` an unknown word is only
    context (not a training target, and not scored), and so is a word whose B-/I- prefix
    depends on one (`starts_after_unknown`: its label is known, its prefix is not; it is still
    scored); under `o` every word is a target, unknown ones as O."""
    if unvalidated != "ignore":
        return pl.lit(True)
    return (pl.col("label_state") != UNKNOWN) & ~starts_after_unknown()


def with_label_state(words: pl.DataFrame) -> pl.DataFrame:
    """Snapshots written before `label_state` existed: derive it from `source_label`
    (`labelled` when a VALID label supervised the word, else `unlabelled`). Never `unknown`:
    those builds trained such words as O, so that is what they were."""
    if "label_state" in words.columns:
        return words
    state = pl.when(pl.col("source_label").is_not_null()).then(pl.lit(LABELLED)).otherwise(pl.lit(UNLABELLED))
    return words.with_columns(state.alias("label_state"))


def unknown_word_labels(aliased: pl.DataFrame, words: pl.DataFrame, merge_map: Mapping[str, str]) -> pl.DataFrame:
    """The labels unknown words were proposed under: one row per (word, merged label, status)
    of `aliased` label items on words whose state is unknown, with the word's split."""
    unknown = words.filter(pl.col("label_state") == UNKNOWN).select(*WORD_KEY, "split")
    return (
        aliased.with_columns(pl.col("label").replace(dict(merge_map)))
        .join(unknown, on=WORD_KEY)
        .unique([*WORD_KEY, "label", "validation_status"])
        .select(*WORD_KEY, "split", "label", "validation_status")
    )


# --- geometry and order ---------------------------------------------------------------------


CORNER_COLUMNS = ("tl_x", "tl_y", "tr_x", "tr_y", "bl_x", "bl_y", "br_x", "br_y")


def off_page() -> pl.Expr:
    """A word with a corner off the receipt (outside 0..1 once on the 1/1000 grid): its box is
    clipped to the page by `layout_boxes`."""
    return pl.any_horizontal(*(~(pl.col(c) * 1000).round(0).is_between(0, 1000) for c in CORNER_COLUMNS)).fill_null(
        True
    )


def layout_boxes(words: pl.DataFrame) -> pl.DataFrame:
    """Corners (0..1, bottom-left origin) -> x0,y0,x1,y1 integers in 0..1000, top-left origin
    (a corner off the page is clipped to it: see `off_page`)."""
    xs = [pl.col(c) for c in ("tl_x", "tr_x", "bl_x", "br_x")]
    ys = [pl.col(c) for c in ("tl_y", "tr_y", "bl_y", "br_y")]

    def scaled(expr: pl.Expr) -> pl.Expr:
        return (expr * 1000).round(0).clip(0, 1000).cast(pl.Int32)

    return words.with_columns(
        scaled(pl.min_horizontal(xs)).alias("x0"),
        scaled(1 - pl.max_horizontal(ys)).alias("y0"),
        scaled(pl.max_horizontal(xs)).alias("x1"),
        scaled(1 - pl.min_horizontal(ys)).alias("y1"),
    ).drop(*CORNER_COLUMNS)


def reading_order(words: pl.DataFrame) -> pl.DataFrame:
    """Add `position`: lines top to bottom (by their vertical centre), words left to right."""
    lines = words.group_by(["receipt_key", "line_id"]).agg(
        ((pl.col("y0") + pl.col("y1")) / 2).mean().alias("_line_y"),
        pl.col("x0").min().alias("_line_x"),
    )
    ordered = words.join(lines, on=["receipt_key", "line_id"]).sort(
        ["receipt_key", "_line_y", "_line_x", "line_id", "x0", "word_id"]
    )
    return ordered.with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over("receipt_key").alias("position")).drop(
        "_line_y", "_line_x"
    )


def bio_tags(words: pl.DataFrame, *, skip_unknown: bool = False) -> pl.DataFrame:
    """Add `tag` (O, B-X, I-X) over reading order. A word continues the previous word's
    entity only if both carry the same label *and* the same original label, on the same line,
    with the same source entity id: merged neighbours (SUBTOTAL then TAX, both AMOUNT) stay
    two entities.

    `skip_unknown` (`--unvalidated ignore`): "previous" skips unknown words, which are O but
    neither trained nor scored, so an address whose middle word awaits review (`1` VALID,
    `Main` NEEDS_REVIEW, `St` VALID) keeps `St` as I-ADDRESS_LINE, the target the whole line
    would have, instead of starting a second entity."""
    ordered = words.sort(["receipt_key", "position"])
    skipped = (pl.col("label_state") == UNKNOWN) if skip_unknown else pl.lit(False)
    anchor = pl.when(~skipped).then(pl.col("position")).otherwise(None).shift(1).forward_fill().over("receipt_key")
    previous = ordered.select(
        "receipt_key",
        pl.col("position").alias("_anchor"),
        *(pl.col(c).alias(f"_prev_{c}") for c in ("label", "source_label", "line_id", "entity_id")),
    )
    linked = ordered.with_columns(anchor.alias("_anchor")).join(previous, on=["receipt_key", "_anchor"], how="left")
    same = lambda c: (pl.col(c) == pl.col(f"_prev_{c}")).fill_null(False)  # noqa: E731
    same_entity_id = pl.col("entity_id").eq_missing(pl.col("_prev_entity_id")) & pl.col("_anchor").is_not_null()
    continues = same("label") & same("source_label") & same("line_id") & same_entity_id
    return (
        linked.with_columns(
            pl.when(pl.col("label") == "O")
            .then(pl.lit("O"))
            .when(continues)
            .then(pl.format("I-{}", pl.col("label")))
            .otherwise(pl.format("B-{}", pl.col("label")))
            .alias("tag")
        )
        .drop("_anchor", "_prev_label", "_prev_source_label", "_prev_line_id", "_prev_entity_id")
        .sort(["receipt_key", "position"])
    )


def tag_list(labels: Iterable[str]) -> list[str]:
    return ["O", *(f"{p}-{label}" for label in labels for p in ("B", "I"))]


# --- splits ------------------------------------------------------------------------------


def _unit_interval(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    receipts: pl.DataFrame,
    *,
    val_fraction: float,
    seed: int,
    split_by: str = "receipt",
    val_keys: Iterable[str] | None = None,
    holdout_merchants: Iterable[str] = (),
) -> tuple[pl.DataFrame, list[str]]:
    """Add `split` (train/val) at receipt level.

    Seeded splits hash each receipt (or merchant) with the seed, so a receipt keeps its split
    when receipts are added later: snapshots of a growing table stay comparable. A frozen split
    (`val_keys`) puts exactly those receipts in val. Held-out merchants always go to val.
    Returns the frame and the frozen keys that were not found (reported, not ignored).
    """
    if val_keys is not None:
        wanted = {canonical_receipt_key(k) for k in val_keys}
        is_val = pl.col("receipt_key").is_in(list(wanted))
        missing = sorted(wanted - set(receipts["receipt_key"]))
    else:
        group = pl.coalesce(merchant_key(), pl.col("receipt_key")) if split_by == "merchant" else pl.col("receipt_key")
        draws = receipts.select(group.alias("g"))["g"].map_elements(
            lambda g: _unit_interval(seed, g), return_dtype=pl.Float64
        )
        is_val = pl.Series(draws < val_fraction)
        missing = []
    held = {m.lower().strip() for m in holdout_merchants}
    if held:
        is_val = is_val | merchant_key().is_in(list(held)).fill_null(False)
    return receipts.with_columns(pl.when(is_val).then(pl.lit("val")).otherwise(pl.lit("train")).alias("split")), missing


# --- O:entity ratio ------------------------------------------------------------------------


def o_entity_ratio(words: pl.DataFrame) -> float | None:
    """O words per entity word, over supervised words. None when there is no entity."""
    supervised = words.filter(pl.col("supervised"))
    entity = supervised.filter(pl.col("label") != "O").height
    return (supervised.height - entity) / entity if entity else None


def control_o_entity_ratio(words: pl.DataFrame, *, target: float | None, mechanism: str, seed: int) -> pl.DataFrame:
    """Bring the training split's O:entity ratio down to `target` by taking O-only lines
    (lines with no entity word), in a seeded order, until the ratio is met.

    `mask` keeps those lines as layout context but marks their words `supervised=False`
    (the model still sees them; the loss ignores them). `drop` removes them. Validation words
    are never touched: validation must look like real receipts.
    """
    if target is None:
        return words
    train = words.filter((pl.col("split") == "train") & pl.col("supervised"))
    entity = train.filter(pl.col("label") != "O").height
    excess = (train.height - entity) - target * entity
    if excess <= 0:
        return words
    lines = (
        train.group_by(["receipt_key", "line_id"])
        .agg(pl.len().alias("n"), (pl.col("label") != "O").sum().alias("n_entity"))
        .filter(pl.col("n_entity") == 0)
    )
    lines = lines.with_columns(
        pl.struct("receipt_key", "line_id")
        .map_elements(lambda s: _unit_interval(seed, f"{s['receipt_key']}#{s['line_id']}"), return_dtype=pl.Float64)
        .alias("_draw")
    ).sort("_draw")
    taken = lines.filter(pl.col("n").cum_sum().shift(1, fill_value=0) < excess).select("receipt_key", "line_id")
    hit = words.join(taken.with_columns(pl.lit(True).alias("_taken")), on=["receipt_key", "line_id"], how="left")
    hit = hit.with_columns((pl.col("_taken").fill_null(False) & (pl.col("split") == "train")).alias("_taken"))
    if mechanism == "drop":
        kept = hit.filter(~pl.col("_taken")).drop("_taken").sort(["receipt_key", "position"])
        return kept.with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over("receipt_key").alias("position"))
    return hit.with_columns((pl.col("supervised") & ~pl.col("_taken")).alias("supervised")).drop("_taken")


# --- merchants ------------------------------------------------------------------------------

MERCHANT_SOURCES = ("place", "labelled_words", "none", "receipt")
"""Where a receipt's merchant came from. `receipt`: snapshots built before sources were kept."""


def resolve_merchants(receipts: pl.DataFrame, words: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Add `merchant` and `merchant_source` to the receipts, as the user's previous trainer
    found a receipt's merchant: its ReceiptPlace's `merchant_name` (`place_merchant`); else
    the text of its words VALID-labelled MERCHANT_NAME (legacy names aliased first), in
    (line, word) order, joined by a space; else none. `labels` must be aliased. Receipts that
    already carry `merchant_source` (a snapshot's own, rebuilt) keep it."""
    if "merchant_source" in receipts.columns:
        return receipts
    if "place_merchant" not in receipts.columns:  # a snapshot from before sources: its merchant was on the Receipt item
        return receipts.with_columns(
            pl.when(pl.col("merchant").is_not_null())
            .then(pl.lit("receipt"))
            .otherwise(pl.lit("none"))
            .alias("merchant_source")
        )
    named = (
        labels.filter((pl.col("validation_status") == "VALID") & (pl.col("label") == "MERCHANT_NAME"))
        .select(WORD_KEY)
        .unique()
        .join(words.select(*WORD_KEY, "text"), on=WORD_KEY)
        .filter(pl.col("text").str.strip_chars() != "")
        .sort(["image_id", "receipt_id", "line_id", "word_id"])
        .group_by(["image_id", "receipt_id"], maintain_order=True)
        .agg(pl.col("text").str.strip_chars().str.join(" ").alias("_from_words"))
    )
    return (
        receipts.join(named, on=["image_id", "receipt_id"], how="left")
        .with_columns(
            pl.coalesce("place_merchant", "_from_words").alias("merchant"),
            pl.when(pl.col("place_merchant").is_not_null())
            .then(pl.lit("place"))
            .when(pl.col("_from_words").is_not_null())
            .then(pl.lit("labelled_words"))
            .otherwise(pl.lit("none"))
            .alias("merchant_source"),
        )
        .drop("place_merchant", "_from_words")
    )


def merchant_key() -> pl.Expr:
    """The merchant as splits and folds group it: lower-cased, outer spaces stripped."""
    return pl.col("merchant").str.to_lowercase().str.strip_chars()


def merchant_option_problem(receipts: pl.DataFrame, *, split_by: str, holdout_merchants: Iterable[str]) -> str | None:
    """Why a merchant-based option cannot do what it says on these receipts (None when it can):
    no receipt has a merchant (the split would silently be by receipt), or a held-out merchant
    that no receipt has."""
    options = [
        o
        for o, used in (
            ("--split-by merchant", split_by == "merchant"),
            ("--holdout-merchant", bool(holdout_merchants)),
        )
        if used
    ]
    if not options:
        return None
    known = (
        receipts.filter(pl.col("merchant").is_not_null())
        .select(merchant_key().alias("m"))["m"]
        .unique()
        .sort()
        .to_list()
    )
    if not known:
        return (
            f"{' and '.join(options)}: no receipt has a merchant (no ReceiptPlace item and no word VALID-labelled "
            "MERCHANT_NAME), so the split would not be by merchant; drop the option or add places / labels"
        )
    unknown = [m for m in holdout_merchants if m.lower().strip() not in set(known)]
    if unknown:
        sample = ", ".join(repr(m) for m in known[:8]) + (f" (+{len(known) - 8} more)" if len(known) > 8 else "")
        return (
            f"--holdout-merchant {', '.join(repr(m) for m in unknown)}: no receipt has that merchant; merchants: "
            f"{sample}"
        )
    return None

"""Deterministic synthetic receipts: the same `seed` always gives the same receipts, ids and
labels, and receipt `i` does not depend on how many receipts were asked for.

Each word's intended label (`truth`) follows fixed rules (see `content`), so a model trained
on the VALID labels can learn them; `LabelMix` then decides how the labelling looks in the
table: which validation statuses, how many wrong (INVALID) labels, legacy names, words with
two labels, words never labelled.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dataset_builder.labels import LEGACY_ALIASES
from metrics_store.records import (
    VALIDATION_STATUSES,
    PlaceDetails,
    Receipt,
    ReceiptLine,
    ReceiptPlace,
    ReceiptWord,
    ReceiptWordLabel,
)

from .bundle import ReceiptBundle
from .content import compose
from .geometry import PageStyle, lay_out
from .merchants import MERCHANTS, Merchant
from .printer import Token

LEGACY_NAMES: dict[str, str] = {core: legacy for legacy, core in LEGACY_ALIASES.items() if core}
"""Core label -> the name older rows used for it (MERCHANT_NAME -> BUSINESS_NAME...)."""

# Two labels a reviewer plausibly mistook each label for, distinct from each other and from
# the label itself, so a word can carry two different wrong labels.
CONFUSIONS: dict[str, tuple[str, str]] = {
    "MERCHANT_NAME": ("PRODUCT_NAME", "ADDRESS_LINE"),
    "STORE_HOURS": ("TIME", "DATE"),
    "PHONE_NUMBER": ("LOYALTY_ID", "ADDRESS_LINE"),
    "WEBSITE": ("MERCHANT_NAME", "ADDRESS_LINE"),
    "LOYALTY_ID": ("PHONE_NUMBER", "COUPON"),
    "ADDRESS_LINE": ("MERCHANT_NAME", "PHONE_NUMBER"),
    "DATE": ("TIME", "STORE_HOURS"),
    "TIME": ("DATE", "STORE_HOURS"),
    "PAYMENT_METHOD": ("MERCHANT_NAME", "COUPON"),
    "COUPON": ("DISCOUNT", "LOYALTY_ID"),
    "DISCOUNT": ("COUPON", "LINE_TOTAL"),
    "PRODUCT_NAME": ("MERCHANT_NAME", "COUPON"),
    "QUANTITY": ("UNIT_PRICE", "LINE_TOTAL"),
    "UNIT_PRICE": ("LINE_TOTAL", "QUANTITY"),
    "LINE_TOTAL": ("UNIT_PRICE", "SUBTOTAL"),
    "SUBTOTAL": ("GRAND_TOTAL", "LINE_TOTAL"),
    "TAX": ("TIP", "SUBTOTAL"),
    "TIP": ("TAX", "GRAND_TOTAL"),
    "GRAND_TOTAL": ("SUBTOTAL", "LINE_TOTAL"),
    "CHANGE": ("CASH_BACK", "GRAND_TOTAL"),
    "CASH_BACK": ("CHANGE", "REFUND"),
    "REFUND": ("DISCOUNT", "LINE_TOTAL"),
}
PROPOSERS = ("llm_labeler", "layoutlm_v1", "human")
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LabelMix:
    """How the labelling of synthetic receipts looks in the table. Fractions are of words:

    - `missing_fraction`: words that should be labelled but never were (they read as O);
    - the rest get one label item whose status is drawn from `per_label[true label]`, else
      from `status_probabilities`; an INVALID one carries a wrong label (a proposal a reviewer
      rejected);
    - `legacy_fraction`: of words whose label has an old name (BUSINESS_NAME, ADDRESS,
      PAYMENT_TYPE; CARD_NUMBER for a card number), those written under it;
    - `two_label_fraction`: of labelled words, those that also carry a second, wrong,
      INVALID label (e.g. VALID GRAND_TOTAL plus INVALID SUBTOTAL).
    """

    status_probabilities: Mapping[str, float] = field(
        default_factory=lambda: {"VALID": 0.80, "INVALID": 0.05, "NEEDS_REVIEW": 0.05, "PENDING": 0.06, "NONE": 0.04}
    )
    legacy_fraction: float = 0.05
    two_label_fraction: float = 0.04
    missing_fraction: float = 0.02
    per_label: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Status probabilities for the words whose true label is the key, instead of
    `status_probabilities` (see `USER_2025_11`)."""

    def __post_init__(self) -> None:
        for where, probabilities in (
            ("status_probabilities", self.status_probabilities),
            *((f"per_label[{k}]", v) for k, v in self.per_label.items()),
        ):
            unknown = set(probabilities) - set(VALIDATION_STATUSES)
            if unknown:
                raise ValueError(f"{where}: unknown validation statuses {sorted(unknown)}")
            if any(p < 0 for p in probabilities.values()) or abs(sum(probabilities.values()) - 1) > 1e-9:
                raise ValueError(f"{where} must be non-negative and sum to 1")
        unknown_labels = sorted(set(self.per_label) - set(CONFUSIONS))
        if unknown_labels:
            raise ValueError(f"per_label: unknown label(s) {', '.join(unknown_labels)}")
        for name in ("legacy_fraction", "two_label_fraction", "missing_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")

    def draw_status(self, rng: random.Random, label: str | None = None) -> str:
        probabilities = self.per_label.get(label, self.status_probabilities) if label else self.status_probabilities
        statuses = list(probabilities)
        return rng.choices(statuses, weights=[probabilities[s] for s in statuses])[0]


def status_shares(valid: int, invalid: int = 0, needs_review: int = 0) -> dict[str, float]:
    """Counts of label items by status -> the probabilities that reproduce them."""
    total = valid + invalid + needs_review
    shares = {"VALID": valid / total, "INVALID": invalid / total, "NEEDS_REVIEW": needs_review / total}
    return {status: p for status, p in shares.items() if p}


USER_2025_11 = LabelMix(
    per_label={
        "ADDRESS_LINE": status_shares(1394, 545, 1365),
        "MERCHANT_NAME": status_shares(647, 346, 798),
        "PAYMENT_METHOD": status_shares(517, 129, 625),
        "DATE": status_shares(435, 450),
        "TIME": status_shares(556, 251),
        "PRODUCT_NAME": status_shares(4534, 359),
    }
)
"""The user's table in November 2025 (`../shared/seeds/`, label quality breakdown): per label,
the share of VALID, INVALID and NEEDS_REVIEW items, drawn for the words whose true label it is
(ADDRESS_LINE 42% VALID, 16% INVALID, 41% NEEDS_REVIEW; MERCHANT_NAME 36/19/45; PAYMENT_METHOD
41/10/49; DATE 49/51/0; TIME 69/31/0; PRODUCT_NAME 93/7/0). The other labels (the seeds give
only their VALID counts) keep the default mix. As everywhere in the generator, an INVALID item
names a wrong label (the word's true label is the one a reviewer would have had to pick)."""

LABEL_MIXES: dict[str, LabelMix] = {"default": LabelMix(), "user-2025-11": USER_2025_11}
"""The mixes `dsb receipts generate --label-mix` knows."""


@dataclass(frozen=True)
class SyntheticReceipt(ReceiptBundle):
    """A bundle plus what each word should be labelled: `truth` maps (line_id, word_id) to
    a core label or None (O)."""

    truth: Mapping[tuple[int, int], str | None] = field(default_factory=dict)


def receipt_rng(seed: int, index: int) -> random.Random:
    """Receipt `index`'s own generator: independent of how many receipts are made."""
    return random.Random(f"receipt-ml/synthetic/{seed}/{index}")


def item_count(rng: random.Random) -> int:
    """Mostly short receipts, with a long tail (26-45 items) that passes 512 sub-tokens."""
    roll = rng.random()
    if roll < 0.5:
        return rng.randint(1, 5)
    if roll < 0.8:
        return rng.randint(6, 12)
    if roll < 0.94:
        return rng.randint(13, 25)
    return rng.randint(26, 45)


def generate_receipt(
    seed: int, index: int, mix: LabelMix = LabelMix(), merchants: tuple[Merchant, ...] = MERCHANTS
) -> SyntheticReceipt:
    rng = receipt_rng(seed, index)
    image_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    merchant = rng.choice(merchants)
    when = EPOCH + timedelta(days=rng.randint(0, 729), minutes=rng.randint(6 * 60, 23 * 60), seconds=rng.randint(0, 59))
    rows = compose(rng, merchant, when, item_count(rng))
    page = lay_out(rows, merchant.template.width, PageStyle.sample(rng, merchant.template.width), rng)
    added = (when + timedelta(minutes=rng.randint(5, 600))).isoformat()

    lines: list[ReceiptLine] = []
    words: list[ReceiptWord] = []
    labels: list[ReceiptWordLabel] = []
    truth: dict[tuple[int, int], str | None] = {}
    line_id = 0
    for row, line_geometry, word_geometries in zip(rows, page.lines, page.words, strict=True):
        if line_geometry is None:
            continue
        line_id += 1
        lines.append(ReceiptLine(image_id, 1, line_id, " ".join(t.text for _, t in row.words), line_geometry))
        for word_id, ((_, token), geometry) in enumerate(zip(row.words, word_geometries, strict=True), start=1):
            words.append(ReceiptWord(image_id, 1, line_id, word_id, token.text, geometry))
            truth[(line_id, word_id)] = token.label
            for name, status in label_items(rng, token, mix):
                labels.append(
                    ReceiptWordLabel(
                        image_id,
                        1,
                        line_id,
                        word_id,
                        name,
                        status,
                        added,
                        reasoning="rejected in review" if status == "INVALID" else None,
                        label_proposed_by=rng.choice(PROPOSERS),
                    )
                )
    receipt = Receipt(image_id, 1, page.width, page.height, added)
    return SyntheticReceipt(
        receipt,
        tuple(lines),
        tuple(words),
        tuple(labels),
        synthetic_place(seed, index, image_id, merchant, added),
        truth=truth,
    )


PLACE_FRACTION = 0.85
"""Share of generated receipts matched to a place (the others take their merchant from their
MERCHANT_NAME words, as receipts the user's pipeline could not match do)."""


def synthetic_place(seed: int, index: int, image_id: str, merchant: Merchant, added: str) -> ReceiptPlace | None:
    """The receipt's ReceiptPlace as the user's pipeline writes one (a Places match by phone),
    or None for the receipts it could not match. Its own generator, so receipt contents do not
    depend on it; the place id is the merchant's (one store, one place)."""
    rng = random.Random(f"receipt-ml/synthetic-place/{seed}/{index}")
    if rng.random() >= PLACE_FRACTION:
        return None
    store = random.Random(f"receipt-ml/place/{merchant.name}")
    place_id = "ChIJ" + "".join(store.choice(string.ascii_letters + string.digits + "_-") for _ in range(23))
    details = PlaceDetails(
        texts=(
            ("formatted_address", f"{merchant.street}, {merchant.city}"),
            ("phone_number", merchant.phone),
            ("website", f"https://{merchant.website}" if merchant.website else ""),
            ("validated_by", "PHONE_LOOKUP"),
            ("merchant_category", merchant.kind),
            ("places_api_version", "v1"),
        ),
        merchant_types=(merchant.kind,),
    )
    return ReceiptPlace(
        image_id, 1, place_id, merchant.name.title(), "MATCHED", added, round(rng.uniform(0.80, 0.99), 2), details
    )


def label_items(rng: random.Random, token: Token, mix: LabelMix) -> list[tuple[str, str]]:
    """(label name, validation status) items for one word, following `mix`."""
    intended = token.label
    if intended is None or rng.random() < mix.missing_fraction:
        return []
    status = mix.draw_status(rng, intended)
    wrong = CONFUSIONS[intended]
    legacy = legacy_name(token)
    if status == "INVALID":
        name = wrong[0]
    elif legacy is not None and rng.random() < mix.legacy_fraction:
        name = legacy
    else:
        name = intended
    items = [(name, status)]
    if rng.random() < mix.two_label_fraction:
        items.append((wrong[1] if name == wrong[0] else wrong[0], "INVALID"))
    return items


def legacy_name(token: Token) -> str | None:
    """The old name rows used for this word's label, if it had one."""
    return token.legacy_label or LEGACY_NAMES.get(token.label or "")


def generate_receipts(seed: int, n_receipts: int, mix: LabelMix = LabelMix()) -> Iterator[SyntheticReceipt]:
    """Receipts 0..n_receipts-1 for `seed`, one at a time (pure: nothing is written)."""
    if n_receipts < 0:
        raise ValueError("n_receipts must be >= 0")
    for index in range(n_receipts):
        yield generate_receipt(seed, index, mix)

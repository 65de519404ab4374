"""The label vocabulary of the receipts table and the user's merge presets."""

from __future__ import annotations

CORE_LABELS: tuple[str, ...] = (
    "MERCHANT_NAME",
    "STORE_HOURS",
    "PHONE_NUMBER",
    "WEBSITE",
    "LOYALTY_ID",
    "ADDRESS_LINE",
    "DATE",
    "TIME",
    "PAYMENT_METHOD",
    "COUPON",
    "DISCOUNT",
    "PRODUCT_NAME",
    "QUANTITY",
    "UNIT_PRICE",
    "LINE_TOTAL",
    "SUBTOTAL",
    "TAX",
    "TIP",
    "GRAND_TOTAL",
    "CHANGE",
    "CASH_BACK",
    "REFUND",
)

# Names older rows carry; reading tolerates them. The snapshot build maps them onto core
# labels (or drops them) through LEGACY_ALIASES: the aliases are the user's own client's
# (`receipt_dynamo.constants.NON_CORE_LABEL_ALIASES`, "lossless and unambiguous"); `O` was
# written by some legacy rows to mean "no label" and names nothing.
LEGACY_ALIASES: dict[str, str | None] = {
    "ADDRESS": "ADDRESS_LINE",
    "BUSINESS_NAME": "MERCHANT_NAME",
    "CARD_NUMBER": "PAYMENT_METHOD",
    "PAYMENT_TYPE": "PAYMENT_METHOD",
    "O": None,
}

MERGE_PRESETS: dict[str, dict[str, str]] = {
    "none": {},
    "amounts": {"LINE_TOTAL": "AMOUNT", "SUBTOTAL": "AMOUNT", "TAX": "AMOUNT", "GRAND_TOTAL": "AMOUNT"},
    "date_time": {"TIME": "DATE"},
    "address_phone": {"ADDRESS_LINE": "ADDRESS", "PHONE_NUMBER": "ADDRESS"},
}
MERGE_PRESETS["sroie"] = {**MERGE_PRESETS["amounts"], **MERGE_PRESETS["date_time"], **MERGE_PRESETS["address_phone"]}

VALIDATION_STATUSES = ("NONE", "PENDING", "VALID", "INVALID", "NEEDS_REVIEW")

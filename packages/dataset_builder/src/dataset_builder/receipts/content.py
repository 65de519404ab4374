"""What a synthetic receipt says: header, items, totals, payment and footer, printed by one
merchant's template, with amounts that add up. Every word gets the label it should carry,
and a given kind of word always gets the same one, so that a model can learn it:

- amounts carry the label of their row (the LINE_TOTAL of an item, the GRAND_TOTAL of the
  total row...); the keyword beside them (`TOTAL`, `TAX 8.25%`, `CHANGE`) is O;
- item rows: name PRODUCT_NAME, count or volume QUANTITY, price per unit UNIT_PRICE;
- a coupon row (code and amount) is COUPON; any other price reduction's amount is DISCOUNT;
- the amount tendered is O; the card brand and the card number are PAYMENT_METHOD ("VISA
  ****1234", as the user's labels define it; old rows called the number CARD_NUMBER, which their
  client reads as PAYMENT_METHOD).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from .merchants import CATALOGS, Merchant, Product, Template
from .printer import Printer, Row, Token, fit, phrase

CARD_BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER", "DEBIT")
MOBILE_WALLETS = ("APPLE PAY", "GOOGLE PAY")
TOTAL_KEYWORDS = ("TOTAL", "GRAND TOTAL", "AMOUNT DUE", "BALANCE DUE", "TOTAL DUE")
SUBTOTAL_KEYWORDS = ("SUBTOTAL", "SUB TOTAL", "SUB-TOTAL")
SAVINGS_KEYWORDS = ("MEMBER SAVINGS", "SALE", "INSTANT SAVINGS", "PROMO")
THANKS = ("THANK YOU FOR SHOPPING WITH US", "THANK YOU!", "PLEASE COME AGAIN", "HAVE A NICE DAY")
NOTICES = ("RETURNS ACCEPTED WITHIN 30 DAYS WITH RECEIPT", "KEEP YOUR RECEIPT FOR WARRANTY", "NO REFUNDS ON SALE ITEMS")
STAFF = ("MARIA", "JAMES", "ANNA", "WEI", "OMAR", "PRIYA", "LUCAS", "SOFIA", "DEV", "KIM")


def money(cents: int, template: Template, *, total: bool = False) -> tuple[str, ...]:
    """An amount as the merchant prints it (one word, or `$` and the number on a total row)."""
    whole, frac = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    style = template.money_style
    body = f"{whole:,}".replace(",", ".") + f",{frac:02d}" if style == "comma" else f"{whole:,}.{frac:02d}"
    if style == "dollar_all" or (style == "dollar_total" and total):
        return (f"{sign}${body}",)
    if style == "dollar_spaced" and total:
        return ("$", f"{sign}{body}")
    return (f"{sign}{body}",)


def amount(cents: int, template: Template, label: str | None, *, total: bool = False) -> tuple[Token, ...]:
    return tuple(Token(text, label) for text in money(cents, template, total=total))


def _decimal(value: float, places: int, template: Template) -> str:
    text = f"{value:.{places}f}"
    return text.replace(".", ",") if template.money_style == "comma" else text


@dataclass
class _Ledger:
    """Running sums in cents while the item rows are printed."""

    goods: int = 0
    reductions: int = 0
    count: int = 0


def compose(rng: random.Random, merchant: Merchant, when: datetime, n_items: int) -> list[Row]:
    """The printed rows of one receipt, top to bottom."""
    template = merchant.template
    printer = Printer(template.width)
    date_at_bottom = rng.random() < 0.2
    website_in_footer = rng.random() < 0.3
    _header(printer, rng, merchant, when, show_date=not date_at_bottom, show_website=not website_in_footer)
    ledger = _items(printer, rng, merchant, n_items)
    _totals(printer, rng, merchant, ledger)
    _footer(printer, rng, merchant, when, show_date=date_at_bottom, show_website=website_in_footer)
    return printer.rows


def _date_time(rng: random.Random, template: Template, when: datetime) -> tuple[tuple[Token, ...], tuple[Token, ...]]:
    date = phrase(when.strftime(template.date_format).upper(), "DATE")
    time = phrase(when.strftime(template.time_format), "TIME")
    if rng.random() < 0.3:
        date, time = (Token("DATE:"), *date), (Token("TIME:"), *time)
    return date, time


def _header(
    printer: Printer, rng: random.Random, merchant: Merchant, when: datetime, *, show_date: bool, show_website: bool
) -> None:
    template = merchant.template
    name = phrase(merchant.name, "MERCHANT_NAME")
    big = template.big_name and len(merchant.name) * 2 <= template.width
    printer.center(name, scale=2.0 if big else 1.0)
    street, city = phrase(merchant.street, "ADDRESS_LINE"), phrase(merchant.city, "ADDRESS_LINE")
    phone = (*phrase(rng.choice(("TEL", "PHONE:", "PH", ""))), *phrase(merchant.phone, "PHONE_NUMBER"))
    website = phrase(merchant.website, "WEBSITE") if merchant.website and show_website else ()
    if template.two_columns:
        printer.line(street, phone, wrap=True)
        printer.line(city, website, wrap=True)
    else:
        for tokens in (street, city, phone, website):
            if tokens:
                printer.center(tokens)
    if merchant.hours and rng.random() < 0.8:
        prefix = phrase("HOURS:") if rng.random() < 0.5 and not merchant.hours.startswith("OPEN") else ()
        printer.center((*prefix, *phrase(merchant.hours, "STORE_HOURS")))
    printer.blank()
    if show_date:
        date, time = _date_time(rng, template, when)
        if template.two_columns or rng.random() < 0.5:
            printer.line(date, time, wrap=True)
        else:
            printer.line(date)
            printer.line(time)
    store = phrase(f"STORE #{rng.randint(1, 9999):04d}")
    register = phrase(f"REG {rng.randint(1, 12):02d} TRANS {rng.randint(1, 99999):05d}")
    printer.line(store, register, wrap=True)
    if merchant.kind == "restaurant":
        printer.line(phrase(f"SERVER: {rng.choice(STAFF)}"), phrase(f"TABLE {rng.randint(1, 40)}"))
        printer.line(phrase(f"GUESTS: {rng.randint(1, 6)}"))
    elif rng.random() < 0.5:
        printer.line(phrase(f"CASHIER: {rng.choice(STAFF)}"))
    if merchant.kind in ("grocery", "pharmacy", "cafe", "pet", "books") and rng.random() < 0.35:
        number = f"{rng.randint(10**9, 10**10 - 1)}"
        loyalty = phrase(number if rng.random() < 0.5 else f"{number[:4]} {number[4:8]} {number[8:]}", "LOYALTY_ID")
        printer.line(phrase(rng.choice(("MEMBER ID:", "REWARDS #", "LOYALTY NO."))), loyalty)


def _quantity(rng: random.Random, merchant: Merchant, product: Product) -> float:
    if product.by_volume:
        return round(rng.uniform(3.0, 18.0), 3)
    roll = rng.random()
    if roll < 0.7:
        return 1
    bulk = merchant.kind in ("grocery", "bakery", "hardware")
    return rng.randint(2, 3) if roll < 0.9 or not bulk else rng.randint(4, 12)


def _item(printer: Printer, rng: random.Random, template: Template, product: Product, quantity: float) -> int:
    """Print one item in the template's style; returns its line total in cents."""
    if product.by_volume:
        total = round(quantity * product.price_mills / 10)
        qty = (Token(_decimal(quantity, 3, template), "QUANTITY"), Token("GAL"))
        unit = (Token(_decimal(product.price_mills / 1000, 3, template), "UNIT_PRICE"),)
    else:
        unit_cents = product.price_mills // 10
        total = int(quantity) * unit_cents
        qty = (Token(str(int(quantity)), "QUANTITY"),)
        unit = amount(unit_cents, template, "UNIT_PRICE")
    name = phrase(product.name, "PRODUCT_NAME")
    line_total = amount(total, template, "LINE_TOTAL")
    style = template.item_style
    if style == "table":
        width = template.width
        printer.columns(
            [
                (0, qty[:1], False),
                (4, fit(name, width - 26), False),
                (width - 11, unit, True),
                (width, line_total, True),
            ]
        )
    elif style == "two_line":
        printer.line(name)
        printer.line((*qty, Token(rng.choice(("@", "x"))), *unit), line_total, indent=3)
    elif style == "qty_first":
        printer.line((*qty, *name), line_total)
        if quantity != 1 and rng.random() < 0.5:
            printer.line((Token("@"), *unit, Token("EA")), indent=2)
    else:
        if quantity != 1:
            printer.line((*qty, Token("@"), *unit), indent=2)
        printer.line(name, line_total)
    return total


def _items(printer: Printer, rng: random.Random, merchant: Merchant, n_items: int) -> _Ledger:
    template = merchant.template
    catalog = CATALOGS[merchant.kind]
    ledger = _Ledger()
    if rng.random() < 0.6:
        printer.rule(rng.choice("-=*"))
    if template.item_style == "table":
        width = template.width
        printer.columns(
            [
                (0, phrase("QTY"), False),
                (4, phrase("ITEM"), False),
                (width - 11, phrase("PRICE"), True),
                (width, phrase("AMOUNT"), True),
            ]
        )
    for _ in range(n_items):
        product = rng.choice(catalog)
        quantity = _quantity(rng, merchant, product)
        total = _item(printer, rng, template, product, quantity)
        ledger.goods += total
        ledger.count += 1 if product.by_volume else int(quantity)
        roll = rng.random()
        if roll < 0.07 and total >= 100:
            saving = max(10, round(total * rng.uniform(0.1, 0.3)))
            printer.line(phrase(rng.choice(SAVINGS_KEYWORDS)), amount(-saving, template, "DISCOUNT"), indent=2)
            ledger.reductions += saving
        elif roll < 0.10 and total >= 200:
            coupon = rng.choice((25, 50, 75, 100, 150))
            code = Token(f"C{rng.randint(10000, 99999)}", "COUPON")
            printer.line((Token("COUPON"), code), amount(-coupon, template, "COUPON"), indent=2)
            ledger.reductions += coupon
    if n_items > 1 and rng.random() < 0.03:
        product = rng.choice(catalog)
        refund = product.price_mills // 10
        if refund < ledger.goods - ledger.reductions:
            printer.line((Token("RETURN"), *phrase(product.name, "PRODUCT_NAME")), amount(-refund, template, "REFUND"))
            ledger.reductions += refund
    return ledger


def _totals(printer: Printer, rng: random.Random, merchant: Merchant, ledger: _Ledger) -> None:
    template = merchant.template
    if rng.random() < 0.5:
        printer.rule("-")
    else:
        printer.blank()
    if rng.random() < 0.4:
        printer.line(phrase(f"ITEMS SOLD: {ledger.count}" if rng.random() < 0.5 else f"{ledger.count} ITEMS"))
    subtotal = ledger.goods - ledger.reductions
    printer.line(phrase(rng.choice(SUBTOTAL_KEYWORDS)), amount(subtotal, template, "SUBTOTAL"))
    taxable = subtotal
    if rng.random() < 0.08:
        percent = rng.choice((5, 10, 15))
        reduction = round(subtotal * percent / 100)
        printer.line(phrase(f"LOYALTY {percent}% OFF"), amount(-reduction, template, "DISCOUNT"))
        taxable -= reduction
    rate_text = f"{template.tax_rate * 100:.4g}%"
    if template.tax_included:
        tax = round(taxable * template.tax_rate / (1 + template.tax_rate))
    else:
        tax = round(taxable * template.tax_rate)
        printer.line(
            phrase(f"{template.tax_name} {rate_text}" if rng.random() < 0.6 else template.tax_name),
            amount(tax, template, "TAX"),
        )
    tip = 0
    if template.tips and rng.random() < 0.7:
        percent = rng.choice((15, 18, 20, 22))
        tip = round(taxable * percent / 100)
        printer.line(phrase("TIP" if rng.random() < 0.6 else f"GRATUITY {percent}%"), amount(tip, template, "TIP"))
    total = taxable + (0 if template.tax_included else tax) + tip
    printer.line(phrase(rng.choice(TOTAL_KEYWORDS)), amount(total, template, "GRAND_TOTAL", total=True))
    if template.tax_included:
        printer.line(phrase(f"INCL. {template.tax_name} {rate_text}"), amount(tax, template, "TAX"))
    printer.blank()
    _payment(printer, rng, merchant, total)


def _payment(printer: Printer, rng: random.Random, merchant: Merchant, total: int) -> None:
    template = merchant.template
    roll = rng.random()
    cash_share = 0.1 if merchant.kind == "fuel" else 0.3
    if roll < cash_share:
        step = rng.choice((100, 500, 1000, 2000, 5000))
        tendered = -(-total // step) * step if rng.random() < 0.85 else total
        printer.line(phrase("CASH", "PAYMENT_METHOD"), amount(tendered, template, None))
        printer.line(phrase(rng.choice(("CHANGE", "CHANGE DUE"))), amount(tendered - total, template, "CHANGE"))
        return
    if roll < cash_share + 0.1:
        method = phrase(rng.choice(MOBILE_WALLETS), "PAYMENT_METHOD")
        printer.line(method, amount(total, template, None))
        printer.line(phrase("CONTACTLESS"))
        return
    brand = rng.choice(CARD_BRANDS)
    digits = f"{rng.randint(0, 9999):04d}"
    card = Token(
        rng.choice(("************", "****", "XXXX-XXXX-XXXX-")).replace("X", "*") + digits,
        "PAYMENT_METHOD",
        "CARD_NUMBER",
    )
    charged = total
    if brand == "DEBIT" and rng.random() < 0.25:
        cash_back = rng.choice((2000, 4000, 6000))
        printer.line(phrase("CASH BACK"), amount(cash_back, template, "CASH_BACK"))
        charged += cash_back
    if rng.random() < 0.5:
        printer.line((Token(brand, "PAYMENT_METHOD"), card), amount(charged, template, None))
    else:
        printer.line((Token(brand, "PAYMENT_METHOD"),), amount(charged, template, None))
        printer.line(phrase("CARD #:"), (card,))
    printer.line(phrase(f"AUTH CODE: {rng.randint(0, 999999):06d}"))
    if rng.random() < 0.5:
        printer.line(phrase("APPROVED"))


def _footer(
    printer: Printer, rng: random.Random, merchant: Merchant, when: datetime, *, show_date: bool, show_website: bool
) -> None:
    printer.blank()
    if show_date:
        date, time = _date_time(rng, merchant.template, when)
        printer.line(date, time, wrap=True)
    printer.paragraph(rng.choice(THANKS))
    if rng.random() < 0.4:
        printer.paragraph(rng.choice(NOTICES))
    if show_website and merchant.website:
        printer.center(phrase("VISIT US AT"))
        printer.center(phrase(merchant.website, "WEBSITE"))
    if rng.random() < 0.3:
        printer.center(phrase(" ".join(f"{rng.randint(0, 9999):04d}" for _ in range(4))))

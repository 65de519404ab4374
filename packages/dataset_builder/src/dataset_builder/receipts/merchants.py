"""The merchants the synthetic generator prints receipts for: who they are, what they sell,
and how their till formats a receipt. Data only; `synthetic` decides what goes on a receipt.

Phone numbers use the fictional 555-01xx range and the websites the reserved `.example`
domain, so nothing generated points at a real business.
"""

from __future__ import annotations

from dataclasses import dataclass

ITEM_STYLES = ("name_price", "qty_first", "two_line", "table")
MONEY_STYLES = ("plain", "dollar_total", "dollar_all", "dollar_spaced", "comma")


@dataclass(frozen=True)
class Template:
    """How one merchant's till prints: paper width in characters, how item lines look, which
    date/time/money formats, how tax is shown, and whether the header runs in two columns."""

    width: int
    item_style: str
    date_format: str
    time_format: str
    money_style: str = "plain"
    tax_name: str = "TAX"
    tax_rate: float = 0.0825
    tax_included: bool = False
    tips: bool = False
    two_columns: bool = False
    big_name: bool = True

    def __post_init__(self) -> None:
        if self.item_style not in ITEM_STYLES or self.money_style not in MONEY_STYLES:
            raise ValueError(f"unknown item or money style in {self}")
        if self.item_style == "table" and self.width < 40:
            raise ValueError("the table item style needs a paper at least 40 characters wide")


@dataclass(frozen=True)
class Merchant:
    name: str
    kind: str
    street: str
    city: str
    phone: str
    website: str | None
    hours: str | None
    template: Template


@dataclass(frozen=True)
class Product:
    name: str
    price_mills: int
    """Price in thousandths of the currency unit: fuel is priced to the tenth of a cent."""
    by_volume: bool = False
    """Sold by the gallon (fuel): the quantity is a decimal volume, not a count."""


def _catalog(text: str) -> tuple[Product, ...]:
    """`NAME WORDS 3.49; ...` -> products; a name ending in `*` is sold by volume."""
    products = []
    for entry in text.split(";"):
        name, price = entry.strip().rsplit(" ", 1)
        products.append(Product(name.rstrip("*"), round(float(price) * 1000), name.endswith("*")))
    return tuple(products)


CATALOGS: dict[str, tuple[Product, ...]] = {
    "grocery": _catalog(
        "ORGANIC BANANAS 0.69; WHOLE MILK 1GAL 3.49; LARGE EGGS DOZEN 2.99; SOURDOUGH BREAD 4.29;"
        "CHEDDAR CHEESE 8OZ 3.99; BABY SPINACH 3.49; CHICKEN BREAST 8.79; GROUND BEEF 80/20 6.49;"
        "GALA APPLES 1.29; ROMA TOMATOES 1.19; PENNE PASTA 1.79; MARINARA SAUCE 3.29; GREEK YOGURT 1.25;"
        "ORANGE JUICE 52OZ 4.49; COFFEE BEANS 12OZ 9.99; PEANUT BUTTER 3.79; OAT CRUNCH CEREAL 4.59;"
        "PAPER TOWELS 6PK 8.99; DISH SOAP 2.99; HASS AVOCADO 1.49; SPARKLING WATER 12PK 5.99;"
        "FROZEN PIZZA 6.99; BROWN RICE 2LB 3.19; OLIVE OIL 9.49; BLUEBERRIES 4.99; BUTTER 4.19"
    ),
    "cafe": _catalog(
        "LATTE 4.75; CAPPUCCINO 4.50; COLD BREW 4.25; AMERICANO 3.50; FLAT WHITE 4.65; CHAI TEA LATTE 4.95;"
        "HOT CHOCOLATE 3.95; DOUBLE ESPRESSO 3.25; BLUEBERRY MUFFIN 3.25; CROISSANT 3.45;"
        "BAGEL CREAM CHEESE 3.95; AVOCADO TOAST 8.50; EXTRA SHOT 0.80; OAT MILK 0.70; MATCHA LATTE 5.25"
    ),
    "restaurant": _catalog(
        "CAESAR SALAD 11.50; MARGHERITA PIZZA 15.00; CHEESEBURGER 14.25; FISH TACOS 13.75; RIBEYE STEAK 32.00;"
        "CHICKEN WINGS 12.50; FRENCH FRIES 5.00; ONION RINGS 6.25; PAD THAI 14.50; SPAGHETTI BOLOGNESE 16.75;"
        "HOUSE RED WINE 9.00; DRAFT IPA 7.50; ICED TEA 3.25; SODA 2.95; CHOCOLATE CAKE 8.00; TIRAMISU 8.50"
    ),
    "pharmacy": _catalog(
        "IBUPROFEN 200MG 100CT 8.99; VITAMIN D3 2000IU 9.49; ALLERGY RELIEF 24HR 18.99; COUGH SYRUP 4OZ 9.79;"
        "BANDAGES ASSORTED 4.99; HAND SANITIZER 3.49; TOOTHPASTE 2.99; SHAMPOO 12OZ 6.49; SUNSCREEN SPF50 10.99;"
        "LIP BALM 2.49; MULTIVITAMIN 12.99; COTTON SWABS 3.29; FACE WASH 7.99; DIGITAL THERMOMETER 12.49"
    ),
    "hardware": _catalog(
        "WOOD SCREWS 1LB 7.98; LED BULB 60W 4PK 9.97; DUCT TAPE 5.48; PAINT ROLLER 9IN 6.97;"
        "INTERIOR PAINT GAL 32.98; CLAW HAMMER 16OZ 14.97; TAPE MEASURE 25FT 12.98; EXTENSION CORD 9.88;"
        "WD-40 8OZ 5.98; CAULK WHITE 4.48; SANDPAPER ASSORTED 5.97; PVC ELBOW 1/2IN 0.68; GARDEN HOSE 50FT 24.98;"
        "WORK GLOVES 8.97; ZIP TIES 100PK 4.97"
    ),
    "fuel": _catalog(
        "REGULAR UNLEADED* 3.459; PREMIUM UNLEADED* 4.199; DIESEL* 3.899; COFFEE 20OZ 1.99; BOTTLED WATER 1.49;"
        "ENERGY DRINK 2.99; BEEF JERKY 6.99; POTATO CHIPS 1.99; CANDY BAR 1.59; CAR WASH DELUXE 12.00"
    ),
    "electronics": _catalog(
        "USB-C CABLE 6FT 14.99; WIRELESS MOUSE 24.99; HDMI CABLE 4K 19.99; PHONE CASE 29.99;"
        "SCREEN PROTECTOR 12.99; BLUETOOTH SPEAKER 49.99; AA BATTERIES 8PK 7.99; MEMORY CARD 128GB 18.99;"
        "WALL CHARGER 20W 19.99; WIRELESS EARBUDS 79.99; LAPTOP STAND 34.99; MECHANICAL KEYBOARD 89.99"
    ),
    "bakery": _catalog(
        "BAGUETTE 3.50; BUTTER CROISSANT 2.95; PAIN AU CHOCOLAT 3.25; CINNAMON ROLL 3.75; SOURDOUGH LOAF 7.50;"
        "RYE BREAD 6.25; APPLE TURNOVER 3.50; ECLAIR 4.25; MACARON 2.25; FRUIT TART 5.50; SMALL COFFEE 2.50;"
        "BRIOCHE 4.75"
    ),
    "books": _catalog(
        "THE MIDNIGHT LIBRARY 16.99; PROJECT HAIL MARY 18.99; ATOMIC HABITS 21.99; DUNE PAPERBACK 10.99;"
        "RULED NOTEBOOK 5.99; GEL PENS 6PK 8.99; BOOKMARK 2.50; WALL CALENDAR 14.99; GREETING CARD 4.99;"
        "PUZZLE 1000PC 19.99; GIFT BAG 3.49"
    ),
    "apparel": _catalog(
        "COTTON T-SHIRT 14.99; SLIM FIT JEANS 49.99; ZIP HOODIE 39.99; ATHLETIC SOCKS 3PK 12.99;"
        "BASEBALL CAP 19.99; RAIN JACKET 69.99; LEATHER BELT 24.99; WOOL SCARF 29.99; RUNNING SHORTS 22.99"
    ),
    "pet": _catalog(
        "DOG FOOD 30LB 42.99; CAT LITTER 20LB 14.99; CHEW TOY 7.99; CAT TREATS 3.49; FLEA COLLAR 19.99;"
        "DOG LEASH 15.99; BIRD SEED 5LB 8.49; AQUARIUM FILTER 24.99; PET SHAMPOO 9.99"
    ),
}

_T = Template

MERCHANTS: tuple[Merchant, ...] = (
    Merchant(
        "GREEN LEAF MARKET",
        "grocery",
        "1420 W MAIN ST",
        "SPRINGFIELD, IL 62704",
        "(217) 555-0134",
        "greenleafmarket.example",
        "MON-SUN 7AM-10PM",
        _T(40, "two_line", "%m/%d/%Y", "%I:%M %p", "dollar_total"),
    ),
    Merchant(
        "FRESHWAY FOODS",
        "grocery",
        "88 HARBOR BLVD",
        "OAKLAND, CA 94607",
        "510-555-0187",
        "freshway.example",
        "OPEN 24 HOURS",
        _T(42, "name_price", "%m/%d/%y", "%H:%M:%S", tax_rate=0.0925, two_columns=True),
    ),
    Merchant(
        "VALLEY GROCERS",
        "grocery",
        "3301 ELM AVE",
        "BOISE, ID 83702",
        "(208) 555-0112",
        None,
        "DAILY 6AM-11PM",
        _T(32, "qty_first", "%m/%d/%Y", "%I:%M %p", tax_rate=0.06, big_name=False),
    ),
    Merchant(
        "CORNER PANTRY",
        "grocery",
        "17 CHURCH ST",
        "BURLINGTON, VT 05401",
        "802-555-0148",
        "cornerpantry.example",
        None,
        _T(32, "name_price", "%m/%d/%y", "%H:%M", "dollar_all", tax_rate=0.06),
    ),
    Merchant(
        "MARCHE DU COIN",
        "grocery",
        "12 RUE DES LILAS",
        "75019 PARIS",
        "01 55 50 01 23",
        "marcheducoin.example",
        "LUN-SAM 8H-20H",
        _T(40, "two_line", "%d.%m.%Y", "%H:%M", "comma", "TVA", 0.055, tax_included=True),
    ),
    Merchant(
        "BEAN THERE CAFE",
        "cafe",
        "210 PINE ST",
        "SEATTLE, WA 98101",
        "(206) 555-0163",
        "beanthere.example",
        "MON-FRI 6AM-6PM",
        _T(32, "qty_first", "%b %d, %Y", "%I:%M %p", "dollar_total", tax_rate=0.101, tips=True),
    ),
    Merchant(
        "DAILY GRIND COFFEE",
        "cafe",
        "45 COLLEGE AVE",
        "ITHACA, NY 14850",
        "607-555-0171",
        None,
        "7AM-7PM EVERY DAY",
        _T(32, "name_price", "%m/%d/%Y", "%H:%M", tax_rate=0.08, tips=True),
    ),
    Merchant(
        "KAFFEEHAUS LINDE",
        "cafe",
        "LINDENSTRASSE 4",
        "10969 BERLIN",
        "030 5550 1290",
        "kaffeehaus-linde.example",
        "MO-SA 8-18 UHR",
        _T(36, "qty_first", "%d.%m.%Y", "%H:%M:%S", "comma", "MWST", 0.19, tax_included=True, big_name=False),
    ),
    Merchant(
        "THE ROASTING ROOM",
        "cafe",
        "9 FRONT ST",
        "PORTLAND, ME 04101",
        "(207) 555-0119",
        "roastingroom.example",
        None,
        _T(42, "table", "%Y-%m-%d", "%H:%M", "dollar_spaced", tax_rate=0.055, tips=True, two_columns=True),
    ),
    Merchant(
        "LUIGI'S TRATTORIA",
        "restaurant",
        "508 MULBERRY ST",
        "NEW YORK, NY 10013",
        "(212) 555-0145",
        "luigistrattoria.example",
        "TUE-SUN 5PM-11PM",
        _T(40, "qty_first", "%m/%d/%Y", "%I:%M %p", "dollar_total", tax_rate=0.08875, tips=True),
    ),
    Merchant(
        "SMOKEHOUSE BBQ",
        "restaurant",
        "2200 RIVER RD",
        "AUSTIN, TX 78701",
        "512-555-0156",
        "smokehousebbq.example",
        "11AM-10PM",
        _T(42, "table", "%m/%d/%y", "%I:%M:%S %p", tax_rate=0.0825, tips=True, two_columns=True),
    ),
    Merchant(
        "GOLDEN DRAGON",
        "restaurant",
        "77 GRANT AVE",
        "SAN FRANCISCO, CA 94108",
        "(415) 555-0138",
        None,
        "DAILY 11AM-9:30PM",
        _T(32, "name_price", "%m/%d/%Y", "%H:%M", tax_rate=0.08625, tips=True),
    ),
    Merchant(
        "HARBOR FISH HOUSE",
        "restaurant",
        "1 PIER WAY",
        "MONTEREY, CA 93940",
        "831-555-0102",
        "harborfish.example",
        "MON-SUN 12-10PM",
        _T(48, "table", "%a %m/%d/%Y", "%I:%M %p", "dollar_all", tax_rate=0.0875, tips=True, two_columns=True),
    ),
    Merchant(
        "TACO FIESTA",
        "restaurant",
        "615 E 6TH ST",
        "TUCSON, AZ 85705",
        "(520) 555-0177",
        "tacofiesta.example",
        None,
        _T(32, "qty_first", "%m/%d/%y", "%I:%M %p", tax_rate=0.087, tips=True, big_name=False),
    ),
    Merchant(
        "CITYCARE PHARMACY",
        "pharmacy",
        "400 LAKE SHORE DR",
        "CHICAGO, IL 60611",
        "312-555-0192",
        "citycarerx.example",
        "MON-FRI 8AM-9PM",
        _T(40, "name_price", "%m/%d/%Y", "%I:%M %p", "dollar_total", tax_rate=0.1025, two_columns=True),
    ),
    Merchant(
        "WELLNESS DRUG CO",
        "pharmacy",
        "1550 BROADWAY",
        "DENVER, CO 80202",
        "(303) 555-0126",
        "wellnessdrug.example",
        "OPEN 24 HOURS",
        _T(32, "two_line", "%m/%d/%y", "%H:%M", tax_rate=0.0881),
    ),
    Merchant(
        "APOTHEKE AM MARKT",
        "pharmacy",
        "MARKTPLATZ 7",
        "80331 MUENCHEN",
        "089 5550 7710",
        None,
        "MO-FR 8-19 UHR",
        _T(36, "name_price", "%d.%m.%Y", "%H:%M", "comma", "MWST", 0.19, tax_included=True),
    ),
    Merchant(
        "BUILDRIGHT HARDWARE",
        "hardware",
        "7800 INDUSTRIAL PKWY",
        "COLUMBUS, OH 43219",
        "(614) 555-0151",
        "buildright.example",
        "MON-SAT 6AM-9PM",
        _T(48, "table", "%m/%d/%Y", "%I:%M %p", "dollar_total", tax_rate=0.075, two_columns=True),
    ),
    Merchant(
        "ACE OF TOOLS",
        "hardware",
        "34 MILL RD",
        "NASHUA, NH 03060",
        "603-555-0183",
        None,
        "7AM-6PM",
        _T(40, "two_line", "%m/%d/%y", "%H:%M:%S", tax_rate=0.0),
    ),
    Merchant(
        "HOMESTEAD SUPPLY",
        "hardware",
        "920 PRAIRIE AVE",
        "WICHITA, KS 67203",
        "(316) 555-0107",
        "homesteadsupply.example",
        None,
        _T(42, "qty_first", "%Y-%m-%d", "%H:%M", tax_rate=0.075),
    ),
    Merchant(
        "QUIKFUEL",
        "fuel",
        "5100 HWY 61 N",
        "MEMPHIS, TN 38127",
        "901-555-0199",
        "quikfuel.example",
        "OPEN 24/7",
        _T(32, "two_line", "%m/%d/%y", "%H:%M:%S", tax_rate=0.0975, big_name=False),
    ),
    Merchant(
        "SUNRISE GAS & MART",
        "fuel",
        "2 ROUTE 9",
        "SARATOGA, NY 12866",
        "(518) 555-0131",
        None,
        "5AM-MIDNIGHT",
        _T(32, "name_price", "%m/%d/%Y", "%I:%M %p", tax_rate=0.07),
    ),
    Merchant(
        "PIXEL ELECTRONICS",
        "electronics",
        "600 TECH WAY",
        "SAN JOSE, CA 95134",
        "(408) 555-0168",
        "pixelelectronics.example",
        "MON-SUN 10AM-9PM",
        _T(48, "table", "%m/%d/%Y", "%I:%M %p", "dollar_all", tax_rate=0.09375, two_columns=True),
    ),
    Merchant(
        "VOLT & WIRE",
        "electronics",
        "118 S STATE ST",
        "ANN ARBOR, MI 48104",
        "734-555-0142",
        "voltwire.example",
        None,
        _T(40, "name_price", "%b %d, %Y", "%H:%M", "dollar_total", tax_rate=0.06),
    ),
    Merchant(
        "LA PETITE BOULANGERIE",
        "bakery",
        "5 PLACE DU MARCHE",
        "69002 LYON",
        "04 55 50 12 34",
        None,
        "MAR-DIM 7H-19H",
        _T(36, "qty_first", "%d/%m/%Y", "%H:%M", "comma", "TVA", 0.055, tax_included=True, big_name=False),
    ),
    Merchant(
        "SWEET CRUMB BAKERY",
        "bakery",
        "73 MAPLE ST",
        "MADISON, WI 53703",
        "(608) 555-0115",
        "sweetcrumb.example",
        "WED-SUN 7AM-3PM",
        _T(32, "name_price", "%m/%d/%Y", "%I:%M %p", tax_rate=0.055, tips=True),
    ),
    Merchant(
        "DOG-EARED BOOKS",
        "books",
        "1010 VALENCIA ST",
        "SAN FRANCISCO, CA 94110",
        "415-555-0104",
        "dogearedbooks.example",
        "10AM-10PM DAILY",
        _T(40, "two_line", "%m/%d/%Y", "%H:%M", "dollar_total", tax_rate=0.08625),
    ),
    Merchant(
        "CHAPTER & VERSE",
        "books",
        "22 BEACON ST",
        "BOSTON, MA 02108",
        "(617) 555-0158",
        "chapterverse.example",
        None,
        _T(42, "name_price", "%d-%b-%Y", "%I:%M %p", tax_rate=0.0625, two_columns=True),
    ),
    Merchant(
        "THREADS OUTFITTERS",
        "apparel",
        "455 MARKET ST",
        "PHILADELPHIA, PA 19106",
        "215-555-0122",
        "threadsoutfitters.example",
        "MON-SAT 10AM-8PM",
        _T(42, "table", "%m/%d/%Y", "%I:%M %p", "dollar_total", tax_rate=0.0, two_columns=True),
    ),
    Merchant(
        "NORTH TRAIL APPAREL",
        "apparel",
        "300 CANYON BLVD",
        "BOULDER, CO 80302",
        "(303) 555-0176",
        None,
        "9AM-7PM",
        _T(40, "qty_first", "%m/%d/%y", "%H:%M", tax_rate=0.0885),
    ),
    Merchant(
        "HAPPY PAWS PET SUPPLY",
        "pet",
        "6400 N KEYSTONE AVE",
        "INDIANAPOLIS, IN 46220",
        "317-555-0139",
        "happypaws.example",
        "MON-SUN 9AM-9PM",
        _T(40, "name_price", "%m/%d/%Y", "%I:%M %p", "dollar_all", tax_rate=0.07),
    ),
    Merchant(
        "FURRY FRIENDS MARKET",
        "pet",
        "19 OCEAN AVE",
        "SANTA CRUZ, CA 95060",
        "(831) 555-0181",
        "furryfriends.example",
        None,
        _T(32, "two_line", "%Y-%m-%d", "%H:%M:%S", tax_rate=0.0925, big_name=False),
    ),
)

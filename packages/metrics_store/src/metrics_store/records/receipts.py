"""Receipt entities (the OCR side of the table): receipts, lines, words, word labels, places.

Each item is what the user's own client (`receipt_dynamo`) writes for the same entity: the
same keys, indexes and attributes, absent optionals as NULL, ids kept in the keys (a place
also has them as attributes); tests/compat pins each against the client. Lines and words
spread their `Geometry` over the attributes the layout names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from .. import keys
from ..errors import InvalidValue
from .choices import VALIDATION_STATUSES, check_choice
from .codec import Layout, Record

EMBEDDING_STATUS = "NONE"
"""What the user's pipeline writes on a line or word no embedding job has seen yet."""

# --- geometry (normalized 0..1, bottom-left origin) ---------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float

    def to_dict(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Point:
        return cls(float(d["x"]), float(d["y"]))


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where a line or word sits on the receipt crop, as the OCR wrote it: corners and an
    axis-aligned box normalized to 0..1 with the origin at the bottom-left (y grows upward)."""

    top_left: Point
    top_right: Point
    bottom_left: Point
    bottom_right: Point
    angle_degrees: float = 0.0
    angle_radians: float = 0.0
    confidence: float = 1.0

    @property
    def bounding_box(self) -> dict[str, float]:
        xs = [p.x for p in (self.top_left, self.top_right, self.bottom_left, self.bottom_right)]
        ys = [p.y for p in (self.top_left, self.top_right, self.bottom_left, self.bottom_right)]
        return {"x": min(xs), "y": min(ys), "width": max(xs) - min(xs), "height": max(ys) - min(ys)}

    def to_fields(self) -> dict[str, Any]:
        return {
            "bounding_box": self.bounding_box,
            "top_left": self.top_left.to_dict(),
            "top_right": self.top_right.to_dict(),
            "bottom_left": self.bottom_left.to_dict(),
            "bottom_right": self.bottom_right.to_dict(),
            "angle_degrees": self.angle_degrees,
            "angle_radians": self.angle_radians,
            "confidence": self.confidence,
        }

    @classmethod
    def from_fields(cls, d: dict[str, Any]) -> Geometry:
        return cls(
            top_left=Point.from_dict(d["top_left"]),
            top_right=Point.from_dict(d["top_right"]),
            bottom_left=Point.from_dict(d["bottom_left"]),
            bottom_right=Point.from_dict(d["bottom_right"]),
            angle_degrees=float(d.get("angle_degrees") or 0.0),
            angle_radians=float(d.get("angle_radians") or 0.0),
            confidence=1.0 if d.get("confidence") is None else float(d["confidence"]),
        )


# --- receipt entities ---------------------------------------------------------------------


CDN_KEYS = tuple(
    f"cdn_{size}{fmt}s3_key" for size in ("", "thumbnail_", "small_", "medium_") for fmt in ("", "webp_", "avif_")
)


@dataclass(frozen=True, slots=True)
class ReceiptImage:
    """Where the receipt crop sits in its photo (corners, normalized 0..1, bottom-left origin)
    and where its files are (`raw_s3_*`, the pipeline's CDN renditions, `sha256`): the
    attributes the user's Receipt items carry. A receipt we make up or import has no photo:
    the crop is the whole frame and the files are absent."""

    raw_s3_bucket: str = ""
    raw_s3_key: str = ""
    top_left: Point = Point(0.0, 1.0)
    top_right: Point = Point(1.0, 1.0)
    bottom_left: Point = Point(0.0, 0.0)
    bottom_right: Point = Point(1.0, 0.0)
    sha256: str | None = None
    cdn: tuple[tuple[str, str], ...] = ()
    """(attribute, key) of the CDN renditions that exist; the others are NULL."""

    def to_fields(self) -> dict[str, Any]:
        present = dict(self.cdn)
        return {
            "raw_s3_bucket": self.raw_s3_bucket,
            "raw_s3_key": self.raw_s3_key,
            "top_left": self.top_left.to_dict(),
            "top_right": self.top_right.to_dict(),
            "bottom_left": self.bottom_left.to_dict(),
            "bottom_right": self.bottom_right.to_dict(),
            "sha256": self.sha256,
            "cdn_s3_bucket": present.get("cdn_s3_bucket"),
            **{name: present.get(name) for name in CDN_KEYS},
        }

    @classmethod
    def from_fields(cls, d: dict[str, Any]) -> ReceiptImage:
        corners = {
            c: Point.from_dict(d[c])
            for c in ("top_left", "top_right", "bottom_left", "bottom_right")
            if isinstance(d.get(c), dict)
        }
        cdn = tuple((k, d[k]) for k in ("cdn_s3_bucket", *CDN_KEYS) if isinstance(d.get(k), str))
        return cls(
            raw_s3_bucket=d.get("raw_s3_bucket") or "",
            raw_s3_key=d.get("raw_s3_key") or "",
            sha256=d.get("sha256"),
            cdn=cdn,
            **corners,
        )


@dataclass(frozen=True, slots=True)
class Receipt(Record):
    """A receipt crop: its size in pixels and its image (`ReceiptImage`). The merchant is not
    here: the user's table keeps it on the receipt's `ReceiptPlace`."""

    TYPE: ClassVar[str] = "RECEIPT"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=True,
        key_only=("image_id", "receipt_id"),
        flattened={"image": ReceiptImage},
        read_defaults={"timestamp_added": ""},
    )
    image_id: str
    receipt_id: int
    width: int
    height: int
    timestamp_added: str
    image: ReceiptImage = ReceiptImage()

    def item_keys(self) -> dict[str, str]:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        return {
            "PK": keys.image_pk(self.image_id),
            "SK": keys.receipt_sk(self.receipt_id),
            "GSI1PK": keys.image_pk(self.image_id),
            "GSI1SK": keys.receipt_sk(self.receipt_id),
            "GSI2PK": "RECEIPT",
            "GSI2SK": rkey,
            "GSI4PK": rkey,
            "GSI4SK": "0_RECEIPT",
        }

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        return {"image_id": keys.parse_image_pk(pk), "receipt_id": keys.parse_receipt_sk(sk)}


@dataclass(frozen=True, slots=True)
class ReceiptLine(Record):
    TYPE: ClassVar[str] = "RECEIPT_LINE"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=True,
        key_only=("image_id", "receipt_id", "line_id"),
        flattened={"geometry": Geometry},
        read_defaults={"text": ""},
    )
    image_id: str
    receipt_id: int
    line_id: int
    text: str
    geometry: Geometry
    embedding_status: str = EMBEDDING_STATUS
    is_noise: bool = False

    def item_keys(self) -> dict[str, str]:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        sk = keys.line_sk(self.receipt_id, self.line_id)
        return {
            "PK": keys.image_pk(self.image_id),
            "SK": sk,
            "GSI1PK": f"EMBEDDING_STATUS#{self.embedding_status}",
            "GSI1SK": f"LINE#IMAGE#{self.image_id}#{sk}",
            "GSI3PK": rkey,
            "GSI3SK": "LINE",
            "GSI4PK": rkey,
            "GSI4SK": f"2_LINE#{keys.pad_id(self.line_id)}",
        }

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        rid, lid = keys.parse_line_sk(sk)
        return {"image_id": keys.parse_image_pk(pk), "receipt_id": rid, "line_id": lid}


@dataclass(frozen=True, slots=True)
class ReceiptWord(Record):
    TYPE: ClassVar[str] = "RECEIPT_WORD"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=True,
        key_only=("image_id", "receipt_id", "line_id", "word_id"),
        flattened={"geometry": Geometry},
        read_defaults={"text": ""},
    )
    image_id: str
    receipt_id: int
    line_id: int
    word_id: int
    text: str
    geometry: Geometry
    is_noise: bool = False
    extracted_data: dict[str, Any] | None = None
    embedding_status: str = EMBEDDING_STATUS

    def item_keys(self) -> dict[str, str]:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        sk = keys.word_sk(self.receipt_id, self.line_id, self.word_id)
        return {
            "PK": keys.image_pk(self.image_id),
            "SK": sk,
            "GSI1PK": f"EMBEDDING_STATUS#{self.embedding_status}",
            "GSI1SK": f"WORD#IMAGE#{self.image_id}#{sk}",
            "GSI2PK": "RECEIPT",
            "GSI2SK": f"IMAGE#{self.image_id}#{sk}",
            "GSI3PK": rkey,
            "GSI3SK": "WORD",
            "GSI4PK": rkey,
            "GSI4SK": f"3_WORD#{keys.pad_id(self.line_id)}#{keys.pad_id(self.word_id)}",
        }

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        rid, lid, wid, _ = keys.parse_word_sk(sk)
        return {"image_id": keys.parse_image_pk(pk), "receipt_id": rid, "line_id": lid, "word_id": wid}


@dataclass(frozen=True, slots=True)
class ReceiptWordLabel(Record):
    TYPE: ClassVar[str] = "RECEIPT_WORD_LABEL"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=True,
        key_only=("image_id", "receipt_id", "line_id", "word_id", "label"),
        read_defaults={"validation_status": "NONE", "timestamp_added": ""},  # missing status means NONE
    )
    image_id: str
    receipt_id: int
    line_id: int
    word_id: int
    label: str
    validation_status: str
    timestamp_added: str
    reasoning: str | None = None
    label_proposed_by: str | None = None
    label_consolidated_from: str | None = None

    def __post_init__(self) -> None:
        check_choice("validation_status", self.validation_status, VALIDATION_STATUSES)
        if not self.label or self.label != self.label.upper() or "#" in self.label:
            raise ValueError(f"label must be an upper-case name without '#', got {self.label!r}")

    def item_keys(self) -> dict[str, str]:
        sk = keys.label_sk(self.receipt_id, self.line_id, self.word_id, self.label)
        word_sk = keys.word_sk(self.receipt_id, self.line_id, self.word_id)
        position = f"{keys.pad_id(self.line_id)}#{keys.pad_id(self.word_id)}"
        return {
            "PK": keys.image_pk(self.image_id),
            "SK": sk,
            "GSI1PK": keys.label_gsi1pk(self.label),
            "GSI1SK": f"IMAGE#{self.image_id}#{word_sk}",
            "GSI2PK": "RECEIPT",
            "GSI2SK": f"IMAGE#{self.image_id}#{word_sk}",
            "GSI3PK": keys.validation_status_gsi3pk(self.validation_status),
            "GSI3SK": f"IMAGE#{self.image_id}#{sk}",
            "GSI4PK": keys.receipt_key(self.image_id, self.receipt_id),
            "GSI4SK": f"4_LABEL#{position}#{self.label}",
        }

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        rid, lid, wid, label = keys.parse_word_sk(sk)
        return {
            "image_id": keys.parse_image_pk(pk),
            "receipt_id": rid,
            "line_id": lid,
            "word_id": wid,
            "label": label or "",
        }


# --- places (the merchant of a receipt) ------------------------------------------------------

PLACE_VALIDATION_METHODS = ("PHONE_LOOKUP", "ADDRESS_LOOKUP", "NEARBY_LOOKUP", "TEXT_SEARCH", "INFERENCE")
"""What the user's client accepts as a place's `validated_by` (its `ValidationMethod`), or empty."""
PLACE_TEXT_FIELDS = (
    "merchant_category",
    "formatted_address",
    "short_address",
    "phone_number",
    "phone_intl",
    "website",
    "maps_url",
    "business_status",
    "plus_code",
    "validated_by",
    "reasoning",
    "places_api_version",
)


def merchant_slug(name: str) -> str:
    """The merchant as the user's client keys it (GSI1 `MERCHANT#<slug>`): upper-case, runs of
    anything but letters and digits as one `_`."""
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


@dataclass(frozen=True, slots=True)
class PlaceDetails:
    """The optional text of a place: written as NULL when empty, as the user's client does."""

    texts: tuple[tuple[str, str], ...] = ()
    merchant_types: tuple[str, ...] = ()

    def to_fields(self) -> dict[str, Any]:
        present = dict(self.texts)
        fields: dict[str, Any] = {name: present.get(name) or None for name in PLACE_TEXT_FIELDS}
        if self.merchant_types:
            fields["merchant_types"] = list(self.merchant_types)
        return fields

    @classmethod
    def from_fields(cls, d: dict[str, Any]) -> PlaceDetails:
        return cls(
            tuple((n, d[n]) for n in PLACE_TEXT_FIELDS if isinstance(d.get(n), str) and d[n]),
            tuple(d.get("merchant_types") or ()),
        )


@dataclass(frozen=True, slots=True)
class ReceiptPlace(Record):
    """The place a receipt was matched to (Google Places), and so its merchant: the user's table
    keeps a receipt's merchant here (SK `RECEIPT#<rid>#PLACE`, GSI4 `1_PLACE`), not on the Receipt."""

    TYPE: ClassVar[str] = "RECEIPT_PLACE"
    LAYOUT: ClassVar[Layout] = Layout(
        write_nulls=True,
        flattened={"details": PlaceDetails},
        read_defaults={"place_id": "", "validation_status": "", "timestamp": "", "confidence": 0.0},
    )
    image_id: str
    receipt_id: int
    place_id: str
    merchant_name: str
    validation_status: str = ""
    timestamp: str = ""
    confidence: float = 0.0
    details: PlaceDetails = PlaceDetails()

    def check_writable(self) -> None:
        where = f"{keys.image_pk(self.image_id)}/{keys.place_sk(self.receipt_id)}"
        if not merchant_slug(self.merchant_name):
            raise InvalidValue(
                f"{where}: merchant_name {self.merchant_name!r} has no letter or digit (the user's client refuses it)"
            )
        if not 0.0 <= self.confidence <= 1.0:
            raise InvalidValue(f"{where}: confidence must be within 0..1, got {self.confidence}")
        if self.place_id and not self.place_id.strip():
            raise InvalidValue(f"{where}: place_id cannot be only whitespace")
        validated_by = dict(self.details.texts).get("validated_by", "")
        if validated_by and validated_by not in PLACE_VALIDATION_METHODS:
            raise InvalidValue(
                f"{where}: validated_by must be one of {', '.join(PLACE_VALIDATION_METHODS)}, got {validated_by!r}"
            )
        try:
            datetime.fromisoformat(self.timestamp)
        except ValueError:
            raise InvalidValue(
                f"{where}: timestamp {self.timestamp!r} is not an ISO time (the user's client parses it)"
            ) from None

    def item_keys(self) -> dict[str, str]:
        sk = keys.place_sk(self.receipt_id)
        anchor = f"IMAGE#{self.image_id}#{sk}"
        item_keys = {
            "PK": keys.image_pk(self.image_id),
            "SK": sk,
            "GSI1PK": f"MERCHANT#{merchant_slug(self.merchant_name)}",
            "GSI1SK": anchor,
            "GSI3PK": "PLACE_VALIDATION",
            "GSI3SK": f"CONFIDENCE#{self.confidence:.4f}#STATUS#{self.validation_status}#IMAGE#{self.image_id}",
            "GSI4PK": keys.receipt_key(self.image_id, self.receipt_id),
            "GSI4SK": "1_PLACE",
        }
        if self.place_id:
            item_keys.update({"GSI2PK": f"PLACE#{self.place_id}", "GSI2SK": anchor})
        return item_keys

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        return {"image_id": keys.parse_image_pk(pk), "receipt_id": keys.parse_receipt_sk(sk.removesuffix("#PLACE"))}

"""Receipt entities (the OCR side of the table): receipts, lines, words, word labels.

They write absent optionals as NULL, as the user's pipeline does, and keep their ids in the
keys; lines and words spread their `Geometry` over the attributes the layout names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .. import keys
from .choices import VALIDATION_STATUSES, check_choice
from .codec import Layout, Record

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


@dataclass(frozen=True, slots=True)
class Receipt(Record):
    TYPE: ClassVar[str] = "RECEIPT"
    LAYOUT: ClassVar[Layout] = Layout(write_nulls=True, read_defaults={"timestamp_added": ""})
    image_id: str
    receipt_id: int
    width: int
    height: int
    timestamp_added: str
    merchant_name: str | None = None

    def item_keys(self) -> dict[str, str]:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        return {
            "PK": keys.image_pk(self.image_id), "SK": keys.receipt_sk(self.receipt_id),
            "GSI2PK": "RECEIPT", "GSI2SK": rkey,
            "GSI4PK": rkey, "GSI4SK": "0_RECEIPT",
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

    def item_keys(self) -> dict[str, str]:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        return {
            "PK": keys.image_pk(self.image_id), "SK": keys.line_sk(self.receipt_id, self.line_id),
            "GSI3PK": rkey, "GSI3SK": "LINE",
            "GSI4PK": rkey, "GSI4SK": f"2_LINE#{keys.pad_id(self.line_id)}",
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

    def item_keys(self) -> dict[str, str]:
        rkey = keys.receipt_key(self.image_id, self.receipt_id)
        sk = keys.word_sk(self.receipt_id, self.line_id, self.word_id)
        return {
            "PK": keys.image_pk(self.image_id), "SK": sk,
            "GSI2PK": "RECEIPT", "GSI2SK": f"IMAGE#{self.image_id}#{sk}",
            "GSI3PK": rkey, "GSI3SK": "WORD",
            "GSI4PK": rkey, "GSI4SK": f"3_WORD#{keys.pad_id(self.line_id)}#{keys.pad_id(self.word_id)}",
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
            "PK": keys.image_pk(self.image_id), "SK": sk,
            "GSI1PK": keys.label_gsi1pk(self.label), "GSI1SK": f"IMAGE#{self.image_id}#{word_sk}",
            "GSI3PK": keys.validation_status_gsi3pk(self.validation_status), "GSI3SK": f"IMAGE#{self.image_id}#{sk}",
            "GSI4PK": keys.receipt_key(self.image_id, self.receipt_id), "GSI4SK": f"4_LABEL#{position}#{self.label}",
        }

    @classmethod
    def fields_from_keys(cls, pk: str, sk: str) -> dict[str, Any]:
        rid, lid, wid, label = keys.parse_word_sk(sk)
        return {"image_id": keys.parse_image_pk(pk), "receipt_id": rid, "line_id": lid, "word_id": wid,
                "label": label or ""}

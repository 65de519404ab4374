"""Word and line geometry in the table's convention: corners normalized to 0..1 of the
receipt crop with the origin at the bottom-left (y grows upward, so an upright word has
`top_left.y > bottom_left.y`).

Two sources: printed rows laid out on a (slightly rotated, slightly noisy) paper for the
synthetic receipts, and pixel boxes with a top-left origin for imported ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from metrics_store.records import Geometry, Point

from .printer import Row

PixelBox = tuple[float, float, float, float]


def pixel_box_geometry(box: Sequence[float], width: float, height: float, *, confidence: float = 1.0) -> Geometry:
    """`[x0, y0, x1, y1]` in pixels, top-left origin (y down) -> normalized, bottom-left origin."""
    x0, y0, x1, y1 = box
    left, right = x0 / width, x1 / width
    top, bottom = 1.0 - y0 / height, 1.0 - y1 / height
    return Geometry(
        top_left=Point(left, top),
        top_right=Point(right, top),
        bottom_left=Point(left, bottom),
        bottom_right=Point(right, bottom),
        confidence=confidence,
    )


def enclosing_box(boxes: Sequence[Sequence[float]]) -> PixelBox:
    """The smallest pixel box holding every box (a line made of its words)."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@dataclass(frozen=True)
class PageStyle:
    """How a receipt was printed and photographed, in pixels of the crop."""

    char_width: float
    line_height: float
    glyph_height: float
    margin: float
    angle_degrees: float
    """How the paper lies in the crop, counter-clockwise positive."""
    jitter: float
    """How far (px) a word may sit from its ideal position: print and OCR noise."""

    @classmethod
    def sample(cls, rng: random.Random, width_chars: int, max_angle_degrees: float = 2.5) -> PageStyle:
        paper_px = rng.uniform(480.0, 1100.0)
        char_width = paper_px / (width_chars + 4)
        angle = max(-max_angle_degrees, min(max_angle_degrees, rng.gauss(0.0, max_angle_degrees / 2.5)))
        return cls(
            char_width=char_width,
            line_height=char_width * rng.uniform(1.7, 2.3),
            glyph_height=char_width * 1.45,
            margin=char_width * 2,
            angle_degrees=angle,
            jitter=char_width * 0.12,
        )


@dataclass(frozen=True)
class Page:
    """A laid-out receipt: crop size in pixels, and per printed row its line geometry
    (None for a blank row) and word geometries, left to right."""

    width: int
    height: int
    lines: tuple[Geometry | None, ...]
    words: tuple[tuple[Geometry, ...], ...]


def lay_out(rows: Sequence[Row], width_chars: int, style: PageStyle, rng: random.Random) -> Page:
    """Place every word of `rows` on the paper, rotate the paper by the style's angle and
    crop to it: every corner lands inside the crop, so coordinates stay within 0..1."""
    paper_w = width_chars * style.char_width + 2 * style.margin
    row_boxes: list[list[PixelBox]] = []
    y = style.margin
    for row in rows:
        cw, lh, gh = style.char_width * row.scale, style.line_height * row.scale, style.glyph_height * row.scale
        top = y + (lh - gh) / 2
        boxes = []
        for column, token in row.words:
            dx, dy = rng.uniform(-style.jitter, style.jitter), rng.uniform(-style.jitter, style.jitter) / 2
            x0 = style.margin + column * cw + dx
            boxes.append((x0, top + dy, x0 + len(token.text) * cw, top + dy + gh))
        row_boxes.append(boxes)
        y += lh
    paper_h = y + style.margin

    theta = math.radians(style.angle_degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    cx, cy = paper_w / 2, paper_h / 2

    def rotate(x: float, y: float) -> tuple[float, float]:
        # y points down in pixels, so a counter-clockwise turn lifts the right-hand side.
        return cx + (x - cx) * cos + (y - cy) * sin, cy - (x - cx) * sin + (y - cy) * cos

    paper = [rotate(x, y) for x, y in ((0, 0), (paper_w, 0), (0, paper_h), (paper_w, paper_h))]
    left, top = min(p[0] for p in paper), min(p[1] for p in paper)
    width = math.ceil(max(p[0] for p in paper) - left)
    height = math.ceil(max(p[1] for p in paper) - top)

    def normalized(x: float, y: float) -> Point:
        rx, ry = rotate(x, y)
        return Point(min(1.0, max(0.0, (rx - left) / width)), min(1.0, max(0.0, 1.0 - (ry - top) / height)))

    def geometry(box: PixelBox, confidence: float) -> Geometry:
        x0, y0, x1, y1 = box
        return Geometry(
            top_left=normalized(x0, y0),
            top_right=normalized(x1, y0),
            bottom_left=normalized(x0, y1),
            bottom_right=normalized(x1, y1),
            angle_degrees=style.angle_degrees,
            angle_radians=theta,
            confidence=confidence,
        )

    lines: list[Geometry | None] = []
    words: list[tuple[Geometry, ...]] = []
    for boxes in row_boxes:
        confidences = [_confidence(rng) for _ in boxes]
        words.append(tuple(geometry(box, c) for box, c in zip(boxes, confidences, strict=True)))
        lines.append(geometry(enclosing_box(boxes), round(sum(confidences) / len(confidences), 2)) if boxes else None)
    return Page(width, height, tuple(lines), tuple(words))


def _confidence(rng: random.Random) -> float:
    """OCR confidence in (0, 1]: mostly high, now and then a doubtful read; to 2 decimals, as the
    user's pipeline stores it."""
    return round(rng.uniform(0.55, 0.9) if rng.random() < 0.03 else rng.uniform(0.9, 1.0), 2)

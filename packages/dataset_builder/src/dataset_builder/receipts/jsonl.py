"""Reading the receipt JSONL format (docs/receipt_jsonl.md): one receipt per line, pixel
boxes with a top-left origin, source labels mapped onto table labels.

Reading never stops at the first bad line: every problem is collected with its line number
and receipt id, so the caller can refuse the whole file (`--strict`) or skip bad receipts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset_builder.labels import CORE_LABELS, LEGACY_ALIASES

from ..errors import DatasetBuilderError

TABLE_LABELS = frozenset(CORE_LABELS) | {name for name in LEGACY_ALIASES if name != "O"}
"""Names a label may have in the table: the core labels and the legacy names old rows use."""
NO_LABEL = ("", "O")

LabelMap = Mapping[str, str | None]


class LabelMapError(DatasetBuilderError, ValueError):
    """A --label-map file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SourceWord:
    text: str
    box: tuple[float, float, float, float]
    label: str | None
    """The table label (already mapped), or None for O."""
    entity_id: str | int | None = None
    row_id: str | int | None = None


@dataclass(frozen=True)
class SourceReceipt:
    line_number: int
    receipt_id: str
    width: int
    height: int
    words: tuple[SourceWord, ...]
    split: str | None = None
    merchant_name: str | None = None


@dataclass(frozen=True)
class Problem:
    """Why one line of the file cannot be imported."""

    line_number: int
    receipt_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line_number}" + (f" (receipt {self.receipt_id})" if self.receipt_id else "")
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line_number, "receipt_id": self.receipt_id, "message": self.message}


def load_label_map(path: Path) -> dict[str, str | None]:
    """A JSON object: source label -> table label, or null to import the word unlabelled."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LabelMapError(f"label map {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise LabelMapError(f"label map {path} must be a JSON object (source label -> table label or null)")
    bad = {k: v for k, v in raw.items() if not (v is None or v in TABLE_LABELS)}
    if bad:
        raise LabelMapError(f"label map {path} maps to names that are not table labels: {bad}")
    return raw


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _pixels(value: Any) -> int | None:
    """A positive whole number of pixels (2048 or 2048.0), else None."""
    if _is_number(value) and value > 0 and float(value).is_integer():
        return int(value)
    return None


def _scalar_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def resolve_label(label: Any, label_map: LabelMap | None) -> tuple[str | None, str | None]:
    """(table label or None, problem or None) for a word's source label."""
    if label is None or label in NO_LABEL:
        return None, None
    if not isinstance(label, str):
        return None, f"label must be a string, got {label!r}"
    if label_map is not None:
        if label not in label_map:
            return None, f"label {label!r} is not in the label map"
        return label_map[label], None
    if label not in TABLE_LABELS:
        return None, f"unknown label {label!r} (not a table label; pass a label map)"
    return label, None


def _word(
    raw: Any, index: int, width: int, height: int, label_map: LabelMap | None
) -> tuple[SourceWord | None, list[str]]:
    where = f"words[{index}]"
    if not isinstance(raw, dict):
        return None, [f"{where} is not an object"]
    problems = []
    text = raw.get("text")
    if not isinstance(text, str):
        problems.append(f"{where}: missing text")
    box = raw.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
        problems.append(f"{where}: box must be [x0, y0, x1, y1] in pixels, got {box!r}")
        box = None
    elif box[2] < box[0] or box[3] < box[1]:
        problems.append(f"{where}: inverted box {box} (x1 < x0 or y1 < y0)")
    elif box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
        problems.append(f"{where}: box {box} is outside the {width}x{height} page")
    label, label_problem = resolve_label(raw.get("label"), label_map)
    if label_problem:
        problems.append(f"{where}: {label_problem}")
    for key in ("line_id", "row_id"):
        if not _scalar_id(raw.get(key)):
            problems.append(f"{where}: {key} must be a string or an integer, got {raw.get(key)!r}")
    if problems:
        return None, problems
    if raw.get("is_key"):
        label = None  # the caption of a field ("TOTAL"), not its value: O in the table
    assert isinstance(text, str) and box is not None  # both checked above
    x0, y0, x1, y1 = (float(v) for v in box)
    return SourceWord(text, (x0, y0, x1, y1), label, raw.get("line_id"), raw.get("row_id")), []


def json_problem(exc: json.JSONDecodeError, text: str) -> str:
    """Where the JSON of one line goes wrong, by column of that line (1-based); a line that
    stops in the middle of a value says where it ends, the usual sign of a truncated file."""
    end = len(text.rstrip())
    where = f"column {exc.pos + 1}"
    message = f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"
    if exc.msg.startswith("Unterminated") or exc.pos >= end:
        message += f"; the line ends at column {end + 1} (truncated?)"
    return f"invalid JSON: {message}"


def parse_receipt(
    line: str, line_number: int, label_map: LabelMap | None
) -> tuple[SourceReceipt | None, list[Problem]]:
    """One line of the file -> a receipt, or the problems that stop it from being imported."""
    text = line.rstrip("\r\n")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(line_number, None, json_problem(exc, text))]
    if not isinstance(raw, dict):
        return None, [Problem(line_number, None, "not a JSON object")]
    receipt_id = raw.get("receipt_id", raw.get("id"))
    if isinstance(receipt_id, bool) or not isinstance(receipt_id, str | int) or receipt_id == "":
        return None, [Problem(line_number, None, "missing receipt_id")]
    receipt_id = str(receipt_id)

    def problem(message: str) -> Problem:
        return Problem(line_number, receipt_id, message)

    width, height = _pixels(raw.get("width")), _pixels(raw.get("height"))
    if width is None or height is None:
        return None, [
            problem(f"width and height must be positive whole pixels, got {raw.get('width')!r} x {raw.get('height')!r}")
        ]
    words = raw.get("words")
    if not isinstance(words, list):
        return None, [problem("words must be a list")]
    problems: list[Problem] = []
    for key in ("split", "merchant_name"):
        if raw.get(key) is not None and not isinstance(raw.get(key), str):
            problems.append(problem(f"{key} must be a string"))
    parsed = []
    for index, raw_word in enumerate(words):
        word, word_problems = _word(raw_word, index, width, height, label_map)
        problems += [problem(m) for m in word_problems]
        if word is not None:
            parsed.append(word)
    if problems:
        return None, problems
    return SourceReceipt(
        line_number, receipt_id, width, height, tuple(parsed), raw.get("split"), raw.get("merchant_name")
    ), []


def read_receipts(path: Path, label_map: LabelMap | None = None) -> tuple[list[SourceReceipt], list[Problem]]:
    """Every good receipt of the file and every problem, by line number (1-based). Blank
    lines are ignored; a receipt id seen on an earlier line is a problem."""
    receipts: list[SourceReceipt] = []
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    with Path(path).open("rb") as lines:
        for line_number, raw_line in enumerate(lines, start=1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(line_number, None, "not UTF-8 text"))
                continue
            if not line.strip():
                continue
            receipt, line_problems = parse_receipt(line, line_number, label_map)
            problems += line_problems
            if receipt is None:
                continue
            if receipt.receipt_id in first_seen:
                problems.append(
                    Problem(
                        line_number,
                        receipt.receipt_id,
                        f"receipt id already used on line {first_seen[receipt.receipt_id]}",
                    )
                )
                continue
            first_seen[receipt.receipt_id] = line_number
            receipts.append(receipt)
    return receipts, problems

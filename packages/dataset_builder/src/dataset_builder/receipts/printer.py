"""A monospace till printer: what a thermal receipt looks like as rows of words at character
columns, each word carrying the label it should have. Geometry comes later (`geometry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    """One printed word and the core label it should carry (None: O). `legacy_label` is the
    old name rows used for this kind of word, when it is not the label's usual one (a card
    number's PAYMENT_METHOD was CARD_NUMBER, a brand's PAYMENT_TYPE)."""

    text: str
    label: str | None = None
    legacy_label: str | None = None


@dataclass(frozen=True)
class Row:
    """One printed line: (column, token) pairs left to right. `scale` > 1 is a larger font
    (a merchant name printed double width); columns then count large characters."""

    words: tuple[tuple[int, Token], ...]
    scale: float = 1.0


Tokens = Sequence[Token]


def phrase(text: str, label: str | None = None) -> tuple[Token, ...]:
    return tuple(Token(word, label) for word in text.split())


def span(tokens: Tokens) -> int:
    """Characters the tokens take printed with single spaces."""
    return sum(len(t.text) for t in tokens) + max(0, len(tokens) - 1)


def fit(tokens: Tokens, max_chars: int) -> tuple[Token, ...]:
    """Cut tokens to `max_chars` the way a till truncates a long product name: whole words
    while they fit, then the next word shortened (kept only if 3+ characters survive)."""
    kept: list[Token] = []
    used = 0
    for token in tokens:
        need = len(token.text) + (1 if kept else 0)
        if used + need <= max_chars:
            kept.append(token)
            used += need
            continue
        room = max_chars - used - (1 if kept else 0)
        if room >= 3:
            kept.append(Token(token.text[:room], token.label, token.legacy_label))
        break
    return tuple(kept) or tuple(tokens[:1])


def _placed(start: int, tokens: Tokens) -> list[tuple[int, Token]]:
    out = []
    column = start
    for token in tokens:
        out.append((column, token))
        column += len(token.text) + 1
    return out


class Printer:
    """Collects rows for a paper `width` characters wide."""

    def __init__(self, width: int):
        self.width = width
        self.rows: list[Row] = []

    def blank(self) -> None:
        self.rows.append(Row(()))

    def rule(self, char: str = "-") -> None:
        self.rows.append(Row(((0, Token(char * self.width)),)))

    def line(
        self,
        left: Tokens = (),
        right: Tokens = (),
        *,
        indent: int = 0,
        scale: float = 1.0,
        wrap: bool = False,
    ) -> None:
        """Left text (after `indent`) and right-aligned text on one row. When they collide the
        left text is truncated, or with `wrap` the right text goes to its own row."""
        columns = int(self.width / scale)
        room = columns - span(right) - 1 - indent if right else columns - indent
        if left and span(left) > room:
            if wrap and right:
                self.line(left, indent=indent, scale=scale)
                self.line((), right, scale=scale)
                return
            left = fit(left, max(room, 3))
        words = _placed(indent, left) if left else []
        if right:
            words += _placed(columns - span(right), right)
        self.rows.append(Row(tuple(words), scale))

    def center(self, tokens: Tokens, *, scale: float = 1.0) -> None:
        columns = int(self.width / scale)
        tokens = fit(tokens, columns)
        self.rows.append(Row(tuple(_placed(max(0, (columns - span(tokens)) // 2), tokens)), scale))

    def columns(self, cells: Sequence[tuple[int, Tokens, bool]]) -> None:
        """Table cells `(column, tokens, right_aligned)`: a right-aligned cell ends at `column`."""
        words: list[tuple[int, Token]] = []
        for column, tokens, right_aligned in cells:
            words += _placed(column - span(tokens) if right_aligned else column, tokens)
        self.rows.append(Row(tuple(sorted(words, key=lambda placed: placed[0]))))

    def paragraph(self, text: str) -> None:
        """Centered text wrapped at word boundaries (footer notices)."""
        current: list[Token] = []
        for token in phrase(text):
            if current and span([*current, token]) > self.width:
                self.center(current)
                current = []
            current.append(token)
        if current:
            self.center(current)

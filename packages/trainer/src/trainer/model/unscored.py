"""Entity scoring when some words' truth is unknown (docs/runs.md, "Unknown words").

An unknown word (label items exist, none validated) that the snapshot left out of training
(`--unvalidated ignore`) is *unscored*: nobody knows what it is, so neither a prediction on it
nor a miss of it can be judged. Entities are first found on the whole receipt, exactly as
seqeval finds them (strict IOB2 for the headline, its default lenient mode for `f1_lenient`);
then, per receipt:

0. a true entity that continues across unscored words (`B-X`, unknown, `I-X`: the snapshot
   tags across unknown words, see `dataset_builder.rules.bio_tags`) is one entity that
   contains them;
1. an entity (predicted or true) that contains an unscored word is not counted;
2. an entity on the other side that overlaps an entity removed in step 1 is not counted
   either: whether the two match depends on the unknown word;
3. the rest is scored as seqeval scores it (same type and same span: a true positive; any
   other prediction a false positive; any other true entity a false negative).

Removing an entity is done by turning its tags into O, which changes no other entity in
either mode, so seqeval itself computes every figure on the masked sequences.

Unknown words are O in the snapshot's tags, so a true entity holds one only across a gap
(rule 0). Hence a prediction on unknown words is never a false positive, and an unknown word
is never a missed entity; a prediction that stops short of an unknown word, outside any
entity that spans one, is scored like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Span = tuple[int, int]  # [start, end) word indices


@dataclass(frozen=True)
class Masked:
    """Sequences with the unscored entities turned into O, and how many were removed."""

    y_true: list[list[str]]
    y_pred: list[list[str]]
    true_removed: int = 0
    predicted_removed: int = 0


def entity_spans(tags: Sequence[str], *, strict: bool) -> list[Span]:
    """[start, end) of every entity in one sequence, as seqeval's strict IOB2 or default mode sees it."""
    if strict:
        from seqeval.scheme import IOB2, Entities

        return [(e.start, e.end) for e in Entities([list(tags)], IOB2, suffix=False).entities[0]]
    from seqeval.metrics.sequence_labeling import get_entities

    return [(start, end + 1) for _, start, end in get_entities(list(tags))]


def _overlaps(span: Span, others: Sequence[Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in others)


def _touches(span: Span, unscored: set[int]) -> bool:
    return any(index in unscored for index in range(*span))


def _blank(tags: list[str], spans: Sequence[Span]) -> list[str]:
    out = list(tags)
    for start, end in spans:
        out[start:end] = ["O"] * (end - start)
    return out


def bridge(tags: Sequence[str], unscored: set[int]) -> list[str]:
    """Rule 0: each run of unscored words between a B-X/I-X and an I-X becomes I-X."""
    out, index, count = list(tags), 0, len(tags)
    while index < count:
        if index not in unscored:
            index += 1
            continue
        end = index
        while end < count and end in unscored:
            end += 1
        before, after = (out[index - 1] if index else "O"), (tags[end] if end < count else "O")
        if before != "O" and after.startswith("I-") and before[2:] == after[2:]:
            out[index:end] = [after] * (end - index)
        index = end
    return out


def mask_unscored(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], scored: Sequence[Sequence[bool]], *, strict: bool
) -> Masked:
    """Apply rules 0-3 above to every receipt; receipts whose words are all scored pass unchanged."""
    masked_true, masked_pred = [], []
    true_removed = predicted_removed = 0
    for truth, prediction, flags in zip(y_true, y_pred, scored, strict=True):
        unscored = {index for index, flag in enumerate(flags) if not flag}
        if not unscored:
            masked_true.append(list(truth))
            masked_pred.append(list(prediction))
            continue
        truth = bridge(truth, unscored)
        true_spans, pred_spans = entity_spans(truth, strict=strict), entity_spans(prediction, strict=strict)
        true_touching = [s for s in true_spans if _touches(s, unscored)]
        pred_touching = [s for s in pred_spans if _touches(s, unscored)]
        drop_true = [s for s in true_spans if s in true_touching or _overlaps(s, pred_touching)]
        drop_pred = [s for s in pred_spans if s in pred_touching or _overlaps(s, true_touching)]
        true_removed += len(drop_true)
        predicted_removed += len(drop_pred)
        masked_true.append(_blank(list(truth), drop_true))
        masked_pred.append(_blank(list(prediction), drop_pred))
    return Masked(masked_true, masked_pred, true_removed, predicted_removed)

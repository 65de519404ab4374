"""Known label errors for the review benchmark: pure functions on receipt bundles that return
the edited bundles and exactly what they changed, so the queues can be scored against it.

- `inject`: a seeded share of the VALID entities (every word of an entity together, as a
  model or a reviewer mislabels a whole name or amount) swapped to a plausible wrong label
  (another label of the same receipt), and another share unlabelled (no item left at all);
- `wrong_proposals`: a seeded share of the unreviewed proposals (NEEDS_REVIEW, PENDING, NONE)
  renamed to the label the generator says a reviewer plausibly confuses it with; the others
  name the word's true label (the generator's rule), so each proposal is known right or wrong.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from dataset_builder import ReceiptBundle
from dataset_builder.receipts.synthetic import CONFUSIONS

Word = tuple[str, int, int, int]
"""image_id, receipt_id, line_id, word_id."""
UNREVIEWED = ("NEEDS_REVIEW", "PENDING", "NONE")


def word_of(item) -> Word:
    return item.image_id, int(item.receipt_id), int(item.line_id), int(item.word_id)


@dataclass
class Injected:
    swapped: dict[Word, tuple[str, str]] = field(default_factory=dict)
    """word -> (its true label, the wrong VALID label it now carries)."""
    removed: dict[Word, str] = field(default_factory=dict)
    """word -> its true label; the word has no label item any more."""
    entities: int = 0
    """VALID entities that could have been edited."""


def _entity_of(bundle: ReceiptBundle) -> dict[tuple[int, int], object]:
    """(line, word) -> entity: the importer's entity id where there is one, else label and line."""
    ids = {(w.line_id, w.word_id): (w.extracted_data or {}).get("entity_id") for w in bundle.words}
    return {
        (lab.line_id, lab.word_id): ids.get((lab.line_id, lab.word_id)) or (lab.line_id, lab.label)
        for lab in bundle.labels
    }


def inject(
    bundles: Sequence[ReceiptBundle],
    *,
    seed: int,
    swap_share: float,
    remove_share: float,
    only: Iterable[str] | None = None,
) -> tuple[list[ReceiptBundle], Injected]:
    """Edit the VALID entities of the receipts in `only` (receipt keys; default every receipt)."""
    rng = random.Random(f"bench-review/{seed}")
    eligible = None if only is None else set(only)
    vocabulary = sorted({lab.label for b in bundles for lab in b.labels if lab.validation_status == "VALID"})
    injected, edited = Injected(), []
    for bundle in bundles:
        if eligible is not None and bundle.key not in eligible:
            edited.append(bundle)
            continue
        entity_of = _entity_of(bundle)
        valid = [lab for lab in bundle.labels if lab.validation_status == "VALID"]
        entities: dict[object, list] = {}
        for lab in valid:
            entities.setdefault((entity_of[(lab.line_id, lab.word_id)], lab.label), []).append(lab)
        present = sorted({lab.label for lab in valid})
        swap: dict[Word, str] = {}
        remove: set[Word] = set()
        for (_, label), items in sorted(entities.items(), key=lambda kv: str(kv[0])):
            injected.entities += 1
            draw = rng.random()
            if draw < swap_share:
                others = [x for x in present if x != label] or [x for x in vocabulary if x != label]
                wrong = rng.choice(others)
                for lab in items:
                    swap[word_of(lab)] = wrong
                    injected.swapped[word_of(lab)] = (label, wrong)
            elif draw < swap_share + remove_share:
                for lab in items:
                    remove.add(word_of(lab))
                    injected.removed[word_of(lab)] = label
        labels = []
        for lab in bundle.labels:
            word = word_of(lab)
            if word in remove:
                continue
            if word in swap and lab.validation_status == "VALID":
                lab = replace(lab, label=swap[word])
            labels.append(lab)
        edited.append(ReceiptBundle(bundle.receipt, bundle.lines, bundle.words, tuple(labels)))
    return edited, injected


def wrong_proposals(
    bundles: Sequence[ReceiptBundle], *, seed: int, share: float
) -> tuple[list[ReceiptBundle], dict[tuple[Word, str], bool]]:
    """Rename a share of the unreviewed proposals; returns (word, label name) -> right."""
    rng = random.Random(f"bench-review-proposals/{seed}")
    known: dict[tuple[Word, str], bool] = {}
    edited = []
    for bundle in bundles:
        names = {(word_of(lab), lab.label) for lab in bundle.labels}
        labels = []
        for lab in bundle.labels:
            if lab.validation_status in UNREVIEWED and lab.label in CONFUSIONS:
                wrong = CONFUSIONS[lab.label][0]
                if rng.random() < share and (word_of(lab), wrong) not in names:
                    lab = replace(lab, label=wrong)
                    known[(word_of(lab), wrong)] = False
                else:
                    known[(word_of(lab), lab.label)] = True
            labels.append(lab)
        edited.append(ReceiptBundle(bundle.receipt, bundle.lines, bundle.words, tuple(labels)))
    return edited, known

"""Generated receipts with planted label errors, for the review tests: which words carry a wrong
VALID label, which lost their label, which unreviewed proposals are right or wrong."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from dataset_builder import ReceiptBundle
from dataset_builder.receipts import LabelMix, generate_receipts

CLEAN = LabelMix(status_probabilities={"VALID": 1.0}, legacy_fraction=0.0, two_label_fraction=0.0, missing_fraction=0.0)
Word = tuple[str, int, int, int]  # image_id, receipt_id, line_id, word_id


@dataclass
class Planted:
    bundles: list[ReceiptBundle]
    swapped: dict[Word, tuple[str, str]] = field(default_factory=dict)
    """word -> (true label, the wrong VALID label it carries)."""
    removed: dict[Word, str] = field(default_factory=dict)
    """word -> its true label; the word carries no label item any more."""
    proposals: dict[Word, tuple[str, bool]] = field(default_factory=dict)
    """word -> (the NEEDS_REVIEW label it carries instead of its VALID one, whether it is right)."""


def plant(
    seed: int,
    receipts: int,
    *,
    swap: int,
    remove: int,
    propose: int,
    label: str = "PRODUCT_NAME",
    wrong: str = "MERCHANT_NAME",
) -> Planted:
    """`receipts` clean receipts (every label VALID); then, on whole entities of `label` (a
    line's words of that label), in seeded receipts: `swap` entities relabelled VALID `wrong`,
    `remove` entities unlabelled, `propose` entities turned NEEDS_REVIEW, half of them under
    `wrong`. Each receipt gets at most one planted entity."""
    bundles = list(generate_receipts(seed, receipts, CLEAN))
    rng = random.Random(f"planted/{seed}")
    order = list(range(len(bundles)))
    rng.shuffle(order)
    plan = ["swap"] * swap + ["remove"] * remove + ["right"] * (propose - propose // 2) + ["wrong"] * (propose // 2)
    planted = Planted(bundles)
    for index in order:
        if not plan:
            break
        bundle = bundles[index]
        lines = sorted({lab.line_id for lab in bundle.labels if lab.label == label})
        if not lines:
            continue
        line = rng.choice(lines)
        kind = plan.pop()
        target = {(lab.line_id, lab.word_id) for lab in bundle.labels if lab.label == label and lab.line_id == line}
        labels = []
        for lab in bundle.labels:
            word = (lab.image_id, lab.receipt_id, lab.line_id, lab.word_id)
            if (lab.line_id, lab.word_id) not in target:
                labels.append(lab)
            elif kind == "swap":
                labels.append(replace(lab, label=wrong))
                planted.swapped[word] = (label, wrong)
            elif kind == "remove":
                planted.removed[word] = label
            else:
                name = label if kind == "right" else wrong
                labels.append(replace(lab, label=name, validation_status="NEEDS_REVIEW"))
                planted.proposals[word] = (name, kind == "right")
        bundles[index] = ReceiptBundle(bundle.receipt, bundle.lines, bundle.words, tuple(labels))
    if plan:
        raise ValueError(f"not enough receipts with {label} to plant {len(plan)} more entities")
    return planted

"""Compare runs side by side, and explain why F1 changed between two of them.

Confounders come first: F1 on a different val split or label set is not the same yardstick.
Then what differs: the training config, the pretraining of the model folder a fine-tune
started from (`trainer pretrain`: recorded in the job config as `pretraining`), the snapshot
(what changed in the data), and the per-label F1 changes weighted by how much each label
weighs in the micro F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trainer.analysis.diagnose import label_rows
from trainer.analysis.lineage import SnapshotInfo, comparability
from trainer.analysis.runs import RunData
from trainer.analysis.values import flatten
from trainer.config import upgrade_train_dict

# Request fields that name or place a run without changing what it learns.
BOOKKEEPING_KEYS = frozenset(
    {
        "job_name",
        "description",
        "created_by",
        "snapshot",
        "snapshot_root",
        "upload_uri",
        "cache_dir",
        "train.output_dir",
        "allow_contract_failures",
    }
)
SEED_KEYS = frozenset({"train.seed", "seed"})
PRETRAINING_KEYS = ("job_id", "corpus_id", "corpus_sha256", "steps", "started_from")
"""What tells two pretrainings apart, compared as config keys `pretraining.<key>`."""
PRETRAINING_PREFIX = "pretraining."
MODEL_SOURCE_KEYS = frozenset({"model.model", "model.warm_start_text_encoder"})
"""Where a fine-tune's model comes from: for a pretrained folder, the pretraining itself."""
COMPARED_METRICS = ("val_f1", "val_precision", "val_recall", "eval_loss", "train_loss")
UNVALIDATED_MEANING = (
    "under `o` words whose labels were never validated are trained and scored as O, under `ignore` "
    "they are left out of training and scoring, so the two F1s count different words."
)


def run_summary(run: RunData) -> dict[str, Any]:
    """The few facts that identify a run in any listing."""
    best = run.best()
    return {
        "job_id": run.job_id,
        "name": run.job.name,
        "status": run.job.status,
        "created_at": run.job.created_at,
        "snapshot_id": run.snapshot_id,
        "model": run.model,
        "best_f1": run.best_f1,
        "best_epoch": best.epoch if best else None,
        "evaluations": len(run.evaluations),
        "last_epoch": run.last.epoch if run.last else None,
    }


def training_config(run: RunData) -> dict[str, Any]:
    """The flattened request, without bookkeeping fields; old spellings in today's keys
    (`train.group_by_length` reads as `train.batching`), so they compare with new runs; and,
    for a fine-tune of a pretrained folder, its pretraining (`pretraining.job_id`, ...)."""
    config = run.config
    if isinstance(config.get("train"), dict):
        config = {**config, "train": upgrade_train_dict(config["train"])}
    return {**{k: v for k, v in flatten(config).items() if k not in BOOKKEEPING_KEYS}, **pretraining_config(run)}


def pretraining_config(run: RunData) -> dict[str, Any]:
    """The run's pretraining as config keys (none for a model that was not pretrained here)."""
    found = run.pretraining
    return {f"{PRETRAINING_PREFIX}{k}": found.get(k) for k in PRETRAINING_KEYS} if found else {}


def pretraining_alone(a: RunData, b: RunData, changed: set[str]) -> bool:
    """Whether the pretraining is all that differs in the config of two runs: the
    `pretraining.*` keys and the model folder they start from (a pretrained folder is its
    pretraining), both started from the same model (the model a pretraining started from,
    else the run's own)."""
    pretrained = {k for k in changed if k.startswith(PRETRAINING_PREFIX)}
    if not pretrained or not changed <= pretrained | MODEL_SOURCE_KEYS:
        return False
    origin_a = (a.pretraining or {}).get("started_from") if a.pretraining else a.model
    origin_b = (b.pretraining or {}).get("started_from") if b.pretraining else b.model
    return origin_a == origin_b


def describe_pretraining(found: dict[str, Any] | None) -> str:
    if not found:
        return "not pretrained"
    job = str(found.get("job_id") or "-")[:8]
    return (
        f"job {job} on corpus {found.get('corpus_id')} ({str(found.get('corpus_sha256'))[:12]}), "
        f"{found.get('steps')} steps from {found.get('started_from')}"
    )


def pretraining_read_val(run: RunData) -> bool | None:
    """Whether the corpus the run's model was pretrained on held the run's val receipts: the
    corpus left out another val split, or none (None: not pretrained, or unknown)."""
    found, val = run.pretraining, run.snapshot_lineage.split_hashes.get("val")
    if not found or not val:
        return None
    return found.get("excluded_val_split_hash") != val


def config_differences(runs: Sequence[RunData]) -> list[dict[str, Any]]:
    configs = [training_config(r) for r in runs]
    keys = sorted(set().union(*configs))
    return [
        {"key": k, "values": [c.get(k) for c in configs]} for k in keys if len({repr(c.get(k)) for c in configs}) > 1
    ]


def _labels_at_best(run: RunData) -> dict[str, dict[str, Any]]:
    return {row["label"]: row for row in label_rows(run.best())}


def compare_runs(runs: Sequence[RunData], snapshots: Sequence[SnapshotInfo]) -> dict[str, Any]:
    """Config differences, metric and per-label differences against the first run, and whether
    each run is comparable with it."""
    base, base_snapshot = runs[0], snapshots[0]
    checks = [
        {
            "job_id": r.job_id,
            **comparability(base_snapshot, s, base.label_list, r.label_list),
            "same_pretraining": pretraining_config(base) == pretraining_config(r),
        }
        for r, s in zip(runs[1:], snapshots[1:], strict=True)
    ]
    bests = [r.best() for r in runs]
    metrics = []
    for name in COMPARED_METRICS:
        values = [
            r.best_f1 if name == "val_f1" else (b.values.get(name) if b else None)
            for r, b in zip(runs, bests, strict=True)
        ]
        metrics.append({"metric": name, "values": values, "change": [_delta(values[0], v) for v in values]})
    per_run = [_labels_at_best(r) for r in runs]
    labels = sorted(set().union(*per_run))
    label_table = []
    for label in labels:
        f1s = [p.get(label, {}).get("f1") for p in per_run]
        label_table.append(
            {
                "label": label,
                "f1": f1s,
                "support": [p.get(label, {}).get("support") for p in per_run],
                "change": [_delta(f1s[0], v) for v in f1s],
            }
        )
    return {
        "runs": [
            {**run_summary(r), "snapshot": s.to_dict(), "pretraining": r.pretraining}
            for r, s in zip(runs, snapshots, strict=True)
        ],
        "baseline": base.job_id,
        "comparable": all(c["comparable"] for c in checks),
        "comparability": checks,
        "config_differences": config_differences(runs),
        "metrics": metrics,
        "labels": label_table,
    }


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 6)


def label_changes(a: RunData, b: RunData) -> list[dict[str, Any]]:
    """Per-label F1 change, sorted by impact: the change times the label's share of the val
    entities, roughly its contribution to the change of the micro F1."""
    rows_a, rows_b = _labels_at_best(a), _labels_at_best(b)
    total = sum((rows_b.get(k) or rows_a.get(k) or {}).get("support") or 0 for k in set(rows_a) | set(rows_b)) or 1
    changes = []
    for label in sorted(set(rows_a) | set(rows_b)):
        f1_a, f1_b = rows_a.get(label, {}).get("f1"), rows_b.get(label, {}).get("f1")
        support = (rows_b.get(label) or rows_a.get(label) or {}).get("support") or 0
        change = _delta(f1_a, f1_b)
        changes.append(
            {
                "label": label,
                "f1_a": f1_a,
                "f1_b": f1_b,
                "change": change,
                "support_a": rows_a.get(label, {}).get("support"),
                "support_b": rows_b.get(label, {}).get("support"),
                "impact": round(change * support / total, 6) if change is not None else None,
            }
        )
    return sorted(changes, key=lambda c: (-(abs(c["impact"]) if c["impact"] is not None else 1.0), c["label"]))


def _snapshot_sentence(changes: dict[str, Any]) -> str:
    pair = f"{changes['a']} -> {changes['b']}"
    if not changes.get("available"):
        return (
            f"The snapshot changed ({pair}, content differs) but its data could not be opened: {changes.get('reason')}."
        )
    moves = ", ".join(f"{c['from']}->{c['to']}: {c['words']}" for c in changes["relabelled_by_change"][:3])
    counts = ", ".join(f"{k} {v['change']:+d}" for k, v in list(changes["label_count_changes"].items())[:5])
    text = (
        f"The data changed ({pair}): +{changes['receipts_added']}/-{changes['receipts_removed']} receipts, "
        f"{changes['relabelled_words']} relabelled words{f' ({moves})' if moves else ''}"
    )
    if changes["relabelled_in_val"]:
        text += f", {changes['relabelled_in_val']} of them in the val split (the yardstick moved too)"
    if counts:
        text += f"; entity words per label: {counts}"
    return text + "."


def _cause(
    comparable: bool, config_changed: list[dict[str, Any]], snapshot_changed: bool, pretraining_only: bool = False
) -> str:
    if not comparable:
        return "not_comparable"
    if snapshot_changed and not config_changed:
        return "snapshot"
    if config_changed and not snapshot_changed:
        if {c["key"] for c in config_changed} <= SEED_KEYS:
            return "seed"
        return "pretraining" if pretraining_only else "config"
    return "config_and_snapshot" if config_changed else "none"


def explain(
    a: RunData, b: RunData, snapshot_a: SnapshotInfo, snapshot_b: SnapshotInfo, changes: dict[str, Any]
) -> dict[str, Any]:
    """Why best F1 moved from run A to run B: confounders, then config, data and labels."""
    check = comparability(snapshot_a, snapshot_b, a.label_list, b.label_list)
    confounders = []
    if check["same_val_split"] is False:
        confounders.append(
            "Not comparable: different val split (their split hashes differ)."
            if check["basis"] == "split_hash"
            else "Not comparable: the snapshots differ and cannot be opened to confirm the same val split."
        )
    elif check["same_val_split"] is None:
        confounders.append(
            "Not comparable: neither snapshot hash nor split hash was recorded, so the val split is unknown."
        )
    if not check["same_label_set"]:
        confounders.append(
            f"Not comparable: different label set (only in A: {', '.join(check['labels_only_in_a']) or '-'}; "
            f"only in B: {', '.join(check['labels_only_in_b']) or '-'})."
        )
    if check["same_unvalidated"] is False:
        confounders.append(
            f"Not comparable on F1: A's snapshot was built with --unvalidated {check['unvalidated_a']}, B's with "
            f"{check['unvalidated_b']}: {UNVALIDATED_MEANING}"
        )
    for name, run in (("A", a), ("B", b)):
        if pretraining_read_val(run):
            corpus_id = (run.pretraining or {}).get("corpus_id")
            confounders.append(
                f"{name}'s model was pretrained on corpus {corpus_id}, which was not built for "
                f"its val split: the pretraining may have read (unlabelled) words {name} is scored on, so its F1 may "
                "be optimistic."
            )
    config_changed = [{"key": d["key"], "a": d["values"][0], "b": d["values"][1]} for d in config_differences([a, b])]
    pretraining_changed = pretraining_config(a) != pretraining_config(b)
    snapshot_changed = bool(changes.get("content_changed")) or (
        changes.get("content_changed") is None and a.snapshot_id != b.snapshot_id
    )
    labels = label_changes(a, b)
    change = _delta(a.best_f1, b.best_f1)
    kind = _cause(
        check["comparable"],
        config_changed,
        snapshot_changed,
        pretraining_alone(a, b, {c["key"] for c in config_changed}),
    )
    if kind == "none" and change is not None and abs(change) < 5e-5:  # prints as +0.0000
        kind = "reproduced"

    sentences = [f"Best F1 {_fmt(a.best_f1)} -> {_fmt(b.best_f1)} ({_signed(change)})."]
    sentences += confounders
    if config_changed:
        sentences.append(
            "Config changed: " + "; ".join(f"{c['key']} {c['a']!r} -> {c['b']!r}" for c in config_changed[:8]) + "."
        )
    else:
        sentences.append("Same training config.")
    if pretraining_changed:
        sentences.append(
            f"Pretraining changed: A {describe_pretraining(a.pretraining)}; B {describe_pretraining(b.pretraining)}."
        )
    if snapshot_changed:
        sentences.append(_snapshot_sentence(changes))
    else:
        sentences.append(f"Same snapshot content ({a.snapshot_id}).")
    moved = [c for c in labels if c["change"]][:3]
    if not moved:
        sentences.append("No label's F1 changed at the best evaluation.")
    else:
        sentences.append(
            "Largest label changes: "
            + ", ".join(f"{c['label']} {_fmt(c['f1_a'])} -> {_fmt(c['f1_b'])} ({_signed(c['change'])})" for c in moved)
            + "."
        )
    cause_sentence = {
        "not_comparable": "The F1 values are measured on different yardsticks; compare them only after retraining on "
        "a shared split and label set.",
        "snapshot": f"Cause: the snapshot change ({a.snapshot_id} -> {b.snapshot_id}); the training config is "
        "identical.",
        "config": "Cause: the config change(s) above; both runs trained on the same data.",
        "pretraining": "Cause: the pretraining of the model they fine-tuned (A "
        f"{describe_pretraining(a.pretraining)}; B {describe_pretraining(b.pretraining)}); the rest of the config "
        "and the data are identical.",
        "seed": "Only the seed differs: the change is run-to-run variance, not an improvement.",
        "config_and_snapshot": "Both the config and the data changed, so the cause cannot be separated; rerun one "
        "change at a time.",
        "none": "Same config and data: the change is nondeterminism (run-to-run variance).",
        "reproduced": "Same config and data, and the same F1: the run reproduced exactly.",
    }[kind]
    sentences.append(cause_sentence)
    return {
        "a": run_summary(a),
        "b": run_summary(b),
        "f1_change": change,
        "comparable": check,
        "confounders": confounders,
        "config_changes": config_changed,
        "pretraining_changes": {"a": a.pretraining, "b": b.pretraining} if pretraining_changed else None,
        "snapshot_changes": changes if snapshot_changed else None,
        "label_changes": labels,
        "cause": {"kind": kind, "sentence": cause_sentence},
        "explanation": sentences,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"

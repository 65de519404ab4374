"""Contract files: read the suites in `data_contracts/` and refuse any that would not check
what they say (an unknown expectation, a typo in a key or a column, a count that does not
match), because Great Expectations drops an expectation it cannot build without a word."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ContractError
from .frames import CORPUS_FRAMES, FRAME_COLUMNS
from .gx import great_expectations

SEVERITIES = {"error": "critical", "warn": "warning"}
"""The files' severities and Great Expectations' own names for them."""

PARAMETERS = {
    "labels": "the manifest's entity labels (label_list)",
    "labels_with_o": "O and the manifest's entity labels",
    "tags": "the manifest's tags (O, B-X, I-X)",
    "statuses": "the validation statuses the build selected (spec.statuses)",
    "validation_statuses": "every validation status the table knows",
    "known_label_names": "core labels, legacy aliases and the build's extra labels",
    "target_ratio": "the build's target O:entity ratio (null when none was set)",
    "val_fraction": "the build's validation fraction",
    "label_states": "labelled, unlabelled, unknown (rules.LABEL_STATES)",
}
"""Build parameters a file may reference as `$name`; the runner fills them in per snapshot."""

SUITE_KEYS = {"suite", "description", "frame", "expectation_count", "expectations"}
ENTRY_KEYS = {"type", "kwargs", "severity", "mostly", "frame", "requires", "notes"}
COLUMN_KWARGS = ("column", "column_A", "column_B")
SUITE_FILES = ("*.yaml", "*.yml", "*.json")
SUBJECTS = ("snapshot", "corpus")
"""What a suite checks: a snapshot's frames, or a corpus's (`frames.CORPUS_FRAMES`); one folder
holds both, and each build or check runs the suites of its own subject."""


@dataclass(frozen=True)
class ContractExpectation:
    suite: str
    index: int
    type: str
    kwargs: dict[str, Any]
    severity: str
    frame: str
    requires: tuple[str, ...] = ()
    notes: str | None = None

    @property
    def columns(self) -> list[str]:
        named = [self.kwargs[k] for k in COLUMN_KWARGS if k in self.kwargs]
        return [*named, *self.kwargs.get("column_list", [])]

    @property
    def parameters(self) -> list[str]:
        """Every build parameter this expectation depends on (`$name` values and `requires`)."""
        referenced = [v[1:] for v in self.kwargs.values() if _is_reference(v)]
        return list(dict.fromkeys([*referenced, *self.requires]))

    def to_gx(self) -> Any:
        """The Great Expectations expectation; `$name` becomes a native suite parameter."""
        great_expectations()
        from great_expectations.expectations.metadata_types import FailureSeverity
        from great_expectations.expectations.registry import get_expectation_impl

        kwargs: dict[str, Any] = {k: {"$PARAMETER": v[1:]} if _is_reference(v) else v for k, v in self.kwargs.items()}
        return get_expectation_impl(self.type)(
            **kwargs,
            severity=FailureSeverity(SEVERITIES[self.severity]),
            notes=self.notes,
            meta={"contract_index": self.index},
        )


@dataclass(frozen=True)
class ContractSuite:
    name: str
    path: Path
    description: str
    expectations: tuple[ContractExpectation, ...]
    sha256: str
    subject: str = "snapshot"
    """`snapshot` or `corpus`: which the suite's frames belong to."""


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$") and len(value) > 1


def _read(path: Path) -> Any:
    import json

    from ruamel.yaml import YAML, YAMLError

    text = path.read_text()
    try:
        return json.loads(text) if path.suffix == ".json" else YAML(typ="safe", pure=True).load(text)
    except (ValueError, YAMLError) as exc:
        raise ContractError(f"{path}: not a readable suite file: {exc}") from exc


def _entry(path: Path, suite: str, default_frame: str | None, index: int, raw: Any) -> ContractExpectation:
    where = f"{path}: expectation {index + 1}"
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: expected a mapping with `type` and `kwargs`, got {raw!r}")
    unknown = sorted(set(raw) - ENTRY_KEYS)
    if unknown:
        raise ContractError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ENTRY_KEYS))}")
    if not isinstance(raw.get("type"), str):
        raise ContractError(f"{where}: `type` (the expectation's name) is missing")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise ContractError(f"{where} ({raw['type']}): severity must be error or warn, got {severity!r}")
    frame = raw.get("frame", default_frame)
    if frame not in FRAME_COLUMNS:
        raise ContractError(f"{where} ({raw['type']}): unknown frame {frame!r}; frames: {', '.join(FRAME_COLUMNS)}")
    if not isinstance(raw.get("kwargs") or {}, dict):
        raise ContractError(f"{where} ({raw['type']}): `kwargs` must be a mapping, got {raw['kwargs']!r}")
    kwargs = dict(raw.get("kwargs") or {})
    if "mostly" in raw:
        kwargs["mostly"] = raw["mostly"]
    requires = raw.get("requires") or []
    if isinstance(requires, str):
        requires = [requires]
    notes = " ".join(str(raw["notes"]).split()) if raw.get("notes") else None
    expectation = ContractExpectation(suite, index, raw["type"], kwargs, severity, frame, tuple(requires), notes)
    unknown_parameters = sorted(set(expectation.parameters) - set(PARAMETERS))
    if unknown_parameters:
        raise ContractError(
            f"{where} ({raw['type']}): unknown parameter(s) {', '.join(unknown_parameters)}; known: "
            f"{', '.join(PARAMETERS)}"
        )
    missing_columns = [c for c in expectation.columns if c not in FRAME_COLUMNS[frame]]
    if missing_columns:
        raise ContractError(
            f"{where} ({raw['type']}): frame {frame!r} has no column {', '.join(missing_columns)}; "
            f"columns: {', '.join(FRAME_COLUMNS[frame])}"
        )
    return expectation


def load_suite(path: Path) -> ContractSuite:
    """One suite file, validated against Great Expectations' own expectation classes."""
    raw = _read(path)
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: a suite file is a mapping with suite, expectation_count and expectations")
    unknown = sorted(set(raw) - SUITE_KEYS)
    if unknown:
        raise ContractError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SUITE_KEYS))}")
    if raw.get("suite") != path.stem:
        raise ContractError(f"{path}: `suite: {raw.get('suite')}` must match the file name ({path.stem})")
    name = path.stem
    entries = raw.get("expectations") or []
    declared = raw.get("expectation_count")
    if declared != len(entries):
        raise ContractError(f"{path}: declares expectation_count: {declared} but lists {len(entries)} expectations")
    expectations = tuple(_entry(path, name, raw.get("frame"), i, e) for i, e in enumerate(entries))

    from great_expectations.exceptions.exceptions import ExpectationNotFoundError

    built = []
    for e in expectations:
        try:
            built.append(e.to_gx())
        except ExpectationNotFoundError as exc:
            raise ContractError(f"{path}: expectation {e.index + 1}: unknown expectation type {e.type!r}") from exc
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            raise ContractError(
                f"{path}: expectation {e.index + 1} ({e.type}): invalid kwargs {e.kwargs}: {exc}"
            ) from exc
    gx_suite = great_expectations().ExpectationSuite(name=name, expectations=built)
    if len(gx_suite.expectations) != declared:
        raise ContractError(f"{path}: Great Expectations kept {len(gx_suite.expectations)} of {declared} expectations")
    corpus = {e.frame in CORPUS_FRAMES for e in expectations}
    if len(corpus) > 1:
        raise ContractError(
            f"{path}: a suite checks a snapshot or a corpus, not both; frames: "
            f"{', '.join(sorted({e.frame for e in expectations}))}"
        )
    subject = "corpus" if corpus == {True} else "snapshot"
    return ContractSuite(
        name,
        path,
        str(raw.get("description") or "").strip(),
        expectations,
        hashlib.sha256(path.read_bytes()).hexdigest(),
        subject,
    )


def load_suites(contracts_dir: Path, subject: str | None = "snapshot") -> list[ContractSuite]:
    """Every suite file in the folder whose subject is `subject` (`snapshot`, `corpus`, or None
    for all), sorted by name; an empty or missing folder, or none of the subject, is an error."""
    contracts_dir = Path(contracts_dir)
    if subject is not None and subject not in SUBJECTS:
        raise ValueError(f"unknown contract subject {subject!r}; choose from {', '.join(SUBJECTS)}")
    if not contracts_dir.is_dir():
        raise ContractError(f"contracts folder {contracts_dir} does not exist")
    paths = sorted({p for pattern in SUITE_FILES for p in contracts_dir.glob(pattern)})
    if not paths:
        raise ContractError(f"no suite files (*.yaml, *.json) in {contracts_dir}")
    suites = [load_suite(p) for p in paths]
    names = [s.name for s in suites]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ContractError(f"{contracts_dir}: suite(s) defined twice: {', '.join(duplicates)}")
    if subject is None:
        return suites
    chosen = [s for s in suites if s.subject == subject]
    if not chosen:
        raise ContractError(
            f"no {subject} suite in {contracts_dir} (its suites check: "
            f"{', '.join(sorted({s.subject for s in suites}))})"
        )
    return chosen


def contracts_sha256(suites: list[ContractSuite]) -> str:
    """Identifies the contracts a report was checked against."""
    return hashlib.sha256("".join(f"{s.name}:{s.sha256}\n" for s in suites).encode()).hexdigest()

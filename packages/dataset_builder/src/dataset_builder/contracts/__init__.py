"""Data contracts: Great Expectations suites in `data_contracts/` that gate every snapshot.

`contract_gate()` is the checker `build.create_snapshot` calls before publishing;
`check_snapshot()` re-checks a published snapshot (`dsb contracts check`). Both return the
report documented in docs/contracts.md. Great Expectations is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataset_builder.contracts.drift import drift_frame
from dataset_builder.contracts.frames import (
    ContractInputs,
    CorpusInputs,
    contract_frames,
    contract_parameters,
    corpus_contract_frames,
)
from dataset_builder.contracts.runner import build_report, run_suites

from .suites import (
    PARAMETERS,
    SUBJECTS,
    ContractError,
    ContractExpectation,
    ContractSuite,
    load_suites,
)

if TYPE_CHECKING:
    from ..config import BuildConfig
    from ..corpus import Corpus, CorpusData, CorpusManifest
    from ..dataset import Dataset
    from ..manifest import Manifest
    from ..snapshot import Snapshot

__all__ = [
    "PARAMETERS",
    "SUBJECTS",
    "ContractError",
    "ContractExpectation",
    "ContractSuite",
    "check_corpus",
    "check_snapshot",
    "contract_gate",
    "corpus_gate",
    "default_contracts_dir",
    "load_suites",
    "run_contracts",
    "run_corpus_contracts",
]


def default_contracts_dir() -> Path:
    """The repository's `data_contracts/` (packages/dataset_builder/src/dataset_builder/contracts -> repo root)."""
    return Path(__file__).resolve().parents[5] / "data_contracts"


# Build options that change which labels a snapshot holds: drift between snapshots that differ
# here is a decision the user made, not a change in the data.
LABEL_SHAPING_OPTIONS = ("statuses", "merge_map", "allowed_labels", "extra_labels")


def config_change(current: BuildConfig, parent: BuildConfig) -> list[str]:
    """The label-shaping build options whose values differ between two specs."""
    ours, theirs = current.to_dict(), parent.to_dict()
    return [name for name in LABEL_SHAPING_OPTIONS if ours.get(name) != theirs.get(name)]


def run_contracts(
    suites: list[ContractSuite], current: Any, parent: Any | None, *, parent_id: str | None, max_failing_rows: int = 10
) -> dict[str, Any]:
    """Check `current` (ContractInputs) against the suites, with drift against `parent` when given."""
    import polars as pl

    try:
        frames = contract_frames(current)
        unavailable: dict[str, str] = {}
        changed = config_change(current.spec, parent.spec) if parent is not None else []
        if parent is not None and not changed:
            frames["drift"], drift = drift_frame(current, parent, parent_id)
        else:
            reason = (
                f"parent snapshot {parent_id} was built with other {', '.join(changed)}: drift compares like with like"
                if changed
                else f"parent snapshot {parent_id} not available"
                if parent_id
                else "no parent snapshot"
            )
            unavailable["drift"] = reason
            drift = {"status": "skipped", "parent_id": parent_id, "reason": reason, "metrics": {}}
    except pl.exceptions.PolarsError as exc:
        raise ContractError(f"cannot derive the contract frames from this snapshot: {exc}") from exc
    results = run_suites(
        suites, frames, contract_parameters(current), unavailable=unavailable, max_failing_rows=max_failing_rows
    )
    return build_report(suites, results, drift, parent_id)


def _inputs(source: Any, manifest: Manifest) -> Any:

    return ContractInputs(
        source.words, source.receipts, source.labels, manifest.spec, manifest.label_list, manifest.lock.data_quality
    )


def contract_gate(
    contracts_dir: Path | None = None, *, max_failing_rows: int = 10
) -> Callable[[Dataset, Manifest, Snapshot | None], dict[str, Any]]:
    """The checker for `build.create_snapshot`. The suites are loaded (and validated) now, so a
    broken contract file stops the build before it reads the table."""
    suites = load_suites(contracts_dir or default_contracts_dir())

    def check(dataset: Dataset, manifest: Manifest, parent: Snapshot | None) -> dict[str, Any]:
        current = _inputs(dataset, manifest)
        previous = _inputs(parent, parent.manifest) if parent is not None else None
        return run_contracts(
            suites, current, previous, parent_id=parent.id if parent else None, max_failing_rows=max_failing_rows
        )

    return check


def check_snapshot(
    snapshot: Snapshot, parent: Snapshot | None, contracts_dir: Path | None = None, max_failing_rows: int = 10
) -> dict[str, Any]:
    """Re-check a published snapshot; `parent` is the reference for drift (None: skipped)."""
    suites = load_suites(contracts_dir or default_contracts_dir())
    previous = _inputs(parent, parent.manifest) if parent is not None else None
    parent_id = parent.id if parent is not None else snapshot.parent_id
    report = run_contracts(
        suites, _inputs(snapshot, snapshot.manifest), previous, parent_id=parent_id, max_failing_rows=max_failing_rows
    )
    return {"snapshot_id": snapshot.id, **report}


# --- corpora ----------------------------------------------------------------------------------

NO_DRIFT = {
    "status": "skipped",
    "parent_id": None,
    "reason": "a corpus has no parent: drift is checked between snapshots",
    "metrics": {},
}


def run_corpus_contracts(
    suites: list[ContractSuite], words: Any, receipts: Any, excluded_keys: Any, *, max_failing_rows: int = 10
) -> dict[str, Any]:
    """Check a corpus's frames against the corpus suites; the report has the snapshot report's shape."""
    import polars as pl

    try:
        frames = corpus_contract_frames(CorpusInputs(words, receipts, frozenset(excluded_keys)))
    except pl.exceptions.PolarsError as exc:
        raise ContractError(f"cannot derive the contract frames from this corpus: {exc}") from exc
    results = run_suites(suites, frames, {}, unavailable={}, max_failing_rows=max_failing_rows)
    return build_report(suites, results, dict(NO_DRIFT), None)


def corpus_gate(
    contracts_dir: Path | None = None, *, max_failing_rows: int = 10
) -> Callable[[CorpusData, CorpusManifest], dict]:
    """The checker for `corpus.create_corpus`; the corpus suites are loaded (and validated) now,
    before the table is read."""
    suites = load_suites(contracts_dir or default_contracts_dir(), subject="corpus")

    def check(data: CorpusData, manifest: CorpusManifest) -> dict[str, Any]:
        excluded = manifest.excluded.receipt_keys if manifest.excluded else []
        return run_corpus_contracts(suites, data.words, data.receipts, excluded, max_failing_rows=max_failing_rows)

    return check


def check_corpus(corpus: Corpus, contracts_dir: Path | None = None, max_failing_rows: int = 10) -> dict[str, Any]:
    """Re-check a published corpus (`dsb corpus check`)."""
    suites = load_suites(contracts_dir or default_contracts_dir(), subject="corpus")
    excluded = corpus.excluded.receipt_keys if corpus.excluded else []
    report = run_corpus_contracts(suites, corpus.words, corpus.receipts, excluded, max_failing_rows=max_failing_rows)
    return {"corpus_id": corpus.id, **report}

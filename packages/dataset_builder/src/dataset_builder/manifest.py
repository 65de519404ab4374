"""The snapshot manifest: a typed, versioned contract between the builder and its readers.

As DVC keeps `dvc.yaml` (what was asked) apart from `dvc.lock` (what came out), a manifest has
two parts:

- `spec`: the build options that change the data (`BuildConfig`: statuses, merges, allowed
  labels, ratio, split...). Options that only change how a build runs (concurrency, read
  strategy, `--allow-contract-failures`) are not in it, so two snapshots whose specs are equal
  were asked for the same data, and `dsb snapshot diff` reports only real data choices.
- `lock`: what the build produced and from where: read window, counts, ratios, split hashes,
  file hashes, the content hash and the contract results.

Readers (the trainer, run analysis, diff, contracts) use the typed fields, never keys.
`Manifest.from_json` opens every schema version this code knows: version 1 (the first
release, one flat object) is upgraded on read by `upgrade_v1`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import BuildConfig, ConfigError
from .errors import DatasetBuilderError

SCHEMA_VERSION = 2
KNOWN_VERSIONS = (1, 2)
RUN_OPTIONS_V1 = ("concurrency", "allow_contract_failures", "extra", "merge_map")
"""build_config keys of version 1 manifests that are not part of the spec."""


class ManifestError(DatasetBuilderError, ValueError):
    """A manifest that cannot be read: bad JSON, unknown schema version, missing fields."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceInfo(_Model):
    """Where the data was read from, and when (the read window brackets every item read)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    table: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    read_started_at: str = ""
    read_finished_at: str = ""
    strategy: str | None = None
    requests: int | None = None


class SplitCounts(_Model):
    receipts: int
    words: int
    supervised_words: int
    entity_words: dict[str, int] = Field(default_factory=dict)
    """Supervised words per label (O excluded)."""
    entities: dict[str, int] = Field(default_factory=dict)
    """Entities (B- tags) per label."""
    labelled_words: int = 0
    """Words with a label item of a selected status (`label_state` labelled)."""
    unlabelled_words: int = 0
    """Words without any label item (O)."""
    unknown_words: int = 0
    """Words whose label items all lack a selected status (`label_state` unknown)."""
    unknown_words_by_label: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Unknown words per label their items propose (aliased and merged) and status; a word
    with items of two labels counts under both."""


class Counts(_Model):
    splits: dict[str, SplitCounts]
    labels_by_status: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Label items per raw label name and validation status (every status read)."""
    label_items: int = 0

    def split(self, name: str) -> SplitCounts:
        if name not in self.splits:
            raise KeyError(f"the snapshot has no {name!r} split (splits: {', '.join(self.splits)})")
        return self.splits[name]


class RatioReport(_Model):
    """The O:entity ratio of supervised words per split, before and after the ratio control."""

    target: float | None = None
    mechanism: str = "drop"
    before: dict[str, float | None] = Field(default_factory=dict)
    after: dict[str, float | None] = Field(default_factory=dict)
    unknown_before: dict[str, int] = Field(default_factory=dict)
    """Unknown words per split before the ratio control (neither O nor entity: not counted)."""
    unknown_after: dict[str, int] = Field(default_factory=dict)
    """... and after it (`drop` removes the unknown words of the O-only lines it takes)."""


class FileEntry(_Model):
    sha256: str
    bytes: int
    rows: int | None = None


class ContractReport(_Model):
    """The contract results stamped at build time (full schema: docs/contracts.md). The
    per-expectation results keep Great Expectations' shape and stay plain dicts."""

    model_config = ConfigDict(frozen=True, extra="allow")
    status: str = "unchecked"
    checked_at: str | None = None
    contracts_sha256: str | None = None
    parent_id: str | None = None
    suites: dict[str, Any] = Field(default_factory=dict)
    results: list[dict[str, Any]] = Field(default_factory=list)
    drift: dict[str, Any] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """False only when an error-level contract failed (warnings never block)."""
        return self.status != "failed"


UNCHECKED = ContractReport()


class MerchantCounts(_Model):
    """Where each receipt's merchant came from (`rules.resolve_merchants`): its ReceiptPlace,
    the words VALID-labelled MERCHANT_NAME (the user's previous trainer's fallback), or
    nowhere. `receipt`: a snapshot from before sources, whose merchant was on the Receipt."""

    place: int = 0
    labelled_words: int = 0
    none: int = 0
    receipt: int = 0
    distinct: int = 0

    @property
    def with_merchant(self) -> int:
        return self.place + self.labelled_words + self.receipt


class QualityItem(_Model):
    kind: str
    key: str
    detail: str = ""


class DataQuality(_Model):
    """What the build noticed in the table and did not train on silently: label items whose
    key cannot be parsed (refused), words with empty text, and boxes off the page (clipped to
    it). Counts are exact; `items` names the first few of each kind (the contracts report them)."""

    refused_label_items: int = 0
    empty_text_words: int = 0
    empty_text_entity_words: int = 0
    """Empty-text words that carry an entity label (trained as entities: a model cannot read them)."""
    clipped_boxes: int = 0
    zero_size_boxes: int = 0
    """Clipped boxes left with no width or no height."""
    items: list[QualityItem] = Field(default_factory=list)


class SnapshotLock(_Model):
    """What a build produced."""

    created_at: str
    parent_id: str | None = None
    source: SourceInfo = Field(default_factory=SourceInfo)
    code_version: dict[str, str | None] = Field(default_factory=dict)
    coordinate_convention: dict[str, str] = Field(default_factory=dict)
    label_list: list[str]
    tags: list[str]
    counts: Counts
    o_entity_ratio: RatioReport = Field(default_factory=RatioReport)
    multi_label_conflicts: int = 0
    dropped_label_names: dict[str, int] = Field(default_factory=dict)
    missing_val_keys: list[str] = Field(default_factory=list)
    merchants: MerchantCounts | None = None
    """None in snapshots built before merchant sources were counted."""
    data_quality: DataQuality = Field(default_factory=DataQuality)
    split_hashes: dict[str, str] = Field(default_factory=dict)
    files: dict[str, FileEntry] = Field(default_factory=dict)
    content_sha256: str
    contracts: ContractReport = UNCHECKED


class Manifest(_Model):
    """`manifest.json` of a snapshot. `id` is None only in a draft, before an id is reserved."""

    schema_version: Literal[2] = SCHEMA_VERSION
    id: str | None = None
    spec: BuildConfig
    lock: SnapshotLock

    # --- the accessors readers use ------------------------------------------------------

    @property
    def label_list(self) -> list[str]:
        return list(self.lock.label_list)

    @property
    def tags(self) -> list[str]:
        return list(self.lock.tags)

    @property
    def content_sha256(self) -> str:
        return self.lock.content_sha256

    @property
    def parent_id(self) -> str | None:
        return self.lock.parent_id

    @property
    def contracts(self) -> ContractReport:
        return self.lock.contracts

    def split_hash(self, split: str) -> str | None:
        return self.lock.split_hashes.get(split)

    def with_contracts(self, report: ContractReport) -> Manifest:
        return self.model_copy(update={"lock": self.lock.model_copy(update={"contracts": report})})

    def with_id(self, snapshot_id: str) -> Manifest:
        return self.model_copy(update={"id": snapshot_id})

    # --- files --------------------------------------------------------------------------

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data (what `dsb snapshot show --json` prints)."""
        return json.loads(self.model_dump_json())

    @classmethod
    def from_json(cls, raw: str | bytes, *, where: str = "manifest.json") -> Manifest:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ManifestError(f"{where} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, where=where)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "manifest.json") -> Manifest:
        if not isinstance(data, dict):
            raise ManifestError(f"{where} is not a JSON object")
        version = data.get("schema_version", data.get("format_version"))
        if version not in KNOWN_VERSIONS:
            raise ManifestError(
                f"{where} has schema version {version!r}; this code reads {', '.join(map(str, KNOWN_VERSIONS))} "
                "(a newer dsb wrote it? upgrade receipt-ml)"
            )
        if version == 1:
            data = upgrade_v1(data)
        elif isinstance(data.get("spec"), dict) and "unvalidated" not in data["spec"]:
            # Written before the option existed: those builds trained unknown words as O.
            data = {**data, "spec": {**data["spec"], "unvalidated": "o"}}
        try:
            return cls.model_validate(data)
        except (ValidationError, ConfigError) as exc:
            raise ManifestError(f"{where} does not follow schema version {version}: {_short(exc)}") from exc


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{exc.error_count()} problem(s), first at {where or '(top)'}: {first.get('msg')}"
    return str(exc)


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 manifest (one flat object, `build_config` with run options mixed in) as
    version 2 data. Pure: nothing is rewritten on disk, so the manifest's hash still matches."""
    config = dict(data.get("build_config") or {})
    merges = config.get("custom_merge") or {}
    spec = {k: v for k, v in config.items() if k not in RUN_OPTIONS_V1}
    spec["custom_merge"] = [list(pair) for pair in (merges.items() if isinstance(merges, dict) else merges)]
    spec["unvalidated"] = "o"  # the first release trained every word without a VALID label as O
    lock_keys = set(SnapshotLock.model_fields)
    lock = {k: v for k, v in data.items() if k in lock_keys}
    if lock.get("contracts") is None:
        lock.pop("contracts", None)
    return {"schema_version": SCHEMA_VERSION, "id": data.get("id"), "spec": spec, "lock": lock}

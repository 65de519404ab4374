"""Corpora: every receipt's words in the table, labelled or not, for pretraining.

A corpus is to pretraining what a snapshot is to fine-tuning: an immutable folder
`<root>/<id>/`, hashed, contract-checked (`data_contracts/corpus.yaml`) and described by a
typed manifest (`CorpusManifest`: spec + lock). Its ids are `c1`, `c2`, ... beside the
snapshots' `v1`, `v2` in the same root (`storage.ID_KINDS`): each kind allocates and lists
only its own ids, so a corpus can name the snapshot it was built for.

What is in it (docs/corpus.md):

- `words.parquet`: one row per word of every receipt in the table, whatever its labels'
  status (receipts with no label item included), with the very boxes and reading order a
  snapshot gives it (`rules.layout_boxes`, `rules.reading_order`): `layout.LAYOUT_COLUMNS`.
  No label, no tag, no split: pretraining reads words and boxes only.
- `receipts.parquet`: one row per receipt: its size, word count and how many label items
  (all statuses, and VALID ones) the table holds for it.

The receipts of one snapshot's val split can be left out (`exclude`): pretraining must never
read the words that will score the fine-tuned model. The lock names that snapshot, the hash of
its val split and the keys left out; `val_overlap` tells how many of any snapshot's val
receipts a corpus holds.

Nothing here imports Great Expectations (the contracts are passed in, as for snapshots) or
torch.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataset_builder.build import ContractGateFailed, code_version
from metrics_store import TableRef
from metrics_store.keys import utc_now_iso

from . import rules
from .config import READ_STRATEGIES, ConfigError
from .dataset import RawRead
from .layout import LAYOUT_COLUMNS
from .manifest import UNCHECKED, ContractReport, DataQuality, FileEntry, QualityItem, SourceInfo
from .snapshot import (
    Snapshot,
    SnapshotCorrupted,
    content_hash,
    file_entries,
    parquet_bytes,
    sha256,
    split_hash,
)
from .sources.dynamo import Progress, read_every_receipt
from .storage import MANIFEST, Backend, SnapshotError, SnapshotNotFound, backend_for, id_number

CORPUS_PREFIX = "c"
"""Corpus ids: `c1`, `c2`, ... (snapshots are `v1`, `v2`, ...)."""
SCHEMA_VERSION = 1
CORPUS_FILES = ("words.parquet", "receipts.parquet")
WORD_COLUMNS = list(LAYOUT_COLUMNS)
RECEIPT_COLUMNS = [
    "receipt_key",
    "image_id",
    "receipt_id",
    "width",
    "height",
    "n_words",
    "label_items",
    "valid_label_items",
]
QUALITY_EXAMPLES = 50


class EmptyCorpus(SnapshotError):
    """The table holds no receipt (or every one was excluded): nothing to build."""


class CorpusCorrupted(SnapshotCorrupted):
    """A published corpus whose files do not match its manifest, or an unreadable manifest."""


# --- the manifest ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CorpusSpec(_Model):
    """What was asked: only the options that change the data."""

    exclude_val_of: str | None = None
    """The snapshot whose val receipts were left out (None: every receipt of the table)."""


class ExcludedSplit(_Model):
    """The receipts left out: a snapshot's val split."""

    snapshot_id: str
    snapshot_content_sha256: str
    split: Literal["val"] = "val"
    split_hash: str
    """`snapshot.split_hash` of the split's keys: equal to the snapshot's own `split_hashes["val"]`."""
    receipts: int
    """Receipts in the split."""
    found: int
    """Of them, receipts the table held (and the corpus left out)."""
    receipt_keys: list[str]
    """The split's keys, sorted: a corpus can be checked without its snapshot."""


class CorpusCounts(_Model):
    receipts: int
    words: int
    receipts_without_words: int = 0
    receipts_with_valid_labels: int = 0
    """Receipts with a VALID label item (a snapshot with the default --status selects them)."""
    receipts_with_unvalidated_labels_only: int = 0
    """Receipts with label items, none VALID (NEEDS_REVIEW, PENDING, NONE, INVALID only)."""
    receipts_without_labels: int = 0
    """Receipts with no label item at all: no snapshot ever trains on them."""


class CorpusLock(_Model):
    """What a build produced."""

    created_at: str
    source: SourceInfo = Field(default_factory=SourceInfo)
    code_version: dict[str, str | None] = Field(default_factory=dict)
    coordinate_convention: dict[str, str] = Field(default_factory=dict)
    counts: CorpusCounts
    excluded: ExcludedSplit | None = None
    data_quality: DataQuality = Field(default_factory=DataQuality)
    receipts_sha256: str
    """`split_hash` of every receipt key in the corpus: identifies the receipt set."""
    files: dict[str, FileEntry] = Field(default_factory=dict)
    content_sha256: str
    contracts: ContractReport = UNCHECKED


class CorpusManifest(_Model):
    """`manifest.json` of a corpus. `id` is None only in a draft, before an id is reserved."""

    kind: Literal["corpus"] = "corpus"
    schema_version: Literal[1] = SCHEMA_VERSION
    id: str | None = None
    spec: CorpusSpec = Field(default_factory=CorpusSpec)
    lock: CorpusLock

    @property
    def content_sha256(self) -> str:
        return self.lock.content_sha256

    @property
    def contracts(self) -> ContractReport:
        return self.lock.contracts

    @property
    def excluded(self) -> ExcludedSplit | None:
        return self.lock.excluded

    def with_contracts(self, report: ContractReport) -> CorpusManifest:
        return self.model_copy(update={"lock": self.lock.model_copy(update={"contracts": report})})

    def with_id(self, corpus_id: str) -> CorpusManifest:
        return self.model_copy(update={"id": corpus_id})

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def to_dict(self) -> dict[str, Any]:
        import json

        return json.loads(self.model_dump_json())

    @classmethod
    def from_json(cls, raw: str | bytes, *, where: str = "manifest.json") -> CorpusManifest:
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(p) for p in first.get("loc", ())) or "(top)"
            raise CorpusCorrupted(
                f"{where} is not a corpus manifest (schema version {SCHEMA_VERSION}): "
                f"{exc.error_count()} problem(s), first at {at}: {first.get('msg')}"
            ) from exc


# --- from a table read to the corpus frames (pure) ------------------------------------------


@dataclass(frozen=True)
class CorpusData:
    words: pl.DataFrame
    receipts: pl.DataFrame
    counts: CorpusCounts
    data_quality: DataQuality


def _word_key(row: dict[str, Any]) -> str:
    return f"{row['receipt_key']}#LINE#{row['line_id']:05d}#WORD#{row['word_id']:05d}"


def corpus_data(raw: RawRead, exclude_keys: set[str] | frozenset[str] = frozenset()) -> CorpusData:
    """Every receipt of the read (a Receipt item is what makes one), less `exclude_keys`, with
    its words laid out as a snapshot lays them out: boxes in 0..1000 top-left (corners off the
    page clipped and counted), reading order, and nothing about labels but counts."""
    receipts = rules.with_receipt_key(raw.receipts).unique("receipt_key", keep="first")
    receipts = receipts.filter(~pl.col("receipt_key").is_in(list(exclude_keys)))
    if receipts.height == 0:
        why = " once the excluded val receipts are left out" if exclude_keys else ""
        raise EmptyCorpus(f"the table holds no receipt{why}: nothing to build")
    keys = receipts["receipt_key"].implode()
    words = rules.with_receipt_key(raw.words).filter(pl.col("receipt_key").is_in(keys))
    words = words.with_columns(rules.off_page().alias("_off_page"))
    words = rules.reading_order(rules.layout_boxes(words)).with_columns(pl.col("text").fill_null(""))

    empty = words.filter(pl.col("text").str.strip_chars() == "")
    clipped = words.filter(pl.col("_off_page"))
    quality = DataQuality(
        refused_label_items=raw.refused_labels.height if raw.refused_labels is not None else 0,
        empty_text_words=empty.height,
        clipped_boxes=clipped.height,
        zero_size_boxes=clipped.filter((pl.col("x0") == pl.col("x1")) | (pl.col("y0") == pl.col("y1"))).height,
        items=[
            QualityItem(kind="empty_text_word", key=_word_key(r))
            for r in empty.head(QUALITY_EXAMPLES).iter_rows(named=True)
        ]
        + [
            QualityItem(
                kind="clipped_box",
                key=_word_key(r),
                detail=f"box {r['x0']},{r['y0']},{r['x1']},{r['y1']} after clipping",
            )
            for r in clipped.head(QUALITY_EXAMPLES).iter_rows(named=True)
        ],
    )
    words = words.select(WORD_COLUMNS).sort("receipt_key", "position")

    labels = rules.with_receipt_key(raw.labels).filter(pl.col("receipt_key").is_in(keys))
    per_receipt_labels = labels.group_by("receipt_key").agg(
        pl.len().cast(pl.Int32).alias("label_items"),
        (pl.col("validation_status") == "VALID").sum().cast(pl.Int32).alias("valid_label_items"),
    )
    per_receipt_words = words.group_by("receipt_key").agg(pl.len().cast(pl.Int32).alias("n_words"))
    receipts = (
        receipts.join(per_receipt_words, on="receipt_key", how="left")
        .join(per_receipt_labels, on="receipt_key", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in ("n_words", "label_items", "valid_label_items"))
        .select(RECEIPT_COLUMNS)
        .sort("receipt_key")
    )
    counts = CorpusCounts(
        receipts=receipts.height,
        words=words.height,
        receipts_without_words=receipts.filter(pl.col("n_words") == 0).height,
        receipts_with_valid_labels=receipts.filter(pl.col("valid_label_items") > 0).height,
        receipts_with_unvalidated_labels_only=receipts.filter(
            (pl.col("label_items") > 0) & (pl.col("valid_label_items") == 0)
        ).height,
        receipts_without_labels=receipts.filter(pl.col("label_items") == 0).height,
    )
    return CorpusData(words, receipts, counts, quality)


def val_split_of(snapshot: Snapshot) -> tuple[list[str], str]:
    """The receipt keys of a snapshot's val split (sorted) and their hash, checked against the
    hash its manifest recorded (a mismatch is a damaged snapshot, not a smaller corpus)."""
    keys = sorted(snapshot.receipts.filter(pl.col("split") == "val")["receipt_key"].to_list())
    digest = split_hash(keys)
    recorded = snapshot.split_hash("val")
    if recorded is not None and recorded != digest:
        raise SnapshotCorrupted(
            f"snapshot {snapshot.id}: its val receipts hash to {digest[:12]}..., its manifest says {recorded[:12]}..."
        )
    return keys, digest


# --- publishing ---------------------------------------------------------------------------


CorpusCheck = Callable[[CorpusData, CorpusManifest], dict[str, Any]]
"""Checks a draft corpus against the corpus contracts; returns the report (docs/contracts.md)."""


@dataclass(frozen=True)
class CorpusOptions:
    """How a build runs; none of it is in the manifest."""

    concurrency: int = 16
    strategy: str = "query"
    """`query`: receipts from the RECEIPT partition of the type index, then one GSI4 query
    each; `scan`: one parallel scan of the table."""
    allow_contract_failures: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.strategy not in READ_STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(READ_STRATEGIES)}, got {self.strategy!r}")


@dataclass(frozen=True)
class CorpusBuildResult:
    corpus_id: str
    uri: str
    manifest: CorpusManifest
    manifest_sha256: str
    cleaned: tuple[str, ...] = ()


def corpus_backend(
    root: str | Path, *, region: str | None = None, endpoint_url: str | None = None, s3_client: Any = None
) -> Backend:
    """The storage of corpora under a root (a folder or `s3://bucket/prefix`), the snapshots' own root."""
    return backend_for(root, region=region, endpoint_url=endpoint_url, s3_client=s3_client, id_prefix=CORPUS_PREFIX)


def _require_corpus_backend(backend: Backend) -> None:
    if getattr(backend, "id_prefix", "v") != CORPUS_PREFIX:
        raise ValueError("a corpus needs a backend for corpus ids (corpus_backend(root)), not the snapshots' one")


def draft_manifest(
    data: CorpusData,
    *,
    source: dict[str, Any],
    read_window: tuple[str, str],
    read_stats: dict[str, Any],
    excluded: ExcludedSplit | None,
) -> tuple[CorpusManifest, dict[str, bytes]]:
    """Everything but the id and the contract results, and the data files' bytes."""

    files = {"words.parquet": parquet_bytes(data.words), "receipts.parquet": parquet_bytes(data.receipts)}
    entries = file_entries(files, {"words.parquet": data.words, "receipts.parquet": data.receipts})
    lock = CorpusLock(
        created_at=utc_now_iso(),
        source=SourceInfo(**source, read_started_at=read_window[0], read_finished_at=read_window[1], **read_stats),
        code_version=code_version(),
        coordinate_convention=rules.COORDINATE_CONVENTION,
        counts=data.counts,
        excluded=excluded,
        data_quality=data.data_quality,
        receipts_sha256=split_hash(data.receipts["receipt_key"].to_list()),
        files=entries,
        content_sha256=content_hash({n: e.sha256 for n, e in entries.items()}),
    )
    return CorpusManifest(spec=CorpusSpec(exclude_val_of=excluded.snapshot_id if excluded else None), lock=lock), files


def create_corpus(
    *,
    table: TableRef,
    backend: Backend,
    source: dict[str, Any],
    exclude: Snapshot | None = None,
    options: CorpusOptions | None = None,
    check_contracts: CorpusCheck | None = None,
    progress: Progress | None = None,
) -> CorpusBuildResult:
    """Read every receipt of the table, leave out `exclude`'s val receipts, lay the words out
    as a snapshot does, check the corpus contracts, publish `cN`. A failure before the publish
    leaves nothing visible; an error-level contract failure publishes nothing unless
    `options.allow_contract_failures` (`build.ContractGateFailed`)."""

    _require_corpus_backend(backend)
    options = options or CorpusOptions()
    cleaned = tuple(backend.clean_debris())
    excluded_keys: list[str] = []
    digest = None
    if exclude is not None:
        excluded_keys, digest = val_split_of(exclude)
    raw = read_every_receipt(table, concurrency=options.concurrency, strategy=options.strategy, progress=progress)
    data = corpus_data(raw, set(excluded_keys))
    excluded = None
    if exclude is not None:
        read = set(rules.with_receipt_key(raw.receipts)["receipt_key"].to_list())
        excluded = ExcludedSplit(
            snapshot_id=exclude.id,
            snapshot_content_sha256=exclude.content_sha256,
            split_hash=str(digest),
            receipts=len(excluded_keys),
            found=sum(k in read for k in excluded_keys),
            receipt_keys=excluded_keys,
        )
    manifest, files = draft_manifest(
        data, source=source, read_window=(raw.started_at, raw.finished_at), read_stats=raw.stats, excluded=excluded
    )
    if check_contracts is not None:
        manifest = manifest.with_contracts(ContractReport.model_validate(check_contracts(data, manifest)))
    if manifest.contracts.status == "failed" and not options.allow_contract_failures:
        raise ContractGateFailed(manifest.contracts.model_dump())
    corpus_id = backend.reserve_id()
    manifest = manifest.with_id(corpus_id)
    files[MANIFEST] = manifest.to_json().encode()
    uri = backend.publish(corpus_id, files)
    return CorpusBuildResult(corpus_id, uri, manifest, sha256(files[MANIFEST]), cleaned)


# --- reading ----------------------------------------------------------------------------------


@dataclass
class Corpus:
    """A published corpus. Frames are read on first use (and verified when opened)."""

    id: str
    uri: str
    manifest: CorpusManifest
    backend: Backend = field(repr=False)
    _files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def _bytes(self, name: str) -> bytes:
        if name not in self._files:
            self._files[name] = self.backend.read(self.id, name)
        return self._files[name]

    def frame(self, name: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self._bytes(name)))

    @cached_property
    def words(self) -> pl.DataFrame:
        """One row per word (`WORD_COLUMNS`), sorted by receipt key and position."""
        return self.frame("words.parquet")

    @cached_property
    def receipts(self) -> pl.DataFrame:
        return self.frame("receipts.parquet")

    @property
    def spec(self) -> CorpusSpec:
        return self.manifest.spec

    @property
    def lock(self) -> CorpusLock:
        return self.manifest.lock

    @property
    def content_sha256(self) -> str:
        return self.manifest.content_sha256

    @property
    def manifest_sha256(self) -> str:
        return sha256(self._bytes(MANIFEST))

    @property
    def excluded(self) -> ExcludedSplit | None:
        return self.manifest.excluded

    @property
    def contracts(self) -> ContractReport:
        return self.manifest.contracts

    @property
    def contracts_passed(self) -> bool:
        return self.contracts.passed

    def verify(self) -> None:
        """Re-hash every file against the manifest; a modified file is a clear error."""
        entries = self.lock.files
        missing = sorted(set[str](CORPUS_FILES) - set(entries))
        if missing:
            raise CorpusCorrupted(f"corpus {self.id}: manifest lists no hash for {', '.join(missing)}")
        for name, entry in entries.items():
            actual = sha256(self._bytes(name))
            if actual != entry.sha256:
                raise CorpusCorrupted(
                    f"corpus {self.id}: {name} was modified after publishing "
                    f"(sha256 {actual[:12]}..., manifest says {entry.sha256[:12]}...)"
                )
        if content_hash({n: e.sha256 for n, e in entries.items()}) != self.content_sha256:
            raise CorpusCorrupted(f"corpus {self.id}: manifest content_sha256 does not match its file hashes")


def resolve_corpus_id(backend: Backend, ref: str) -> str:
    """`latest`, `c3` or `3` -> a published corpus id."""
    _require_corpus_backend(backend)
    published = backend.published_ids()
    if ref == "latest":
        if not published:
            raise SnapshotNotFound(f"no corpus in {backend.uri} yet: create one with `dsb corpus create`")
        return published[-1]
    corpus_id = f"{CORPUS_PREFIX}{ref}" if ref.isdigit() else ref
    id_number(corpus_id, CORPUS_PREFIX)
    if corpus_id not in published:
        raise SnapshotNotFound(
            f"corpus {corpus_id} not found in {backend.uri} (latest: {', '.join(published[-5:]) or 'none'})"
        )
    return corpus_id


def read_corpus_manifest(backend: Backend, corpus_id: str) -> tuple[CorpusManifest, bytes]:
    raw = backend.read(corpus_id, MANIFEST)
    return CorpusManifest.from_json(raw, where=f"corpus {corpus_id}: manifest.json"), raw


def open_corpus(
    root: str | Path, ref: str = "latest", *, verify: bool = True, backend: Backend | None = None
) -> Corpus:
    """Open a published corpus by id (or `latest`), verifying its hashes by default."""
    backend = backend or corpus_backend(root)
    corpus_id = resolve_corpus_id(backend, ref)
    manifest, raw = read_corpus_manifest(backend, corpus_id)
    corpus = Corpus(corpus_id, backend.snapshot_uri(corpus_id), manifest, backend, {MANIFEST: raw})
    if verify:
        corpus.verify()
    return corpus


def list_corpora(root: str | Path, *, backend: Backend | None = None) -> list[dict[str, Any]]:
    """One summary row per published corpus, oldest first."""
    backend = backend or corpus_backend(root)
    _require_corpus_backend(backend)
    rows = []
    for corpus_id in backend.published_ids():
        manifest, raw = read_corpus_manifest(backend, corpus_id)
        lock = manifest.lock
        rows.append(
            {
                "id": corpus_id,
                "created_at": lock.created_at,
                "receipts": lock.counts.receipts,
                "words": lock.counts.words,
                "receipts_without_labels": lock.counts.receipts_without_labels,
                "receipts_with_valid_labels": lock.counts.receipts_with_valid_labels,
                "exclude_val_of": manifest.spec.exclude_val_of,
                "excluded_receipts": lock.excluded.found if lock.excluded else 0,
                "contracts": lock.contracts.status,
                "content_sha256": lock.content_sha256,
                "manifest_sha256": sha256(raw),
                "uri": backend.snapshot_uri(corpus_id),
            }
        )
    return rows


def val_overlap(corpus: Corpus, snapshot: Snapshot) -> list[str]:
    """The keys of `snapshot`'s val receipts that `corpus` holds (sorted): words a model
    pretrained on the corpus has read and that will score it when fine-tuned on the snapshot.
    Empty for a corpus built for the snapshot (or for any snapshot with the same val split)."""
    val = set(snapshot.receipts.filter(pl.col("split") == "val")["receipt_key"].to_list())
    return sorted(val & set(corpus.receipts["receipt_key"].to_list()))

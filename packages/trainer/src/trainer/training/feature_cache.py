"""Built features on disk, keyed by everything they depend on, so a second run on the same
snapshot, tokenizer and window sizes skips tokenization."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from trainer.errors import DataError
from trainer.model.features import Feature

# Bump when the layout of a feature changes, so old caches stop matching.
FEATURE_FORMAT_VERSION = 1


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the full fast-tokenizer definition (vocab, normalizer, pre-tokenizer, specials)."""
    return hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8")).hexdigest()


def feature_cache_key_parts(
    snapshot_sha256: str, tokenizer: Any, max_seq_length: int, doc_stride: int, tags: Sequence[str]
) -> dict[str, Any]:
    """Everything the features depend on; the cache key is a hash of this."""
    return {
        "snapshot_sha256": snapshot_sha256,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "max_seq_length": max_seq_length,
        "doc_stride": doc_stride,
        "tags": list(tags),
    }


@dataclass(frozen=True)
class CachedFeatures:
    features: list[Feature]
    path: Path
    hit: bool


_CACHE_SCHEMA = {
    "input_ids": pl.List(pl.Int32),
    "attention_mask": pl.List(pl.Int8),
    "token_type_ids": pl.List(pl.Int8),
    "bbox": pl.List(pl.List(pl.Int16)),
    "labels": pl.List(pl.Int32),
    "example_index": pl.Int32,
    "word_ids": pl.List(pl.Int32),
}
_CACHE_METADATA_KEY = "receipt_ml_feature_key"


def feature_cache_path(cache_dir: Path | str, key_parts: Mapping[str, Any]) -> Path:
    canonical = json.dumps(
        {"format_version": FEATURE_FORMAT_VERSION, **key_parts},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return Path(cache_dir) / f"features-{digest[:32]}.parquet"


def load_or_build_features(
    cache_dir: Path | str, key_parts: Mapping[str, Any], build_fn: Callable[[], list[Feature]]
) -> CachedFeatures:
    """Return cached features for `key_parts`, or build, store (atomically) and return them.

    The file is written under a temporary name and renamed, so a crash never leaves a
    half-written cache that a later run would trust.
    """
    path = feature_cache_path(cache_dir, key_parts)
    key_json = json.dumps(dict(key_parts), sort_keys=True)
    if path.exists():
        stored = pl.read_parquet_metadata(path).get(_CACHE_METADATA_KEY)
        if stored != key_json:
            raise DataError(f"feature cache {path} was written for other inputs; delete it to rebuild")
        frame = pl.read_parquet(path)
        return CachedFeatures(features=frame.to_dicts(), path=path, hit=True)

    features = build_fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(
        {column: [feature[column] for feature in features] for column in _CACHE_SCHEMA},
        schema=_CACHE_SCHEMA,
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        frame.write_parquet(temporary, metadata={_CACHE_METADATA_KEY: key_json})
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return CachedFeatures(features=features, path=path, hit=False)

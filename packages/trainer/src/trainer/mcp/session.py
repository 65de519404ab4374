"""What one server holds: the table connection (read-only, made on first use, so a server starts
even while the table is down and each call says why it cannot answer), the snapshot root, and
the cache of finished runs' records."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrics_store import StoreConfig

from .cache import CachedQueries

SERVER_OPERATIONS = ("GetItem", "Query")
"""The DynamoDB operations the server's connection allows: every tool reads through them (the
README's IAM list is this one)."""


@dataclass
class Session:
    store: StoreConfig
    root: str
    _queries: CachedQueries | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _kept: dict[tuple, tuple[float, Any]] = field(default_factory=dict, repr=False)

    @property
    def queries(self) -> CachedQueries:
        with self._lock:
            if self._queries is None:
                from metrics_store import connect
                from metrics_store.read_only import read_only

                self._queries = CachedQueries(read_only(connect(self.store), SERVER_OPERATIONS))
            return self._queries

    def kept(self, key: tuple, compute: Callable[[], Any], *, seconds: float | None = None) -> Any:
        """`compute()`, kept under `key` for `seconds` (None: for the life of the server, for what
        cannot change, such as a finished run's plots)."""
        now = time.monotonic()
        found = self._kept.get(key)
        if found is not None and (seconds is None or now - found[0] < seconds):
            return found[1]
        value = compute()
        self._kept[key] = (now, value)
        return value

    def backend(self) -> Any:
        from dataset_builder.storage import backend_for

        return backend_for(self.root, region=self.store.region)

    def describe(self) -> dict[str, Any]:
        """Where this server reads from (the agent context's infrastructure section)."""
        return {"table": self.store.table, "endpoint_url": self.store.endpoint_url or "AWS default for the region",
                "region": self.store.region or os.environ.get("AWS_REGION") or "the profile's, else us-east-1",
                "profile": self.store.profile, "snapshot_root": self.root, "model_cache": model_cache()}


def model_cache() -> str:
    """Where `--model <hub id>` is looked up (huggingface_hub's cache), without importing it."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface")
    return str(Path(home) / "hub")

"""Helpers shared by the dsb command groups."""

from __future__ import annotations

from pathlib import Path

from cli_edge.options import DEFAULT_ROOT, RootOpt

__all__ = ["DEFAULT_ROOT", "RootOpt", "backend", "read_keys_file"]


def backend(root: str, region: str | None = None):
    """The storage backend for --root (S3 honours AWS_ENDPOINT_URL_S3 through boto3)."""
    from ..storage import backend_for

    return backend_for(root, region=region)


def read_keys_file(path: Path) -> tuple[str, ...]:
    """Receipt keys, one per line; blank lines and `#` comments ignored."""
    if not path.is_file():
        raise FileNotFoundError(f"--val-keys: {path} does not exist")
    keys = [line.strip() for line in path.read_text().splitlines()]
    return tuple(k for k in keys if k and not k.startswith("#"))

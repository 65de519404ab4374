"""Where snapshots live: a local folder (default) or an `s3://bucket/prefix` URI.

Both backends keep the same two promises:
- ids are allocated without races: `reserve_id` claims `vN` with an exclusive create (a file
  opened O_EXCL locally; a conditional PutObject `If-None-Match: *` on S3), so two concurrent
  builds never get the same id (a crashed build leaves a gap, never a clash);
- publishing is atomic: a snapshot becomes visible all at once or not at all. Locally the
  files are written to a hidden staging folder and renamed into place; on S3 the data files are
  uploaded first and `manifest.json` last, and only a prefix with a manifest is a snapshot.
Published snapshots are never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from .errors import DatasetBuilderError

ID_PATTERN = re.compile(r"^v(\d+)$")
ID_KINDS = {"v": "snapshot", "c": "corpus"}
"""Id prefixes and what they name: snapshots `v12` and corpora `c3` (`dataset_builder.corpus`)
may share a root; each kind allocates, lists and publishes only its own ids."""
MANIFEST = "manifest.json"
STAGING_LEASE_SECONDS = 3600
"""A staging folder (or an unpublished S3 upload) older than this, whose build is not alive,
is debris of a killed build and may be removed."""


class SnapshotError(DatasetBuilderError):
    pass


class SnapshotNotFound(SnapshotError):
    pass


class SnapshotExists(SnapshotError):
    pass


def id_pattern(prefix: str = "v") -> re.Pattern[str]:
    if prefix not in ID_KINDS:
        raise ValueError(f"unknown id prefix {prefix!r}; known: {', '.join(ID_KINDS)}")
    return ID_PATTERN if prefix == "v" else re.compile(rf"^{prefix}(\d+)$")


def id_number(snapshot_id: str, prefix: str = "v") -> int:
    match = id_pattern(prefix).match(snapshot_id)
    if not match:
        raise SnapshotNotFound(f"not a {ID_KINDS[prefix]} id: {snapshot_id!r} (ids look like {prefix}12)")
    return int(match.group(1))


class Backend(Protocol):
    uri: str
    id_prefix: str

    def published_ids(self) -> list[str]: ...

    def reserve_id(self) -> str: ...

    def publish(self, snapshot_id: str, files: dict[str, bytes]) -> str: ...

    def read(self, snapshot_id: str, name: str) -> bytes: ...

    def snapshot_uri(self, snapshot_id: str) -> str: ...

    def reserved_ids(self) -> list[str]: ...

    def clean_debris(self, *, older_than_s: float = STAGING_LEASE_SECONDS) -> list[str]: ...


class LocalBackend:
    def __init__(self, root: Path, id_prefix: str = "v"):
        self.root = Path(root)
        self.uri = str(self.root.resolve())
        self.id_prefix = id_prefix
        self.id_pattern = id_pattern(id_prefix)

    def snapshot_uri(self, snapshot_id: str) -> str:
        return str((self.root / snapshot_id).resolve())

    def published_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        ids = [p.name for p in self.root.iterdir() if self.id_pattern.match(p.name) and (p / MANIFEST).is_file()]
        return sorted(ids, key=self._number)

    def _number(self, published_id: str) -> int:
        return id_number(published_id, self.id_prefix)

    def reserve_id(self) -> str:
        reservations = self.root / ".ids"
        reservations.mkdir(parents=True, exist_ok=True)
        taken = [self._number(p.name) for p in reservations.iterdir() if self.id_pattern.match(p.name)]
        taken += [self._number(i) for i in self.published_ids()]
        number = max(taken, default=0) + 1
        while True:
            try:
                os.close(os.open(reservations / f"{self.id_prefix}{number}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return f"{self.id_prefix}{number}"
            except FileExistsError:
                number += 1

    def reserved_ids(self) -> list[str]:
        reservations = self.root / ".ids"
        ids = [p.name for p in reservations.iterdir() if self.id_pattern.match(p.name)] if reservations.is_dir() else []
        return sorted(ids, key=self._number)

    def clean_debris(self, *, older_than_s: float = STAGING_LEASE_SECONDS) -> list[str]:
        """Remove staging folders of killed builds: older than the lease and, when the build
        ran on this host, its process is gone. A live build's folder is never touched."""
        staging = self.root / ".staging"
        removed = []
        for folder in sorted(staging.iterdir()) if staging.is_dir() else []:
            if _staging_alive(folder.name) or time.time() - folder.stat().st_mtime < older_than_s:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
        return removed

    def publish(self, snapshot_id: str, files: dict[str, bytes]) -> str:
        staging = self.root / ".staging" / f"{snapshot_id}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            for name in sorted(files, key=lambda n: n == MANIFEST):  # manifest last
                path = staging / name
                with open(path, "wb") as handle:
                    handle.write(files[name])
                    handle.flush()
                    os.fsync(handle.fileno())
                path.chmod(0o444)
            target = self.root / snapshot_id
            if target.exists():
                kind = ID_KINDS[self.id_prefix]
                raise SnapshotExists(
                    f"{kind} {snapshot_id} already exists in {self.uri}; published {kind} folders are never overwritten"
                )
            os.rename(staging, target)  # atomic: the snapshot appears whole or not at all
            target.chmod(0o555)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.snapshot_uri(snapshot_id)

    def read(self, snapshot_id: str, name: str) -> bytes:
        path = self.root / snapshot_id / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise SnapshotNotFound(f"{path} does not exist") from None


def _staging_alive(name: str) -> bool:
    """`<id>-<host>-<pid>-<tag>`: alive when it names this host and a running process."""
    _, _, rest = name.partition("-")  # ids (vN) have no dash; host names may
    parts = rest.rsplit("-", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def s3_errors(uri: str) -> Iterator[None]:
    """S3 failures as one clear SnapshotError (the SDK's original kept as the cause)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield
    except NoCredentialsError as exc:
        raise SnapshotError(
            f"no AWS credentials to read {uri}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from exc
    except EndpointConnectionError as exc:
        raise SnapshotError(f"cannot reach S3 for {uri}: check AWS_ENDPOINT_URL_S3 and your network") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            raise SnapshotNotFound(f"bucket of {uri} does not exist: create it, or pass another --root") from exc
        if code in ("AccessDenied", "403"):
            raise SnapshotError(f"access denied to {uri}: check the credentials' S3 permissions") from exc
        raise


class S3Backend:
    def __init__(self, uri: str, client: Any, id_prefix: str = "v"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise SnapshotError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.id_prefix = id_prefix
        self.id_pattern = id_pattern(id_prefix)

    def _number(self, published_id: str) -> int:
        return id_number(published_id, self.id_prefix)

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def snapshot_uri(self, snapshot_id: str) -> str:
        return f"s3://{self.bucket}/{self._key(snapshot_id)}"

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def published_ids(self) -> list[str]:
        ids = set()
        base = self._key("")
        with s3_errors(self.uri):
            keys = self._list(f"{base}/" if base else "")
        for key in keys:
            rel = key[len(base) + 1 :] if base else key
            parts = rel.split("/")
            if len(parts) == 2 and parts[1] == MANIFEST and self.id_pattern.match(parts[0]):
                ids.add(parts[0])
        return sorted(ids, key=self._number)

    def reserved_ids(self) -> list[str]:
        with s3_errors(self.uri):
            reserved = self._list(self._key(".ids") + "/")
        return sorted(
            (k.rsplit("/", 1)[-1] for k in reserved if self.id_pattern.match(k.rsplit("/", 1)[-1])), key=self._number
        )

    def clean_debris(self, *, older_than_s: float = STAGING_LEASE_SECONDS) -> list[str]:
        """Remove data files of ids that never got their manifest (a killed upload), once they
        are older than the lease."""
        from datetime import UTC, datetime

        published = set(self.published_ids())
        base = self._key("")
        removed = []
        with s3_errors(self.uri):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{base}/" if base else ""
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    rel = entry["Key"][len(base) + 1 :] if base else entry["Key"]
                    snapshot_id, _, _ = rel.partition("/")
                    age = (datetime.now(UTC) - entry["LastModified"]).total_seconds()
                    if self.id_pattern.match(snapshot_id) and snapshot_id not in published and age >= older_than_s:
                        self.client.delete_object(Bucket=self.bucket, Key=entry["Key"])
                        removed.append(f"s3://{self.bucket}/{entry['Key']}")
        return removed

    def reserve_id(self) -> str:
        from botocore.exceptions import ClientError

        with s3_errors(self.uri):
            reserved = self._list(self._key(".ids") + "/")
        taken = [self._number(k.rsplit("/", 1)[-1]) for k in reserved if self.id_pattern.match(k.rsplit("/", 1)[-1])]
        taken += [self._number(i) for i in self.published_ids()]
        number = max(taken, default=0) + 1
        while True:
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(".ids", f"{self.id_prefix}{number}"), Body=b"", IfNoneMatch="*"
                )
                return f"{self.id_prefix}{number}"
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    raise
                number += 1

    def publish(self, snapshot_id: str, files: dict[str, bytes]) -> str:
        from botocore.exceptions import ClientError

        for name in sorted(files, key=lambda n: n == MANIFEST):  # the manifest, last, makes it visible
            extra = {"IfNoneMatch": "*"} if name == MANIFEST else {}
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(snapshot_id, name), Body=files[name], **extra)
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                    raise SnapshotExists(
                        f"{ID_KINDS[self.id_prefix]} {snapshot_id} already exists in {self.uri}"
                    ) from exc
                raise
        return self.snapshot_uri(snapshot_id)

    def read(self, snapshot_id: str, name: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(snapshot_id, name))["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise SnapshotNotFound(f"{self.snapshot_uri(snapshot_id)}/{name} does not exist") from exc
            if exc.response["Error"]["Code"] == "NoSuchBucket":
                raise SnapshotNotFound(f"bucket {self.bucket!r} does not exist") from exc
            raise


def backend_for(
    root: str | Path,
    *,
    s3_client: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    id_prefix: str = "v",
) -> Backend:
    """A backend for a snapshot root: `s3://bucket/prefix` or a local folder. `id_prefix`: the
    kind of id it holds, `v` (snapshots) or `c` (corpora, `dataset_builder.corpus`)."""
    text = str(root)
    if text.startswith("s3://"):
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3", region_name=region or "us-east-1", endpoint_url=endpoint_url)
        return S3Backend(text, s3_client, id_prefix)
    return LocalBackend(Path(text), id_prefix)

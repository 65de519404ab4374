"""How to reach the table: a frozen config built once at the CLI edge, and the one place
where boto3 clients are made and SDK errors are turned into our errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .errors import EndpointUnreachable, MissingCredentials, StoreError, TableNotFound

DEFAULT_TABLE = "ReceiptsTable"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True)
class StoreConfig:
    """Which table, where. `endpoint_url=None` means AWS's own endpoint (or whatever
    AWS_ENDPOINT_URL_DYNAMODB says: boto3 honours it)."""

    table: str = DEFAULT_TABLE
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    max_attempts: int = 10

    @property
    def is_local(self) -> bool:
        return bool(self.endpoint_url) and urlparse(self.endpoint_url).hostname in LOCAL_HOSTS


@dataclass(frozen=True)
class TableRef:
    """A DynamoDB low-level client and the table name it works on."""

    client: Any
    name: str
    endpoint_url: str | None = None


def make_client(config: StoreConfig, service: str = "dynamodb") -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=config.profile) if config.profile else boto3.Session()
    except ProfileNotFound as exc:
        raise StoreError(f"AWS profile {config.profile!r} not found in your AWS config: check --profile / AWS_PROFILE") from exc
    kwargs: dict[str, Any] = {
        "region_name": config.region or session.region_name or "us-east-1",
        "config": Config(
            retries={"mode": "standard", "total_max_attempts": config.max_attempts},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=32,
        ),
    }
    if config.endpoint_url:
        kwargs["endpoint_url"] = config.endpoint_url
    if config.is_local and session.get_credentials() is None:
        # DynamoDB Local accepts any key; do not make a local user invent one.
        kwargs["aws_access_key_id"] = "local"
        kwargs["aws_secret_access_key"] = "local"
    return session.client(service, **kwargs)


def connect(config: StoreConfig) -> TableRef:
    return TableRef(make_client(config), config.table, config.endpoint_url)


@contextlib.contextmanager
def translate_errors(table: str | None = None, endpoint: str | None = None) -> Iterator[None]:
    """Turn SDK errors into StoreErrors that say what is wrong and how to fix it."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise MissingCredentials() from exc
    except NoRegionError as exc:
        raise StoreError("no AWS region configured: pass --region or set AWS_REGION") from exc
    except (EndpointConnectionError, BotoConnectionError) as exc:
        raise EndpointUnreachable(endpoint) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException" and table:
            raise TableNotFound(table, endpoint) from exc
        if code in ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"):
            raise StoreError(f"AWS rejected the credentials ({code}): check your profile or keys") from exc
        if code == "AccessDeniedException":
            raise StoreError(f"access denied to table {table!r}: {exc.response['Error'].get('Message', '')}") from exc
        raise StoreError(f"DynamoDB error {code}: {exc.response.get('Error', {}).get('Message', exc)}") from exc

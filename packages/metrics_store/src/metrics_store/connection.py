"""How to reach the table: a frozen config built once at the CLI edge, and the one place
where boto3 clients are made and SDK errors are turned into our errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .errors import (
    EndpointUnreachable,
    InvalidEndpoint,
    MissingCredentials,
    NotDynamoDB,
    StoreError,
    TableNotFound,
)

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
    max_attempts: int | None = None
    """botocore's attempts per request; None: 10 against AWS, 2 against a local endpoint (a
    local DynamoDB that does not answer is down, not slow: fail in well under 2 s)."""
    connect_timeout: float | None = None
    """Seconds to open a connection; None: 5 against AWS, 1 against a local endpoint."""

    @property
    def is_local(self) -> bool:
        return bool(self.endpoint_url) and urlparse(self.endpoint_url).hostname in LOCAL_HOSTS


@dataclass(frozen=True)
class TableRef:
    """A DynamoDB low-level client and the table name it works on."""

    client: Any
    name: str
    endpoint_url: str | None = None


def check_endpoint(url: str) -> str:
    """An endpoint botocore can use (http or https, a host, a port in range), or one line that
    says what is wrong with it (botocore would answer with a long traceback)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        what = (
            f"scheme {parsed.scheme!r} is not http or https" if parsed.scheme and parsed.netloc else "it is not a URL"
        )
        raise InvalidEndpoint(url, f"{what} (expected http://host:port, e.g. DynamoDB Local's http://127.0.0.1:8000)")
    if not parsed.hostname:
        raise InvalidEndpoint(url, "it names no host (expected http://host:port)")
    try:
        parsed.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError:
        raise InvalidEndpoint(url, f"{parsed.netloc.rpartition(':')[2]!r} is not a port (1..65535)") from None
    return url


def make_client(config: StoreConfig, service: str = "dynamodb") -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=config.profile) if config.profile else boto3.Session()
    except ProfileNotFound as exc:
        raise StoreError(
            f"AWS profile {config.profile!r} not found in your AWS config: check --profile / AWS_PROFILE"
        ) from exc
    local = config.is_local
    kwargs: dict[str, Any] = {
        "region_name": config.region or session.region_name or "us-east-1",
        "config": Config(
            retries={"mode": "standard", "total_max_attempts": config.max_attempts or (2 if local else 10)},
            connect_timeout=config.connect_timeout or (1 if local else 5),
            read_timeout=60,
            max_pool_connections=32,
        ),
    }
    if config.endpoint_url:
        kwargs["endpoint_url"] = check_endpoint(config.endpoint_url)
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
    from botocore.parsers import ResponseParserError

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise MissingCredentials() from exc
    except NoRegionError as exc:
        raise StoreError("no AWS region configured: pass --region or set AWS_REGION") from exc
    except (EndpointConnectionError, BotoConnectionError) as exc:
        raise EndpointUnreachable(endpoint) from exc
    except ResponseParserError as exc:
        raise NotDynamoDB(endpoint, str(exc)) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if _looks_like_html(message):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise NotDynamoDB(endpoint, f"HTTP {status} with an HTML page") from exc
        if code.isdigit():  # an HTTP status with no DynamoDB error in the body: something else answers there
            raise NotDynamoDB(endpoint, f"HTTP {code}{': ' + message if message else ' with an empty body'}") from exc
        if code == "ResourceNotFoundException" and table:
            raise TableNotFound(table, endpoint) from exc
        if code in ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"):
            raise StoreError(f"AWS rejected the credentials ({code}): check your profile or keys") from exc
        if code == "AccessDeniedException":
            raise StoreError(f"access denied to table {table!r}: {exc.response['Error'].get('Message', '')}") from exc
        raise StoreError(f"DynamoDB error {code}: {exc.response.get('Error', {}).get('Message', exc)}") from exc


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype", "<html")) or "<html" in head

"""boto3 clients built from Settings, and AWS errors translated into vodstack's own.

boto3 is synchronous; the adapters run its calls in threads. Its clients are thread-safe,
so one client per role serves every request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from vodstack import errors
from vodstack.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

_CREDENTIAL_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidSecurity",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
}
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_TRANSIENT_CODES = {
    "InternalError",
    "RequestTimeout",
    "ServiceUnavailable",
    "SlowDown",
    "ThrottlingException",
}


def _config(*, path_style: bool = False, read_timeout: float = 60) -> Config:
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else "auto"},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout,
        max_pool_connections=32,
    )


def region(settings: Settings) -> str:
    return settings.s3_region or boto3.session.Session().region_name or "us-east-1"


def s3_client(settings: Settings, *, endpoint_url: str | None = None) -> S3Client:
    """``endpoint_url`` overrides the configured one: presigned URLs are signed for the
    host that clients use, which is not always the one the services use."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or settings.s3_endpoint_url,
        region_name=region(settings),
        config=_config(
            path_style=settings.s3_path_style, read_timeout=settings.storage_timeout_seconds
        ),
    )


def sqs_client(settings: Settings, queue_url: str) -> SQSClient:
    """The endpoint is the queue URL's own host: an AWS queue URL names its region's
    endpoint, and ElasticMQ, LocalStack or moto are reached where their URL says."""
    scheme, _, rest = queue_url.partition("://")
    host = rest.split("/", 1)[0]
    queue_region = region(settings)
    if host.startswith("sqs.") and host.endswith(".amazonaws.com"):
        queue_region = host.split(".")[1]
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=f"{scheme}://{host}",
        region_name=queue_region,
        config=_config(),
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, what: str, unavailable: type[errors.BackendUnavailable]) -> Exception:
    """An AWS failure as one of vodstack's errors: a configuration problem (credentials)
    that no retry will fix, or a backend that is away for a while. Anything else is
    returned unchanged for the adapter to interpret."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return errors.ConfigurationError(
            f"{what}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError,
    ):
        return unavailable(f"{what} is not reachable: {exc}")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = exc.response.get("Error", {}).get("Message") or code
        if message.startswith("<"):  # an error body botocore could not parse
            found = _XML_CODE.search(message)
            code = message = found.group(1) if found else code
        if code in _CREDENTIAL_CODES or status == 403:
            return errors.ConfigurationError(f"{what} refused the credentials ({code}): {message}")
        if code in _TRANSIENT_CODES or status >= 500:
            return unavailable(f"{what} answered {status or code}: {message}")
        return exc
    if isinstance(exc, BotoCoreError):
        return unavailable(f"{what}: {exc}")
    return exc

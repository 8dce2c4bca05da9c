"""What the S3 store and the S3 drop zone share: ``s3://`` URIs, the boto3 client, and error translation.

The client comes from dagster-aws's ``S3Resource``; endpoint, region and keys are left to boto3's own
environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) so S3-compatible
stores (MinIO, R2, SeaweedFS) need no code. Two things boto3 does not do on its own are done here:
``AWS_REGION`` is honoured (boto3 reads only ``AWS_DEFAULT_REGION``), and every request and presigned URL
is signed with SigV4 (boto3 still presigns with SigV2 in us-east-1 behind a custom endpoint). Listing speed:
botocore parses every ``LastModified`` with dateutil, three quarters of the cost of a 1,000-key page, so the
client parses S3's ISO 8601 timestamps with ``datetime.fromisoformat`` instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import botocore
import botocore.exceptions
import botocore.parsers
from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from ..http import describe_url
from ..store import StoreError

_SIGNED_QUERY = re.compile(r"\?[^\s'\"]*")  # a URL's query string: presigned URLs carry credentials there

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_CONFLICT_CODES = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}
_HINTS = {
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "access denied: check the IAM policy of AWS_ACCESS_KEY_ID",
    # HEAD responses have no body: a bare 403 is a denial or a bad signature
    "403": "refused: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and the IAM policy",
    "Forbidden": "refused: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and the IAM policy",
    "404": "not found",
    "InvalidAccessKeyId": "the access key is unknown to the server: check AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "the signature was refused: check AWS_SECRET_ACCESS_KEY and AWS_REGION",
    "AuthorizationHeaderMalformed": "the signature was refused: check AWS_REGION",
    "PermanentRedirect": "the bucket is in another region: check AWS_REGION",
}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; ``ValueError`` for anything else."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")


def join_key(prefix: str, key: str) -> str:
    """The object key for ``key`` under ``prefix`` (either may be empty)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{key}" if prefix else key


def _force_sigv4(signature_version: Any, **_: Any) -> str | None:
    """``choose-signer`` hook: SigV4 for requests and presigned URLs, unsigned sessions left alone."""
    if signature_version is botocore.UNSIGNED:
        return None
    return "s3v4"


def parse_timestamp(value: str) -> datetime:
    """S3's ISO 8601 timestamps the fast way; anything else (HTTP dates) as botocore would."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return botocore.parsers.DEFAULT_TIMESTAMP_PARSER(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_CLIENT_ENVIRONMENT = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
)  # fmt: skip


def make_client(s3: S3Resource) -> Any:
    """The boto3 S3 client for ``s3`` and the current AWS environment, built once per process and reused.

    Dagster builds a fresh resource for every run and sensor tick; a new botocore session each time costs more
    than the listing it serves. boto3 clients are thread-safe, so one per configuration is shared.
    """
    environment = tuple(os.environ.get(name) for name in _CLIENT_ENVIRONMENT)
    return _build_client(s3.model_dump_json(), environment)


@functools.lru_cache(maxsize=16)
def _build_client(config: str, environment: tuple[str | None, ...]) -> Any:
    """A boto3 S3 client: ``AWS_REGION`` as a fallback region, SigV4 forced, fast timestamps."""
    del environment  # part of the cache key only: boto3 reads the same variables itself
    s3 = S3Resource.model_validate_json(config)
    region = os.environ.get("AWS_REGION")
    if s3.region_name is None and region:
        s3 = s3.model_copy(update={"region_name": region})
    client = s3.get_client()
    if not s3.use_unsigned_session:
        client.meta.events.register_first("choose-signer.s3", _force_sigv4)
    # get_client() makes a fresh botocore session per client, so this parser factory is this client's alone
    factory = getattr(getattr(client, "_endpoint", None), "_response_parser_factory", None)
    if hasattr(factory, "set_parser_defaults"):
        factory.set_parser_defaults(timestamp_parser=parse_timestamp)
    return client


def is_missing(exc: BaseException) -> bool:
    """True when ``exc`` is S3 saying the object is not there (not the bucket: that is an error)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING_CODES
    return False


def is_conflict(exc: BaseException) -> bool:
    """True when S3 refused a conditional write because the object exists (412) or another such write to it
    is in progress (409): either way this writer did not create it."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) in _CONFLICT_CODES
    return False


def describe(exc: BaseException) -> str:
    """A short, secret-free reason for a boto3/botocore failure, with a hint at what to check."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        hint = _HINTS.get(code) or error.get("Message") or "request refused"
        return f"{hint} ({code}, HTTP {status})" if code != str(status) else f"{hint} (HTTP {status})"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        endpoint = describe_url(str(exc.kwargs.get("endpoint_url", "")))
        return f"cannot reach the S3 endpoint {endpoint}: check AWS_ENDPOINT_URL"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, (S3UploadFailedError, S3TransferFailedError)) and exc.__context__ is not None:
        return describe(exc.__context__)
    return f"{type(exc).__name__}: {_SIGNED_QUERY.sub('', str(exc))}"


@contextlib.contextmanager
def s3_errors(where: str, action: str) -> Iterator[None]:
    """Turn boto3 failures inside the block into ``StoreError("<where>: <action> failed: <reason>")``."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise StoreError(f"{where}: {action} failed: {describe(exc)}") from exc
    except (S3UploadFailedError, S3TransferFailedError) as exc:
        raise StoreError(f"{where}: {action} failed: {describe(exc)}") from exc


class S3Location(ConfigurableResource):
    """What the S3 store and the S3 drop zone share: a bucket prefix, how they are built, their boto3 client."""

    s3: S3Resource = Field(
        default_factory=S3Resource,
        description="dagster-aws S3 resource; leave endpoint/region/keys unset to use the AWS_* environment.",
    )
    bucket: str = Field(description="The bucket.")
    prefix: str = Field(default="", description="Key prefix inside the bucket.")

    _client: Any = PrivateAttr(default=None)

    @classmethod
    def from_environment(cls, bucket: str, prefix: str = "", **kwargs: Any) -> Self:
        """The resource at ``s3://bucket/prefix``; endpoint, region and keys left to the AWS_* environment."""
        return cls(s3=S3Resource(), bucket=bucket, prefix=prefix.strip("/"), **kwargs)

    @classmethod
    def from_uri(cls, uri: str, **kwargs: Any) -> Self:
        """The resource at ``s3://bucket/prefix`` (``MEDIA_PIPELINE_STORE`` / ``MEDIA_PIPELINE_DROPS``)."""
        bucket, prefix = parse_s3_uri(uri)
        return cls.from_environment(bucket, prefix, **kwargs)

    @property
    def client(self) -> Any:
        """The boto3 client, built once (boto3 clients are thread-safe)."""
        if self._client is None:
            self._client = make_client(self.s3)
        return self._client

    def _uri_of(self, obj: str) -> str:
        return f"s3://{self.bucket}/{obj}"

    def _get_object(self, obj: str) -> bytes | None:
        """The object's bytes, or None when there is no such object; other failures as ``StoreError``."""
        with s3_errors(self._uri_of(obj), "GET"):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=obj)["Body"].read()
            except Exception as exc:
                if is_missing(exc):
                    return None
                raise

    def _download(self, obj: str, dest: Path, **transfer: Any) -> bool:
        """Copy the object to ``dest`` (managed transfer, streamed); False when there is no such object."""
        with s3_errors(self._uri_of(obj), f"download to {dest}"):
            try:
                self.client.download_file(self.bucket, obj, str(dest), **transfer)
            except Exception as exc:
                if is_missing(exc):
                    return False
                raise
        return True

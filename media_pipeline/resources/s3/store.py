"""``S3MediaStore``: the media store in an S3 bucket prefix (AWS, MinIO, R2, SeaweedFS), via dagster-aws.

Objects appear whole or not at all, as S3 guarantees: single PUTs and completed multipart uploads only.
Files stream through boto3's managed transfer (multipart above ``multipart_threshold_bytes``), so nothing is
read whole into memory; ``put_stream`` uploads parts as they fill and aborts the multipart upload on error.
Fetch URLs are SigV4 presigned GETs that outlive the generation queue (``presign_ttl_seconds``); use
``presign`` or ``url_expiry`` to learn when a stored URL lapses and sign again before it is needed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from boto3.s3.transfer import TransferConfig
from pydantic import Field

from ..store import MediaStore, StoreError, check_key, content_type
from .location import S3Location, is_conflict, is_missing, join_key, s3_errors

MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer than a week


def url_expiry(url: str) -> datetime | None:
    """When a fetch URL stops working (UTC), or None for a URL that does not expire (``data:``, files).

    Reads SigV4 (``X-Amz-Date`` + ``X-Amz-Expires``) and SigV2 (``Expires``) query strings. A URL signed
    with temporary credentials dies earlier if the session does; presign with long-lived keys.
    """
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Date" in query and "X-Amz-Expires" in query:
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    if "Expires" in query:
        return datetime.fromtimestamp(int(query["Expires"][0]), tz=UTC)
    return None


class S3MediaStore(MediaStore, S3Location):
    """A store in ``s3://<bucket>/<prefix>/<key>``; endpoint, region and keys from boto3's environment."""

    presign_ttl_seconds: int = Field(
        default=2 * 3600,
        description="Minimum life of a fetch URL; must outlive the generation queue (max 7 days).",
    )
    multipart_threshold_bytes: int = Field(
        default=16 * 1024 * 1024, description="Files at least this large upload in parts."
    )
    multipart_part_bytes: int = Field(
        default=8 * 1024 * 1024, description="Part size of multipart uploads (S3 minimum 5 MiB)."
    )

    @property
    def url_ttl_seconds(self) -> int:
        """Fetch URLs live at least this long (``presign_ttl_seconds``); records re-sign them after."""
        return self.presign_ttl_seconds

    def _obj(self, key: str) -> str:
        return join_key(self.prefix, check_key(key))

    def _transfer(self) -> TransferConfig:
        return TransferConfig(
            multipart_threshold=self.multipart_threshold_bytes,
            multipart_chunksize=max(self.multipart_part_bytes, MIN_PART_BYTES),
        )

    def _missing(self, key: str) -> KeyError:
        return KeyError(f"no object {key!r} in store {self.uri_root()}")

    def uri_root(self) -> str:
        """The store itself as an ``s3://`` URI."""
        return f"s3://{self.bucket}/{join_key(self.prefix, '')}"

    def uri(self, key: str) -> str:
        return self._uri_of(self._obj(key))

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def put_file(self, key: str, path: Path, *, skip_if_exists: bool = False) -> bool:
        if skip_if_exists and self.exists(key):
            return False
        with s3_errors(self.uri(key), f"upload of {path}"):
            self.client.upload_file(
                str(path),
                self.bucket,
                self._obj(key),
                ExtraArgs={"ContentType": content_type(key)},
                Config=self._transfer(),
            )
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
        with s3_errors(self.uri(key), "PUT"):
            self.client.put_object(Bucket=self.bucket, Key=self._obj(key), Body=data, ContentType=content_type(key))

    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int) -> int:
        part_bytes = max(self.multipart_part_bytes, MIN_PART_BYTES)
        buffer = io.BytesIO()
        size = 0
        upload = _MultipartUpload(self, key)
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise StoreError(f"{self.uri(key)}: larger than the {max_bytes}-byte limit")
                buffer.write(chunk)
                if buffer.tell() >= part_bytes:
                    upload.add_part(buffer.getvalue())
                    buffer = io.BytesIO()
            if upload.started:
                if buffer.tell():
                    upload.add_part(buffer.getvalue())
                upload.complete()
            else:
                self.put_bytes(key, buffer.getvalue())
        except BaseException as exc:
            upload.abort()
            if isinstance(exc, StoreError) or not isinstance(exc, Exception):
                raise
            raise StoreError(f"{self.uri(key)}: upload stopped, nothing stored: {exc}") from exc
        return size

    def get_bytes(self, key: str) -> bytes:
        data = self._get_object(self._obj(key))
        if data is None:
            raise self._missing(key)
        return data

    def get_file(self, key: str, dest: Path) -> Path:
        if not self._download(self._obj(key), dest, Config=self._transfer()):
            raise self._missing(key)
        return dest

    def list_keys(self, prefix: str) -> list[str]:
        folder = prefix.strip("/")
        full = join_key(self.prefix, f"{folder}/" if folder else "")
        strip = len(join_key(self.prefix, ""))
        keys: list[str] = []
        with s3_errors(f"s3://{self.bucket}/{full}", "LIST"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            for page in pages:
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", ()))
        return sorted(k for k in keys if k and not k.endswith("/"))

    def delete(self, key: str) -> None:
        with s3_errors(self.uri(key), "DELETE"):
            self.client.delete_object(Bucket=self.bucket, Key=self._obj(key))

    def list_children(self, prefix: str) -> list[str]:
        # from the objects, not from CommonPrefixes: some servers (SeaweedFS) keep listing emptied folders
        folder = prefix.strip("/")
        start = len(folder) + 1 if folder else 0
        return sorted({key[start:].split("/", 1)[0] for key in self.list_keys(folder)})

    def alias_folder(self, alias: str, target: str, names: Iterable[str]) -> None:
        for name in names:
            key = f"{alias}/{name}"
            with s3_errors(self.uri(key), f"server-side copy from {self.uri(f'{target}/{name}')}"):
                self.client.copy(
                    {"Bucket": self.bucket, "Key": self._obj(f"{target}/{name}")},
                    self.bucket,
                    self._obj(key),
                    ExtraArgs={"ContentType": content_type(key), "MetadataDirective": "REPLACE"},
                    Config=self._transfer(),
                )

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """A PUT with ``If-None-Match: *``: S3 (AWS, SeaweedFS, MinIO, R2) refuses it when the key exists."""
        with s3_errors(self.uri(key), "conditional PUT"):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._obj(key), Body=data, ContentType=content_type(key), IfNoneMatch="*"
                )
            except Exception as exc:
                if is_conflict(exc):
                    return False
                raise
        return True

    def size(self, key: str) -> int | None:
        with s3_errors(self.uri(key), "HEAD"):
            try:
                return int(self.client.head_object(Bucket=self.bucket, Key=self._obj(key))["ContentLength"])
            except Exception as exc:
                if is_missing(exc):
                    return None
                raise

    def presign(self, key: str, ttl_seconds: int) -> tuple[str, datetime]:
        """A presigned GET for ``key`` valid ``max(ttl_seconds, url_ttl_seconds)`` s, and its expiry.

        ``KeyError`` when the object is missing, so a bad key fails here and not later at the video API.
        """
        ttl = max(ttl_seconds, self.url_ttl_seconds)
        if ttl > MAX_PRESIGN_SECONDS:
            raise StoreError(f"{self.uri(key)}: a presigned URL cannot live {ttl} s (SigV4 maximum 7 days)")
        if not self.exists(key):
            raise self._missing(key)
        with s3_errors(self.uri(key), "presign"):
            url = self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._obj(key)}, ExpiresIn=ttl
            )
        expires = url_expiry(url)
        assert expires is not None, "a SigV4 presigned URL always carries its expiry"
        return url, expires

    def fetch_url(self, key: str, ttl_seconds: int) -> str:
        return self.presign(key, ttl_seconds)[0]


class _MultipartUpload:
    """A multipart upload started on the first part; invisible until ``complete``, removed by ``abort``."""

    def __init__(self, store: S3MediaStore, key: str) -> None:
        self.store, self.key = store, key
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    @property
    def started(self) -> bool:
        return self.upload_id is not None

    def _args(self) -> dict[str, str]:
        return {"Bucket": self.store.bucket, "Key": self.store._obj(self.key)}

    def add_part(self, data: bytes) -> None:
        client = self.store.client
        with s3_errors(self.store.uri(self.key), "multipart upload"):
            if self.upload_id is None:
                created = client.create_multipart_upload(**self._args(), ContentType=content_type(self.key))
                self.upload_id = created["UploadId"]
            number = len(self.parts) + 1
            part = client.upload_part(**self._args(), UploadId=self.upload_id, PartNumber=number, Body=data)
            self.parts.append({"PartNumber": number, "ETag": part["ETag"]})

    def complete(self) -> None:
        with s3_errors(self.store.uri(self.key), "completing the multipart upload"):
            self.store.client.complete_multipart_upload(
                **self._args(), UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
            )
        self.upload_id = None

    def abort(self) -> None:
        """Best effort: an abort that fails leaves parts the bucket's lifecycle rule must clean up."""
        if self.upload_id is None:
            return
        try:
            self.store.client.abort_multipart_upload(**self._args(), UploadId=self.upload_id)
        except Exception:  # noqa: BLE001 - the original error is the one worth raising
            pass
        self.upload_id = None

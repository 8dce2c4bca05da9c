"""``S3DropZone``: drops under an S3 prefix, ``s3://bucket/prefix/<folder>/<file>``, via dagster-aws.

S3 has no "modified since" listing, so noticing a change costs a listing of the prefix: ListObjectsV2 pages of
1,000 keys (10,100 objects = 11 requests), parsed by a lean lister (``s3_listing``) rather than botocore. The
sensor's rules compare that listing with fingerprints in its cursor; the cursor holds no key positions, so deleted
or rewritten keys cannot wedge it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr

from ..drops import DropFile, DropZone
from .listing import FastLister
from .location import S3Location, is_missing, join_key, s3_errors


class S3DropZone(DropZone, S3Location):
    """Drops in ``s3://<bucket>/<prefix>/<folder>/<file>`` (a campaign or a catalog drop); hidden files and deeper
    keys are ignored."""

    page_size: int = Field(default=1000, description="Keys per ListObjectsV2 request (S3 maximum 1000).")
    fast_listing: bool = Field(
        default=True, description="Parse listings with ElementTree instead of botocore (several times faster)."
    )

    _lister: FastLister | None = PrivateAttr(default=None)
    _list_requests: int = PrivateAttr(default=0)

    @property
    def list_requests(self) -> int:
        """ListObjectsV2 requests sent so far (for benchmarks and tests)."""
        return self._list_requests + (self._lister.requests if self._lister else 0)

    def _root(self) -> str:
        return join_key(self.prefix, "")

    def _key(self, folder: str, name: str = "") -> str:
        return join_key(self.prefix, f"{folder}/{name}")

    def file_location(self, folder: str, name: str = "") -> str:
        return self._uri_of(self._key(folder, name))

    def _objects(self, prefix: str, delimiter: str = "") -> Iterator[dict[str, Any]]:
        """Every page of ListObjectsV2 under ``prefix`` (``page_size`` keys a request)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            args["Delimiter"] = delimiter
        with s3_errors(f"s3://{self.bucket}/{prefix}", "LIST"):
            if self.fast_listing:
                if self._lister is None:
                    self._lister = FastLister(self.client, self.s3.verify)
                yield from self._lister.pages(self.bucket, prefix, delimiter, self.page_size)
                return
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(**args, PaginationConfig={"PageSize": self.page_size}):
                self._list_requests += 1
                yield page

    @staticmethod
    def _drop_file(name: str, obj: Mapping[str, Any]) -> DropFile:
        etag = str(obj.get("ETag", "")).strip('"')
        return DropFile(name, int(obj["Size"]), obj["LastModified"].timestamp(), etag)

    def list_folders(self) -> dict[str, list[DropFile]]:
        """Every folder with its files from one paginated listing of the whole prefix."""
        root = self._root()
        folders: dict[str, list[DropFile]] = {}
        for page in self._objects(root):
            for obj in page.get("Contents", ()):
                folder, sep, name = obj["Key"][len(root) :].partition("/")
                if not sep or not folder or folder.startswith("."):
                    continue  # a file at the root, or a hidden folder
                files = folders.setdefault(folder, [])  # "<folder>/" alone marks an empty folder
                if name and "/" not in name and not name.startswith("."):
                    files.append(self._drop_file(name, obj))
        return {f: sorted(files) for f, files in sorted(folders.items())}

    def list_folder(self, folder: str) -> list[DropFile]:
        prefix = self._key(folder)
        files = [
            self._drop_file(obj["Key"][len(prefix) :], obj)
            for page in self._objects(prefix, "/")
            for obj in page.get("Contents", ())
        ]
        return sorted(f for f in files if f.name and not f.name.startswith("."))

    def fetch_file(self, folder: str, name: str, dest: Path) -> Path:
        if not self._download(self._key(folder, name), dest):
            raise FileNotFoundError(f"no drop file {self.file_location(folder, name)}")
        return dest

    def read_file(self, folder: str, name: str, limit: int | None = None) -> bytes | None:
        key = self._key(folder, name)
        with s3_errors(self._uri_of(key), "GET"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            except Exception as exc:
                if is_missing(exc):
                    return None
                raise
            with contextlib.closing(body):  # a bounded read leaves the rest of a huge object unread
                return body.read() if limit is None else body.read(limit)

"""Where the pipeline keeps what it makes: source images, clips, request journals, records and deliverables.

``MediaStore`` is the abstract resource every asset talks to; ``LocalMediaStore`` keeps a folder and
``S3MediaStore`` (in ``s3/store.py``) a bucket prefix. Keys are POSIX-style paths such as
``sources/<sha256>.png``; content-addressed keys are what make re-runs free, so a put of an existing
content-addressed key can be skipped. Writes are atomic: a reader sees the whole object or none.
"""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

from dagster import ConfigurableResource

from ..media.files import link_new, part_file, swap_symlink


class StoreError(RuntimeError):
    """The store could not be read or written; the message names the key and the store."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a relative POSIX path inside the store, else raise ``ValueError``."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid store key {key!r}")
    return key


def content_type(key: str) -> str:
    """The MIME type for a key, from its extension."""
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


class MediaStore(ConfigurableResource, ABC):
    """Abstract store. Subclasses implement every method below; assets depend only on this interface."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored at ``key``."""

    @abstractmethod
    def put_file(self, key: str, path: Path, *, skip_if_exists: bool = False) -> bool:
        """Store the file at ``path`` under ``key``; with ``skip_if_exists`` an existing object is kept.

        Returns True when it wrote, False when it skipped. Large files stream; nothing is read whole.
        """

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there."""

    @abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int) -> int:
        """Store the concatenated ``chunks`` under ``key``, visible only once complete; returns the size.

        Raises ``StoreError`` (and stores nothing) past ``max_bytes`` or when ``chunks`` raises.
        """

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object at ``key``; ``KeyError`` naming the key when it is missing."""

    @abstractmethod
    def get_file(self, key: str, dest: Path) -> Path:
        """Copy the object at ``key`` to the local file ``dest`` and return ``dest``."""

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        """A local path holding the object for the duration of the block (a temporary copy if need be)."""
        with tempfile.TemporaryDirectory(prefix="media-store-") as tmp:
            yield self.get_file(key, Path(tmp) / Path(key).name)

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder-like prefix ending in '/'), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at ``key`` if present."""

    @abstractmethod
    def list_children(self, prefix: str) -> list[str]:
        """The names directly under the folder-like ``prefix`` (objects and sub-folders alike), sorted."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under the folder-like ``prefix``."""
        for key in self.list_keys(prefix):
            self.delete(key)

    @abstractmethod
    def alias_folder(self, alias: str, target: str, names: Iterable[str]) -> None:
        """Make ``<alias>/<name>`` read as ``<target>/<name>`` for each of ``names`` (stable names of a set).

        A folder store switches them all at once (the symlink ``<alias>/current`` is renamed over the old one
        and each name links through it); an S3 store copies them on the server, one object at a time.
        """

    @abstractmethod
    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Store ``data`` at ``key`` only if no object is there, atomically against every other writer.

        True when this call created the object, False when one was already there (it is left as it was): the
        conditional create behind claims, so two runs never both believe they took one.
        """

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The size in bytes of the object at ``key``, or None when there is none (one HEAD on S3)."""

    @abstractmethod
    def fetch_url(self, key: str, ttl_seconds: int) -> str:
        """A URL from which an outside service (the video API) can fetch the object for ``ttl_seconds``."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where a person finds the object: a file path or an ``s3://`` URI (never a signed URL)."""

    def stable_uri(self, key: str) -> str:
        """``uri``, but a folder store does not resolve links: the name a person keeps (a set's stable names)."""
        return self.uri(key)

    @property
    def url_ttl_seconds(self) -> int | None:
        """How long a ``fetch_url`` stays valid, or None when it embeds the bytes (a data: URL) and never expires.

        Records keep expiring URLs with their expiry so they are reused while valid and re-signed after.
        """
        return None


class LocalMediaStore(MediaStore):
    """A store in a local folder: ``<root>/<key>``. Fetch URLs are ``data:`` URLs, so no server is needed."""

    root: str

    def _path(self, key: str) -> Path:
        return Path(self.root) / check_key(key)

    def _atomic_target(self, key: str) -> tuple[Path, Path]:
        target = self._path(key)
        return target, part_file(target)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def put_file(self, key: str, path: Path, *, skip_if_exists: bool = False) -> bool:
        if skip_if_exists and self.exists(key):
            return False
        target, tmp = self._atomic_target(key)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
        self.put_stream(key, [data], max_bytes=len(data))

    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int) -> int:
        target, tmp = self._atomic_target(key)
        size = 0
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise StoreError(f"{self.uri(key)}: larger than the {max_bytes}-byte limit")
                    out.write(chunk)
            os.replace(tmp, target)
        except StoreError:
            raise
        except Exception as exc:  # the source failed mid-way; nothing was stored
            raise StoreError(f"{self.uri(key)}: not stored: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(f"no object {key!r} in store {self.root}") from None

    def get_file(self, key: str, dest: Path) -> Path:
        try:
            shutil.copyfile(self._path(key), dest)
        except FileNotFoundError:
            raise KeyError(f"no object {key!r} in store {self.root}") from None
        return dest

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(f"no object {key!r} in store {self.root}")
        yield path

    def list_keys(self, prefix: str) -> list[str]:
        base = Path(self.root)
        folder = base / prefix if prefix else base
        if not folder.is_dir():
            return []
        return sorted(
            p.relative_to(base).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".part")
        )

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list_children(self, prefix: str) -> list[str]:
        folder = self._path(prefix.strip("/")) if prefix.strip("/") else Path(self.root)
        try:
            return sorted(name for name in os.listdir(folder) if not name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def delete_prefix(self, prefix: str) -> None:
        folder = self._path(prefix.strip("/"))
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)  # with the half-written .part files a killed writer left behind

    def alias_folder(self, alias: str, target: str, names: Iterable[str]) -> None:
        base = self._path(alias)
        base.mkdir(parents=True, exist_ok=True)
        swap_symlink(base / "current", os.path.relpath(self._path(target), base))
        for name in names:
            link = self._path(f"{alias}/{name}")
            if not (link.is_symlink() and os.readlink(link) == f"current/{name}"):
                swap_symlink(link, f"current/{name}")

    def create_exclusive(self, key: str, data: bytes) -> bool:
        target, tmp = self._atomic_target(key)
        try:
            tmp.write_bytes(data)
            return link_new(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def fetch_url(self, key: str, ttl_seconds: int) -> str:
        encoded = base64.b64encode(self.get_bytes(key)).decode("ascii")
        return f"data:{content_type(key)};base64,{encoded}"

    def uri(self, key: str) -> str:
        return str(self._path(key).resolve())

    def stable_uri(self, key: str) -> str:
        return str(Path(self.root).resolve() / check_key(key))

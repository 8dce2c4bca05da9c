"""Deliverable sets: publish a campaign's files as one whole set, and read the set that is current.

A set is uploaded into a fresh version folder, ``deliverables/<campaign>/v/<version>/``, that nothing reads yet.
Then the pointer ``deliverables/<campaign>/current.json`` (the ``Deliverable`` record itself) is written in one
atomic put: that write is the switch. Readers follow the pointer, so whatever stops the publisher (a kill, a
full disk, the store going away) they see the previous set or the new one, never a mix. After the switch the
stable names (``deliverables/<campaign>/<campaign>.mp4`` ...) are pointed at the new set (``alias_folder``) and
every version older than the one just replaced is deleted, with the leftovers of killed publishes; the replaced
version is kept, so a reader that read the pointer a moment ago still finds its files.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ..records import Deliverable
from .store import MediaStore, StoreError

POINTER = "current.json"


def campaign_folder(campaign: str) -> str:
    """The store folder of a campaign's deliverables."""
    return f"deliverables/{campaign}"


def pointer_key(campaign: str) -> str:
    """The key of the pointer that names the campaign's current set."""
    return f"{campaign_folder(campaign)}/{POINTER}"


def stable_key(campaign: str, key: str) -> str:
    """The stable name of a set's file (``deliverables/<campaign>/<file>``), which always shows the current set."""
    return f"{campaign_folder(campaign)}/{key.rsplit('/', 1)[-1]}"


def current_deliverable(store: MediaStore, campaign: str) -> Deliverable | None:
    """The campaign's current set as its pointer names it, or None when nothing was published yet."""
    try:
        return Deliverable.model_validate_json(store.get_bytes(pointer_key(campaign)))
    except KeyError:
        return None


def _new_version() -> str:
    """A version id that sorts by publish start time: ``20260101T020000123456Z-3fa2c1``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def _store_errors(store: MediaStore, key: str) -> Iterator[None]:
    """A folder store's ``OSError`` (a full or read-only disk) as a ``StoreError`` naming the key, no temp path."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"{store.uri(key)}: not stored: {exc.strerror or exc}") from exc


class SetUpload:
    """One set on its way to the store: ``put`` each file into the version folder, then ``switch``."""

    def __init__(self, store: MediaStore, campaign: str) -> None:
        self.store, self.campaign = store, campaign
        self.version = _new_version()
        self.folder = campaign_folder(campaign)
        self.prefix = f"{self.folder}/v/{self.version}"
        self.replaces = current_deliverable(store, campaign)
        self.switched = False

    def put(self, path: Path) -> str:
        """Upload ``path`` into the version folder under its own name; returns its key."""
        key = f"{self.prefix}/{path.name}"
        with _store_errors(self.store, key):
            self.store.put_file(key, path)
        return key

    def switch(self, record: Deliverable) -> Deliverable:
        """Make ``record`` (keys inside this version) the current set; then its stable names and the clean-up."""
        record = record.model_copy(update={"version": self.version, "published_at": datetime.now(UTC)})
        self.replaces = current_deliverable(self.store, self.campaign)  # another run may have switched since
        if self.replaces and self.replaces.version > self.version:
            raise StoreError(
                f"a publish that started later is current already; this one (version {self.version}) was dropped"
            )
        with _store_errors(self.store, pointer_key(self.campaign)):
            self.store.put_bytes(pointer_key(self.campaign), record.model_dump_json(indent=1).encode("utf-8"))
        self.switched = True
        names = _file_names(record)
        with _store_errors(self.store, stable_key(self.campaign, record.master_key)):
            self.store.alias_folder(self.folder, self.prefix, sorted(names))
            for stale in sorted(_file_names(self.replaces) - names):
                self.store.delete(f"{self.folder}/{stale}")
            keep = {self.version, self.replaces.version if self.replaces else "", _current_version(self)}
            for version in self.store.list_children(f"{self.folder}/v/"):
                if version < self.version and version not in keep:  # newer ones: publishes still running
                    self.store.delete_prefix(f"{self.folder}/v/{version}/")
        return record

    def describe_current(self) -> str:
        """Which set readers see now, for error messages."""
        if self.switched:
            return f"version {self.version} is current"
        if self.replaces is None:
            return "no set was published before, so none is visible"
        return f"version {self.replaces.version} stays current, whole"


def _current_version(upload: SetUpload) -> str:
    """The version the pointer names now: never deleted, even if an older publish switched back meanwhile."""
    current = current_deliverable(upload.store, upload.campaign)
    return current.version if current else ""


def _file_names(record: Deliverable | None) -> set[str]:
    return {key.rsplit("/", 1)[-1] for key in record.keys} if record else set()


@contextlib.contextmanager
def publishing(store: MediaStore, campaign: str) -> Iterator[SetUpload]:
    """A ``SetUpload`` for ``campaign``; a failure before the switch leaves the current set as it was.

    The half-uploaded version is removed when the store still answers (else by the next publish). A store
    error names the campaign, the key and the store, and says which set readers see.
    """
    upload = SetUpload(store, campaign)
    try:
        yield upload
    except Exception as exc:
        if not upload.switched:
            with contextlib.suppress(Exception):  # the store may be what failed
                store.delete_prefix(f"{upload.prefix}/")
        if not isinstance(exc, StoreError):
            raise
        what = "published, but its stable names or clean-up failed" if upload.switched else "not published"
        raise StoreError(f"campaign {campaign!r}: deliverable {what} ({upload.describe_current()}): {exc}") from None

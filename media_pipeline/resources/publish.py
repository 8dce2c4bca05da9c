"""Deliverable sets: publish a campaign's files as one whole set, and read the set that is current.

A set is uploaded into a fresh version folder, ``deliverables/<campaign>/v/<version>/``, that nothing reads yet.
Then the pointer ``deliverables/<campaign>/current.json`` (the ``Deliverable`` record itself) is written in one
atomic put: that write is the switch. Readers follow the pointer, so whatever stops the publisher (a kill, a
full disk, the store going away) they see the previous set or the new one, never a mix. After the switch the
stable names (``deliverables/<campaign>/<campaign>.mp4`` ...) are pointed at the new set (``alias_folder``) and
every version older than the one just replaced is deleted, with the leftovers of killed publishes; the replaced
version is kept, so a reader that read the pointer a moment ago still finds its files.

Under review (``review: required``) the set is uploaded the same way, but the switch writes the draft pointer
``deliverables/<campaign>/draft.json`` instead (``Draft``: the record plus the clips and spec it was made from):
the set is whole and previewable in its version folder, and readers of ``current.json`` still see the set before
it. Approving it (``resources.review``) is the switch of that same version, later: no file is made again.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from ..records import Deliverable
from .store import MediaStore, StoreError

POINTER = "current.json"
DRAFT_POINTER = "draft.json"


class ReviewKey(BaseModel):
    """What a reviewed set is made from, as an approval names it: each delivered shot's clip cache key and the
    hash of the deliverable spec."""

    clips: dict[str, str]
    spec_sha256: str

    @property
    def made_from(self) -> ReviewKey:
        """Just the clips and spec (a draft's or an approval's), to compare with another set's."""
        return ReviewKey(clips=self.clips, spec_sha256=self.spec_sha256)


class Draft(ReviewKey):
    """The draft pointer: a whole set in its version folder, awaiting approval, and the clips and spec behind it."""

    deliverable: Deliverable
    drafted_at: datetime


def campaign_folder(campaign: str) -> str:
    """The store folder of a campaign's deliverables."""
    return f"deliverables/{campaign}"


def pointer_key(campaign: str) -> str:
    """The key of the pointer that names the campaign's current set."""
    return f"{campaign_folder(campaign)}/{POINTER}"


def stable_key(campaign: str, key: str) -> str:
    """The stable name of a set's file (``deliverables/<campaign>/<file>``), which always shows the current set."""
    return f"{campaign_folder(campaign)}/{key.rsplit('/', 1)[-1]}"


def draft_key(campaign: str) -> str:
    """The key of the pointer that names the campaign's draft awaiting approval."""
    return f"{campaign_folder(campaign)}/{DRAFT_POINTER}"


def current_deliverable(store: MediaStore, campaign: str) -> Deliverable | None:
    """The campaign's current set as its pointer names it, or None when nothing was published yet."""
    try:
        return Deliverable.model_validate_json(store.get_bytes(pointer_key(campaign)))
    except KeyError:
        return None


def draft_set(store: MediaStore, campaign: str) -> Draft | None:
    """The campaign's draft awaiting approval, or None."""
    try:
        return Draft.model_validate_json(store.get_bytes(draft_key(campaign)))
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
    """One set on its way to the store: ``put`` each file into the version folder, then ``switch``.

    With ``draft_of`` (the set awaits approval) ``switch`` writes the draft pointer, not the current one. A set
    already uploaded as a draft is switched in by an upload of its own ``version`` (nothing is put again).
    """

    def __init__(
        self, store: MediaStore, campaign: str, draft_of: ReviewKey | None = None, version: str | None = None
    ) -> None:
        self.store, self.campaign, self.draft_of = store, campaign, draft_of
        self.version = version or _new_version()
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
        """Make ``record`` (keys inside this version) the current set; then its stable names and the clean-up.

        Under review it becomes the draft instead (``_draft``), and the current set stays as it is.
        """
        record = record.model_copy(update={"version": self.version, "published_at": datetime.now(UTC)})
        self.replaces = current_deliverable(self.store, self.campaign)  # another run may have switched since
        if self.replaces and self.replaces.version > self.version:
            raise StoreError(
                f"a publish that started later is current already; this one (version {self.version}) was dropped"
            )
        if self.draft_of is not None:
            return self._draft(record.model_copy(update={"published_at": None}), self.draft_of)
        draft = draft_set(self.store, self.campaign)
        with _store_errors(self.store, pointer_key(self.campaign)):
            self.store.put_bytes(pointer_key(self.campaign), record.model_dump_json(indent=1).encode("utf-8"))
        self.switched = True
        names = _file_names(record)
        with _store_errors(self.store, stable_key(self.campaign, record.master_key)):
            self.store.alias_folder(self.folder, self.prefix, sorted(names))
            for stale in sorted(_file_names(self.replaces) - names):
                self.store.delete(f"{self.folder}/{stale}")
            keep = {self.version, self.replaces.version if self.replaces else "", _current_version(self)}
            if draft and draft.deliverable.version <= self.version:  # approved now, or older than what is current
                self.store.delete(draft_key(self.campaign))
            for version in self.store.list_children(f"{self.folder}/v/"):
                if version < self.version and version not in keep:  # newer ones: publishes still running
                    self.store.delete_prefix(f"{self.folder}/v/{version}/")
        return record

    def _draft(self, record: Deliverable, made_from: ReviewKey) -> Deliverable:
        """Point the draft pointer at ``record``; the draft it replaces is void, and its files are removed."""
        replaced = draft_set(self.store, self.campaign)
        if replaced and replaced.deliverable.version > self.version:
            raise StoreError(
                f"a draft that started later awaits approval already; this one (version {self.version}) was dropped"
            )
        draft = Draft(deliverable=record, drafted_at=datetime.now(UTC), **made_from.model_dump())
        with _store_errors(self.store, draft_key(self.campaign)):
            self.store.put_bytes(draft_key(self.campaign), draft.model_dump_json(indent=1).encode("utf-8"))
        self.switched = True
        old = replaced.deliverable.version if replaced else ""
        if old and old not in (self.version, _current_version(self)):
            self.store.delete_prefix(f"{self.folder}/v/{old}/")
        return record

    def describe_current(self) -> str:
        """Which set readers see now, for error messages."""
        if self.switched and self.draft_of is not None:
            return f"version {self.version} awaits approval"
        if self.switched:
            return f"version {self.version} is current"
        if self.replaces is None:
            return "no set was published before, so none is visible"
        return f"version {self.replaces.version} stays current, whole"


def _current_version(upload: SetUpload) -> str:
    """The version the pointer names now: never deleted, even if an older publish switched back meanwhile."""
    current = current_deliverable(upload.store, upload.campaign)
    return current.version if current else ""


def repair_stable_names(store: MediaStore, record: Deliverable) -> bool:
    """Switch the stable names to ``record`` when it is the current set and they show another; True when they did.

    The pointer is written before the stable names, so a run killed between the two leaves the names on the set
    before until a run publishes again; a run that reuses the current set (unchanged inputs) mends them here.
    Sets are told apart by size (a stat or a HEAD a file): another set differs in its master at least."""
    current = current_deliverable(store, record.campaign)
    if current is None or current.version != record.version:  # a draft, or a set another run replaced
        return False
    folder = campaign_folder(record.campaign)
    prefix, names = f"{folder}/v/{record.version}", sorted(_file_names(record))
    if all(store.size(f"{folder}/{name}") == store.size(f"{prefix}/{name}") for name in names):
        return False
    with _store_errors(store, stable_key(record.campaign, record.master_key)):
        store.alias_folder(folder, prefix, names)
    return True


def _file_names(record: Deliverable | None) -> set[str]:
    return {key.rsplit("/", 1)[-1] for key in record.keys} if record else set()


@contextlib.contextmanager
def publishing(store: MediaStore, campaign: str, draft_of: ReviewKey | None = None) -> Iterator[SetUpload]:
    """A ``SetUpload`` for ``campaign``; a failure before the switch leaves the current set as it was.

    ``draft_of`` (the clips and spec the set is made from) makes the set a draft awaiting approval.

    The half-uploaded version is removed when the store still answers (else by the next publish). A store
    error names the campaign, the key and the store, and says which set readers see.
    """
    upload = SetUpload(store, campaign, draft_of)
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

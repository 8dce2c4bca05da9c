"""Images sent to xAI as files (``hosting: xai_files``): each picture uploaded once, journaled in the store.

A store the API cannot reach (a private MinIO or SeaweedFS) has no URL to give: the SDK's Files service takes the
bytes instead (``client.files.upload``) and the video request names the file (``image_file_id``,
``last_frame_file_id``, a keyframe's ``image_file_id``, ``reference_image_file_ids``). Sources, a chained shot's
last frame (extracted at generation time) and reference images all go this one way.

Uploads are content-addressed: ``xai_files/<sha256>.json`` holds the file id, a hash naming the API host and key it
belongs to (never the key) and how often the picture was uploaded, so a re-run or another campaign with the same
picture uploads nothing. The first use of a journaled id in a process asks the API whether it still knows it
(``RetrieveFile``, once per file and process); one it no longer knows (deleted, expired) is uploaded again and
counted in the entry's ``uploads``. Two processes uploading the same new picture at once both upload; the entry
keeps the last id and both work.

Rate (assumed): xAI's rate-limit page lists limits per model and a Files call names none, so uploads and checks do
not spend a video model's request budget; RESOURCE_EXHAUSTED on them backs off like any call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from ...media.files import file_digest
from ..generator import ClipRequest
from ..store import MediaStore
from .calls import Gone, Tally
from .journal import now_iso

if TYPE_CHECKING:
    from .generator import XaiVideoGenerator

PREFIX = "xai_files"
_CONTENT_ADDRESSED = re.compile(r"(?:^|/)([0-9a-f]{64})\.[a-z0-9]+$")


class FileEntry(BaseModel):
    """One picture's file at xAI."""

    sha256: str
    file_id: str
    owner: str  # hash of the API host and key the file belongs to
    uploads: int = 1  # how often this picture was uploaded (more than 1: the API lost it)
    uploaded_at: str


def file_entry_key(sha256: str) -> str:
    """Where the file entry of the picture ``sha256`` lives in the store."""
    return f"{PREFIX}/{sha256}.json"


def owner_of(api_host: str, api_key: str) -> str:
    """A short hash naming whose files these are (never the key itself)."""
    return hashlib.sha256(f"{api_host}\0{api_key}".encode()).hexdigest()[:16]


def image_keys(request: ClipRequest) -> list[str]:
    """Every image ``request`` sends, by store key: first frame, pinned last frame, keyframes, references."""
    keys = [request.image_key, request.last_frame_key, *(k.key for k in request.keyframes), *request.reference_keys]
    return list(dict.fromkeys(k for k in keys if k))


class XaiFiles:
    """The file ids of one API key's pictures, for the generator that owns it; thread-safe."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._checked: dict[str, str] = {}  # sha256 -> a file id the API confirmed in this process
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def ids(
        self, g: XaiVideoGenerator, request: ClipRequest, store: MediaStore, tally: Tally, log: logging.Logger
    ) -> dict[str, str]:
        """The file id of every image of ``request``, by store key, uploading those xAI does not hold."""
        return {key: self.file_id(g, store, key, request.where, tally, log) for key in image_keys(request)}

    def file_id(
        self, g: XaiVideoGenerator, store: MediaStore, key: str, where: str, tally: Tally, log: logging.Logger
    ) -> str:
        """The file id of the picture at store ``key``: journaled and still known, or uploaded now."""
        sha = self._sha256(store, key)
        files = g.client().files
        with self._picture_lock(sha):
            if sha in self._checked:
                return self._checked[sha]
            entry = self._read(store, sha)
            if entry is not None and entry.owner == self.owner:
                try:
                    g.call(where, tally, "RetrieveFile", lambda: files.get(entry.file_id), not_found_is_gone=True)
                    self._checked[sha] = entry.file_id
                    return entry.file_id
                except Gone:  # deleted or expired at xAI: upload again, counted
                    log.warning("%s: xAI no longer knows file %s of %s; uploading it again", where, entry.file_id, key)
            with store.local_file(key) as path:
                uploaded = g.call(where, tally, "UploadFile", lambda: files.upload(str(path)))
            uploads = entry.uploads + 1 if entry is not None else 1
            record = FileEntry(
                sha256=sha, file_id=uploaded.id, owner=self.owner, uploads=uploads, uploaded_at=now_iso()
            )
            store.put_bytes(file_entry_key(sha), record.model_dump_json(indent=2).encode())
            self._checked[sha] = uploaded.id
            return uploaded.id

    def forget(self, file_ids: Iterable[str]) -> None:
        """Ask the API again about these ids at their next use (a request named one it no longer knows)."""
        lost = set(file_ids)
        with self._lock:
            self._checked = {sha: fid for sha, fid in self._checked.items() if fid not in lost}

    def _picture_lock(self, sha: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(sha, threading.Lock())

    @staticmethod
    def _sha256(store: MediaStore, key: str) -> str:
        """The picture's content hash: from a content-addressed key, else from its bytes."""
        found = _CONTENT_ADDRESSED.search(key)
        if found:
            return found.group(1)
        with store.local_file(key) as path:
            return file_digest(path)

    @staticmethod
    def _read(store: MediaStore, sha: str) -> FileEntry | None:
        try:
            return FileEntry.model_validate(json.loads(store.get_bytes(file_entry_key(sha))))
        except (KeyError, ValueError, ValidationError):
            return None
